"""Writes to counties, officials, holidays and sessions.

Every entry path (form, API, admin, import, command) writes through these functions, so each
rule is written once. A write that changes what a holiday's rankings cover bumps the holiday's
`data_version` in the same transaction and, after commit, asks for a recompute by task name:
`sessions_app` never imports `rankings`.
"""

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.files import File
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from linfen_tracker.celery_app import app as celery_app
from linfen_tracker.generations import RANKINGS, generation_bump

from .evidence.content import evidence_content_detect, evidence_digest
from .evidence.thumbnails import evidence_thumbnail_build
from .imports.rows import (
    IMPORT_BATCH_TTL,
    MODE_UPDATE,
    ImportBatchGone,
    ImportCheck,
    ImportRow,
    RowError,
    import_batch_check,
)
from .models import (
    County,
    Holiday,
    ImportBatch,
    LivestreamSession,
    Official,
    SessionEvidence,
    SessionFlag,
    SessionItem,
    SessionStatus,
)
from .pinyin import name_pinyin_keys
from .totals import holiday_totals_rebuild, totals_add, totals_recheck, totals_remove
from .validators import (
    MESSAGES,
    PARSE_MESSAGES,
    overlap_error,
    session_hosts_check,
    session_items_check,
    session_rules_check,
)

logger = logging.getLogger(__name__)

RECOMPUTE_TASK = "rankings.tasks.recompute_holiday_rankings"
# Sent by name: sessions_app never imports the notifications app.
SESSION_EVENT_TASK = "notifications.tasks.session_event_notify"
SESSION_EVENTS_TASK = "notifications.tasks.session_events_notify"

SESSION_EDITABLE_FIELDS = (
    "official",
    "county",
    "platform",
    "title",
    "products",
    "started_at",
    "ended_at",
    "audience",
    "orders",
    "revenue",
    "refunded_orders",
    "refunds",
    "unique_viewers",
    "peak_viewers",
    "new_followers",
    "hosts",
    "items",
)
# Not columns of the session: co-hosts (many-to-many) and item lines (rows of their own),
# written by the services after the session's row.
SESSION_RELATED_FIELDS = frozenset({"hosts", "items"})
# What a session reports, as opposed to how it is described (title, products): a change to
# any of these sends a verified or rejected session back to `entered`, and makes its author
# one who may not verify it.
SESSION_FIGURE_FIELDS = frozenset(SESSION_EDITABLE_FIELDS) - {"title", "products"} \
    - SESSION_RELATED_FIELDS


class SessionEditConflict(Exception):
    """Somebody else saved the session since this edit started from it."""

    def __init__(self, *, current_version: int):
        super().__init__(
            _("This session was changed by someone else; reload it and apply your change again.")
        )
        self.current_version = current_version


def local_date(moment) -> date:
    return timezone.localtime(moment).date()


def holidays_touch(*, days: Iterable[date],
                   official_ids: Iterable[int | None] | None = None) -> list[Holiday]:
    """The holidays covering any of `days`, locked in id order, with their data_version
    bumped; a recompute of each is requested after commit, and then the anomaly flags of
    the officials written (`official_ids`, hosts and co-hosts; None: every session of the
    holiday) are refreshed (`flags.session_flags_refresh`).

    Call it inside the transaction of the write, before its totals change (`totals`): the
    version bump commits or rolls back with the data, and the lock (taken in one order by
    every writer) makes the writers of one holiday update its totals in turn, without
    deadlocks. The recompute is requested after commit, once per holiday for the whole write.
    """
    days = set(days)
    if not days:
        return []
    candidates = Holiday.objects.filter(start_date__lte=max(days), end_date__gte=min(days))
    ids = [
        h.id for h in candidates if any(h.start_date <= d <= h.end_date for d in days)
    ]
    if not ids:
        return []
    holidays = list(Holiday.objects.select_for_update().filter(id__in=ids).order_by("id"))
    Holiday.objects.filter(id__in=ids).update(data_version=F("data_version") + 1)
    generation_bump(RANKINGS)  # cached leaderboards are read again from the new totals
    officials = None if official_ids is None else sorted(
        {i for i in official_ids if i is not None})
    # The recompute is asked for first: the rankings need not wait for the flags.
    transaction.on_commit(partial(rankings_recompute_request, holiday_ids=ids))
    transaction.on_commit(partial(flags_refresh_request, holiday_ids=ids,
                                  official_ids=officials))
    return holidays


def rankings_mark_stale(*, days: Iterable[date],
                        official_ids: Iterable[int | None] | None = None) -> list[int]:
    """Mark the holidays covering any of `days` as needing a recompute; return their ids
    (`holidays_touch`, for writes that change no counted figure)."""
    return [h.pk for h in holidays_touch(days=days, official_ids=official_ids)]


def flags_refresh_request(*, holiday_ids: Iterable[int],
                          official_ids: list[int] | None = None) -> None:
    """After a write batch commits: refresh the anomaly flags of the officials written in
    each holiday, and tell the people concerned of any flag raised. A failure is logged, not
    raised: the write is committed, and the recompute task refreshes the whole holiday.

    A session moved from one holiday to another: the old holiday lets its flags go, the new
    one takes them over (keeping a dismissal whose figures still stand) or deletes them. If
    the new one was refreshed first, it is refreshed again once the old one let them go."""
    from .flags import session_flags_refresh

    def refresh(holiday_id: int):
        try:
            return session_flags_refresh(holiday_id=holiday_id, official_ids=official_ids)
        except Exception:
            logger.exception("Could not refresh the flags of holiday %s", holiday_id)
            return None

    holiday_ids = list(holiday_ids)
    again = []
    for n, holiday_id in enumerate(holiday_ids):
        refreshed = refresh(holiday_id)
        if refreshed is not None and refreshed.released:
            again = holiday_ids[:n]
    for holiday_id in again:
        refresh(holiday_id)


def rankings_recompute_request(*, holiday_ids: Iterable[int], rest: float = 0) -> list[int]:
    """Send a recompute for each holiday that has none waiting; return the ids sent.

    It runs RANKINGS_SNAPSHOT_DELAY_SECONDS after, or `rest` seconds if longer (the follow-up
    of a long snapshot: `rankings.services.snapshot_rest_seconds`).

    A conditional UPDATE claims the holiday's `recompute_queued` flag, so a burst of writes
    sends one message per holiday until a recompute starts, and none once the rankings
    already cover the holiday's data_version (as after an in-process recompute). If the
    broker is down the save still succeeds: the flag is released and the stale mark waits for beat.
    """
    sent = []
    for holiday_id in holiday_ids:
        claimed = Holiday.objects.filter(
            pk=holiday_id, recompute_queued=False, ranked_version__lt=F("data_version")
        ).update(recompute_queued=True)
        if not claimed:
            continue
        try:
            # Debounced: boards are live from the totals; the snapshot (arrows,
            # notifications, targets) covers every write of the next few seconds at once.
            countdown = max(settings.RANKINGS_SNAPSHOT_DELAY_SECONDS, rest)
            celery_app.tasks[RECOMPUTE_TASK].apply_async(
                (holiday_id,), countdown=countdown or None)
        except Exception:
            # The broker is down or the in-process recompute failed: the write is committed
            # and the holiday stays stale, so the periodic sweep recomputes it later.
            logger.exception("Could not run or enqueue a recompute of holiday %s", holiday_id)
            Holiday.objects.filter(pk=holiday_id).update(recompute_queued=False)
            continue
        sent.append(holiday_id)
    return sent


# Database constraints and the field whose input breaks them (the message is the
# constraint's own, the same as `clean()` gives).
_CONSTRAINT_FIELDS = {
    "session_audience_non_negative": "audience",
    "session_orders_non_negative": "orders",
    "session_counts_at_most_max": "audience",
    "session_revenue_non_negative": "revenue",
    "session_ends_after_start": "ended_at",
    "session_at_most_max_hours": "ended_at",
    "session_starts_in_year_range": "started_at",
}
# The PostgreSQL exclusion constraint of migration 0006.
OVERLAP_CONSTRAINT = "session_no_overlap_per_official_platform"


def session_database_check(
    *, session: LivestreamSession, previous_official_id: int | None = None
) -> None:
    """Check the rules that read other rows; raise ValidationError (field -> messages).

    - At most one session of an official at a time on one platform: [start, end) ranges of
      the same official and platform must not overlap (touching is fine). A simulcast on
      another platform is allowed (anomaly review flags it, not entry).
    - An inactive official hosts no new session; an old session keeps its official.
    """
    errors: dict[str, list] = {}
    official = session.official
    if not official.active and official.pk != previous_official_id:
        errors["official"] = [ValidationError(MESSAGES["inactive_official"], code="inactive")]
    clash = (
        LivestreamSession.objects.filter(
            official_id=official.pk,
            platform=session.platform,
            started_at__lt=session.ended_at,
            ended_at__gt=session.started_at,
        )
        .exclude(pk=session.pk)
        .order_by("started_at")
        .first()
    )
    if clash is not None:
        errors["started_at"] = [overlap_error(
            title=clash.title, started_at=clash.started_at, ended_at=clash.ended_at
        )]
    if errors:
        raise ValidationError(errors)


def _integrity_error_to_validation(error: IntegrityError) -> ValidationError:
    text = str(error)
    if OVERLAP_CONSTRAINT in text:
        return ValidationError({"started_at": ValidationError(
            MESSAGES["overlap"], code="overlap",
            params={"title": "?", "start": "?", "end": "?"},
        )})
    for constraint in LivestreamSession._meta.constraints:
        if constraint.name in text:
            field = _CONSTRAINT_FIELDS.get(constraint.name, NON_FIELD_ERRORS)
            return ValidationError({field: constraint.get_violation_error_message()})
    return ValidationError(_("The session breaks a rule of the database: %(error)s") % {
        "error": error
    })


ITEM_FIELDS = ("name", "quantity", "unit", "revenue", "poverty_relief_product")


def session_items_build(*, items: Iterable[dict]) -> list[SessionItem]:
    """Item lines from dicts (name, quantity, unit, revenue, poverty_relief_product), each
    checked on its own with the model's rules (quantity > 0, a known unit, revenue >= 0);
    raises ValidationError on `items` naming the line (1-based) and the field."""
    lines, messages = [], []
    for number, values in enumerate(items, start=1):
        unknown = set(values) - set(ITEM_FIELDS) - {"id"}
        if unknown:
            raise ValueError(f"Not item fields: {sorted(unknown)}")
        line = SessionItem(**{name: values.get(name) for name in ITEM_FIELDS
                              if name in values})
        if line.poverty_relief_product is None:
            line.poverty_relief_product = False
        try:
            line.full_clean(exclude=["session"], validate_constraints=False)
        except ValidationError as error:
            for field, field_messages in error.message_dict.items():
                label = (SessionItem._meta.get_field(field).verbose_name
                         if field in ITEM_FIELDS else "")
                for message in field_messages:
                    messages.append(ValidationError(
                        MESSAGES["item_line"], code="item_line",
                        params={"line": number,
                                "message": f"{label}: {message}" if label else message}))
        lines.append(line)
    if messages:
        raise ValidationError({"items": messages})
    return lines


def _item_key(line: SessionItem) -> tuple:
    return (line.name, Decimal(line.quantity), line.unit, Decimal(line.revenue),
            bool(line.poverty_relief_product))


def _session_related_check(*, session: LivestreamSession, hosts: list[Official] | None,
                           items: list[SessionItem] | None) -> None:
    """The rules between a session and its co-hosts and item lines (validators.py): the lead
    host is no co-host, nobody twice, the lines' revenues at most the session's."""
    errors = {}
    if hosts is not None:
        errors.update(session_hosts_check(lead_id=session.official_id, hosts=hosts))
    if items is None and session.pk is not None:
        items = list(session.items.all())
    if items:
        errors.update(session_items_check(revenue=session.revenue,
                                          item_revenues=[line.revenue for line in items]))
    if errors:
        raise ValidationError(errors)


def _session_save(*, session: LivestreamSession, user: AbstractBaseUser | None,
                  previous_official_id: int | None = None,
                  hosts: list[Official] | None = None,
                  items: list[SessionItem] | None = None,
                  days_before: set[date] | None = None,
                  flag_officials: list[int] | None = None) -> None:
    """Validate every rule, then save inside the caller's transaction, with the co-hosts
    and item lines when given (None: keep them). The history record of the save carries the
    co-hosts; each item line has its own history (who, when, old and new values).

    With `days_before` (the stored session's start day: an edit), the holidays of those
    days and of the new start are touched (`holidays_touch`) and the session's stored
    contribution (co-hosts included) is taken out of their totals before the save and the
    new one added after.
    """
    session_rules_check(session=session)
    _session_related_check(session=session, hosts=hosts, items=items)
    session_database_check(session=session, previous_official_id=previous_official_id)
    session._history_user = user
    creating = session.pk is None
    holidays = []
    if days_before is not None:
        holidays = holidays_touch(days={*days_before, local_date(session.started_at)},
                                  official_ids=flag_officials)
        totals_remove(session_ids=[session.pk], holidays=holidays)
    try:
        with transaction.atomic():
            if hosts is not None and not creating:
                # Set before the save, without a history record of its own, so the save's
                # record holds the new co-hosts (one record per edit, not three).
                session.skip_history_when_saving = True
                try:
                    session.hosts.set(hosts)
                finally:
                    del session.skip_history_when_saving
            session.save()
            if hosts and creating:
                session.skip_history_when_saving = True
                try:
                    session.hosts.set(hosts)
                finally:
                    del session.skip_history_when_saving
                session_hosts_history_attach(sessions=[session])
            if items is not None:
                _session_items_replace(session=session, items=items, user=user)
            totals_add(session_ids=[session.pk], holidays=holidays)
    except IntegrityError as error:
        # A concurrent write won the race past the checks (PostgreSQL's constraints hold
        # the rule); report it like a form error, naming the other session when it can.
        raise _integrity_error_to_validation(error) from error


def _session_items_replace(*, session: LivestreamSession, items: list[SessionItem],
                           user: AbstractBaseUser | None) -> None:
    """Make the session's item lines `items`: unchanged lines stay (no history), the
    others are deleted and created, each leaving its history record."""
    stored = list(session.items.all())
    keep: dict[tuple, list[SessionItem]] = {}
    for line in stored:
        keep.setdefault(_item_key(line), []).append(line)
    for line in items:
        same = keep.get(_item_key(line))
        if same:
            same.pop()
            continue
        line.session = session
        line._history_user = user
        line.save()
    for lines in keep.values():
        for line in lines:
            line._history_user = user
            line.delete()


def session_hosts_history_attach(*, sessions: list[LivestreamSession]) -> None:
    """Record the co-hosts on each session's latest history record (a new session's "+"),
    whose save came before its co-hosts could be set: the history shows who hosted from
    the first record on."""
    from django.apps import apps

    host_history = apps.get_model("sessions_app", "HistoricalLivestreamSession_hosts")
    ids = [s.pk for s in sessions]
    latest = {}
    for record_id, session_id in (LivestreamSession.history.filter(id__in=ids)
                                  .order_by("id", "-history_id")
                                  .values_list("history_id", "id")):
        latest.setdefault(session_id, record_id)
    rows = LivestreamSession.hosts.through.objects.filter(livestreamsession_id__in=ids)
    host_history.objects.bulk_create([
        host_history(id=row.pk, history_id=latest[row.livestreamsession_id],
                     livestreamsession_id=row.livestreamsession_id,
                     official_id=row.official_id)
        for row in rows if row.livestreamsession_id in latest
    ])


def session_create(
    *,
    entered_by: AbstractBaseUser | None,
    official: Official,
    platform: str,
    title: str,
    started_at,
    ended_at,
    audience: int,
    orders: int,
    revenue,
    county: County | None = None,
    products: str = "",
    refunded_orders: int = 0,
    refunds=Decimal("0.00"),
    unique_viewers: int | None = None,
    peak_viewers: int | None = None,
    new_followers: int | None = None,
    hosts: Iterable[Official] = (),
    items: Iterable[dict] = (),
) -> LivestreamSession:
    """Create a session; its county defaults to the official's county at entry time.

    `hosts`: co-hosts (officials other than the lead, each once); `items`: item lines as
    dicts (name, quantity, unit, revenue, poverty_relief_product). Every rule is checked
    (`session_rules_check`, the co-hosts' and lines' rules, `session_database_check`); a bad
    row raises ValidationError (field -> messages) and nothing is saved.
    """
    session = LivestreamSession(
        official=official,
        county=county or official.county,
        platform=platform,
        title=title,
        products=products,
        started_at=started_at,
        ended_at=ended_at,
        audience=audience,
        orders=orders,
        revenue=revenue,
        refunded_orders=refunded_orders,
        refunds=refunds,
        unique_viewers=unique_viewers,
        peak_viewers=peak_viewers,
        new_followers=new_followers,
        entered_by=entered_by,
        last_changed_by=entered_by,
    )
    lines = session_items_build(items=items)
    with transaction.atomic():
        _session_save(session=session, user=entered_by, hosts=list(hosts), items=lines)
        # Flags are refreshed for every host: a co-host's shows may overlap this one.
        holidays = holidays_touch(days={local_date(session.started_at)},
                                  official_ids=[session.official_id, *(h.pk for h in hosts)])
        totals_add(session_ids=[session.pk], holidays=holidays)
    return session


def session_update(
    *,
    session: LivestreamSession,
    updated_by: AbstractBaseUser | None,
    data: dict[str, Any],
    expected_version: int,
) -> LivestreamSession:
    """Apply `data` (field -> value) to a session and save it.

    `expected_version` is the version the edit started from: when the stored version
    differs (someone saved in between), the edit is refused with SessionEditConflict and
    nothing is overwritten. Every path that edits (page, admin, API, import) must send it.
    Recomputes are requested for the holidays of both the old and the new start date, since
    an edit can move a session between holidays.

    A change to what the session reports (SESSION_FIGURE_FIELDS, co-hosts and item lines
    included) sends a verified or rejected session back to `entered`, and records
    `updated_by` as who last changed it. `hosts` (officials) and `items` (dicts, as for
    `session_create`) replace the stored ones; left out, they are kept.
    """
    unknown = set(data) - set(SESSION_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {sorted(unknown)}")
    data = dict(data)
    hosts = list(data.pop("hosts")) if "hosts" in data else None
    lines = session_items_build(items=data.pop("items")) if "items" in data else None
    with transaction.atomic():
        current = LivestreamSession.objects.select_for_update().get(pk=session.pk)
        if current.version != expected_version:
            raise SessionEditConflict(current_version=current.version)
        old_day = local_date(current.started_at)
        # The co-hosts before the edit: their flags change when the times or hosts do.
        old_host_ids = list(current.hosts.values_list("pk", flat=True))
        for field, value in data.items():
            setattr(session, field, value)
        if (_figures_changed(before=current, after=session)
                or _related_changed(session=current, hosts=hosts, items=lines)):
            session.last_changed_by = updated_by
            session.status = SessionStatus.ENTERED
            session.verified_by, session.verified_at, session.rejection_reason = None, None, ""
        session.version = current.version + 1
        _session_save(session=session, user=updated_by,
                      previous_official_id=current.official_id, hosts=hosts, items=lines,
                      days_before={old_day},
                      flag_officials=[current.official_id, session.official_id,
                                      *old_host_ids, *(h.pk for h in hosts or ())])
    return session


def _figures_changed(*, before: LivestreamSession, after: LivestreamSession) -> bool:
    return any(
        getattr(before, LivestreamSession._meta.get_field(name).attname)
        != getattr(after, LivestreamSession._meta.get_field(name).attname)
        for name in SESSION_FIGURE_FIELDS
    )


def _related_changed(*, session: LivestreamSession, hosts: list[Official] | None,
                     items: list[SessionItem] | None) -> bool:
    """Whether the co-hosts or the item lines given differ from the stored ones."""
    if hosts is not None and {o.pk for o in hosts} != set(
            session.hosts.values_list("pk", flat=True)):
        return True
    if items is not None and sorted(map(_item_key, items)) != sorted(
            map(_item_key, session.items.all())):
        return True
    return False


class SessionReviewRefused(PermissionDenied):
    """The four-eyes rule: nobody verifies or rejects a session they entered or last
    changed. (A PermissionDenied: the API answers 403 with the reason.)"""


def session_review_check(*, session: LivestreamSession, reviewer: AbstractBaseUser) -> None:
    """Raise SessionReviewRefused when `reviewer` entered the session or last changed its
    figures; the people who report a figure are not the ones who check it."""
    if reviewer.pk is not None and reviewer.pk in (session.entered_by_id,
                                                    session.last_changed_by_id):
        raise SessionReviewRefused(
            _("You entered or last changed this session, so someone else must verify or "
              "reject it (four-eyes rule).")
        )


def session_reject(
    *, session: LivestreamSession, reviewer: AbstractBaseUser, reason: str,
    expected_version: int | None = None,
) -> LivestreamSession:
    """Reject a session with a reason: it stops counting in every holiday's rankings and
    summaries (rejected sessions never count). Four eyes (`session_review_check`); an
    empty reason is a ValidationError on `reason`; with `expected_version`, a session saved
    since is a SessionEditConflict. The transition is in the session's history."""
    reason = (reason or "").strip()
    with transaction.atomic():
        current = LivestreamSession.objects.select_for_update().get(pk=session.pk)
        session_review_check(session=current, reviewer=reviewer)
        if expected_version is not None and current.version != expected_version:
            raise SessionEditConflict(current_version=current.version)
        if not reason:
            raise ValidationError({"reason": ValidationError(
                PARSE_MESSAGES["required"], code="required")})
        current.status = SessionStatus.REJECTED
        current.rejection_reason = reason
        current.verified_by, current.verified_at = reviewer, timezone.now()
        current.version += 1
        _session_status_save(session=current, reviewer=reviewer)
    return current


def session_verify(
    *, session: LivestreamSession, reviewer: AbstractBaseUser,
    expected_version: int | None = None,
) -> LivestreamSession:
    """Verify a session: its figures are checked against the evidence. Four eyes
    (`session_review_check`: 403); at least one evidence file, else a ValidationError on
    `evidence`; with `expected_version`, a session saved since is a SessionEditConflict.
    Under a `verified_only` basis it starts counting. The transition is in the history."""
    with transaction.atomic():
        current = LivestreamSession.objects.select_for_update().get(pk=session.pk)
        session_review_check(session=current, reviewer=reviewer)
        if expected_version is not None and current.version != expected_version:
            raise SessionEditConflict(current_version=current.version)
        if not SessionEvidence.objects.filter(session_id=current.pk).exists():
            raise ValidationError({"evidence": ValidationError(
                MESSAGES["verify_needs_evidence"], code="no_evidence")})
        current.status = SessionStatus.VERIFIED
        current.rejection_reason = ""
        current.verified_by, current.verified_at = reviewer, timezone.now()
        current.version += 1
        _session_status_save(session=current, reviewer=reviewer)
    return current


def _session_status_save(*, session: LivestreamSession, reviewer: AbstractBaseUser) -> None:
    session_rules_check(session=session, exclude=("rejection_reason",))
    session._history_user = reviewer
    _session_counted_save(session=session)
    transaction.on_commit(partial(
        session_event_send, session_id=session.pk, kind=f"session_{session.status}",
        detail=session.rejection_reason,
    ))


class FlagNotFound(Exception):
    """The session has no flag with that code (it never had, or its rule no longer holds)."""


def session_flag_dismiss(*, session: LivestreamSession, code: str, user: AbstractBaseUser,
                         note: str) -> SessionFlag:
    """Dismiss a session's anomaly flag with a note: it stays on the session, shown as
    dismissed (who, when, the note) and no longer counts as flagged, until the figures that
    raised it change (`flags.session_flags_refresh` re-opens it). Four eyes, as for verifying
    (`session_review_check`: 403); an empty note is a ValidationError on `note`; a flag the
    session does not have is FlagNotFound. The dismissal is in the flag's history."""
    note = (note or "").strip()
    with transaction.atomic():
        flag = SessionFlag.objects.select_for_update().filter(
            session_id=session.pk, code=code).first()
        if flag is None:
            raise FlagNotFound(code)
        session_review_check(session=session, reviewer=user)
        if not note:
            raise ValidationError({"note": ValidationError(
                PARSE_MESSAGES["required"], code="required")})
        flag.dismissed_by, flag.dismissed_at, flag.dismissal_note = user, timezone.now(), note
        flag._history_user = user
        flag.save(update_fields=["dismissed_by", "dismissed_at", "dismissal_note"])
        generation_bump(RANKINGS)  # the holiday's cached count of flagged sessions
    return flag


def _session_counted_save(*, session: LivestreamSession) -> None:
    """Save a change that may change whether the session counts (its status), keeping the
    totals of its holiday: its stored contribution out, the saved one in."""
    holidays = holidays_touch(days={local_date(session.started_at)},
                              official_ids=[session.official_id])
    totals_remove(session_ids=[session.pk], holidays=holidays)
    session.save()
    totals_add(session_ids=[session.pk], holidays=holidays)


def session_event_send(*, session_id: int, kind: str, detail: str = "") -> None:
    """Tell the people concerned (the official, webhooks) that a session was verified,
    rejected or flagged: a task sent by name after commit. A broker that is down loses the
    message, not the write (logged)."""
    try:
        celery_app.tasks[SESSION_EVENT_TASK].delay(session_id=session_id, kind=kind,
                                                    detail=detail)
    except Exception:
        logger.exception("Could not send the %s notice of session %s", kind, session_id)


def session_events_send(*, events: list[dict]) -> None:
    """Several session events ({"session_id", "kind", "detail"}) in one message, as
    `session_event_send` does one: a write that raised 90 flags sends one message from the
    request, not 90 (each a round trip to the broker), and the worker tells each."""
    if not events:
        return
    try:
        celery_app.tasks[SESSION_EVENTS_TASK].delay(events=events)
    except Exception:
        logger.exception("Could not send %s session notices", len(events))


def session_delete(*, session: LivestreamSession, deleted_by: AbstractBaseUser | None) -> None:
    """Delete a session (its history keeps the last values) and mark its holiday stale."""
    with transaction.atomic():
        current = LivestreamSession.objects.select_for_update().get(pk=session.pk)
        current._history_user = deleted_by
        day = local_date(current.started_at)
        # Each evidence row leaves its own history record naming who deleted it.
        for evidence in current.evidence.all():
            evidence_delete(evidence=evidence, deleted_by=deleted_by, reason="session deleted")
        official_id = current.official_id
        host_ids = list(current.hosts.values_list("pk", flat=True))
        holidays = holidays_touch(days={day}, official_ids=[official_id, *host_ids])
        totals_remove(session_ids=[current.pk], holidays=holidays)
        current.delete()
        totals_recheck(holidays=holidays)


# --- Evidence files (content checks in sessions_app/evidence/) -----------------------------


class EvidenceTooLarge(ValidationError):
    """The file is larger than EVIDENCE_MAX_UPLOAD_BYTES (HTTP 413)."""


class EvidenceStorageUnavailable(Exception):
    """The file storage (a disk, an object store) failed to take or give a file (HTTP 503)."""

    def __init__(self):
        super().__init__(_("The file store is unavailable right now, so nothing was saved. "
                           "Please try again in a minute."))


@dataclass(frozen=True)
class EvidenceAdded:
    evidence: SessionEvidence
    # Other sessions that already have the same file (by SHA-256): allowed, but a reviewer
    # should look (one screenshot offered as proof of two shows).
    same_file_sessions: list[LivestreamSession]


def evidence_too_large_message() -> str:
    return _("The file is larger than %(limit)s.") % {
        "limit": filesizeformat(settings.EVIDENCE_MAX_UPLOAD_BYTES)
    }


def _evidence_too_large() -> EvidenceTooLarge:
    return EvidenceTooLarge({"file": [ValidationError(evidence_too_large_message(),
                                                      code="too_large")]})


def evidence_same_file_warning(sessions: list[LivestreamSession]) -> str:
    """What an uploader is told when other sessions already have the same file."""
    return _("The same file is already evidence of: %(sessions)s.") % {
        "sessions": "; ".join(f"#{s.pk} “{s.title}”" for s in sessions)
    }


def evidence_add(
    *,
    session: LivestreamSession,
    uploaded_by: AbstractBaseUser | None,
    file: File,
    kind: str | None = None,
    filename: str | None = None,
) -> EvidenceAdded:
    """Attach a file to a session as evidence and return it with the other sessions that
    already have the same file.

    Rules: at most EVIDENCE_MAX_UPLOAD_BYTES (EvidenceTooLarge); the content, not the name,
    must be PNG, JPEG, PDF, XLSX or CSV (`evidence.content`); the same file (SHA-256) twice on
    one session is refused. `kind` defaults to what the content suggests (an image is a
    screenshot, a spreadsheet a platform export). Errors are ValidationError on `file` or
    `kind`, and then nothing is stored. The file is read in chunks (type, digest,
    thumbnail) before it is written to the default storage under a random name.
    """
    if file.size is not None and file.size > settings.EVIDENCE_MAX_UPLOAD_BYTES:
        raise _evidence_too_large()
    try:
        detected = evidence_content_detect(file=file)
    except ValidationError as error:
        raise ValidationError({"file": error.error_list}) from None
    size, sha256 = evidence_digest(file=file)
    if size > settings.EVIDENCE_MAX_UPLOAD_BYTES:
        raise _evidence_too_large()
    if SessionEvidence.objects.filter(session=session, sha256=sha256).exists():
        raise ValidationError({"file": [_evidence_duplicate_error()]})
    evidence = SessionEvidence(
        session=session,
        kind=kind or detected.default_kind,
        original_filename=_evidence_filename(filename or file.name, detected),
        content_type=detected.content_type,
        size=size,
        sha256=sha256,
        uploaded_by=uploaded_by,
    )
    evidence.full_clean(exclude=["file", "thumbnail"], validate_constraints=False)
    thumbnail = evidence_thumbnail_build(file=file) if detected.is_image else None
    same_file = list(
        LivestreamSession.objects.filter(evidence__sha256=sha256)
        .exclude(pk=session.pk).distinct().order_by("pk")[:10]
    )

    # Stored with the detected type (an object store keeps it), never the browser's claim.
    stored = File(file, name=file.name)
    stored.content_type = detected.content_type
    try:
        evidence.file.save("evidence", stored, save=False)
    except Exception as error:
        logger.exception("Could not store an evidence file of session %s", session.pk)
        raise EvidenceStorageUnavailable from error
    try:
        if thumbnail is not None:
            thumbnail.content_type = "image/jpeg"
            evidence.thumbnail.save("thumbnail", thumbnail, save=False)
        evidence._history_user = uploaded_by
        with transaction.atomic():
            evidence.save()
    except Exception as error:
        # Nothing half-saved: a stored file without its row would be an orphan.
        for written in (evidence.file, evidence.thumbnail):
            if written.name:
                try:
                    written.storage.delete(written.name)
                except Exception:
                    logger.exception("Could not remove %s after a failed upload", written.name)
        if isinstance(error, IntegrityError):
            # Another upload of the same file to this session won the race.
            raise ValidationError({"file": [_evidence_duplicate_error()]}) from error
        if isinstance(error, DatabaseError):
            raise
        logger.exception("Could not store an evidence thumbnail of session %s", session.pk)
        raise EvidenceStorageUnavailable from error
    return EvidenceAdded(evidence=evidence, same_file_sessions=same_file)


def _evidence_duplicate_error() -> ValidationError:
    return ValidationError(_("This session already has this file (same SHA-256)."),
                           code="duplicate")


def _evidence_filename(name: str | None, detected) -> str:
    """The uploader's file name as shown and offered on download: the last path part, no
    control characters, at most 255 characters; a name for a nameless upload."""
    name = re.sub(r"[\x00-\x1f\x7f]", "", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = name.strip() or f"evidence.{detected.label.lower()}"
    if len(name) > 255:
        stem, dot, extension = name.rpartition(".")
        keep = dot + extension if dot and len(extension) <= 10 else ""
        name = name[: 255 - len(keep)] + keep
    return name


def evidence_delete(
    *, evidence: SessionEvidence, deleted_by: AbstractBaseUser | None, reason: str = ""
) -> None:
    """Remove a file from its session's evidence.

    The history keeps a record of the deletion (who, when, the reason, and the file's name,
    size, SHA-256 and stored name); the stored file itself is kept, so what was deleted can
    still be checked against its digest in an audit. Operators purge storage, not users.
    """
    evidence._history_user = deleted_by
    if reason:
        evidence._change_reason = reason[:100]
    with transaction.atomic():
        evidence.delete()
        _verification_withdraw_without_evidence(session_id=evidence.session_id,
                                                user=deleted_by)


def _verification_withdraw_without_evidence(*, session_id: int,
                                            user: AbstractBaseUser | None) -> None:
    """A verification rests on evidence: a verified session left without any goes back to
    `entered`, to be checked again (in its history, and its holiday marked stale)."""
    session = (LivestreamSession.objects.select_for_update()
               .filter(pk=session_id, status=SessionStatus.VERIFIED).first())
    if session is None or SessionEvidence.objects.filter(session_id=session_id).exists():
        return
    session.status = SessionStatus.ENTERED
    session.verified_by, session.verified_at = None, None
    session.version += 1
    session._history_user = user
    _session_counted_save(session=session)


def official_save(*, official: Official, user: AbstractBaseUser | None) -> Official:
    """Create or update an official, with the pinyin search keys of their name
    (`name_pinyin`, pinyin.name_pinyin_keys) kept up to date: every path that writes an
    official (admin, API, demo) goes through here, so the pickers find the new name."""
    official.name_pinyin = name_pinyin_keys(official.name)
    official.full_clean()
    official._history_user = user
    official.save()
    return official


def holiday_save(*, holiday: Holiday, user: AbstractBaseUser | None) -> Holiday:
    """Create or update a holiday. Its dates decide which sessions it covers, so it is
    marked stale and recomputed; a new holiday, or one whose dates or ranking basis
    change, has its totals rebuilt from scratch in the same transaction."""
    holiday.full_clean()
    with transaction.atomic():
        before = (Holiday.objects.select_for_update().filter(pk=holiday.pk)
                  .values("start_date", "end_date", "ranking_basis").first()
                  if holiday.pk else None)
        holiday._history_user = user
        holiday.save()
        Holiday.objects.filter(pk=holiday.pk).update(data_version=F("data_version") + 1)
        transaction.on_commit(partial(flags_refresh_request, holiday_ids=[holiday.pk]))
        if before != {"start_date": holiday.start_date, "end_date": holiday.end_date,
                      "ranking_basis": holiday.ranking_basis}:
            # Other days or another basis: other sessions count. Rebuilt from scratch
            # under the holiday's lock, which the writers of its sessions wait for.
            holiday_totals_rebuild(holiday=holiday)
        transaction.on_commit(partial(rankings_recompute_request, holiday_ids=[holiday.pk]))
    holiday.refresh_from_db(fields=["data_version"])
    return holiday


# --- Spreadsheet import (checks in sessions_app/imports/) ----------------------------------

# Rows a bulk insert writes at a time.
IMPORT_BULK_BATCH_SIZE = 1000


def sessions_import(
    *, rows: list[ImportRow], user: AbstractBaseUser | None, source: str = ""
) -> list[LivestreamSession]:
    """Save validated rows in one transaction, each with its audit history row.

    The history names `user` (also `entered_by`) and the change reason "import: <source>".
    The holidays the rows fall in are marked stale once, so one recompute per holiday
    follows the commit. A clash with a concurrent write on the overlap rule (PostgreSQL's exclusion
    constraint) raises IntegrityError and saves nothing.
    """
    sessions = [
        LivestreamSession(
            official_id=row.official_id,
            county_id=row.county_id,
            platform=row.platform,
            title=row.title,
            products=row.products,
            started_at=row.started_at,
            ended_at=row.ended_at,
            audience=row.audience,
            orders=row.orders,
            revenue=row.revenue,
            refunded_orders=row.refunded_orders,
            refunds=row.refunds,
            unique_viewers=row.unique_viewers,
            peak_viewers=row.peak_viewers,
            new_followers=row.new_followers,
            entered_by=user,
            last_changed_by=user,
        )
        for row in rows
    ]
    reason = f"import: {source}"[:100]
    with transaction.atomic():
        created = bulk_create_with_history(
            sessions,
            LivestreamSession,
            batch_size=IMPORT_BULK_BATCH_SIZE,
            default_user=user,
            default_change_reason=reason,
        )
        _import_related_create(sessions=created, rows=rows, user=user, reason=reason)
        holidays = holidays_touch(days={local_date(row.started_at) for row in rows},
                                  official_ids={official for row in rows
                                                for official in (row.official_id, *row.hosts)})
        totals_add(session_ids=[session.pk for session in created], holidays=holidays)
    return created


def _import_related_create(*, sessions: list[LivestreamSession], rows: list[ImportRow],
                           user: AbstractBaseUser | None, reason: str) -> None:
    """The co-hosts and item lines of imported sessions, in bulk, each with its history
    (the co-hosts on the session's "+" record, each line its own). The rows were checked
    with the same rules the service applies (imports/rows.py)."""
    through = LivestreamSession.hosts.through
    links = [through(livestreamsession_id=session.pk, official_id=host)
             for session, row in zip(sessions, rows, strict=True) for host in row.hosts]
    if links:
        through.objects.bulk_create(links, batch_size=IMPORT_BULK_BATCH_SIZE)
        session_hosts_history_attach(
            sessions=[s for s, row in zip(sessions, rows, strict=True) if row.hosts])
    lines = []
    for session, row in zip(sessions, rows, strict=True):
        for line in session_items_build(items=row.items):
            line.session = session
            lines.append(line)
    if lines:
        bulk_create_with_history(lines, SessionItem, batch_size=IMPORT_BULK_BATCH_SIZE,
                                 default_user=user, default_change_reason=reason)


def import_batch_stage(*, user: AbstractBaseUser, check: ImportCheck) -> ImportBatch:
    """Keep a checked upload's rows in the database until it is confirmed or cancelled (the
    preview and the confirm may reach different processes); purge expired ones."""
    if check.read is None or not check.ok:
        raise ValueError("Only a file checked without errors can be staged.")
    ImportBatch.objects.filter(created_at__lt=timezone.now() - IMPORT_BATCH_TTL).delete()
    return ImportBatch.objects.create(
        user=user, filename=check.filename[:255], content=check.read.to_json()
    )


def import_batch_cancel(*, batch_id: int, user: AbstractBaseUser) -> bool:
    """Drop the user's staged upload; return whether there was one. Nothing is saved."""
    deleted, _detail = ImportBatch.objects.filter(pk=batch_id, user=user).delete()
    return bool(deleted)


class _ImportRowRefused(Exception):
    """A row of an update import the service refused: rolls the whole import back."""

    def __init__(self, error: RowError):
        super().__init__(error.reason)
        self.error = error


def sessions_import_updates(
    *, rows: list[ImportRow], user: AbstractBaseUser | None, source: str = ""
) -> int:
    """Apply an update import's corrections, all or none, each through `session_update`
    with the version its session had when the file was checked (a session changed since is
    refused: SessionEditConflict), so every rule of an edit applies (a checked session
    whose figures change goes back to `entered`). Rows that change nothing are skipped.
    Returns how many sessions changed; a refused row raises _ImportRowRefused naming it."""
    changed = [row for row in rows if row.changes]
    counties = {c.pk: c for c in County.objects.filter(
        pk__in={row.changes["county"][1] for row in changed if "county" in row.changes})}
    officials = Official.objects.in_bulk(
        {pk for row in changed for pk in row.changes.get("hosts", (None, []))[1]})
    with transaction.atomic():
        sessions = LivestreamSession.objects.in_bulk([row.session_id for row in changed])
        for row in changed:
            session = sessions.get(row.session_id)
            data = {name: counties[new] if name == "county" else new
                    for name, (_old, new) in row.changes.items()}
            if "hosts" in data:
                data["hosts"] = [officials[pk] for pk in data["hosts"]]
            try:
                if session is None:
                    raise LivestreamSession.DoesNotExist
                session._change_reason = f"import: {source}"[:100]
                session_update(session=session, updated_by=user, data=data,
                               expected_version=row.version)
            except (SessionEditConflict, LivestreamSession.DoesNotExist) as error:
                raise _ImportRowRefused(RowError(row.row, "", _(
                    "This session was changed or deleted after the file was checked: upload "
                    "the file again to see its stored values."), row.session_id)) from error
            except ValidationError as error:
                raise _ImportRowRefused(RowError(
                    row.row, "", " ".join(error.messages), row.session_id)) from error
    return len(changed)


@dataclass
class ImportOutcome:
    check: ImportCheck
    created: int = 0
    # Update mode: sessions changed, and rows that matched a session and changed nothing.
    updated: int = 0
    unchanged: int = 0


def import_batch_confirm(*, batch_id: int, user: AbstractBaseUser) -> ImportOutcome:
    """Validate the staged upload again and save all its rows, or none.

    The batch row is locked and deleted in the import's transaction, so a double-clicked
    confirm imports once (the second finds no batch: ImportBatchGone). With any error the
    transaction saves nothing and the batch stays for the user to see the errors and cancel.
    A concurrent write that wins the overlap race is reported as row errors
    found by validating again, not as a server error.
    """
    try:
        with transaction.atomic():
            batch = (
                ImportBatch.objects.select_for_update()
                .filter(pk=batch_id, user=user,
                        created_at__gte=timezone.now() - IMPORT_BATCH_TTL)
                .first()
            )
            if batch is None:
                raise ImportBatchGone
            check = import_batch_check(batch=batch)
            if not check.ok:
                return ImportOutcome(check=check)
            if check.mode == MODE_UPDATE:
                updated = sessions_import_updates(rows=check.rows, user=user,
                                                  source=batch.filename)
                batch.delete()
                return ImportOutcome(check=check, updated=updated,
                                     unchanged=check.unchanged_count)
            created = sessions_import(rows=check.rows, user=user, source=batch.filename)
            batch.delete()
    except _ImportRowRefused as refused:
        # Nothing was saved; the batch stays for the user to see why and cancel.
        check.errors.append(refused.error)
        return ImportOutcome(check=check)
    except IntegrityError:
        logger.info("Import of batch %s lost a race on a unique constraint", batch_id)
        check = import_batch_check(batch=batch)
        if check.ok:
            check.errors.append(RowError(0, "", _(
                "Another change was saved at the same time: upload the file again."
            )))
        return ImportOutcome(check=check)
    return ImportOutcome(check=check, created=len(created))
