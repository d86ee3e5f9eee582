"""Reads of counties, officials, holidays and sessions."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, DecimalField, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, ExtractHour, TruncDate
from django.utils import timezone

from linfen_tracker import generations

from .models import (
    County,
    Holiday,
    LivestreamSession,
    Official,
    SessionEvidence,
    SessionFlag,
    SessionItem,
    SessionStatus,
)
from .services import SESSION_EDITABLE_FIELDS, SESSION_RELATED_FIELDS
from .validators import END_MOMENT, FIRST_MOMENT


def holiday_current_or_latest(*, today=None) -> Holiday | None:
    """The holiday under way today (Beijing time); else the latest that has started; else the
    next one; None when there is no holiday at all."""
    today = today or timezone.localdate()
    return (
        Holiday.objects.covering(today).order_by("-start_date").first()
        or Holiday.objects.filter(start_date__lte=today).order_by("-start_date").first()
        or Holiday.objects.order_by("start_date").first()
    )


def holiday_list() -> QuerySet[Holiday]:
    """Every holiday, the latest first (by start date)."""
    return Holiday.objects.order_by("-start_date")


@dataclass(frozen=True)
class HolidayCalendar:
    """Every holiday's days, to say which holiday a day falls in without a query per day
    (the list's rows, an import's rows, the form's live check). Where holidays overlap, the
    one that started last is named."""

    holidays: tuple[Holiday, ...]  # latest start first

    def holiday_on(self, day) -> Holiday | None:
        return next((h for h in self.holidays if h.start_date <= day <= h.end_date), None)

    def ranges(self) -> list[list[str]]:
        """[[first day, last day, name in the page's language], ...] as ISO dates, for the
        form's script."""
        return [[h.start_date.isoformat(), h.end_date.isoformat(), h.display_name]
                for h in self.holidays]


def holiday_calendar() -> HolidayCalendar:
    """Every holiday (one query), to look days up in."""
    return HolidayCalendar(holidays=tuple(Holiday.objects.order_by("-start_date", "-id")))


def holiday_get(*, key: str | int) -> Holiday | None:
    """A holiday by id (digits) or slug; None if there is none."""
    key = str(key)
    if key.isdigit():
        return Holiday.objects.filter(pk=int(key)).first()
    return Holiday.objects.filter(slug=key).first()


@dataclass(frozen=True)
class SessionHistoryEntry:
    """One saved version of a session and the previous version it changed."""

    record: Any  # the historical record: values as saved, history_user/date/type
    previous: Any | None  # None for the first record (the creation)
    changed_fields: list  # editable model fields whose value differs (all, at creation)
    # The co-hosts' official ids (sorted) before and after, when this record changed them.
    hosts_change: tuple[list[int], list[int]] | None = None


def session_history(*, session_id: int) -> list[SessionHistoryEntry]:
    """The audit trail of a session, newest first: every saved version (created, changed,
    deleted) with who and when, the version before it, and which editable fields differ
    from it. A deleted session keeps its trail."""
    records = list(
        LivestreamSession.history.filter(
            # Versions whose times the driver cannot read (see LivestreamSessionManager).
            id=session_id, started_at__gte=FIRST_MOMENT, started_at__lt=END_MOMENT
        )
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    # The co-hosts each record saw (django-simple-history's m2m history), in one query.
    from django.apps import apps

    host_rows = apps.get_model("sessions_app", "HistoricalLivestreamSession_hosts").objects
    hosts_of: dict[int, list[int]] = {}
    for history_id, official_id in host_rows.filter(
            history_id__in=[r.history_id for r in records]).values_list("history_id",
                                                                         "official_id"):
        hosts_of.setdefault(history_id, []).append(official_id)
    fields = [LivestreamSession._meta.get_field(name) for name in SESSION_EDITABLE_FIELDS
              if name not in SESSION_RELATED_FIELDS]
    entries = []
    hosts_before: list[int] = []
    for previous, record in zip([None, *records], records, strict=False):
        changed = [
            f for f in fields
            if previous is None or getattr(previous, f.attname) != getattr(record, f.attname)
        ]
        hosts = sorted(hosts_of.get(record.history_id, []))
        hosts_change = (hosts_before, hosts) if hosts != hosts_before else None
        hosts_before = hosts
        entries.append(SessionHistoryEntry(record=record, previous=previous,
                                           changed_fields=changed, hosts_change=hosts_change))
    entries.reverse()
    return entries


def session_list() -> QuerySet[LivestreamSession]:
    """Sessions with what a list shows, newest first."""
    return LivestreamSession.objects.select_related(
        "official", "county", "entered_by"
    ).prefetch_related("evidence", "hosts", "items", "flags__dismissed_by")


def session_evidence_count(*, session_id: int) -> int:
    """How many evidence files the session has now (deleted ones do not count)."""
    return SessionEvidence.objects.filter(session_id=session_id).count()


def session_evidence_list(*, session_id: int) -> QuerySet[SessionEvidence]:
    """The session's evidence files with their uploaders, oldest first."""
    return (SessionEvidence.objects.filter(session_id=session_id)
            .select_related("uploaded_by").order_by("uploaded_at", "id"))


def evidence_get(*, session_id: int, evidence_id: int) -> SessionEvidence | None:
    """One evidence file of one session; None if the session has no such file (an id of
    another session's file names nothing here)."""
    return SessionEvidence.objects.filter(session_id=session_id, pk=evidence_id).first()


def session_evidence_deletions(*, session_id: int) -> list:
    """The history records of the session's evidence files that were deleted, newest first:
    who (`history_user`), when (`history_date`), why (`history_change_reason`) and the file
    as it was (name, kind, size, SHA-256)."""
    return list(
        SessionEvidence.history.filter(session_id=session_id, history_type="-")
        .select_related("history_user").order_by("-history_date", "-history_id")
    )


def official_get(*, pk: int) -> Official | None:
    """An official with their county; None if there is none."""
    return Official.objects.select_related("county").filter(pk=pk).first()


def official_sessions(*, official_id: int) -> QuerySet[LivestreamSession]:
    """Every session the official hosted, wherever and whenever held (not only in a
    holiday), with its county, newest first."""
    return (LivestreamSession.objects.filter(official_id=official_id)
            .select_related("county").order_by("-started_at", "id"))


def official_totals(*, official_id: int) -> dict:
    """Over every session the official hosted: `sessions` (how many), and the sums of
    `audience`, `orders` and `revenue` (zeros when there is none)."""
    return LivestreamSession.objects.filter(official_id=official_id).aggregate(**_METRICS)


_ZERO = Decimal("0.00")


def _money_sum(expression, **extra) -> Coalesce:
    # An explicit output field so SQLite's sums come back quantized to cents, as PostgreSQL's.
    # 38 digits: the sums of any holiday fit (validators.MAX_COUNT), so no summary overflows.
    money = DecimalField(max_digits=38, decimal_places=2)
    return Coalesce(Sum(expression, output_field=money, **extra), _ZERO, output_field=money)


_METRICS = {
    "sessions": Count("id"),
    "audience": Coalesce(Sum("audience"), 0),
    "orders": Coalesce(Sum("orders"), 0),
    "revenue": _money_sum("revenue"),
    "refunded_orders": Coalesce(Sum("refunded_orders"), 0),
    "refunds": _money_sum("refunds"),
}
_MONEY = {"revenue", "refunds"}


def _totals_or_zeros(row: dict | None) -> dict:
    """The _METRICS of an aggregated row, and its net revenue (the sum of revenue less the
    sum of refunds, which is the sum of each session's net); zeros for a day or county
    with no session."""
    totals = {k: row[k] if row else (_ZERO if k in _MONEY else 0) for k in _METRICS}
    return {**totals, "net_revenue": totals["revenue"] - totals["refunds"]}


def holiday_summary(*, holiday: Holiday, request=None) -> dict:
    """Totals of the sessions a holiday counts (its ranking basis: never rejected ones, only
    verified ones under `verified_only`) and their breakdowns.

    Returns sessions, audience, orders, revenue (gross), refunded_orders, refunds,
    net_revenue, refund_rate (refunds / revenue), poverty_relief_revenue (sessions held in
    counties flagged as key poverty-relief counties) and its share, `verification` (the
    holiday's sessions by status, unverified revenue, how many are counted), then `by_day`
    (every day of the holiday, Beijing dates, zeros included), `by_county` (every county, zeros
    included, by revenue descending then name) and `by_platform` (platforms with sessions).

    Cached once for all processes, exactly: under the holiday's data_version, which every
    session write touching the holiday bumps in its transaction (a write to another holiday
    leaves this summary cached), and the `reference` generation, which any saved county,
    official or holiday bumps (a renamed county or a changed poverty-relief flag shows at
    once). `request` only saves reading the generations twice in one request.
    """
    return generations.shared_cached(
        generations.REFERENCE, f"summary:{holiday.pk}", lambda: _holiday_summary(holiday),
        version=holiday.data_version, request=request,
    )


def _verification(*, holiday: Holiday, counted: int) -> dict:
    """How solid a holiday's figures are: its sessions by status, the revenue not yet
    verified, the ranking basis and how many sessions it counts (of all in its days)."""
    by_status = {
        row["status"]: row
        for row in LivestreamSession.objects.in_holiday(holiday).values("status").annotate(
            n=Count("id"), money=_money_sum("revenue"))
    }
    sessions = {status: by_status.get(status, {}).get("n", 0) for status in SessionStatus.values}
    return {
        "basis": holiday.ranking_basis,
        "counted": counted,
        "in_holiday": sum(sessions.values()),
        **sessions,
        "unverified_revenue": by_status.get(SessionStatus.ENTERED, {}).get("money", _ZERO),
    }


def _holiday_summary(holiday: Holiday) -> dict:
    qs = LivestreamSession.objects.counted_in(holiday)
    totals = _totals_or_zeros(qs.aggregate(**_METRICS))
    poverty = qs.filter(county__poverty_relief_key=True).aggregate(
        r=_METRICS["revenue"]
    )["r"]
    days = {
        row["day"]: row
        for row in qs.annotate(day=TruncDate("started_at", tzinfo=timezone.get_default_timezone()))
        .values("day")
        .annotate(**_METRICS)
    }
    by_day = [{"date": day, **_totals_or_zeros(days.get(day))} for day in holiday.days]
    counties = {row["county"]: row for row in qs.values("county").annotate(**_METRICS)}
    by_county = sorted(
        (
            {"id": c.id, "slug": c.slug, "name": c.name, "name_zh": c.name_zh,
             "poverty_relief_key": c.poverty_relief_key,
             **_totals_or_zeros(counties.get(c.id))}
            for c in County.objects.all()
        ),
        key=lambda row: (-row["revenue"], row["name"]),
    )
    by_platform = [
        {"platform": row["platform"], **_totals_or_zeros(row)}
        for row in qs.values("platform").annotate(**_METRICS).order_by("-revenue", "platform")
    ]
    revenue = totals["revenue"]
    products = _products(qs)
    return {
        **totals,
        "refund_rate": (totals["refunds"] / revenue) if revenue else None,
        "poverty_relief_revenue": poverty,
        "poverty_relief_share": (poverty / revenue) if revenue else None,
        **products,
        "certified_share": (products["certified_revenue"] / revenue) if revenue else None,
        "verification": _verification(holiday=holiday, counted=totals["sessions"]),
        "by_day": by_day,
        "by_county": by_county,
        "by_platform": by_platform,
    }


TOP_PRODUCTS = 10


def _products(sessions: QuerySet) -> dict:
    """What the item lines of the counted `sessions` say: `by_product` (the TOP_PRODUCTS
    products by revenue: name, revenue, lines, whether any line of it is a certified
    poverty-alleviation product), `itemised_revenue` (all lines) and `certified_revenue`
    (lines of certified products). Each session once, whoever co-hosted it."""
    lines = SessionItem.objects.filter(session__in=sessions.values("pk"))
    totals = lines.aggregate(
        itemised=_money_sum("revenue"),
        certified=_money_sum("revenue", filter=Q(poverty_relief_product=True)),
    )
    top = (lines.values("name")
           .annotate(revenue=_money_sum("revenue"), lines=Count("id"),
                     certified_lines=Count("id", filter=Q(poverty_relief_product=True)))
           .order_by("-revenue", "name")[:TOP_PRODUCTS])
    return {
        "by_product": [{"name": row["name"], "revenue": row["revenue"], "lines": row["lines"],
                        "certified": row["certified_lines"] > 0} for row in top],
        "itemised_revenue": totals["itemised"],
        "certified_revenue": totals["certified"],
    }


def holiday_screen_day(*, holiday: Holiday, summary: dict, today=None):
    """The day the big screen charts by hour: today while the holiday is under way, else
    its last day with a counted session (its last day if none)."""
    today = today or timezone.localdate()
    if holiday.start_date <= today <= holiday.end_date:
        return today
    days = [row["date"] for row in summary["by_day"] if row["sessions"]]
    return days[-1] if days else holiday.end_date


def holiday_revenue_by_hour(*, holiday: Holiday, day, request=None) -> list[dict]:
    """Revenue of the holiday's counted sessions (its ranking basis) that started on `day`,
    by the hour they started (Beijing time): 24 rows {"hour", "revenue", "sessions"}, zeros
    included. Cached for all processes under the holiday's data_version, as the summary."""

    def build() -> list[dict]:
        tz = timezone.get_default_timezone()
        start = datetime.combine(day, time.min, tzinfo=tz)
        rows = {
            row["hour"]: row
            for row in LivestreamSession.objects.counted_in(holiday)
            .filter(started_at__gte=start, started_at__lt=start + timedelta(days=1))
            .annotate(hour=ExtractHour("started_at", tzinfo=tz)).values("hour")
            .annotate(sessions=Count("id"), revenue=_money_sum("revenue"))
        }
        return [{"hour": hour, "revenue": rows.get(hour, {}).get("revenue", _ZERO),
                 "sessions": rows.get(hour, {}).get("sessions", 0)} for hour in range(24)]

    return generations.shared_cached(
        generations.REFERENCE, f"by-hour:{holiday.pk}:{day.isoformat()}", build,
        version=holiday.data_version, request=request,
    )


def official_linkable_users() -> QuerySet:
    """The user accounts an official may be linked to: neither staff nor superusers.

    A linked account is the official's own (their rows highlighted, their sessions). An
    account with staff or administrator rights would let an official enter and correct
    their own figures, and let any staff member hand the administrator's account to an
    official. Used by the API and the admin alike.
    """
    return get_user_model().objects.filter(is_staff=False, is_superuser=False)


# --- Anomaly flags ---------------------------------------------------------------------------


def holiday_flag_counts(*, holiday: Holiday, request=None) -> dict:
    """How many of the holiday's sessions (rejected ones aside) have an open (undismissed)
    anomaly flag, and their revenue: the dashboard's "7 flagged sessions, 1.2 M yuan".

    Built once for all processes (a holiday of 400,000 flagged sessions takes 0.4 s to
    count) under the holiday's data_version, which every session write bumps, and the
    `rankings` generation, which a flags refresh that changed a flag and a dismissal bump
    (`flags.session_flags_refresh`, `services.session_flag_dismiss`)."""
    def build() -> dict:
        flagged = (LivestreamSession.objects.in_holiday(holiday)
                   .exclude(status=SessionStatus.REJECTED).flagged())
        row = flagged.aggregate(sessions=Count("id"), revenue=_money_sum("revenue"))
        return {"sessions": row["sessions"], "revenue": row["revenue"] or _ZERO}

    return generations.shared_cached(generations.RANKINGS, f"flag-counts:{holiday.pk}", build,
                                     version=holiday.data_version, request=request)


def review_queue(*, holidays: list[Holiday]) -> QuerySet[LivestreamSession]:
    """The sessions a reviewer should look at in `holidays`: not yet verified, or verified
    with an open anomaly flag (rejected ones are dealt with), largest revenue first, with
    their flags, evidence and official."""
    in_holidays = LivestreamSession.objects.none()
    for holiday in holidays:
        in_holidays = in_holidays | LivestreamSession.objects.in_holiday(holiday)
    open_flag = SessionFlag.objects.filter(session_id=OuterRef("pk"), dismissed_at__isnull=True)
    return (
        in_holidays.exclude(status=SessionStatus.REJECTED)
        .filter(Q(status=SessionStatus.ENTERED) | Exists(open_flag))
        .select_related("official", "county", "entered_by", "last_changed_by")
        .prefetch_related("evidence", "flags__dismissed_by")
        .order_by("-revenue", "id")
    )


def holidays_for_review(*, today=None, recent_days: int = 30) -> list[Holiday]:
    """The holidays a reviewer works on: the one under way and those that ended in the last
    `recent_days` days (Beijing time), else the latest one."""
    today = today or timezone.localdate()
    holidays = list(Holiday.objects.filter(
        start_date__lte=today, end_date__gte=today - timedelta(days=recent_days))
        .order_by("-start_date"))
    if not holidays:
        latest = holiday_current_or_latest(today=today)
        holidays = [latest] if latest else []
    return holidays
