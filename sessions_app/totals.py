"""Per-holiday totals of each subject, kept by the session writes themselves.

`HolidayTotal` holds, for every holiday, scope (official, county), subject and aggregate, the
sum the holiday's rankings count and the number of sessions. Every session write calls, in
its own transaction, `totals_remove` on the sessions it is about to change or delete (their
contribution as stored) and `totals_add` on what it saved: per holiday touched, one
INSERT ... SELECT ... ON CONFLICT DO UPDATE SET value = value + delta, computed by the
database from the session rows (set-based; nothing loops over sessions in Python). An edit
then costs the size of the edit, not of the holiday.

Correct under concurrent writers: the delta is added by the database (`value = value +
excluded.value`), so no update is lost; every writer first locks the rows of the holidays it
touches, in id order (`services.holidays_touch`, which bumps their data_version anyway), so
the writers of one holiday update its totals in turn and never deadlock; within a statement
rows are written in key order.

The rules are the recompute's: a session counts in holiday H when its start falls on a day
of H in Beijing time and H's ranking basis counts its status (COUNTED_STATUSES); each
session credits its official (scope official) and the county it was held in (scope county).
`holiday_totals_reconcile` aggregates the same from scratch, in one statement, reports any
difference and repairs it; a change of a holiday's dates or basis rebuilds its totals
(`holiday_totals_rebuild`).

The same SQL runs on SQLite (the embedded default) and PostgreSQL.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from .models import Holiday, HolidayTotal, LivestreamSession

logger = logging.getLogger(__name__)

# What the totals sum, by name, as SQL over a session row `s`. The rankings' metrics are
# read from these: a new summed metric is one line here.
AGGREGATES = {
    "audience": "s.audience",
    "orders": "s.orders",
    "revenue": "s.revenue",
    "net_revenue": "s.revenue - s.refunds",
}

_TOTALS = HolidayTotal._meta.db_table
_SESSIONS = LivestreamSession._meta.db_table
# Session ids per statement (SQLite allows 32,766 parameters, PostgreSQL 65,535).
_IDS_CHUNK = 5000
# Difference rows repaired per statement.
_REPAIR_CHUNK = 1000


def _rows_sql(where: str = "") -> str:
    """A WITH clause naming `rows`: the contributions of the holiday's counted sessions
    (restricted by `where`) as (scope, subject_id, metric, value, sessions), grouped by key.

    Sessions are first summed per (official, county), one pass over the rows, and the
    scopes and aggregates are unfolded from that small table (as the recompute does).
    Parameters: start, end, status_1, status_2 (and `where`'s)."""
    sums = ", ".join(f"SUM({sql}) AS a_{name}" for name, sql in AGGREGATES.items())
    per_subject = ", ".join(f"SUM(a_{name}) AS a_{name}" for name in AGGREGATES)
    unfolded = " UNION ALL ".join(
        f"SELECT scope, subject_id, '{name}' AS metric, ROUND(a_{name}, 2) AS value, sessions "
        f"FROM subjects" for name in AGGREGATES)
    return f"""
        WITH base AS (
            SELECT s.official_id, s.county_id, COUNT(*) AS sessions, {sums}
            FROM {_SESSIONS} s
            WHERE s.started_at >= %(start)s AND s.started_at < %(end)s
              AND s.status IN (%(status_1)s, %(status_2)s) {where}
            GROUP BY s.official_id, s.county_id
        ), subjects AS (
            SELECT 'official' AS scope, official_id AS subject_id, SUM(sessions) AS sessions,
                   {per_subject}
            FROM base GROUP BY official_id
            UNION ALL
            SELECT 'county', county_id, SUM(sessions), {per_subject}
            FROM base GROUP BY county_id
        ), rows AS ({unfolded})
    """


# Adding `sign` x the rows to the totals, in key order. SQLite wants a WHERE in an
# INSERT ... SELECT that has an upsert clause (its parser needs it to tell ON CONFLICT from a
# join's ON).
_UPSERT = f"""
    INSERT INTO {_TOTALS} (holiday_id, scope, subject_id, metric, value, sessions)
    SELECT %(holiday)s, scope, subject_id, metric, value * %(sign)s, sessions * %(sign)s
    FROM rows WHERE 1 = 1 ORDER BY scope, subject_id, metric
    ON CONFLICT (holiday_id, scope, metric, subject_id) DO UPDATE
    SET value = ROUND({_TOTALS}.value + excluded.value, 2),
        sessions = {_TOTALS}.sessions + excluded.sessions
"""


def _holiday_params(holiday: Holiday) -> dict:
    start, end = holiday.bounds
    statuses = holiday.counted_statuses or ("", "")  # an unknown basis counts nothing
    return {
        "holiday": holiday.pk,
        "start": connection.ops.adapt_datetimefield_value(start),
        "end": connection.ops.adapt_datetimefield_value(end),
        "status_1": statuses[0],
        "status_2": statuses[-1],
    }


def _ids_clause(ids: list[int], params: dict) -> str:
    names = []
    for i, session_id in enumerate(ids):
        params[f"id{i}"] = session_id
        names.append(f"%(id{i})s")
    return f"AND s.id IN ({', '.join(names)})"


def _apply(*, session_ids: Iterable[int], holidays: Iterable[Holiday], sign: int) -> None:
    ids = sorted(set(session_ids))
    if not ids:
        return
    with connection.cursor() as cursor:
        for holiday in sorted(holidays, key=lambda h: h.pk):
            for at in range(0, len(ids), _IDS_CHUNK):
                params = {**_holiday_params(holiday), "sign": sign}
                where = _ids_clause(ids[at:at + _IDS_CHUNK], params)
                cursor.execute(_rows_sql(where) + _UPSERT, params)


def totals_add(*, session_ids: Iterable[int], holidays: Iterable[Holiday]) -> None:
    """Add what the given sessions, as stored now, count in each of `holidays` to the
    holidays' totals. Call it in the write's transaction, after saving them, with the
    holidays already locked (`services.holidays_touch`)."""
    _apply(session_ids=session_ids, holidays=holidays, sign=1)


def totals_remove(*, session_ids: Iterable[int], holidays: Iterable[Holiday]) -> None:
    """Take what the given sessions, as stored now, count in each of `holidays` out of the
    holidays' totals. Call it in the write's transaction before changing or deleting
    them, with the holidays already locked."""
    _apply(session_ids=session_ids, holidays=holidays, sign=-1)


def holiday_totals_rebuild(*, holiday: Holiday) -> int:
    """Replace a holiday's totals with a from-scratch aggregation of its counted sessions
    (after a change of its dates or ranking basis, or to fill them the first time).
    Returns the rows written."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {_TOTALS} WHERE holiday_id = %s", [holiday.pk])
        cursor.execute(_rows_sql() + _UPSERT, {**_holiday_params(holiday), "sign": 1})
        return cursor.rowcount


@dataclass(frozen=True)
class TotalDifference:
    scope: str
    subject_id: int
    metric: str
    kept_value: Decimal  # what the incremental totals held
    scratch_value: Decimal  # what the from-scratch aggregation gives
    kept_sessions: int
    scratch_sessions: int


@dataclass
class ReconcileReport:
    holiday_id: int
    differences: list[TotalDifference] = field(default_factory=list)
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not self.differences


# The from-scratch rows against the kept ones, in one statement (one snapshot of the data:
# a session write commits its session and its totals together, so a difference here is a
# real one, never a write caught half-way).
_DIFFERENCES = f"""
    , compared AS (
        SELECT scope, subject_id, metric, value AS scratch, 0 AS kept,
               sessions AS scratch_sessions, 0 AS kept_sessions
        FROM rows
        UNION ALL
        SELECT scope, subject_id, metric, 0, value, 0, sessions
        FROM {_TOTALS} WHERE holiday_id = %(holiday)s
    )
    SELECT scope, subject_id, metric, SUM(kept), SUM(scratch), SUM(kept_sessions),
           SUM(scratch_sessions)
    FROM compared
    GROUP BY scope, subject_id, metric
    HAVING ROUND(SUM(scratch) - SUM(kept), 2) <> 0 OR SUM(scratch_sessions) <> SUM(kept_sessions)
    ORDER BY scope, subject_id, metric
"""

_REPAIR = f"""
    INSERT INTO {_TOTALS} (holiday_id, scope, subject_id, metric, value, sessions)
    VALUES {{values}}
    ON CONFLICT (holiday_id, scope, metric, subject_id) DO UPDATE
    SET value = ROUND({_TOTALS}.value + excluded.value, 2),
        sessions = {_TOTALS}.sessions + excluded.sessions
"""


def holiday_totals_differences(*, holiday: Holiday) -> list[TotalDifference]:
    """Every (scope, subject, aggregate) whose kept total differs from a from-scratch
    aggregation of the holiday's counted sessions, in key order."""
    with connection.cursor() as cursor:
        cursor.execute(_rows_sql() + _DIFFERENCES, _holiday_params(holiday))
        return [
            TotalDifference(scope=row[0], subject_id=row[1], metric=row[2],
                            kept_value=_cents(row[3]), scratch_value=_cents(row[4]),
                            kept_sessions=int(row[5]), scratch_sessions=int(row[6]))
            for row in cursor.fetchall()
        ]


def _cents(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def holiday_totals_reconcile(*, holiday: Holiday, repair: bool = True) -> ReconcileReport:
    """Compare the holiday's kept totals with a from-scratch aggregation; with `repair`,
    mend each difference found.

    A repair adds the difference (scratch - kept) to the kept row, as a delta like any
    write's: a session write committed between the comparison and the repair added its
    own correct delta meanwhile, which the repair keeps. Each difference is logged.
    """
    report = ReconcileReport(holiday_id=holiday.pk,
                             differences=holiday_totals_differences(holiday=holiday))
    for d in report.differences:
        logger.warning(
            "Holiday %s totals differ from scratch: %s %s %s kept %s (%s sessions), "
            "scratch %s (%s sessions)%s", holiday.pk, d.scope, d.subject_id, d.metric,
            d.kept_value, d.kept_sessions, d.scratch_value, d.scratch_sessions,
            "; repaired" if repair else "")
    if repair and report.differences:
        _repair(holiday_id=holiday.pk, differences=report.differences)
        report.repaired = True
    return report


def _repair(*, holiday_id: int, differences: list[TotalDifference]) -> None:
    with connection.cursor() as cursor:
        for at in range(0, len(differences), _REPAIR_CHUNK):
            chunk = differences[at:at + _REPAIR_CHUNK]
            params = []
            for d in chunk:
                params += [holiday_id, d.scope, d.subject_id, d.metric,
                           d.scratch_value - d.kept_value,
                           d.scratch_sessions - d.kept_sessions]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(chunk))
            cursor.execute(_REPAIR.format(values=values), params)
