"""Computing ranking snapshots.

The database does the work: one statement aggregates the holiday's sessions into a temporary
table, one INSERT ... SELECT ranks them with RANK() windows and writes the entries of both
scopes, carrying each subject's rank from the previous snapshot. Nothing loops over sessions
in Python.
"""

import logging
import time
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from linfen_tracker.generations import RANKINGS, generation_bump
from sessions_app.models import Holiday
from sessions_app.totals import ReconcileReport, holiday_totals_reconcile

from .models import RankingEntry, RankingSnapshot

logger = logging.getLogger(__name__)

SNAPSHOTS_KEPT = 5
# Namespace of the PostgreSQL advisory locks that keep two recomputes of one holiday apart.
ADVISORY_LOCK_NAMESPACE = 7_115_201

_SESSIONS = "sessions_app_livestreamsession"
_ENTRIES = RankingEntry._meta.db_table

# The holiday's sessions are scanned once, grouped by (official, county), into a temporary
# table: CREATE TABLE AS may use parallel workers, which PostgreSQL 15 refuses an
# INSERT ... SELECT. One statement then sums both scopes from that small table, ranks them
# and writes every board, carrying each subject's previous rank. Every county is ranked:
# one with no session has zeros and shares the last rank. Revenue is rounded to cents so
# that SQLite's floating sums tie exactly where they should.
_BASE_TABLE = "ranking_recompute_base"

_BASE_SQL = f"""
CREATE TEMPORARY TABLE {_BASE_TABLE} AS
SELECT official_id, county_id, COUNT(*) AS sessions, SUM(audience) AS audience,
       SUM(orders) AS orders, SUM(revenue) AS revenue, SUM(revenue - refunds) AS net_revenue
FROM {_SESSIONS}
WHERE started_at >= %(start)s AND started_at < %(end)s
  AND status IN (%(status_1)s, %(status_2)s)
GROUP BY official_id, county_id
"""

# Each subject carries its own id column (official_id or county_id, the other NULL), so the
# previous rank is found by one join per scope on plain columns. A join on an expression such
# as COALESCE(official_id, county_id) gave the planner a nested loop over an index scan of the
# previous snapshot whenever its statistics were stale (a bulk insert not yet analysed): at
# 100,000 officials, 300,000 x 100,000 rows, a recompute that ran for minutes instead of
# seconds. The settings below rule nested loops out as well.
_RECOMPUTE_SQL = f"""
INSERT INTO {_ENTRIES}
    (snapshot_id, scope, metric, official_id, county_id, value, rank, previous_rank, sessions)
WITH subjects AS (
    SELECT 'official' AS scope, official_id, NULL AS county_id, SUM(sessions) AS sessions,
           SUM(audience) AS audience, SUM(orders) AS orders, ROUND(SUM(revenue), 2) AS revenue,
           ROUND(SUM(net_revenue), 2) AS net_revenue
    FROM {_BASE_TABLE} GROUP BY official_id
    UNION ALL
    SELECT 'county', NULL, c.id, COALESCE(SUM(b.sessions), 0), COALESCE(SUM(b.audience), 0),
           COALESCE(SUM(b.orders), 0), COALESCE(ROUND(SUM(b.revenue), 2), 0),
           COALESCE(ROUND(SUM(b.net_revenue), 2), 0)
    FROM sessions_app_county c LEFT JOIN {_BASE_TABLE} b ON b.county_id = c.id GROUP BY c.id
), m AS (
    SELECT scope, official_id, county_id, sessions, 'audience' AS metric, audience AS value
    FROM subjects
    UNION ALL SELECT scope, official_id, county_id, sessions, 'orders', orders FROM subjects
    UNION ALL SELECT scope, official_id, county_id, sessions, 'revenue', revenue FROM subjects
    UNION ALL SELECT scope, official_id, county_id, sessions, 'net_revenue', net_revenue
    FROM subjects
)
SELECT %(snapshot)s, m.scope, m.metric, m.official_id, m.county_id, m.value,
       RANK() OVER (PARTITION BY m.scope, m.metric ORDER BY m.value DESC),
       COALESCE(prev_official.rank, prev_county.rank), m.sessions
FROM m
LEFT JOIN {_ENTRIES} prev_official
    ON prev_official.snapshot_id = %(previous)s AND prev_official.scope = 'official'
   AND prev_official.metric = m.metric AND prev_official.official_id = m.official_id
LEFT JOIN {_ENTRIES} prev_county
    ON prev_county.snapshot_id = %(previous)s AND prev_county.scope = 'county'
   AND prev_county.metric = m.metric AND prev_county.county_id = m.county_id
"""

# PostgreSQL settings for this transaction only: the aggregation of a big holiday spills its
# sort to disk at the default 4 MB work_mem; JIT compilation costs ~50 ms per statement that
# a half-second statement never earns back; the planner, misjudging the CTE's size, sorts
# both sides of the previous-rank join for a merge join where a hash join takes a third of
# the time (measured at 30,000 entries: 440 ms -> 200 ms for the INSERT); and a nested loop
# over the previous snapshot is quadratic in the number of officials, which missing
# statistics made the planner choose (autovacuum never analyses the temporary table, and
# analyses the entries only some time after each bulk insert). Every join here is an
# equality, so a hash join is always possible and these settings leave the planner that
# one shape whatever the statistics say. ANALYZE is not run: at 100,000 officials it cost
# 120-260 ms on the temporary table without changing the plan, and on the entries 250 ms
# under a lock that one holiday's recompute would then wait for another's to release.
_POSTGRESQL_TUNING = [
    "SET LOCAL work_mem = '64MB'",
    "SET LOCAL jit = off",
    "SET LOCAL enable_mergejoin = off",
    "SET LOCAL enable_nestloop = off",
]


@dataclass(frozen=True)
class RecomputeResult:
    holiday_id: int
    snapshot_id: int | None  # None: another recompute of the holiday held the lock
    sessions: int = 0
    entries: int = 0
    seconds: float = 0.0
    # True when the latest snapshot already covered the holiday's data: no new one was made.
    unchanged: bool = False

    @property
    def skipped(self) -> bool:
        return self.snapshot_id is None


def _try_lock_holiday(holiday_id: int) -> bool:
    """Take the holiday's recompute lock for this transaction; False if another holds it.

    PostgreSQL: a transaction-level advisory lock, released at commit or rollback. SQLite
    allows one writer at a time anyway, so no lock is needed there.
    """
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)",
            [ADVISORY_LOCK_NAMESPACE, holiday_id % 2_147_483_647],
        )
        return cursor.fetchone()[0]


def recompute_statement_params(
    *, holiday: Holiday, snapshot_id: int, previous_id: int | None
) -> dict:
    """The parameters of _BASE_SQL and _RECOMPUTE_SQL for one recompute of `holiday`."""
    if not holiday.counted_statuses:
        raise ValueError(f"Holiday {holiday.slug} has an unknown ranking basis "
                         f"{holiday.ranking_basis!r}: set one in the admin.")
    start, end = holiday.bounds
    return {
        # Raw SQL gets the value as the backend stores it (SQLite: naive UTC text).
        "start": connection.ops.adapt_datetimefield_value(start),
        "end": connection.ops.adapt_datetimefield_value(end),
        "snapshot": snapshot_id,
        "previous": previous_id,
        # The statuses the holiday's ranking basis counts (one or two; the second repeats
        # the first when there is one), so the SQL has a fixed shape on every backend.
        "status_1": holiday.counted_statuses[0],
        "status_2": holiday.counted_statuses[-1],
    }


def recompute_prepare(cursor, params: dict) -> None:
    """Everything the recompute runs before _RECOMPUTE_SQL, in the current transaction: the
    PostgreSQL planner settings and the temporary table of the holiday's aggregates. The plan
    test runs this and then EXPLAINs _RECOMPUTE_SQL, so it sees the plan the recompute gets."""
    if connection.vendor == "postgresql":
        for statement in _POSTGRESQL_TUNING:
            cursor.execute(statement)
    cursor.execute(f"DROP TABLE IF EXISTS {_BASE_TABLE}")
    cursor.execute(_BASE_SQL, params)


def holiday_rankings_recompute(*, holiday_id: int,
                               only_if_changed: bool = False) -> RecomputeResult:
    """Compute a new complete snapshot of a holiday's rankings from scratch.

    Rules: a session counts when its start, in Beijing time, falls on a day of the holiday;
    scores are sums of audience, orders and revenue; rank is standard competition ranking
    (9, 7, 7, 5 -> 1, 2, 2, 4); officials with at least one session are ranked, and every
    county is (those with nothing share the last rank); previous_rank comes from the previous
    complete snapshot. The snapshot becomes visible when the transaction commits, all at once.
    If another recompute of the holiday is running, returns at once with `skipped` (it
    coalesces: the running one, or the follow-up it sends, covers this request).

    Counted sessions follow the holiday's ranking basis (never rejected ones). A failure
    rolls the snapshot back, is recorded on the holiday (`rankings_error`, shown to staff)
    and raised; the next successful recompute clears it.

    With `only_if_changed` (the Celery task: session writes and beat's sweep), nothing
    changed means nothing made: when the latest complete snapshot already covers the
    holiday's data_version, no snapshot is written (`unchanged`, the latest one's id
    returned), so beat's periodic pass over an ongoing holiday keeps the snapshot that
    movement arrows compare with instead of replacing it with an identical one. Without
    it (by hand: `manage.py recompute_rankings`, after a repair made in the database
    directly) a snapshot is always computed.
    """
    try:
        return _recompute(holiday_id=holiday_id, only_if_changed=only_if_changed)
    except Holiday.DoesNotExist:
        raise
    except Exception as error:
        Holiday.objects.filter(pk=holiday_id).update(
            rankings_error=f"{type(error).__name__}: {error}"[:2000],
            rankings_failed_at=timezone.now(),
        )
        generation_bump(RANKINGS)
        raise


def _recompute(*, holiday_id: int, only_if_changed: bool = False) -> RecomputeResult:
    began = time.monotonic()
    # Cleared first, outside the transaction: a write from now on sends a follow-up.
    Holiday.objects.filter(pk=holiday_id).update(recompute_queued=False)
    with transaction.atomic():
        if not _try_lock_holiday(holiday_id):
            return RecomputeResult(holiday_id=holiday_id, snapshot_id=None)
        # Read the version before the aggregates: writes committed after it are counted by
        # the next recompute, never forgotten.
        holiday = Holiday.objects.get(pk=holiday_id)
        previous = RankingSnapshot.objects.latest_for(holiday_id)
        if (only_if_changed and previous is not None
                and previous.data_version == holiday.data_version == holiday.ranked_version):
            return RecomputeResult(holiday_id=holiday_id, snapshot_id=previous.pk,
                                   sessions=previous.sessions, unchanged=True,
                                   seconds=time.monotonic() - began)
        snapshot = RankingSnapshot.objects.create(
            holiday=holiday, computed_at=timezone.now(), data_version=holiday.data_version
        )
        params = recompute_statement_params(
            holiday=holiday, snapshot_id=snapshot.pk,
            previous_id=previous.pk if previous else None,
        )
        with connection.cursor() as cursor:
            recompute_prepare(cursor, params)
            cursor.execute(_RECOMPUTE_SQL, params)
            entries = cursor.rowcount
            cursor.execute(f"DROP TABLE {_BASE_TABLE}")
        sessions = (
            RankingEntry.objects.filter(snapshot=snapshot, scope="county", metric="orders")
            .values_list("sessions", flat=True)
        )
        snapshot.sessions = sum(sessions)
        snapshot.complete = True
        snapshot.duration_ms = int((time.monotonic() - began) * 1000)
        snapshot.save(update_fields=["sessions", "complete", "duration_ms"])
        _prune(holiday_id=holiday_id)
    # After the commit, not inside the transaction: a row lock on the holiday held for the
    # whole recompute would make every session save of the holiday wait for it. If the
    # process dies right here, the holiday only looks stale and is recomputed again.
    Holiday.objects.filter(pk=holiday_id, ranked_version__lt=holiday.data_version).update(
        ranked_version=holiday.data_version
    )
    Holiday.objects.filter(pk=holiday_id).exclude(rankings_error="").update(
        rankings_error="", rankings_failed_at=None
    )
    generation_bump(RANKINGS)  # every process's cached leaderboards read the new snapshot
    return RecomputeResult(
        holiday_id=holiday_id,
        snapshot_id=snapshot.pk,
        sessions=snapshot.sessions,
        entries=entries,
        seconds=time.monotonic() - began,
    )


def _prune(*, holiday_id: int) -> None:
    """Keep the newest SNAPSHOTS_KEPT complete snapshots of a holiday (movement needs one)."""
    keep = list(
        RankingSnapshot.objects.filter(holiday_id=holiday_id)
        .order_by("-id")
        .values_list("id", flat=True)[:SNAPSHOTS_KEPT]
    )
    RankingSnapshot.objects.filter(holiday_id=holiday_id).exclude(id__in=keep).delete()


def holidays_due_for_recompute(*, today=None) -> list[int]:
    """Ids of holidays whose rankings are behind their data, or that are under way today
    (Beijing time), which beat recomputes periodically."""
    today = today or timezone.localdate()
    stale = Holiday.objects.filter(ranked_version__lt=F("data_version"))
    ongoing = Holiday.objects.covering(today)
    ids = set(stale.values_list("id", flat=True)) | set(ongoing.values_list("id", flat=True))
    return sorted(ids)


def totals_reconcile(*, holiday_ids: list[int] | None = None,
                     repair: bool = True) -> list[ReconcileReport]:
    """Check the incremental totals of the given holidays (all by default) against a
    from-scratch aggregation of their sessions; report every difference (logged, and in
    the reports returned) and, with `repair`, mend it. Live boards read the mended totals
    at once (the `rankings` generation is bumped when anything was repaired)."""
    holidays = Holiday.objects.order_by("id")
    if holiday_ids is not None:
        holidays = holidays.filter(id__in=holiday_ids)
    reports = []
    for holiday in holidays:
        with transaction.atomic():
            reports.append(holiday_totals_reconcile(holiday=holiday, repair=repair))
    if any(report.repaired for report in reports):
        generation_bump(RANKINGS)
    return reports
