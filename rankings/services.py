"""Computing ranking snapshots.

The database does the work: one statement aggregates the holiday's sessions into a temporary
table, one INSERT ... SELECT ranks them with RANK() windows and writes the entries of both
scopes (on PostgreSQL into the snapshot's own partition: rankings/entries.py). Nothing loops
over sessions in Python.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from linfen_tracker.celery_app import app as celery_app
from linfen_tracker.generations import RANKINGS, generation_bump
from linfen_tracker.set_based import set_based_settings
from sessions_app.models import Holiday
from sessions_app.totals import ReconcileReport, holiday_totals_reconcile

from .entries import ENTRIES, entries_table_attach, entries_table_begin, snapshots_delete
from .metrics import (
    COMPOSITE,
    MetricDefinition,
    base_metrics,
    metric_get,
    metric_keys,
    ratio_metrics,
)
from .models import Publication, RankingSnapshot

logger = logging.getLogger(__name__)

SNAPSHOTS_KEPT = 5
# Namespace of the PostgreSQL advisory locks that keep two recomputes of one holiday apart.
ADVISORY_LOCK_NAMESPACE = 7_115_201

_SESSIONS = "sessions_app_livestreamsession"

# The holiday's sessions are scanned into a temporary table of partial aggregates, one
# column per base metric of the registry (rankings/metrics.py): one row per (official,
# county) for the lead hosts, and one per (co-host, county) from the co-hosts' table.
# CREATE TABLE AS may use parallel workers, which PostgreSQL 15 refuses an INSERT ... SELECT.
# One statement then combines both scopes from that small table (officials: every row, so a
# co-host is credited with the session's full figures and one session; counties: the lead
# rows only, so a session counts once, under its county), computes the ratios from the
# sums, the composite score, ranks every board and writes it. Two statements whatever the
# number of metrics. Every county is ranked: one
# with no session has zeros (NULL for optional metrics and ratios) and shares the last rank.
# Money is rounded to cents so that SQLite's floating sums tie exactly where they should.
_BASE_TABLE = "ranking_recompute_base"
_HOSTS = "sessions_app_livestreamsession_hosts"


def _base_sql() -> str:
    aggregates = ", ".join(f"{m.session_sql()} AS {m.key}" for m in base_metrics())
    where = """s.started_at >= %(start)s AND s.started_at < %(end)s
  AND s.status IN (%(status_1)s, %(status_2)s)"""
    return f"""
CREATE TEMPORARY TABLE {_BASE_TABLE} AS
SELECT s.official_id, s.county_id, 1 AS is_lead, COUNT(*) AS sessions, {aggregates}
FROM {_SESSIONS} s
WHERE {where}
GROUP BY s.official_id, s.county_id
UNION ALL
SELECT h.official_id, s.county_id, 0, COUNT(*), {aggregates}
FROM {_SESSIONS} s JOIN {_HOSTS} h ON h.livestreamsession_id = s.id
WHERE {where}
GROUP BY h.official_id, s.county_id
"""


def _combined(metric: MetricDefinition, partial: str, *, county: bool) -> str:
    """A base metric of a subject from the partial aggregates; counties with no session
    get 0 (NULL for an optional metric: nothing reported)."""
    value = metric.combine_sql(partial)
    if metric.is_money:
        value = f"ROUND({value}, 2)"
    if county and not metric.optional:
        value = f"COALESCE({value}, 0)"
    return value


def _json_object_sql(pairs: list[tuple[str, str]]) -> str:
    args = ", ".join(f"'{key}', {value}" for key, value in pairs)
    if connection.vendor == "postgresql":
        return f"jsonb_build_object({args})"
    return f"json_object({args})"


def _composite_sql(weights: dict[str, float]) -> tuple[str, str]:
    """The composite score (100 x the weighted mean of the components, 2 places) and its
    components as a JSON object {metric: component}. A component is the subject's value
    divided by the best value of its scope (for a metric where lower is better, the best
    divided by the value); a NULL value, or a best of 0, gives 0."""
    if not weights:
        return "NULL", "NULL"
    total = sum(weights.values())
    parts, pairs = [], []
    for key in weights:
        metric = metric_get(key)
        best = (f"MAX({key}) OVER (PARTITION BY scope)" if metric.higher_is_better
                else f"MIN({key}) OVER (PARTITION BY scope)")
        if metric.higher_is_better:
            component = f"COALESCE({key} * 1.0 / NULLIF({best}, 0), 0)"
        else:
            component = f"COALESCE({best} * 1.0 / NULLIF({key}, 0), 0)"
        parts.append(f"{float(weights[key])!r} * {component}")
        pairs.append((key, f"ROUND({component}, 4)"))
    score = f"ROUND(100.0 * ({' + '.join(parts)}) / {float(total)!r}, 2)"
    return score, _json_object_sql(pairs)


def recompute_sql(*, tie_style: str = "competition",
                  composite_weights: dict[str, float] | None = None,
                  table: str = ENTRIES) -> str:
    """The statement that ranks and writes every board of a snapshot from the temporary
    table of partial aggregates into `table` (the snapshot's partition on PostgreSQL:
    rankings/entries.py), generated from the metric registry.

    It reads nothing of earlier snapshots: movement is measured when a board is read,
    against its stated baseline (selectors.movement_baseline). Carrying each subject's rank
    from the previous snapshot cost a join of every board with the previous one, a fifth
    of the statement at 10,000 officials, for a figure nothing read any more.

    Ranks: competition (RANK: 9, 7, 7, 5 -> 1, 2, 2, 4) or dense (DENSE_RANK: 1, 2, 2, 3),
    best first (higher or lower as the metric says); NULL values (a zero denominator, nothing
    reported) are ranked last.
    """
    bases = base_metrics()
    ratios = ratio_metrics()
    official_cols = ", ".join(
        f"{_combined(m, m.key, county=False)} AS {m.key}" for m in bases)
    county_cols = ", ".join(_combined(m, f"b.{m.key}", county=True) for m in bases)
    ratio_cols = "".join(
        f", {m.ratio_sql(m.numerator, m.denominator)} AS {m.key}" for m in ratios)
    score, components = _composite_sql(composite_weights or {})
    null_json = "CAST(NULL AS jsonb)" if connection.vendor == "postgresql" else "NULL"
    # Lower-is-better metrics sort on the negated value, so one window orders every board.
    boards = [
        f"SELECT scope, official_id, county_id, sessions, '{m.key}' AS metric, "
        f"{m.key} AS value, {m.key if m.higher_is_better else '-' + m.key} AS sort_value, "
        f"{null_json} AS components FROM valued"
        for m in [*bases, *ratios]
    ]
    if composite_weights:
        boards.append(
            f"SELECT scope, official_id, county_id, sessions, '{COMPOSITE}', composite, "
            f"composite, components FROM valued")
    rank = "DENSE_RANK" if tie_style == "dense" else "RANK"
    return f"""
INSERT INTO {table}
    (snapshot_id, scope, metric, official_id, county_id, value, rank, sessions, components)
WITH subjects AS (
    SELECT 'official' AS scope, official_id, NULL AS county_id, SUM(sessions) AS sessions,
           {official_cols}
    FROM {_BASE_TABLE} GROUP BY official_id
    UNION ALL
    SELECT 'county', NULL, c.id, COALESCE(SUM(b.sessions), 0), {county_cols}
    FROM sessions_app_county c LEFT JOIN {_BASE_TABLE} b ON b.county_id = c.id AND b.is_lead = 1
    GROUP BY c.id
), ratioed AS (
    SELECT subjects.*{ratio_cols} FROM subjects
), valued AS (
    SELECT ratioed.*, {score} AS composite, {components} AS components FROM ratioed
), m AS (
    {(chr(10) + "    UNION ALL ").join(boards)}
)
SELECT %(snapshot)s, m.scope, m.metric, m.official_id, m.county_id, m.value,
       {rank}() OVER (PARTITION BY m.scope, m.metric ORDER BY m.sort_value DESC NULLS LAST),
       m.sessions, m.components
FROM m
"""


# The recompute's transaction takes the settings of set-based work (linfen_tracker/
# set_based.py), derived: a snapshot lost in a crash leaves the holiday stale
# (ranked_version is raised after the commit), so beat computes it again. ANALYZE of the
# temporary table is not run: at 100,000 officials it cost 120-260 ms without changing the
# plan.


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


def recompute_statement_params(*, holiday: Holiday, snapshot_id: int) -> dict:
    """The parameters of the recompute's two statements for one recompute of `holiday`."""
    if not holiday.counted_statuses:
        raise ValueError(f"Holiday {holiday.slug} has an unknown ranking basis "
                         f"{holiday.ranking_basis!r}: set one in the admin.")
    start, end = holiday.bounds
    return {
        # Raw SQL gets the value as the backend stores it (SQLite: naive UTC text).
        "start": connection.ops.adapt_datetimefield_value(start),
        "end": connection.ops.adapt_datetimefield_value(end),
        "snapshot": snapshot_id,
        # The statuses the holiday's ranking basis counts (one or two; the second repeats
        # the first when there is one), so the SQL has a fixed shape on every backend.
        "status_1": holiday.counted_statuses[0],
        "status_2": holiday.counted_statuses[-1],
    }


def composite_weights_usable(weights) -> dict[str, float]:
    """The weights of registered metrics, above 0 (the holiday's rules refuse others; a
    metric unregistered since is left out rather than failing every recompute)."""
    if not isinstance(weights, dict):
        return {}
    return {key: float(w) for key, w in weights.items()
            if key in metric_keys() and isinstance(w, int | float) and not isinstance(w, bool)
            and w > 0}


def recompute_sql_for(holiday: Holiday, *, table: str = ENTRIES) -> str:
    """recompute_sql with the holiday's tie style and composite weights."""
    return recompute_sql(tie_style=holiday.tie_style,
                         composite_weights=composite_weights_usable(holiday.composite_weights),
                         table=table)


def recompute_prepare(cursor, params: dict, *, background: bool = False) -> None:
    """Everything the recompute runs before _RECOMPUTE_SQL, in the current transaction: the
    PostgreSQL planner settings and the temporary table of the holiday's aggregates. The plan
    test runs this and then EXPLAINs recompute_sql_for(holiday), so it sees the plan the
    recompute gets.

    `background` (the worker's snapshots, made while writes come in): the aggregation uses
    at most RANKINGS_BACKGROUND_PARALLEL_WORKERS parallel workers (0 by default). With
    PostgreSQL's default of 2, a snapshot of a big holiday is three busy processes, and on a
    machine of two CPUs the writers' saves waited for a CPU meanwhile."""
    set_based_settings(cursor, derived=True)
    if background:
        background_parallel_limit()
    cursor.execute(f"DROP TABLE IF EXISTS {_BASE_TABLE}")
    cursor.execute(_base_sql(), params)


def background_parallel_limit() -> None:
    """For the rest of the current transaction, let PostgreSQL use at most
    RANKINGS_BACKGROUND_PARALLEL_WORKERS parallel workers per statement: work the worker
    does in the background (snapshots, the flags refresh after them) leaves the other CPUs
    to the writers."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('max_parallel_workers_per_gather', %s, true)",
                       [str(int(settings.RANKINGS_BACKGROUND_PARALLEL_WORKERS))])


def snapshot_rest_seconds(seconds: float) -> float:
    """How long the next snapshot of a holiday waits after one that took `seconds`, so that
    one holiday's snapshots take at most RANKINGS_SNAPSHOT_MAX_SHARE of a worker's time
    while writes keep coming (boards are live from the totals meanwhile)."""
    share = settings.RANKINGS_SNAPSHOT_MAX_SHARE
    if not 0 < share < 1:
        return 0.0
    return seconds * (1 - share) / share


def holiday_rankings_recompute(*, holiday_id: int, only_if_changed: bool = False,
                               background: bool = False) -> RecomputeResult:
    """Compute a new complete snapshot of a holiday's rankings from scratch.

    Rules: a session counts when its start, in Beijing time, falls on a day of the holiday;
    scores are sums of audience, orders and revenue; rank is standard competition ranking
    (9, 7, 7, 5 -> 1, 2, 2, 4); officials with at least one session are ranked, and every
    county is (those with nothing share the last rank). The snapshot becomes visible when
    the transaction commits, all at once.
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
    directly) a snapshot is always computed. `background` (the task) leaves CPUs to the
    writers (`recompute_prepare`).
    """
    try:
        return _recompute(holiday_id=holiday_id, only_if_changed=only_if_changed,
                          background=background)
    except Holiday.DoesNotExist:
        raise
    except Exception as error:
        Holiday.objects.filter(pk=holiday_id).update(
            rankings_error=f"{type(error).__name__}: {error}"[:2000],
            rankings_failed_at=timezone.now(),
        )
        generation_bump(RANKINGS)
        raise


def _recompute(*, holiday_id: int, only_if_changed: bool = False,
               background: bool = False) -> RecomputeResult:
    began = time.monotonic()
    # Cleared first, outside the transaction: a write from now on sends a follow-up. (Only
    # where set: a recompute by hand then writes nothing here, and waits for no WAL flush.)
    Holiday.objects.filter(pk=holiday_id, recompute_queued=True).update(recompute_queued=False)
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
            holiday=holiday, computed_at=timezone.now(), data_version=holiday.data_version,
            composite_weights=composite_weights_usable(holiday.composite_weights),
            tie_style=holiday.tie_style,
        )
        params = recompute_statement_params(holiday=holiday, snapshot_id=snapshot.pk)
        with connection.cursor() as cursor:
            recompute_prepare(cursor, params, background=background)
            table = entries_table_begin(cursor, snapshot.pk)
            cursor.execute(recompute_sql_for(holiday, table=table), params)
            entries = cursor.rowcount
            # The sessions counted: each once, under its lead host's county.
            cursor.execute(f"SELECT COALESCE(SUM(sessions), 0) FROM {_BASE_TABLE} "
                           "WHERE is_lead = 1")
            snapshot.sessions = int(cursor.fetchone()[0])
            cursor.execute(f"DROP TABLE {_BASE_TABLE}")
            entries_table_attach(cursor, snapshot.pk)
        snapshot.complete = True
        snapshot.duration_ms = int((time.monotonic() - began) * 1000)
        snapshot.save(update_fields=["sessions", "complete", "duration_ms"])
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
    # Pruned last, after the commit: on PostgreSQL dropping old snapshots' partitions locks
    # the entries table for a moment, which must neither wait inside the recompute's
    # transaction nor delay the new snapshot (rankings/entries.py).
    _prune(holiday_id=holiday_id)
    return RecomputeResult(
        holiday_id=holiday_id,
        snapshot_id=snapshot.pk,
        sessions=snapshot.sessions,
        entries=entries,
        seconds=time.monotonic() - began,
    )


def _prune(*, holiday_id: int) -> None:
    """Keep the newest SNAPSHOTS_KEPT snapshots of a holiday, every published one (a
    revision never goes), and the last complete one computed before today (Beijing): the
    baseline of movement arrows while nothing is published (selectors.movement_baseline).
    The others go (with partitions left by snapshots deleted otherwise): at once, or at a
    later prune when readers hold the entries (entries.snapshots_delete)."""
    keep = set(
        RankingSnapshot.objects.filter(holiday_id=holiday_id)
        .order_by("-id")
        .values_list("id", flat=True)[:SNAPSHOTS_KEPT]
    )
    before_today = (RankingSnapshot.objects.complete()
                    .filter(holiday_id=holiday_id, computed_at__lt=beijing_midnight())
                    .order_by("-id").values_list("id", flat=True).first())
    if before_today is not None:
        keep.add(before_today)
    snapshots_delete(list(
        RankingSnapshot.objects.filter(holiday_id=holiday_id).exclude(id__in=keep)
        .exclude(publications__isnull=False).values_list("id", flat=True)))


def beijing_midnight(day=None):
    """The first instant of `day` (today by default) in Beijing time."""
    day = day or timezone.localdate()
    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_default_timezone())


class RankingsNotCurrent(Exception):
    """The holiday's rankings are being updated (or were never computed): publishing now
    would publish figures that are already out of date (HTTP 409)."""


def holiday_publish(*, holiday: Holiday, user, note: str = "") -> Publication:
    """Publish the holiday's latest complete snapshot as its next revision (1, 2, ...),
    with who, when and the note. The snapshot must be current: it covers the holiday's
    data_version and no recompute is waiting (else RankingsNotCurrent). A published
    revision never changes and its snapshot is never pruned; a correction is a new
    revision. After commit, the officials ranked and the webhooks are told
    (`notifications.tasks.holiday_published_notify`, by name)."""
    note = (note or "").strip()
    with transaction.atomic():
        current = Holiday.objects.select_for_update().get(pk=holiday.pk)
        snapshot = RankingSnapshot.objects.latest_for(current.pk)
        if snapshot is None:
            raise RankingsNotCurrent(_("The rankings of this holiday have not been computed "
                                       "yet."))
        if current.rankings_stale or snapshot.data_version != current.data_version:
            raise RankingsNotCurrent(_("The rankings are being updated with the latest "
                                       "changes: publish when they are current."))
        last = (Publication.objects.filter(holiday=current)
                .order_by("-revision").values_list("revision", flat=True).first()) or 0
        publication = Publication.objects.create(
            holiday=current, revision=last + 1, snapshot=snapshot, published_by=user,
            published_at=timezone.now(), note=note, ranking_basis=current.ranking_basis)
        transaction.on_commit(partial(_published_notify, holiday_id=current.pk,
                                      revision=publication.revision, note=note))
    generation_bump(RANKINGS)
    return publication


PUBLISHED_TASK = "notifications.tasks.holiday_published_notify"


def _published_notify(*, holiday_id: int, revision: int, note: str) -> None:
    try:
        celery_app.tasks[PUBLISHED_TASK].delay(holiday_id=holiday_id, revision=revision,
                                               note=note)
    except Exception:
        logger.exception("Could not send the publication notice of holiday %s", holiday_id)


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
