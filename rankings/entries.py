"""Where a snapshot's entries are stored: on PostgreSQL, each snapshot in a partition of its own.

A snapshot writes ten boards x every ranked official (100,170 rows at 10,000 officials, a
million at 100,000), and keeping five snapshots means deleting as many rows of the oldest one
each time. Row by row, both cost more than ranking itself: every row inserted into the big
table also went into its board index (one btree insert each), and every row pruned was
deleted and written to the WAL again. So on PostgreSQL the entries table is partitioned by
snapshot (LIST on `snapshot_id`, migration rankings 0013):

- the recompute writes its rows into a new table, builds the board index over them in one
  sorted pass, and attaches the table as the snapshot's partition, all in its transaction
  (`entries_table_begin` / `entries_table_attach`). ATTACH takes a SHARE UPDATE EXCLUSIVE
  lock on the parent, which readers and writers of other partitions never wait for; a CHECK
  on `snapshot_id` proves the partition's bound, so it scans nothing. At 1,000,000 sessions
  the write took 125 ms instead of 190-375 ms.
- pruning a snapshot drops its partition (`entry_partitions_drop`): no row is deleted.
  Dropping a partition takes an ACCESS EXCLUSIVE lock on the parent, so it runs after the
  recompute's commit, in a short transaction of its own, and gives up after
  ENTRY_DROP_LOCK_TIMEOUT when readers hold the table: the snapshot is then dropped by a
  later prune (it stays a complete, valid snapshot meanwhile). Readers queue behind a
  waiting drop for at most that long.

Every read goes through the parent table (Django's model), and a read of one snapshot is
pruned to its partition when it is planned. Rows written another way (the ORM, in tests)
need their snapshot's partition first: `entry_partition_create`. A snapshot deleted another
way (a holiday deleted in the admin: Django deletes the rows) leaves an empty partition,
which the next prune drops (`entry_partitions_orphaned`).

SQLite keeps one plain table: the same statements write into it and delete from it.
"""

import logging

from django.db import OperationalError, connection, transaction

from .models import RankingEntry, RankingSnapshot

logger = logging.getLogger(__name__)

ENTRIES = RankingEntry._meta.db_table
PARTITION_PREFIX = f"{ENTRIES}_s"
# How long a prune waits for readers of the entries to let go before leaving the drop to the
# next prune.
ENTRY_DROP_LOCK_TIMEOUT = "100ms"


def entries_partitioned() -> bool:
    """True where each snapshot's entries are a partition of their own (PostgreSQL)."""
    return connection.vendor == "postgresql"


def entry_partition_name(snapshot_id: int) -> str:
    return f"{PARTITION_PREFIX}{int(snapshot_id)}"


def entries_table_begin(cursor, snapshot_id: int) -> str:
    """The table into which a new snapshot's entries are to be inserted, in the current
    transaction: on PostgreSQL a new table shaped like the entries (columns, defaults,
    checks) whose CHECK admits only this snapshot, without an index yet; elsewhere the
    entries table itself."""
    if not entries_partitioned():
        return ENTRIES
    name = entry_partition_name(snapshot_id)
    cursor.execute(
        f"CREATE TABLE {name} (LIKE {ENTRIES} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
        f"CONSTRAINT {name}_snapshot CHECK (snapshot_id = {int(snapshot_id)}))")
    return name


def entries_table_attach(cursor, snapshot_id: int) -> None:
    """Index the rows written into `entries_table_begin`'s table and make it the snapshot's
    partition (PostgreSQL; nothing elsewhere). The parent's index adopts the new one."""
    if not entries_partitioned():
        return
    name = entry_partition_name(snapshot_id)
    cursor.execute(f"CREATE INDEX {name}_board ON {name} (snapshot_id, scope, metric, rank)")
    cursor.execute(f"ALTER TABLE {ENTRIES} ATTACH PARTITION {name} "
                   f"FOR VALUES IN ({int(snapshot_id)})")


def entry_partition_create(snapshot_id: int) -> None:
    """An empty partition for a snapshot whose entries are written row by row (the ORM:
    tests, a repair by hand). PostgreSQL only; nothing elsewhere."""
    if not entries_partitioned():
        return
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {entry_partition_name(snapshot_id)} PARTITION OF "
                       f"{ENTRIES} FOR VALUES IN ({int(snapshot_id)})")


def entry_partitions() -> list[int]:
    """The snapshot ids of the entries' partitions (PostgreSQL; [] elsewhere)."""
    if not entries_partitioned():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass", [ENTRIES])
        names = [row[0] for row in cursor.fetchall()]
    return sorted(int(name[len(PARTITION_PREFIX):]) for name in names
                  if name.startswith(PARTITION_PREFIX)
                  and name[len(PARTITION_PREFIX):].isdigit())


def entry_partitions_orphaned(partitions: list[int]) -> list[int]:
    """Those of `partitions` (snapshot ids) whose snapshot no longer exists (deleted with
    its holiday, say)."""
    if not partitions:
        return []
    existing = set(RankingSnapshot.objects.filter(id__in=partitions)
                   .values_list("id", flat=True))
    return [i for i in partitions if i not in existing]


def snapshots_delete(snapshot_ids: list[int]) -> list[int]:
    """Delete these snapshots with their entries, and drop orphaned partitions; returns the
    snapshots deleted. On PostgreSQL their partitions are dropped in one short transaction;
    if readers hold the entries for longer than ENTRY_DROP_LOCK_TIMEOUT nothing is deleted
    (logged) and a later prune tries again."""
    snapshot_ids = sorted(set(snapshot_ids))
    if not entries_partitioned():
        RankingSnapshot.objects.filter(id__in=snapshot_ids).delete()
        return snapshot_ids
    present = entry_partitions()
    drop = sorted({*(i for i in snapshot_ids if i in present),
                   *entry_partitions_orphaned(present)})
    if not snapshot_ids and not drop:
        return []
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)",
                           [ENTRY_DROP_LOCK_TIMEOUT])
            if drop:
                cursor.execute("DROP TABLE IF EXISTS "
                               + ", ".join(entry_partition_name(i) for i in drop))
            cursor.execute("SELECT set_config('lock_timeout', '0', true)")
            RankingSnapshot.objects.filter(id__in=snapshot_ids).delete()
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        logger.info("Entries in use: snapshots %s are dropped by a later prune", snapshot_ids)
        return []
    return snapshot_ids
