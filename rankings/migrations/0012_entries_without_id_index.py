"""PostgreSQL: ranking entries keep one index, the board's, not also one on `id`.

A snapshot writes ten boards x every official (100,170 rows at 1,000,000 sessions, a
million at 10,000,000), and each index costs every row an index insert: without the
primary key's index on `id` the write takes about 100 ms less at 1 M (365 -> 240 ms in a
test of the insert alone). Nothing looks an entry up by its id alone: every read goes
through the board index (snapshot, scope, metric, rank), `entry_positions` included.
Django still treats `id` as the primary key (generated, unique by its identity); only the
database's constraint and index go. SQLite keeps its table as it is (a rowid table's key
costs nothing extra).

A later migration that alters `id` must restore the constraint first (this one's reverse).
"""

from django.db import migrations

_TABLE = "rankings_rankingentry"
_CONSTRAINT = "rankings_rankingentry_pkey"


def drop_primary_key(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {_TABLE} DROP CONSTRAINT IF EXISTS {_CONSTRAINT}")


def restore_primary_key(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {_TABLE} ADD CONSTRAINT {_CONSTRAINT} "
                              "PRIMARY KEY (id)")


class Migration(migrations.Migration):

    dependencies = [
        ("rankings", "0011_entries_without_stored_previous_rank"),
    ]

    operations = [
        migrations.RunPython(drop_primary_key, restore_primary_key, elidable=False),
    ]
