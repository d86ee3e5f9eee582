"""The recompute's plan on PostgreSQL stays linear whatever the planner's statistics say.

At 100,000 officials a recompute ran for minutes instead of seconds: the previous snapshot's
entries had been bulk-inserted into a big table that was not analysed yet, so the planner,
expecting one row per probe, joined them to the subjects with a nested loop (officials x
officials rows), to carry each subject's previous rank. The recompute no longer reads earlier
snapshots at all (movement is measured against a baseline when a board is read). These
tests build that state on purpose, at a size a test can afford: earlier snapshots in
partitions never analysed, whose pages are filled to 10% only, so that to the planner (which
estimates an unanalysed table's rows from its pages) their rows look ten times as many.
"""

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from rankings import services
from rankings.entries import PARTITION_PREFIX, entry_partition_name
from rankings.models import RankingEntry, RankingSnapshot
from rankings.selectors import leaderboard_get
from sessions_app import services as session_services
from sessions_app.models import Holiday, LivestreamSession
from sessions_app.totals import holiday_totals_rebuild

from ..conftest import wait_for
from ..factories import HolidayFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="query plans and planner statistics are PostgreSQL's; the same SQL runs on SQLite "
           "in the other ranking tests",
)

_ENTRIES = RankingEntry._meta.db_table


def partition_rows_known(snapshot_id: int) -> int:
    """The rows the planner knows of in a snapshot's partition (-1: never analysed nor
    vacuumed, nor indexed after its rows were in)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                       [entry_partition_name(snapshot_id)])
        return int(cursor.fetchone()[0])


def seed_officials_with_one_session_each(*, holiday: Holiday, officials: int) -> None:
    """`officials` officials over the 17 counties, each with one session in the holiday,
    written by the database in two statements (the factories would take minutes)."""
    start, _end = holiday.bounds
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO sessions_app_official (name, title, county_id, active)
            SELECT 'Plan official ' || lpad(g::text, 6, '0'), 'County head',
                   (SELECT id FROM sessions_app_county ORDER BY id OFFSET (g %% 17) LIMIT 1),
                   true
            FROM generate_series(1, %s) g
            """,
            [officials],
        )
        cursor.execute(
            """
            INSERT INTO sessions_app_livestreamsession
                (official_id, county_id, platform, title, products, started_at, ended_at,
                 audience, orders, revenue, created_at, updated_at, version)
            SELECT o.id, o.county_id, 'douyin', 'Plan session', '', %s::timestamptz
                       + (o.id %% 1000) * interval '1 minute',
                   %s::timestamptz + (o.id %% 1000) * interval '1 minute' + interval '1 hour',
                   1000 + o.id %% 977, 10 + o.id %% 89, (100 + o.id %% 9973) / 100.0,
                   now(), now(), 1
            FROM sessions_app_official o WHERE o.name LIKE 'Plan official %%'
            """,
            [start, start],
        )
    holiday_totals_rebuild(holiday=holiday)  # written past the services: the live totals


def snapshot_bulk_copy(*, snapshot: RankingSnapshot) -> RankingSnapshot:
    """A new complete snapshot of the same holiday whose entries are copied from `snapshot`
    by one INSERT ... SELECT into a partition never analysed whose pages are filled to 10%
    only, so that to the planner (which estimates an unanalysed table's rows from its pages)
    it looks ten times as big."""
    copy = RankingSnapshot.objects.create(
        holiday=snapshot.holiday, computed_at=timezone.now(),
        data_version=snapshot.data_version, sessions=snapshot.sessions, complete=True,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {entry_partition_name(copy.pk)} PARTITION OF {_ENTRIES} "
            f"FOR VALUES IN ({copy.pk}) WITH (fillfactor = 10, autovacuum_enabled = false)")
        cursor.execute(
            f"""
            INSERT INTO {_ENTRIES}
                (snapshot_id, scope, metric, official_id, county_id, value, rank, sessions)
            SELECT %s, scope, metric, official_id, county_id, value, rank, sessions
            FROM {_ENTRIES} WHERE snapshot_id = %s
            """,
            [copy.pk, snapshot.pk],
        )
    return copy


def plan_nodes(node: dict):
    """Every node of an EXPLAIN (FORMAT JSON) plan, depth first."""
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)


def entries_scans(plan: dict) -> list[str]:
    """The aliases under which a plan scans the entries (their table or a partition)."""
    return sorted(
        n["Alias"] for n in plan_nodes(plan)
        if "Scan" in n["Node Type"] and is_entries(n.get("Relation Name"))
    )


def recompute_plan(*, holiday: Holiday) -> dict:
    """EXPLAIN of the statement that writes the entries, after exactly what the recompute runs
    before it (planner settings, aggregates table), in the current transaction."""
    snapshot = RankingSnapshot.objects.create(
        holiday=holiday, computed_at=timezone.now(), data_version=holiday.data_version
    )
    params = services.recompute_statement_params(holiday=holiday, snapshot_id=snapshot.pk)
    with connection.cursor() as cursor:
        services.recompute_prepare(cursor, params)
        cursor.execute("EXPLAIN (FORMAT JSON) " + services.recompute_sql_for(holiday), params)
        (document,) = cursor.fetchone()
        cursor.execute(f"DROP TABLE {services._BASE_TABLE}")
    if isinstance(document, str):
        document = json.loads(document)
    return document[0]["Plan"]


@pytest.mark.django_db
def test_the_recompute_reads_no_earlier_snapshot_whatever_its_statistics():
    # Given a holiday of 6,000 officials ranked once and four more snapshots bulk-inserted
    # (the five a holiday keeps) into partitions never analysed that look big
    holiday = HolidayFactory()
    seed_officials_with_one_session_each(holiday=holiday, officials=6_000)
    previous = RankingSnapshot.objects.get(
        pk=services.holiday_rankings_recompute(holiday_id=holiday.pk).snapshot_id
    )
    for _ in range(services.SNAPSHOTS_KEPT - 1):
        previous = snapshot_bulk_copy(snapshot=previous)
    assert partition_rows_known(previous.pk) < 0

    # When the recompute's statement is planned
    plan = recompute_plan(holiday=holiday)

    # Then it writes the entries without scanning any (no join with the previous snapshot
    # to go quadratic), and joins nothing by a nested loop
    assert plan["Node Type"] == "ModifyTable"
    assert entries_scans(plan) == []
    assert [n for n in plan_nodes(plan) if n["Node Type"] == "Nested Loop"] == []


@pytest.fixture
def recomputes_cancelled_after(transactional_db):
    """Data committed so that the worker sees it too; recomputes still running at the end
    are cancelled."""
    yield
    _cancel_recomputes_still_running()


def _cancel_recomputes_still_running() -> None:
    """A recompute stuck in a quadratic plan would hold its locks past the test and hang the
    flush that ends it: cancel it so the failure is reported instead."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid() AND query LIKE %s",
            [f"%INSERT INTO {_ENTRIES}%"],
        )


@pytest.mark.worker
def test_an_edit_reaches_the_rankings_of_40000_officials_through_the_worker(
        recomputes_cancelled_after, celery_worker_on_redis):
    # Given 40,000 officials ranked once in this process: their entries were just written
    # (a table never analysed is what the benchmark's worker met; a snapshot's partition is
    # indexed after its rows are in, which tells the planner how many there are)
    holiday = HolidayFactory()
    seed_officials_with_one_session_each(holiday=holiday, officials=40_000)
    first = services.holiday_rankings_recompute(holiday_id=holiday.pk)
    assert partition_rows_known(first.snapshot_id) == first.entries
    before = dict(
        RankingEntry.objects.filter(snapshot_id=first.snapshot_id, scope="official",
                                    metric="revenue").values_list("official_id", "rank")
    )
    last = min(before, key=lambda official_id: (-before[official_id], official_id))
    session = LivestreamSession.objects.in_holiday(holiday).get(official_id=last)

    # When the last official's revenue is edited and the worker recomputes
    session_services.session_update(session=session, updated_by=None,
                                    data={"revenue": Decimal("99999.00")},
                                    expected_version=session.version)

    def caught_up():
        holiday.refresh_from_db()
        return not holiday.rankings_stale

    # Then the edit reaches the rankings (in the live board and the new snapshot). The bound
    # only tells "finishes" from "hangs": the quadratic plan took many minutes here, the
    # linear one seconds (bench/rankings.py measures how many).
    try:
        assert wait_for(caught_up, seconds=60)
    finally:
        _cancel_recomputes_still_running()
    board = leaderboard_get(holiday=holiday, metric="revenue", scope="official", limit=50)
    assert (board.entries[0].official_id, board.entries[0].value) == (last, Decimal("99999.00"))
    first = RankingEntry.objects.filter(
        snapshot_id=board.snapshot.pk, scope="official", metric="revenue").order_by("rank")[0]
    assert (first.official_id, first.rank) == (last, 1)
    assert board.snapshot.entries.filter(scope="official", metric="revenue").count() == 40_000


def aggregation_plan(*, holiday: Holiday, background: bool) -> dict:
    """EXPLAIN of the aggregation into the temporary table under the recompute's settings,
    with parallel plans made cheap for the planner (as for a holiday of millions)."""
    params = services.recompute_statement_params(holiday=holiday, snapshot_id=0)
    with connection.cursor() as cursor:
        for name in ("parallel_setup_cost", "parallel_tuple_cost",
                     "min_parallel_table_scan_size", "min_parallel_index_scan_size"):
            cursor.execute(f"SET LOCAL {name} = 0")
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 2")
        services.recompute_prepare(cursor, params, background=background)
        cursor.execute(f"DROP TABLE {services._BASE_TABLE}")
        cursor.execute("EXPLAIN (FORMAT JSON) " + services._base_sql(), params)
        (document,) = cursor.fetchone()
    if isinstance(document, str):
        document = json.loads(document)
    return document[0]["Plan"]


def parallel_workers(plan: dict) -> int:
    """The most parallel workers any Gather of the plan asks for."""
    return max((n.get("Workers Planned", 0) for n in plan_nodes(plan)), default=0)


@pytest.mark.django_db
def test_a_background_snapshot_leaves_the_other_cpus_to_the_writers(settings):
    # Given a holiday whose aggregation the planner would run with parallel workers
    holiday = HolidayFactory()
    seed_officials_with_one_session_each(holiday=holiday, officials=2_000)
    assert parallel_workers(aggregation_plan(holiday=holiday, background=False)) == 2

    # When the worker's snapshot (background) plans it
    settings.RANKINGS_BACKGROUND_PARALLEL_WORKERS = 0
    background = aggregation_plan(holiday=holiday, background=True)

    # Then it runs in one process; the setting can give it workers back
    assert parallel_workers(background) == 0
    settings.RANKINGS_BACKGROUND_PARALLEL_WORKERS = 1
    assert parallel_workers(aggregation_plan(holiday=holiday, background=True)) == 1


@pytest.mark.django_db
def test_entries_keep_one_index_and_positions_are_found_through_it():
    # Given a holiday of 300 officials ranked once
    from rankings.targets import _POSITION_ENTRY, _POSITION_SQL, TOP_N, entry_positions

    holiday = HolidayFactory()
    seed_officials_with_one_session_each(holiday=holiday, officials=300)
    snapshot_id = services.holiday_rankings_recompute(holiday_id=holiday.pk).snapshot_id

    # Then a snapshot's rows feed one index, the board's (migration rankings 0012)
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", [_ENTRIES])
        assert [row[0] for row in cursor.fetchall()] == ["entry_board_idx"]

    # And the positions of an official's entries are read through it, not by a scan
    entries = list(RankingEntry.objects.filter(snapshot_id=snapshot_id, scope="official",
                                               metric__in=["revenue", "orders"],
                                               rank__in=[1, 150]))
    assert len(entries) >= 4
    positions = entry_positions(entries)
    assert {p.rank for p in positions.values()} >= {1, 150}
    assert set(positions) == {e.pk for e in entries}
    params = [TOP_N]
    for entry in entries:
        params += [entry.snapshot_id, entry.scope, entry.metric, entry.rank, entry.pk]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a scan only if nothing else can
        cursor.execute("EXPLAIN (FORMAT JSON) " + _POSITION_SQL.format(
            entries=" OR ".join([_POSITION_ENTRY] * len(entries))), params)
        (document,) = cursor.fetchone()
    if isinstance(document, str):
        document = json.loads(document)
    assert [n for n in plan_nodes(document[0]["Plan"])
            if n["Node Type"] == "Seq Scan" and is_entries(n.get("Relation Name"))] == []


def is_entries(relation: str | None) -> bool:
    """The entries table or one of its partitions (a snapshot's: rankings/entries.py)."""
    return relation == _ENTRIES or (relation or "").startswith(PARTITION_PREFIX)


@pytest.mark.django_db
def test_targets_progress_reads_only_the_latest_snapshots_partition():
    # Given a holiday of 300 officials ranked the five times it keeps, their entries
    # analysed, and targets of two officials and a county
    from rankings.models import Target
    from rankings.targets import _PROGRESS_SQL, _placeholders, targets_progress

    holiday = HolidayFactory()
    seed_officials_with_one_session_each(holiday=holiday, officials=300)
    for _ in range(services.SNAPSHOTS_KEPT):
        latest = services.holiday_rankings_recompute(holiday_id=holiday.pk).snapshot_id
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {_ENTRIES}")
    top = RankingEntry.objects.filter(snapshot_id=latest, scope="official", metric="revenue",
                                      rank__lte=2).select_related("official")
    targets = [Target.objects.create(holiday=holiday, official=e.official, metric="revenue",
                                     value=Decimal("1")) for e in top]
    targets.append(Target.objects.create(holiday=holiday, county=top[0].official.county,
                                         metric="orders", value=Decimal("1")))

    # When their progress is read
    assert [t.progress.snapshot_id for t in targets_progress(targets)] == [latest] * 3
    assert [t.progress.current for t in targets[:2]] == [e.value for e in top]
    ids = [t.pk for t in targets]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _PROGRESS_SQL.format(
            ids=_placeholders(ids)), [*ids, *ids])
        (document,) = cursor.fetchone()
    if isinstance(document, str):
        document = json.loads(document)

    # Then only the latest snapshot's partition is read, along its board index
    read = {n["Relation Name"]: n["Node Type"] for n in plan_nodes(document[0]["Plan"])
            if is_entries(n.get("Relation Name")) and n.get("Actual Loops", 0) > 0}
    assert set(read) == {entry_partition_name(latest)}
    assert "Seq Scan" not in read.values()
