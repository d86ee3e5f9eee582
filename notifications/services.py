"""Writes of notifications: what each new snapshot changed, who is told and how, session and
publication events, email digests, webhooks and their deliveries.

Entry points for other apps (they send the tasks of `tasks.py` by name and never import this
app): `snapshot_notify` after every new snapshot, `notify_session_event` when a session is
verified, rejected or flagged, `notify_holiday_published` when a holiday's rankings are
published.
"""

import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from linfen_tracker.celery_app import app as celery_app
from linfen_tracker.set_based import set_based_settings
from rankings.models import RankingEntry, RankingSnapshot, Target
from rankings.targets import RANK_NOTICE_METRICS, TOP_N, metric_is_money, target_metrics
from sessions_app.models import County, Holiday, LivestreamSession, Official

from .models import (
    DEFAULT_CHANNELS,
    ChangeKind,
    Channel,
    DeliveryStatus,
    EmailStatus,
    Kind,
    Notification,
    NotificationPreference,
    NotificationProfile,
    NotificationRun,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    WebhookFormat,
)
from .webhooks import WebhookAddressRefused, webhook_url_check

logger = logging.getLogger(__name__)

DELIVER_TASK = "notifications.tasks.webhook_deliver"
DIGEST_TASK = "notifications.tasks.email_digests_send"
# Items of one event listed in a webhook payload; `total` says how many there were.
WEBHOOK_ITEMS_MAX = 50
SESSION_KINDS = (Kind.SESSION_VERIFIED, Kind.SESSION_REJECTED, Kind.SESSION_FLAGGED)

_ENTRIES = RankingEntry._meta.db_table
_NOTIFICATIONS = Notification._meta.db_table
_PREFERENCES = NotificationPreference._meta.db_table
_OFFICIALS = Official._meta.db_table
_TARGETS = Target._meta.db_table
_PAIRS = "notify_pairs"
# The boards whose movements are told (rankings.targets.RANK_NOTICE_METRICS), as an SQL list:
# metric names are code, not input, and checked here.
assert all(re.fullmatch(r"[a-z_]+", name) for name in RANK_NOTICE_METRICS)
_NOTICE_METRICS = "(" + ", ".join(f"'{name}'" for name in RANK_NOTICE_METRICS) + ")"


# --- What a new snapshot changed --------------------------------------------------------------

# The official boards of the new snapshot beside the previous one's, per metric and official:
# one hash join on plain columns, into a small indexed table that the statements of each kind
# read (30,000 rows at 10,000 officials). Only the boards whose movements are told and those
# of the metrics an official has a target on: the others would be joined for nothing. Each
# row also carries the row just above it on the new board (by rank, then official id), which
# is usually who overtook it (see below).
_PAIRS_SQL = f"""
CREATE TEMPORARY TABLE {_PAIRS} AS
SELECT s.metric, s.official_id, s.rank, s.value, p.rank AS prev_rank, p.value AS prev_value,
       LAG(s.official_id) OVER w AS above_id, LAG(s.rank) OVER w AS above_rank,
       LAG(p.rank) OVER w AS above_prev_rank
FROM {_ENTRIES} s
LEFT JOIN {_ENTRIES} p ON p.snapshot_id = %(previous)s AND p.scope = 'official'
    AND p.metric = s.metric AND p.official_id = s.official_id
WHERE s.snapshot_id = %(snapshot)s AND s.scope = 'official'
  AND (s.metric IN {_NOTICE_METRICS} OR s.metric IN (
       SELECT t.metric FROM {_TARGETS} t
       WHERE t.holiday_id = %(holiday)s AND t.official_id IS NOT NULL))
WINDOW w AS (PARTITION BY s.metric ORDER BY s.rank, s.official_id)
"""
# The walk up the board for overtakes reads this index backwards; every other read of the
# table is a hash join.
_PAIRS_INDEXES = [f"CREATE INDEX {_PAIRS}_rank ON {_PAIRS} (metric, rank, official_id)"]

# NULLs are cast: PostgreSQL types an untyped NULL in a UNION as text.
# The notifications' transaction takes the settings of set-based work (linfen_tracker/
# set_based.py): the snapshot's entries were written a moment ago by one INSERT ... SELECT,
# so the planner has no statistics for them and estimates one row a board; it then joined
# two boards of 10,000 officials by nested loop (or merge join on the metric alone),
# 300,000,000 row comparisons, minutes instead of 40 ms (pitfalls.md). The walk up the board
# for overtakes is a subquery on the index, which these settings leave alone. Derived: the
# run's claim commits with its notifications, so a crash that loses the commit loses the
# claim too, and beat's sweep makes them again.

# Each kind is a SELECT of facts with the same columns: event, scope, metric, official_id,
# county_id, rank, previous_rank, value, other_official_id, other_value, target_id. The same
# facts become notifications (joined with their recipients) and webhook payloads.
_FACT_COLUMNS = ("event", "scope", "metric", "official_id", "county_id", "rank",
                 "previous_rank", "value", "other_official_id", "other_value", "target_id")

# Overtaken: an official whose rank got worse was passed by someone now ahead who was not
# ahead before (tied, behind, or unranked). Such a one always exists when a rank got worse;
# the one named is the nearest now ahead. That is most often the row just above (carried in
# the pairs table); otherwise a walk up the board from the official's rank along the index
# finds them (a step or two on real boards). `{{only}}` may limit the officials considered
# to those with a user account, before the walk.
_OVERTAKEN_FACTS = f"""
SELECT 'overtaken' AS event, 'official' AS scope, x.metric, x.official_id,
       CAST(NULL AS BIGINT) AS county_id, x.rank, x.prev_rank AS previous_rank, x.value,
       x.by_id AS other_official_id, b.value AS other_value, CAST(NULL AS BIGINT) AS target_id
FROM (
    SELECT a.metric, a.official_id, a.rank, a.prev_rank, a.value,
        CASE WHEN a.above_rank < a.rank
                  AND (a.above_prev_rank IS NULL OR a.above_prev_rank >= a.prev_rank)
             THEN a.above_id
             ELSE (SELECT b.official_id FROM {_PAIRS} b
                   WHERE b.metric = a.metric AND b.rank < a.rank
                     AND (b.prev_rank IS NULL OR b.prev_rank >= a.prev_rank)
                   ORDER BY b.rank DESC, b.official_id DESC LIMIT 1)
        END AS by_id
    FROM {_PAIRS} a {{only}}
    WHERE a.prev_rank IS NOT NULL AND a.rank > a.prev_rank AND a.metric IN {_NOTICE_METRICS}
    {{fence}}
) x
JOIN {_PAIRS} b ON b.metric = x.metric AND b.official_id = x.by_id
"""

# Entered the top 10: ranked 10th or better now, not before (or not ranked before).
_TOP_ENTERED_FACTS = f"""
SELECT 'top10_entered' AS event, 'official' AS scope, a.metric, a.official_id,
       CAST(NULL AS BIGINT) AS county_id, a.rank, a.prev_rank AS previous_rank, a.value,
       CAST(NULL AS BIGINT) AS other_official_id, CAST(NULL AS NUMERIC) AS other_value,
       CAST(NULL AS BIGINT) AS target_id
FROM {_PAIRS} a {{only}}
WHERE a.rank <= %(top)s AND (a.prev_rank IS NULL OR a.prev_rank > %(top)s)
  AND a.metric IN {_NOTICE_METRICS}
"""

# Left the top 10: ranked 10th or better before, not now (or no longer ranked at all).
_TOP_LEFT_FACTS = f"""
SELECT 'top10_left' AS event, 'official' AS scope, a.metric, a.official_id,
       CAST(NULL AS BIGINT) AS county_id, s.rank, a.rank AS previous_rank, s.value,
       CAST(NULL AS BIGINT) AS other_official_id, CAST(NULL AS NUMERIC) AS other_value,
       CAST(NULL AS BIGINT) AS target_id
FROM {_ENTRIES} a {{only}}
LEFT JOIN {_PAIRS} s ON s.metric = a.metric AND s.official_id = a.official_id
WHERE a.snapshot_id = %(previous)s AND a.scope = 'official' AND a.rank <= %(top)s
  AND (s.rank IS NULL OR s.rank > %(top)s) AND a.metric IN {_NOTICE_METRICS}
"""

# Target reached: the value is at or above the target now and was below it before (or the
# subject was not ranked before, or this is the holiday's first snapshot).
_TARGET_REACHED_FACTS = f"""
SELECT 'target_reached' AS event, 'official' AS scope, t.metric, t.official_id,
       CAST(NULL AS BIGINT) AS county_id, a.rank, a.prev_rank AS previous_rank, a.value,
       CAST(NULL AS BIGINT) AS other_official_id, t.value AS other_value, t.id AS target_id
FROM {_TARGETS} t
JOIN {_PAIRS} a ON a.metric = t.metric AND a.official_id = t.official_id {{only}}
WHERE t.holiday_id = %(holiday)s AND a.value >= t.value
  AND (a.prev_value IS NULL OR a.prev_value < t.value)
"""
_COUNTY_TARGET_REACHED_FACTS = f"""
SELECT 'target_reached' AS event, 'county' AS scope, t.metric,
       CAST(NULL AS BIGINT) AS official_id, t.county_id, s.rank, p.rank AS previous_rank,
       s.value, CAST(NULL AS BIGINT) AS other_official_id, t.value AS other_value,
       t.id AS target_id
FROM {_TARGETS} t
JOIN {_ENTRIES} s ON s.snapshot_id = %(snapshot)s AND s.scope = 'county'
    AND s.metric = t.metric AND s.county_id = t.county_id
LEFT JOIN {_ENTRIES} p ON p.snapshot_id = %(previous)s AND p.scope = 'county'
    AND p.metric = t.metric AND p.county_id = t.county_id
WHERE t.holiday_id = %(holiday)s AND s.value >= t.value
  AND (p.value IS NULL OR p.value < t.value)
"""

# Officials with a user account: notifications need no facts about the others.
_WITH_USERS = f"JOIN {_OFFICIALS} ou ON ou.id = a.official_id AND ou.user_id IS NOT NULL"

# (facts, preference kind, webhook event)
_OFFICIAL_KINDS = [
    (_OVERTAKEN_FACTS, Kind.OVERTAKEN, WebhookEvent.OVERTAKEN),
    (_TOP_ENTERED_FACTS, Kind.TOP10, WebhookEvent.TOP10),
    (_TOP_LEFT_FACTS, Kind.TOP10, WebhookEvent.TOP10),
]
_TARGET_KINDS = [(_TARGET_REACHED_FACTS, Kind.TARGET_REACHED, WebhookEvent.TARGET_REACHED)]


def _facts(sql: str, *, only_users: bool) -> str:
    fence = "OFFSET 0" if connection.vendor == "postgresql" else ""
    # OFFSET 0 fences the subquery on PostgreSQL, which would otherwise run the walk up the
    # board again inside the join; SQLite takes no OFFSET alone.
    return sql.replace("{only}", _WITH_USERS if only_users else "").replace("{fence}", fence)


def _notifications_sql(*, facts: str, county: bool = False) -> str:
    """INSERT ... SELECT of a notification per fact and recipient: the user of the official
    concerned (for a county, of each of its active officials), by each user's choice for the
    statement's kind (`%(kind)s`) and channel, else the kind's default (`%(site_default)s`,
    `%(email_default)s`); email only to users with an address; nobody who chose neither
    channel; inactive users never."""
    data = "'{}'::jsonb" if connection.vendor == "postgresql" else "'{}'"
    users = get_user_model()._meta.db_table
    recipients = ("o.county_id = f.county_id AND o.active" if county
                  else "o.id = f.official_id")
    columns = ", ".join(_FACT_COLUMNS)
    return f"""
    INSERT INTO {_NOTIFICATIONS} (user_id, kind, holiday_id, snapshot_id, {columns},
        session_id, data, created_at, read_at, in_site, email_status, emailed_at)
    SELECT r.user_id, %(kind)s, %(holiday)s, %(snapshot)s, {columns},
           CAST(NULL AS BIGINT), {data}, %(now)s, NULL, r.site,
           CASE WHEN r.email THEN 'pending' ELSE 'none' END, NULL
    FROM (
        SELECT f.*, o.user_id,
               COALESCE(ps.enabled, %(site_default)s) AS site,
               (COALESCE(pe.enabled, %(email_default)s) AND u.email <> '') AS email
        FROM ({facts}) f
        JOIN {_OFFICIALS} o ON {recipients} AND o.user_id IS NOT NULL
        JOIN {users} u ON u.id = o.user_id AND u.is_active
        LEFT JOIN {_PREFERENCES} ps ON ps.user_id = o.user_id AND ps.kind = %(kind)s
            AND ps.channel = 'site'
        LEFT JOIN {_PREFERENCES} pe ON pe.user_id = o.user_id AND pe.kind = %(kind)s
            AND pe.channel = 'email'
    ) r
    WHERE r.site OR r.email
    """


@dataclass(frozen=True)
class NotifyResult:
    snapshot_id: int
    done: bool  # False: already made by another run, or the snapshot is gone
    notifications: int = 0
    deliveries: int = 0
    seconds: float = 0.0


def snapshot_notify(*, snapshot_id: int) -> NotifyResult:
    """Compare a new complete snapshot with the previous complete one of its holiday and tell
    the people concerned; idempotent (once per snapshot).

    Changes, each found by one set-based statement over both snapshots' official boards:
    overtaken (rank got worse; who passed and their value), entered or left the top 10
    (rank <= 10), and a target reached (official and county targets; also on a holiday's
    first snapshot). Without a previous snapshot only targets are compared: on a first
    board everyone would "enter" the top 10. Each change becomes one notification per
    recipient who wants its kind on some channel (`_notifications_sql`); webhooks subscribed
    to an event get one delivery per snapshot (`snapshot_ready` always). Email digests and
    deliveries are sent after commit.
    """
    began = time.monotonic()
    snapshot = RankingSnapshot.objects.filter(pk=snapshot_id, complete=True).first()
    if snapshot is None:
        return NotifyResult(snapshot_id=snapshot_id, done=False)
    previous = (RankingSnapshot.objects.complete()
                .filter(holiday_id=snapshot.holiday_id, id__lt=snapshot.pk)
                .order_by("-id").first())
    params = {
        "holiday": snapshot.holiday_id,
        "snapshot": snapshot.pk,
        "previous": previous.pk if previous else None,
        "top": TOP_N,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
    }
    with transaction.atomic():
        try:
            with transaction.atomic():
                run = NotificationRun.objects.create(
                    snapshot_id=snapshot.pk, holiday_id=snapshot.holiday_id,
                    previous_snapshot_id=params["previous"])
        except IntegrityError:
            return NotifyResult(snapshot_id=snapshot_id, done=False)
        kinds = [*(_OFFICIAL_KINDS if previous is not None else []), *_TARGET_KINDS]
        statements = [(_facts(sql, only_users=True), kind, False) for sql, kind, _e in kinds]
        statements.append((_COUNTY_TARGET_REACHED_FACTS, Kind.TARGET_REACHED, True))
        notifications = 0
        with connection.cursor() as cursor:
            set_based_settings(cursor, derived=True)
            cursor.execute(f"DROP TABLE IF EXISTS {_PAIRS}")
            cursor.execute(_PAIRS_SQL, params)
            for statement in _PAIRS_INDEXES:
                cursor.execute(statement)
            for facts, kind, county in statements:
                cursor.execute(_notifications_sql(facts=facts, county=county), {
                    **params, "kind": kind.value,
                    "site_default": DEFAULT_CHANNELS[kind][Channel.SITE],
                    "email_default": DEFAULT_CHANNELS[kind][Channel.EMAIL]})
                notifications += cursor.rowcount
            deliveries = _snapshot_deliveries_create(snapshot=snapshot, previous=previous,
                                                     params=params, cursor=cursor)
            cursor.execute(f"DROP TABLE {_PAIRS}")
        run.notifications, run.deliveries = notifications, len(deliveries)
        run.duration_ms = int((time.monotonic() - began) * 1000)
        run.save(update_fields=["notifications", "deliveries", "duration_ms"])
        transaction.on_commit(partial(_send_after_commit, delivery_ids=deliveries,
                                      digests=notifications > 0))
    return NotifyResult(snapshot_id=snapshot_id, done=True, notifications=notifications,
                        deliveries=len(deliveries), seconds=time.monotonic() - began)


def snapshots_due_for_notification(*, within: timedelta = timedelta(hours=1)) -> list[int]:
    """Complete snapshots of the last `within` that no run has covered (a message lost while
    the broker was down), oldest first, for beat's sweep."""
    done = NotificationRun.objects.values("snapshot_id")
    return list(
        RankingSnapshot.objects.complete()
        .filter(computed_at__gte=timezone.now() - within)
        .exclude(id__in=done).order_by("id").values_list("id", flat=True)
    )


def _send_after_commit(*, delivery_ids: list[int], digests: bool) -> None:
    """Queue the deliveries and a digest run; a broker that is down loses nothing: beat's
    sweep sends pending digests, and a delivery left pending can be sent again from the admin."""
    for delivery_id in delivery_ids:
        try:
            celery_app.tasks[DELIVER_TASK].delay(delivery_id)
        except Exception:
            logger.exception("Could not enqueue webhook delivery %s", delivery_id)
    if digests:
        try:
            celery_app.tasks[DIGEST_TASK].delay()
        except Exception:
            logger.exception("Could not enqueue the email digests; beat's sweep will send them")


# --- Webhook payloads of a snapshot ------------------------------------------------------------


def _official_ref(official: Official | None) -> dict | None:
    if official is None:
        return None
    return {"id": official.pk, "name": official.name, "title": official.title}


def _figure(value, metric: str) -> str | None:
    """A value as the rankings API gives it: yuan with 2 places, counts whole (raw SQL
    hands SQLite's values back as floats)."""
    if value is None:
        return None
    value = Decimal(str(value))
    return f"{value:.2f}" if metric_is_money(metric) else str(int(value))


def _holiday_ref(holiday: Holiday) -> dict:
    return {"id": holiday.pk, "slug": holiday.slug, "name": holiday.name}


def _fact_items(rows: list[dict]) -> list[dict]:
    """Facts as webhook payload items, with the names of the officials and counties."""
    officials = Official.objects.in_bulk(
        {r["official_id"] for r in rows} | {r["other_official_id"] for r in rows} - {None})
    counties = County.objects.in_bulk({r["county_id"] for r in rows} - {None})
    items = []
    for r in rows:
        metric = r["metric"]
        item = {"kind": r["event"], "metric": metric, "rank": r["rank"],
                "previous_rank": r["previous_rank"], "value": _figure(r["value"], metric)}
        if r["official_id"]:
            item["official"] = _official_ref(officials.get(r["official_id"]))
        else:
            county = counties[r["county_id"]]
            item["county"] = {"id": county.pk, "slug": county.slug, "name": county.name,
                              "name_zh": county.name_zh}
        if r["event"] == ChangeKind.OVERTAKEN:
            item["by"] = _official_ref(officials.get(r["other_official_id"]))
            item["by_value"] = _figure(r["other_value"], metric)
            item["gap"] = _figure(Decimal(str(r["other_value"])) - Decimal(str(r["value"])),
                                  metric)
        if r["event"] == ChangeKind.TARGET_REACHED:
            item["target"] = _figure(r["other_value"], metric)
        items.append(item)
    return items


def _facts_listed(cursor, facts: list[str], params: dict) -> tuple[list[dict], int]:
    """The first WEBHOOK_ITEMS_MAX facts of the given statements (by metric, event, rank),
    and how many there are: for every official, with an account or not."""
    union = " UNION ALL ".join(f"SELECT * FROM ({f}) q{i}" for i, f in enumerate(facts))
    cursor.execute(f"SELECT COUNT(*) FROM ({union}) c", params)
    total = cursor.fetchone()[0]
    cursor.execute(f"SELECT * FROM ({union}) c ORDER BY metric, event, rank, official_id, "
                   f"county_id LIMIT {WEBHOOK_ITEMS_MAX}", params)
    rows = [dict(zip(_FACT_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    return _fact_items(rows), total


_SNAPSHOT_EVENTS = (WebhookEvent.SNAPSHOT_READY, WebhookEvent.OVERTAKEN, WebhookEvent.TOP10,
                    WebhookEvent.TARGET_REACHED)


def _snapshot_event_data(*, snapshot: RankingSnapshot, previous, event: str, params: dict,
                         cursor) -> dict | None:
    """The `data` of one event about a snapshot; None when there is nothing to say."""
    if event == WebhookEvent.SNAPSHOT_READY:
        return {"snapshot": {"id": snapshot.pk, "computed_at": snapshot.computed_at.isoformat(),
                             "sessions": snapshot.sessions},
                "previous_snapshot": previous.pk if previous else None,
                "metrics": target_metrics()}
    facts = [_facts(sql, only_users=False) for sql, _kind, e in
             [*(_OFFICIAL_KINDS if previous is not None else []), *_TARGET_KINDS] if e == event]
    if event == WebhookEvent.TARGET_REACHED:
        facts.append(_COUNTY_TARGET_REACHED_FACTS)
    if not facts:
        return None
    items, total = _facts_listed(cursor, facts, params)
    if not total:
        return None
    return {"snapshot": snapshot.pk, "total": total, "items": items}


def _deliveries_create(*, event: str, holiday: Holiday | None, data: dict,
                       webhooks: list[Webhook] | None = None) -> list[int]:
    """One pending delivery of `event` to each active webhook subscribed to it."""
    if webhooks is None:
        webhooks = list(Webhook.objects.filter(active=True))
    payload = {"event": event, "holiday": _holiday_ref(holiday) if holiday else None,
               "data": data}
    created = [
        WebhookDelivery.objects.create(webhook=w, event=event, holiday=holiday, payload=payload)
        for w in webhooks if event in w.events
    ]
    return [d.pk for d in created]


def _snapshot_deliveries_create(*, snapshot: RankingSnapshot, previous, params: dict,
                                cursor) -> list[int]:
    """The snapshot's events for the webhooks subscribed to them (facts read only then)."""
    webhooks = list(Webhook.objects.filter(active=True))
    wanted = {e for w in webhooks for e in w.events} & set(_SNAPSHOT_EVENTS)
    ids = []
    for event in _SNAPSHOT_EVENTS:
        if event not in wanted:
            continue
        data = _snapshot_event_data(snapshot=snapshot, previous=previous, event=event,
                                    params=params, cursor=cursor)
        if data is not None:
            ids += _deliveries_create(event=event, holiday=snapshot.holiday, data=data,
                                      webhooks=webhooks)
    return ids


# --- Session events and publication (entry points for issues 11 and 12) -----------------------


def notify_session_event(*, session_id: int, kind: str, detail: str = "") -> int:
    """Tell the official of a session that it was verified, rejected or flagged; returns the
    notifications made (0 or 1: the lead official's user, by their choice of channels).

    `detail` is the rejection reason or the flag's message. Webhooks subscribed to the event
    get a delivery. Sent by name from sessions_app after its transaction commits:
    `celery_app.tasks["notifications.tasks.session_event_notify"].delay_on_commit(
    session_id=..., kind="session_verified", detail="")`.
    """
    if kind not in SESSION_KINDS:
        raise ValueError(f"not a session event: {kind!r}; use one of {SESSION_KINDS}")
    session = (LivestreamSession.objects.select_related("official", "county")
               .filter(pk=session_id).first())
    if session is None:
        return 0
    holiday = (Holiday.objects.covering(timezone.localtime(session.started_at).date())
               .order_by("start_date").first())
    data = {"session": {"id": session.pk, "title": session.title,
                        "official": _official_ref(session.official),
                        "started_at": session.started_at.isoformat()},
            "detail": detail}
    made = 0
    with transaction.atomic():
        user_id = session.official.user_id
        if user_id:
            made = _notifications_create(
                user_ids=[user_id], kind=kind, holiday=holiday, session_id=session.pk,
                data={"title": session.title, "detail": detail,
                      "started_at": session.started_at.isoformat()})
        deliveries = _deliveries_create(event=kind, holiday=holiday, data=data)
        transaction.on_commit(partial(_send_after_commit, delivery_ids=deliveries,
                                      digests=made > 0))
    return made


def notify_holiday_published(*, holiday_id: int, revision: int, note: str = "") -> int:
    """Tell every official ranked in the holiday's latest snapshot (their users) that its
    rankings were published as `revision`; returns the notifications made. Webhooks
    subscribed to `published` get a delivery."""
    holiday = Holiday.objects.filter(pk=holiday_id).first()
    if holiday is None:
        return 0
    snapshot = RankingSnapshot.objects.latest_for(holiday_id)
    user_ids = []
    if snapshot is not None:
        metric = target_metrics()[0]  # every ranked official has an entry on each metric
        user_ids = list(
            RankingEntry.objects.filter(snapshot=snapshot, scope="official", metric=metric,
                                        official__user__isnull=False)
            .values_list("official__user_id", flat=True))
    with transaction.atomic():
        made = _notifications_create(user_ids=user_ids, kind=Kind.PUBLISHED, holiday=holiday,
                                     data={"revision": revision, "note": note})
        deliveries = _deliveries_create(
            event=WebhookEvent.PUBLISHED, holiday=holiday,
            data={"revision": revision, "note": note,
                  "snapshot": snapshot.pk if snapshot else None})
        transaction.on_commit(partial(_send_after_commit, delivery_ids=deliveries,
                                      digests=made > 0))
    return made


def _notifications_create(*, user_ids: list[int], kind: str, holiday: Holiday | None,
                          data: dict, session_id: int | None = None) -> int:
    """Notifications of one event for the given users, by each one's channels (the same
    rule as for ranking changes)."""
    wanted = channels_for_users(user_ids=user_ids, kind=kind)
    users = get_user_model().objects.filter(pk__in=wanted, is_active=True)
    now = timezone.now()
    rows = []
    for user in users:
        site, email = wanted[user.pk]
        email = email and bool(user.email)
        if not (site or email):
            continue
        rows.append(Notification(
            user=user, kind=kind, event=kind, holiday=holiday, session_id=session_id, data=data,
            created_at=now, in_site=site,
            email_status=EmailStatus.PENDING if email else EmailStatus.NONE))
    Notification.objects.bulk_create(rows)
    return len(rows)


def channels_for_users(*, user_ids: list[int], kind: str) -> dict[int, tuple[bool, bool]]:
    """(site, email) wanted by each user for `kind`: their choice, else the default."""
    defaults = DEFAULT_CHANNELS[Kind(kind)]
    chosen = {(p.user_id, p.channel): p.enabled for p in NotificationPreference.objects.filter(
        user_id__in=user_ids, kind=kind)}
    return {uid: (chosen.get((uid, Channel.SITE), defaults[Channel.SITE]),
                  chosen.get((uid, Channel.EMAIL), defaults[Channel.EMAIL]))
            for uid in set(user_ids)}


# --- Reading and preferences ------------------------------------------------------------------


def notification_mark_read(*, user, notification_id: int) -> bool:
    """Mark one of the user's own notifications read (the first reading time is kept);
    False if it is not theirs or unknown."""
    own = Notification.objects.filter(pk=notification_id, user=user)
    if not own.exists():
        return False
    own.filter(read_at__isnull=True).update(read_at=timezone.now())
    return True


def notifications_mark_all_read(*, user) -> int:
    """Mark every unread notification of the user read; returns how many."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(
        read_at=timezone.now())


def preferences_save(*, user, choices: dict[tuple[str, str], bool],
                     language: str | None = None) -> None:
    """Store the user's channel per kind (every pair given) and their email language."""
    with transaction.atomic():
        for (kind, channel), enabled in choices.items():
            if kind not in Kind.values or channel not in Channel.values:
                raise ValidationError({"kind": _("Unknown kind or channel: %(kind)s/%(channel)s")
                                       % {"kind": kind, "channel": channel}})
            NotificationPreference.objects.update_or_create(
                user=user, kind=kind, channel=channel, defaults={"enabled": bool(enabled)})
        if language is not None:
            if language not in dict(settings.LANGUAGES):
                raise ValidationError({"language": _("Unknown language: %(language)s")
                                       % {"language": language}})
            NotificationProfile.objects.update_or_create(user=user,
                                                         defaults={"language": language})


# --- Email digests ----------------------------------------------------------------------------


def email_digests_send(*, user_ids: list[int] | None = None) -> int:
    """Send each user with notifications waiting for email one digest of all of them, unless
    their last digest went out less than NOTIFY_EMAIL_MIN_MINUTES ago (then they wait for a
    later run: beat's sweep, or the next snapshot's). Returns the digests sent."""
    pending = Notification.objects.filter(email_status=EmailStatus.PENDING)
    if user_ids is not None:
        pending = pending.filter(user_id__in=user_ids)
    sent = 0
    for user_id in sorted(set(pending.values_list("user_id", flat=True))):
        if _email_digest_send(user_id=user_id):
            sent += 1
    return sent


def _email_digest_claim(*, user_id: int, now) -> tuple[bool, object]:
    """Claim the user's next digest with a conditional UPDATE (one sender wins, and only once
    the interval has passed); returns (claimed, the previous last_email_at)."""
    cutoff = now - timedelta(minutes=settings.NOTIFY_EMAIL_MIN_MINUTES)
    profile, _created = NotificationProfile.objects.get_or_create(user_id=user_id)
    before = profile.last_email_at
    claimed = NotificationProfile.objects.filter(
        Q(last_email_at__isnull=True) | Q(last_email_at__lte=cutoff),
        pk=profile.pk, last_email_at=before) if before else NotificationProfile.objects.filter(
        pk=profile.pk, last_email_at__isnull=True)
    return bool(claimed.update(last_email_at=now)), before


def _email_digest_send(*, user_id: int) -> bool:
    from .emails import digest_message  # templates and translations, only when sending

    now = timezone.now()
    claimed, before = _email_digest_claim(user_id=user_id, now=now)
    if not claimed:
        return False
    with transaction.atomic():
        ids = list(Notification.objects.select_for_update()
                   .filter(user_id=user_id, email_status=EmailStatus.PENDING)
                   .values_list("id", flat=True))
        Notification.objects.filter(id__in=ids).update(email_status=EmailStatus.SENT,
                                                       emailed_at=now)
    if not ids:
        NotificationProfile.objects.filter(user_id=user_id).update(last_email_at=before)
        return False
    try:
        message = digest_message(user_id=user_id, notification_ids=ids)
        message.send()
    except Exception:
        # Back in the queue for the next run; the interval is not spent on a failure.
        logger.exception("Could not email a digest to user %s", user_id)
        Notification.objects.filter(id__in=ids).update(email_status=EmailStatus.PENDING,
                                                       emailed_at=None)
        NotificationProfile.objects.filter(user_id=user_id).update(last_email_at=before)
        return False
    return True


# --- Webhooks ---------------------------------------------------------------------------------

_WEBHOOK_FIELDS = ("name", "url", "secret", "events", "format", "language", "active")


def webhook_validate(*, webhook: Webhook) -> None:
    """The rules of a webhook: events from WebhookEvent (at least one); a secret for the
    generic format (it signs every body); a URL that resolves only to public addresses unless
    WEBHOOK_ALLOW_PRIVATE=1. Raises ValidationError naming the fields."""
    errors = {}
    events = webhook.events if isinstance(webhook.events, list) else None
    if not events:
        errors["events"] = _("Choose at least one event.")
    elif unknown := [e for e in events if e not in WebhookEvent.values]:
        errors["events"] = _("Unknown events: %(unknown)s; use %(valid)s.") % {
            "unknown": ", ".join(map(str, unknown)), "valid": ", ".join(WebhookEvent.values)}
    if webhook.format == WebhookFormat.GENERIC and not webhook.secret:
        errors["secret"] = _("A generic webhook needs a secret: it signs every delivery.")
    try:
        webhook.full_clean(exclude=["events", "created_by"])
    except ValidationError as error:
        errors = {**error.message_dict, **errors}
    if "url" not in errors:
        try:
            webhook_url_check(webhook.url)
        except WebhookAddressRefused as error:
            errors["url"] = str(error)
    if errors:
        raise ValidationError(errors)


def webhook_save(*, webhook: Webhook, data: dict | None = None, user=None) -> Webhook:
    """Create or change a webhook from `data` after `webhook_validate`'s rules; nothing is
    saved if one is broken (ValidationError naming the field)."""
    for name, value in (data or {}).items():
        if name not in _WEBHOOK_FIELDS:
            raise ValidationError({name: _("Not a webhook field.")})
        setattr(webhook, name, value)
    webhook_validate(webhook=webhook)
    webhook.events = list(dict.fromkeys(webhook.events))
    if webhook.pk is None and user is not None and user.is_authenticated:
        webhook.created_by = user
    webhook.save()
    return webhook


def deliveries_send_again(*, delivery_ids: list[int]) -> None:
    """Queue deliveries again (from the admin): failed ones start a new series of attempts."""
    WebhookDelivery.objects.filter(id__in=delivery_ids).exclude(
        status=DeliveryStatus.SUCCEEDED).update(status=DeliveryStatus.PENDING, attempts=0)
    transaction.on_commit(partial(_send_after_commit, delivery_ids=delivery_ids, digests=False))


def webhook_test_send(*, webhook: Webhook) -> WebhookDelivery:
    """Queue a test message to the webhook (after commit); returns its delivery, whose log
    shows the outcome."""
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event="test", test=True,
        payload={"event": "test", "holiday": None,
                 "data": {"message": "Test message from the Linfen livestream tracker",
                          "webhook": webhook.pk}})
    transaction.on_commit(partial(_send_after_commit, delivery_ids=[delivery.pk], digests=False))
    return delivery


def delivery_attempt_record(*, delivery_id: int, ok: bool, status_code: int | None,
                            error: str, final: bool) -> None:
    """Log one attempt: delivered, retrying, or failed for good."""
    now = timezone.now()
    status = (DeliveryStatus.SUCCEEDED if ok else
              DeliveryStatus.FAILED if final else DeliveryStatus.RETRYING)
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        status=status, response_code=status_code, last_error="" if ok else error[:2000],
        last_attempt_at=now, delivered_at=now if ok else None)


def delivery_attempt_start(*, delivery_id: int) -> WebhookDelivery | None:
    """Count an attempt; None if the delivery is gone or already delivered (a message
    delivered twice by the broker sends nothing twice)."""
    from django.db.models import F

    updated = (WebhookDelivery.objects.filter(pk=delivery_id)
               .exclude(status=DeliveryStatus.SUCCEEDED).update(attempts=F("attempts") + 1))
    if not updated:
        return None
    return WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)


@dataclass(frozen=True)
class DeliveryRequest:
    url: str
    body: bytes
    headers: dict
    robot: bool


def delivery_request(*, delivery: WebhookDelivery, now: float | None = None) -> DeliveryRequest:
    """What one attempt posts, in the webhook's format and language. `generic`: the payload
    as JSON, signed over "<timestamp>.<body>" with the secret (a fresh timestamp per attempt);
    `dingtalk` and `wecom`: their robots' markdown message, and for DingTalk with a secret the
    signed URL (timestamp and sign parameters)."""
    from django.utils import translation

    from . import webhooks
    from .messages import robot_markdown

    webhook = delivery.webhook
    now = time.time() if now is None else now
    if webhook.format == WebhookFormat.GENERIC:
        body = webhooks.json_bytes(delivery.payload)
        timestamp = int(now)
        return DeliveryRequest(url=webhook.url, body=body, robot=False, headers={
            webhooks.TIMESTAMP_HEADER: str(timestamp),
            webhooks.SIGNATURE_HEADER: webhooks.generic_signature(
                secret=webhook.secret, timestamp=timestamp, body=body),
            "X-Linfen-Event": delivery.event,
            "X-Linfen-Delivery": str(delivery.pk),
        })
    with translation.override(webhook.language):
        title, markdown = robot_markdown(delivery.payload)
    if webhook.format == WebhookFormat.DINGTALK:
        url = webhook.url
        if webhook.secret:
            url = webhooks.dingtalk_signed_url(url=url, secret=webhook.secret,
                                               timestamp_ms=int(now * 1000))
        body = webhooks.json_bytes(webhooks.dingtalk_body(title=title, markdown=markdown))
        return DeliveryRequest(url=url, body=body, headers={}, robot=True)
    body = webhooks.json_bytes(webhooks.wecom_body(markdown=markdown))
    return DeliveryRequest(url=webhook.url, body=body, headers={}, robot=True)
