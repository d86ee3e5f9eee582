"""Reads of counties, officials, holidays and sessions."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, DecimalField, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from .models import County, Holiday, LivestreamSession
from .services import SESSION_EDITABLE_FIELDS


def holiday_current_or_latest(*, today=None) -> Holiday | None:
    """The holiday under way today (Beijing time); else the latest that has started; else the
    next one; None when there is no holiday at all."""
    today = today or timezone.localdate()
    return (
        Holiday.objects.covering(today).order_by("-start_date").first()
        or Holiday.objects.filter(start_date__lte=today).order_by("-start_date").first()
        or Holiday.objects.order_by("start_date").first()
    )


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


def session_history(*, session_id: int) -> list[SessionHistoryEntry]:
    """The audit trail of a session, newest first: every saved version (created, changed,
    deleted) with who and when, the version before it, and which editable fields differ
    from it. A deleted session keeps its trail."""
    records = list(
        LivestreamSession.history.filter(id=session_id)
        .select_related("history_user")
        .order_by("history_date", "history_id")
    )
    fields = [LivestreamSession._meta.get_field(name) for name in SESSION_EDITABLE_FIELDS]
    entries = []
    for previous, record in zip([None, *records], records, strict=False):
        changed = [
            f for f in fields
            if previous is None or getattr(previous, f.attname) != getattr(record, f.attname)
        ]
        entries.append(SessionHistoryEntry(record=record, previous=previous,
                                           changed_fields=changed))
    entries.reverse()
    return entries


def session_list() -> QuerySet[LivestreamSession]:
    """Sessions with what a list shows, newest first."""
    return LivestreamSession.objects.select_related("official", "county", "entered_by")


_ZERO = Decimal("0.00")


_METRICS = {
    "sessions": Count("id"),
    "audience": Coalesce(Sum("audience"), 0),
    "orders": Coalesce(Sum("orders"), 0),
    # An explicit output field so SQLite's sums come back quantized to cents, as PostgreSQL's.
    "revenue": Coalesce(Sum("revenue"), _ZERO, output_field=DecimalField(max_digits=18,
                                                                        decimal_places=2)),
}


def _figures(row: dict | None) -> dict:
    return {k: row[k] if row else (_ZERO if k == "revenue" else 0) for k in _METRICS}


SUMMARY_CACHE_SECONDS = 300


def holiday_summary(*, holiday: Holiday) -> dict:
    """Totals of a holiday's sessions and their breakdowns.

    Cached under the holiday's data_version, which every session write touching the holiday
    bumps, so a cached summary is never behind the sessions of the version it was read at;
    the timeout bounds how long a county's renamed or re-flagged poverty-relief status
    takes to show.

    Returns sessions, audience, orders, revenue, poverty_relief_revenue (sessions held in
    counties flagged as key poverty-relief counties) and its share, then `by_day` (every day
    of the holiday, Beijing dates, zeros included), `by_county` (every county, zeros
    included, by revenue descending then name) and `by_platform` (platforms with sessions).
    """
    key = f"sessions:summary:{holiday.pk}:{holiday.data_version}"
    summary = cache.get(key)
    if summary is None:
        summary = _holiday_summary(holiday)
        cache.set(key, summary, SUMMARY_CACHE_SECONDS)
    return summary


def _holiday_summary(holiday: Holiday) -> dict:
    qs = LivestreamSession.objects.in_holiday(holiday)
    totals = qs.aggregate(**_METRICS)
    poverty = qs.filter(county__poverty_relief_key=True).aggregate(
        r=Coalesce(Sum("revenue"), _ZERO)
    )["r"]
    days = {
        row["day"]: row
        for row in qs.annotate(day=TruncDate("started_at", tzinfo=timezone.get_default_timezone()))
        .values("day")
        .annotate(**_METRICS)
    }
    by_day = [{"date": day, **_figures(days.get(day))} for day in holiday.days]
    counties = {row["county"]: row for row in qs.values("county").annotate(**_METRICS)}
    by_county = sorted(
        (
            {"id": c.id, "slug": c.slug, "name": c.name, "name_zh": c.name_zh,
             "poverty_relief_key": c.poverty_relief_key, **_figures(counties.get(c.id))}
            for c in County.objects.all()
        ),
        key=lambda row: (-row["revenue"], row["name"]),
    )
    by_platform = list(
        qs.values("platform").annotate(**_METRICS).order_by("-revenue", "platform")
    )
    revenue = totals["revenue"]
    return {
        **totals,
        "poverty_relief_revenue": poverty,
        "poverty_relief_share": (poverty / revenue) if revenue else None,
        "by_day": by_day,
        "by_county": by_county,
        "by_platform": by_platform,
    }


def official_linkable_users() -> QuerySet:
    """The user accounts an official may be linked to: neither staff nor superusers.

    A linked account is the official's own (their rows highlighted, their sessions). An
    account with staff or administrator rights would let an official enter and correct
    their own figures, and let any staff member hand the administrator's account to an
    official. Used by the API and the admin alike.
    """
    return get_user_model().objects.filter(is_staff=False, is_superuser=False)
