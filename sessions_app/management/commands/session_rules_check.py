"""List stored rows that break the rules of sessions and holidays; `--enforce` then makes the
database hold every rule (constraints added by migration 0006 for new rows only)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef

from sessions_app.constraint_operations import OVERLAP_EXCLUSION_SQL, AddSessionOverlapExclusion
from sessions_app.models import Holiday, LivestreamSession

SHOWN = 20


def rule_violations() -> dict[str, list[tuple]]:
    """Rule name -> (id, title or name) of stored rows breaking it. Reads no date-time
    column, so rows whose times the driver cannot read are listed too."""
    found: dict[str, list[tuple]] = {}
    for model, label in ((LivestreamSession, "title"), (Holiday, "name")):
        rows = model._base_manager.order_by("id")
        for constraint in model._meta.constraints:
            bad = list(rows.exclude(constraint.condition).values_list("id", label))
            if bad:
                found[constraint.name] = bad
    sessions = LivestreamSession._base_manager
    overlapping = sessions.filter(Exists(
        sessions.filter(
            official_id=OuterRef("official_id"), platform=OuterRef("platform"),
            started_at__lt=OuterRef("ended_at"), ended_at__gt=OuterRef("started_at"),
        ).exclude(pk=OuterRef("pk"))
    )).order_by("official_id", "id").values_list("id", "title")
    overlapping = list(overlapping)
    if overlapping:
        found[AddSessionOverlapExclusion.name] = overlapping
    return found


class Command(BaseCommand):
    help = (
        "List sessions and holidays stored before a rule existed that break it (ids and "
        "titles). With --enforce (PostgreSQL), validate the constraints that were added for "
        "new rows only and create the overlap exclusion constraint, once nothing is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--enforce", action="store_true",
                            help="make the database check every stored row too")

    def handle(self, *args, enforce=False, **options):
        found = rule_violations()
        for rule, rows in found.items():
            self.stdout.write(f"{rule}: {len(rows)} row(s)")
            for row_id, label in rows[:SHOWN]:
                self.stdout.write(f"  #{row_id} {label}")
        if found:
            raise CommandError(
                "Mend or delete these rows (the admin, or SQL for sessions whose times "
                "cannot be read), then run this again."
            )
        self.stdout.write("Every stored row keeps the rules.")
        if enforce and connection.vendor == "postgresql":
            self._enforce()

    def _enforce(self) -> None:
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conrelid::regclass::text, conname FROM pg_constraint "
                "WHERE NOT convalidated AND contype = 'c' AND conrelid::regclass::text IN "
                "(%s, %s)",
                [LivestreamSession._meta.db_table, Holiday._meta.db_table],
            )
            for table, name in cursor.fetchall():
                cursor.execute(f"ALTER TABLE {quote(table)} VALIDATE CONSTRAINT {quote(name)}")
                self.stdout.write(f"Validated {name}.")
            cursor.execute("SELECT 1 FROM pg_constraint WHERE conname = %s",
                           [AddSessionOverlapExclusion.name])
            if cursor.fetchone() is None:
                try:
                    with transaction.atomic():
                        cursor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
                        cursor.execute(
                            f"ALTER TABLE {quote(AddSessionOverlapExclusion.table)} ADD "
                            f"CONSTRAINT {quote(AddSessionOverlapExclusion.name)} "
                            f"{OVERLAP_EXCLUSION_SQL}"
                        )
                except DatabaseError as error:
                    raise CommandError(f"Could not create the overlap constraint: {error}") \
                        from error
                self.stdout.write(f"Created {AddSessionOverlapExclusion.name}.")
