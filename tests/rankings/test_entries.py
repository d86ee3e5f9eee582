"""Where a snapshot's entries are stored: on PostgreSQL a partition per snapshot, written
whole, attached, and dropped when the snapshot is pruned (rankings/entries.py)."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from rankings.entries import ENTRIES, entry_partition_name, entry_partitions
from rankings.models import RankingEntry, RankingSnapshot
from rankings.services import SNAPSHOTS_KEPT, holiday_rankings_recompute

from ..factories import HolidayFactory, OfficialFactory, SessionFactory, beijing

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql",
                                     reason="partitions are PostgreSQL's; SQLite keeps one table")


def holiday_with_sessions(holiday=None):
    holiday = holiday or HolidayFactory()
    SessionFactory(official=OfficialFactory(), revenue=Decimal("10"))
    SessionFactory(official=OfficialFactory(), revenue=Decimal("20"))
    return holiday


def recomputed(holiday, times: int) -> list[int]:
    return [holiday_rankings_recompute(holiday_id=holiday.pk).snapshot_id for _ in range(times)]


def board_index_of(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_pruned_snapshots_leave_no_entries_behind():
    # Given a holiday recomputed more times than it keeps snapshots
    holiday = holiday_with_sessions()
    made = recomputed(holiday, SNAPSHOTS_KEPT + 2)

    # Then the newest are kept with their entries, and nothing of the others remains
    kept = sorted(RankingSnapshot.objects.filter(holiday=holiday).values_list("id", flat=True))
    assert kept == made[-SNAPSHOTS_KEPT:]
    assert sorted(set(RankingEntry.objects.values_list("snapshot_id", flat=True))) == kept
    assert RankingEntry.objects.filter(snapshot_id=made[-1]).count() > 0
    if connection.vendor == "postgresql":  # each kept snapshot is a partition, no other
        assert entry_partitions() == kept


@postgresql_only
@pytest.mark.django_db
def test_a_snapshot_is_a_partition_of_its_own_with_the_board_index():
    holiday = holiday_with_sessions()
    (snapshot_id,) = recomputed(holiday, 1)

    assert entry_partitions() == [snapshot_id]
    partition = entry_partition_name(snapshot_id)
    assert board_index_of(partition) == [
        f"CREATE INDEX {partition}_board ON public.{partition} "
        "USING btree (snapshot_id, scope, metric, rank)"]
    with connection.cursor() as cursor:  # adopted by the parent's index
        cursor.execute("SELECT inhparent::regclass::text FROM pg_inherits "
                       "WHERE inhrelid = %s::regclass", [f"{partition}_board"])
        assert cursor.fetchone()[0] == "entry_board_idx"
        cursor.execute(f"SELECT COUNT(*) FROM {partition}")
        in_partition = cursor.fetchone()[0]
    assert in_partition == RankingEntry.objects.filter(snapshot_id=snapshot_id).count() > 0
    first = RankingEntry.objects.get(snapshot_id=snapshot_id, scope="official",
                                     metric="revenue", rank=1)
    assert first.value == Decimal("20.00")


@postgresql_only
@pytest.mark.django_db
def test_a_deleted_holidays_partitions_go_at_the_next_prune():
    # Given a holiday ranked twice, then deleted (Django deletes its snapshots' rows)
    gone = holiday_with_sessions()
    gone_snapshots = recomputed(gone, 2)
    gone.delete()
    assert set(gone_snapshots) <= set(entry_partitions())

    # When another holiday is recomputed
    other = HolidayFactory(name="National Day", slug="national-2020",
                           start_date=beijing(2020, 10, 1).date(),
                           end_date=beijing(2020, 10, 8).date())
    (kept,) = recomputed(other, 1)

    # Then its prune drops the empty partitions left behind
    assert entry_partitions() == [kept]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_prune_never_waits_for_readers_and_drops_the_snapshot_later():
    # Given a holiday with all the snapshots it keeps, and a reader of the oldest one whose
    # transaction stays open
    holiday = holiday_with_sessions()
    made = recomputed(holiday, SNAPSHOTS_KEPT)
    oldest = made[0]
    holding, release, read = threading.Event(), threading.Event(), {}

    def reader():
        try:
            other = connections.create_connection("default")
            with other.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute(f"SELECT COUNT(*) FROM {ENTRIES} WHERE snapshot_id = %s",
                               [oldest])
                read["rows"] = cursor.fetchone()[0]
                holding.set()
                release.wait(30)
                cursor.execute("COMMIT")
            other.close()
        finally:
            holding.set()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert holding.wait(10) and read["rows"] > 0

        # When the holiday is recomputed meanwhile
        newest = holiday_rankings_recompute(holiday_id=holiday.pk)

        # Then the new snapshot is made and the reader's snapshot stays, complete, for now
        assert not newest.skipped
        assert RankingSnapshot.objects.get(pk=oldest).complete
        assert oldest in entry_partitions()
    finally:
        release.set()
        thread.join(30)

    # And once the reader is done, the next prune drops it
    latest = holiday_rankings_recompute(holiday_id=holiday.pk)
    kept = sorted(RankingSnapshot.objects.filter(holiday=holiday).values_list("id", flat=True))
    assert kept == [*made[2:], newest.snapshot_id, latest.snapshot_id]
    assert entry_partitions() == kept


def entries_table_kind() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [ENTRIES])
        return cursor.fetchone()[0]


def entries_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, snapshot_id, scope, metric, rank, value FROM {ENTRIES} "
                       "ORDER BY id")
        return cursor.fetchall()


def migrate_rankings_to(name: str) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([("rankings", name)])


def snapshot_written_by_hand(holiday, official) -> int:
    """A snapshot with three entries inserted by SQL (as any version of the code would),
    without ids: the table gives them."""
    snapshot = RankingSnapshot.objects.create(holiday=holiday, computed_at=timezone.now(),
                                              data_version=0, complete=True)
    with connection.cursor() as cursor:
        for rank, metric in enumerate(("revenue", "orders", "audience"), start=1):
            cursor.execute(
                f"INSERT INTO {ENTRIES} (snapshot_id, scope, metric, official_id, value, rank,"
                " sessions) VALUES (%s, 'official', %s, %s, %s, %s, 1)",
                [snapshot.pk, metric, official.pk, Decimal(rank), rank])
    return snapshot.pk


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_migration_moves_entries_into_partitions_and_back():
    holiday, official = HolidayFactory(), OfficialFactory()
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("rankings")[0][1]
    try:
        # Given two snapshots in the plain table of rankings 0012
        migrate_rankings_to("0012_entries_without_id_index")
        assert entries_table_kind() == "r"
        made = [snapshot_written_by_hand(holiday, official) for _ in range(2)]
        before = entries_rows()
        assert [row[1] for row in before] == [made[0]] * 3 + [made[1]] * 3

        # When migrated forward, each snapshot's rows are in its partition, ids kept
        migrate_rankings_to("0013_entries_partitioned_by_snapshot")
        assert entries_table_kind() == "p"
        assert entry_partitions() == made
        assert entries_rows() == before
        # and a recompute's rows take ids after them
        (third,) = recomputed(holiday_with_sessions(holiday), 1)
        assert min(RankingEntry.objects.filter(snapshot_id=third).values_list("id", flat=True)
                   ) > before[-1][0]
        after = entries_rows()

        # When migrated back, one plain table holds the same rows, and gives new rows ids
        # after them
        migrate_rankings_to("0012_entries_without_id_index")
        assert entries_table_kind() == "r"
        assert entries_rows() == after
        fourth = snapshot_written_by_hand(holiday, official)
        assert min(RankingEntry.objects.filter(snapshot_id=fourth).values_list("id", flat=True)
                   ) > after[-1][0]
    finally:
        migrate_rankings_to(latest)
    assert entries_table_kind() == "p"
    assert entry_partitions() == sorted({row[1] for row in entries_rows()})
