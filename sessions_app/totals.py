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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Exists, OuterRef

from .models import Holiday, HolidayTotal, LivestreamSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Aggregate:
    """What the totals keep for one base metric: `column`, SQL over a session row `s`,
    aggregated by `kind` (SUM or MAX)."""

    key: str
    column: str
    kind: str = "SUM"


def _builtin_aggregates() -> list[Aggregate]:
    return [Aggregate("audience", "s.audience"), Aggregate("orders", "s.orders"),
            Aggregate("revenue", "s.revenue"),
            Aggregate("net_revenue", "(s.revenue - s.refunds)")]


# Which aggregates the totals keep: rankings' metric registry sets it (rankings/apps.py, its
# base metrics), since sessions_app never imports rankings; read at each use, so a metric
# registered later is kept too.
aggregates_provider: Callable[[], list[Aggregate]] = _builtin_aggregates

_TOTALS = HolidayTotal._meta.db_table
_SESSIONS = LivestreamSession._meta.db_table
_HOSTS = LivestreamSession.hosts.through._meta.db_table
# Session ids per statement (SQLite allows 32,766 parameters, PostgreSQL 65,535).
_IDS_CHUNK = 5000
# Difference rows repaired per statement.
_REPAIR_CHUNK = 1000

_COUNTED = """s.started_at >= %(start)s AND s.started_at < %(end)s
              AND s.status IN (%(status_1)s, %(status_2)s)"""


def _rows_sql(where: str = "") -> str:
    """A WITH clause naming `rows`: the contributions of the holiday's counted sessions
    (restricted by `where`) as (scope, subject_id, metric, value, reported, sessions),
    grouped by key.

    Sessions are first aggregated per (official, county): the lead hosts' rows, and the
    co-hosts' (each credited with the session's full figures and one session on the
    officials' boards); counties count the lead rows only, so a session counts once, under
    its county. The scopes and aggregates are then unfolded from that small table (as the
    recompute does). Parameters: start, end, status_1, status_2 (and `where`'s)."""
    aggregates = aggregates_provider()
    partial = ", ".join(f"{a.kind}({a.column}) AS a_{a.key}, COUNT({a.column}) AS n_{a.key}"
                        for a in aggregates)
    combined = ", ".join(f"{a.kind}(a_{a.key}) AS a_{a.key}, SUM(n_{a.key}) AS n_{a.key}"
                         for a in aggregates)
    unfolded = " UNION ALL ".join(
        f"SELECT scope, subject_id, '{a.key}' AS metric, "
        f"ROUND(COALESCE(a_{a.key}, 0), 2) AS value, n_{a.key} AS reported, sessions "
        f"FROM subjects" for a in aggregates)
    return f"""
        WITH base AS (
            SELECT s.official_id, s.county_id, 1 AS is_lead, COUNT(*) AS sessions, {partial}
            FROM {_SESSIONS} s
            WHERE {_COUNTED} {where}
            GROUP BY s.official_id, s.county_id
            UNION ALL
            SELECT h.official_id, s.county_id, 0, COUNT(*), {partial}
            FROM {_SESSIONS} s JOIN {_HOSTS} h ON h.livestreamsession_id = s.id
            WHERE {_COUNTED} {where}
            GROUP BY h.official_id, s.county_id
        ), subjects AS (
            SELECT 'official' AS scope, official_id AS subject_id, SUM(sessions) AS sessions,
                   {combined}
            FROM base GROUP BY official_id
            UNION ALL
            SELECT 'county', county_id, SUM(sessions), {combined}
            FROM base WHERE is_lead = 1 GROUP BY county_id
        ), rows AS ({unfolded})
    """


def _upsert_sql(sign: int) -> str:
    """Adding (sign 1) or taking out (sign -1) the rows, in key order. Sums add the signed
    delta. A maximum takes a larger value on the way in; on the way out it cannot know the
    next largest, so a row whose maximum may have left is marked `recheck` and recomputed
    (`_recheck`). SQLite wants a WHERE in an INSERT ... SELECT that has an upsert clause
    (its parser needs it to tell ON CONFLICT from a join's ON)."""
    maxima = [a.key for a in aggregates_provider() if a.kind == "MAX"]
    listed = ", ".join(f"'{k}'" for k in maxima) or "NULL"
    is_max = f"{_TOTALS}.metric IN ({listed})"
    row_is_max = f"metric IN ({listed})"
    t = _TOTALS
    if sign > 0:
        value = (f"CASE WHEN NOT {is_max} THEN ROUND({t}.value + excluded.value, 2) "
                 f"WHEN excluded.reported > 0 AND ({t}.reported <= 0 OR excluded.value > "
                 f"{t}.value) THEN excluded.value ELSE {t}.value END")
        recheck = f"{t}.recheck"
        inserted_value = "value"
    else:
        value = (f"CASE WHEN {is_max} THEN {t}.value "
                 f"ELSE ROUND({t}.value + excluded.value, 2) END")
        recheck = (f"{t}.recheck OR ({is_max} AND excluded.reported < 0 "
                   f"AND excluded.value >= {t}.value)")
        # A maximum goes out as the value that leaves (compared with the kept one).
        inserted_value = f"CASE WHEN {row_is_max} THEN value ELSE -value END"
    return f"""
        INSERT INTO {t} (holiday_id, scope, subject_id, metric, value, reported, sessions,
                         recheck)
        SELECT %(holiday)s, scope, subject_id, metric, {inserted_value},
               reported * {sign}, sessions * {sign},
               {'FALSE' if sign > 0 else f'CASE WHEN {row_is_max} THEN TRUE ELSE FALSE END'}
        FROM rows WHERE 1 = 1 ORDER BY scope, subject_id, metric
        ON CONFLICT (holiday_id, scope, metric, subject_id) DO UPDATE
        SET value = {value}, reported = {t}.reported + excluded.reported,
            sessions = {t}.sessions + excluded.sessions, recheck = {recheck}
    """


def _recheck_sql(aggregate: Aggregate) -> str:
    """The maximum of every marked row of a holiday, from the subject's counted sessions
    (an official's as lead host and as co-host), through the indexes on official, county
    and the co-hosts' table."""
    return f"""
        UPDATE {_TOTALS} SET recheck = FALSE, value = COALESCE(CASE scope
            WHEN 'county' THEN (SELECT MAX({aggregate.column}) FROM {_SESSIONS} s
                                WHERE s.county_id = {_TOTALS}.subject_id AND {_COUNTED})
            ELSE (SELECT MAX(v) FROM (
                SELECT {aggregate.column} AS v FROM {_SESSIONS} s
                WHERE s.official_id = {_TOTALS}.subject_id AND {_COUNTED}
                UNION ALL
                SELECT {aggregate.column} FROM {_SESSIONS} s
                JOIN {_HOSTS} h ON h.livestreamsession_id = s.id
                WHERE h.official_id = {_TOTALS}.subject_id AND {_COUNTED}) m)
            END, 0)
        WHERE holiday_id = %(holiday)s AND recheck AND metric = '{aggregate.key}'
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
    upsert = _upsert_sql(sign)
    maxima = [a for a in aggregates_provider() if a.kind == "MAX"]
    with connection.cursor() as cursor:
        for holiday in sorted(holidays, key=lambda h: h.pk):
            for at in range(0, len(ids), _IDS_CHUNK):
                params = _holiday_params(holiday)
                where = _ids_clause(ids[at:at + _IDS_CHUNK], params)
                cursor.execute(_rows_sql(where) + upsert, params)
            if sign > 0:
                for aggregate in maxima:
                    cursor.execute(_recheck_sql(aggregate), _holiday_params(holiday))


def totals_add(*, session_ids: Iterable[int], holidays: Iterable[Holiday]) -> None:
    """Add what the given sessions, as stored now (with their co-hosts), count in each of
    `holidays` to the holidays' totals, and recompute the maxima marked by a removal. Call
    it in the write's transaction, after saving them, with the holidays already locked
    (`services.holidays_touch`)."""
    _apply(session_ids=session_ids, holidays=holidays, sign=1)


def totals_recheck(*, holidays: Iterable[Holiday]) -> None:
    """Recompute the maxima a removal marked (`recheck`), from the sessions as stored now:
    after a delete, which adds nothing back (`totals_add` does it after other writes)."""
    with connection.cursor() as cursor:
        for holiday in sorted(holidays, key=lambda h: h.pk):
            for aggregate in aggregates_provider():
                if aggregate.kind == "MAX":
                    cursor.execute(_recheck_sql(aggregate), _holiday_params(holiday))


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
        cursor.execute(_rows_sql() + _upsert_sql(1), _holiday_params(holiday))
        return cursor.rowcount


def holiday_totals_fill_missing(*, using: str = "default", **kwargs) -> list[int]:
    """Build the totals of every holiday that has sessions but no totals at all: the
    holidays of a database migrated from before totals were kept (migration sessions_app
    0014). Connected to post_migrate, so it runs once the whole schema is in place and the
    live aggregation's columns exist, which a data migration at 0014 could not promise (it
    would run today's SQL against the schema of that day). Does nothing until every
    migration of sessions_app is applied. Returns the holidays filled."""
    # Imported here: only `migrate` needs the migrations' machinery, not every process.
    from django.db.migrations.loader import MigrationLoader

    if using != DEFAULT_DB_ALIAS:
        return []
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    if any(node not in loader.applied_migrations
           for node in loader.graph.leaf_nodes("sessions_app")):
        return []
    filled = []
    kept = HolidayTotal.objects.filter(holiday_id=OuterRef("pk"))  # one probe of the key
    for holiday in Holiday.objects.filter(~Exists(kept)).order_by("pk"):
        if LivestreamSession.objects.in_holiday(holiday).exists():
            holiday_totals_rebuild(holiday=holiday)
            filled.append(holiday.pk)
    if filled:
        logger.info("Built the totals of holidays %s, which had none", filled)
    return filled


@dataclass(frozen=True)
class TotalDifference:
    scope: str
    subject_id: int
    metric: str
    kept_value: Decimal  # what the incremental totals held
    scratch_value: Decimal  # what the from-scratch aggregation gives
    kept_sessions: int
    scratch_sessions: int
    kept_reported: int = 0
    scratch_reported: int = 0


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
               sessions AS scratch_sessions, 0 AS kept_sessions,
               reported AS scratch_reported, 0 AS kept_reported
        FROM rows
        UNION ALL
        SELECT scope, subject_id, metric, 0, value, 0, sessions, 0, reported
        FROM {_TOTALS} WHERE holiday_id = %(holiday)s
    )
    SELECT scope, subject_id, metric, SUM(kept), SUM(scratch), SUM(kept_sessions),
           SUM(scratch_sessions), SUM(kept_reported), SUM(scratch_reported)
    FROM compared
    GROUP BY scope, subject_id, metric
    HAVING ROUND(SUM(scratch) - SUM(kept), 2) <> 0 OR SUM(scratch_sessions) <> SUM(kept_sessions)
        OR SUM(scratch_reported) <> SUM(kept_reported)
    ORDER BY scope, subject_id, metric
"""

_REPAIR = f"""
    INSERT INTO {_TOTALS} (holiday_id, scope, subject_id, metric, value, reported, sessions,
                           recheck)
    VALUES {{values}}
    ON CONFLICT (holiday_id, scope, metric, subject_id) DO UPDATE
    SET value = ROUND({_TOTALS}.value + excluded.value, 2),
        reported = {_TOTALS}.reported + excluded.reported,
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
                            kept_sessions=int(row[5]), scratch_sessions=int(row[6]),
                            kept_reported=int(row[7]), scratch_reported=int(row[8]))
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
                # A maximum is no sum: its difference is added like one (value + (scratch -
                # kept) = scratch), which holds unless a write changed it meanwhile; the
                # next reconciliation would see that.
                params += [holiday_id, d.scope, d.subject_id, d.metric,
                           d.scratch_value - d.kept_value,
                           d.scratch_reported - d.kept_reported,
                           d.scratch_sessions - d.kept_sessions, False]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
            cursor.execute(_REPAIR.format(values=values), params)
