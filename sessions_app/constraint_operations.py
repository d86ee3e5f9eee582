"""Migration operations that add a rule to tables that may already hold rows breaking it.

A database written before a rule existed may hold rows that break it (issue 10: a year-1
session typed into the form, a 2^63 audience imported). Adding the constraint the plain way
would then fail the whole deploy. On PostgreSQL these operations add the constraint so that
every new write is checked at once, then try to validate the old rows in a savepoint: if some
break the rule, the constraint stays NOT VALID (still enforced for new and changed rows), a
warning names it, and `manage.py session_rules_check` lists the rows and validates the
constraint once they are mended. SQLite (development only) adds constraints the plain way.
"""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)


def _validate_or_warn(schema_editor, table: str, name: str) -> None:
    quote = schema_editor.quote_name
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute(
                f"ALTER TABLE {quote(table)} VALIDATE CONSTRAINT {quote(name)}"
            )
    except DatabaseError:
        logger.warning(
            "Constraint %s on %s is enforced for new writes but some stored rows break it: "
            "run `manage.py session_rules_check` to list them.", name, table,
        )


class AddCheckConstraintForNewRows(migrations.AddConstraint):
    """AddConstraint for a CheckConstraint that old rows may break (see module docstring)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        table = model._meta.db_table
        check = self.constraint._get_check_sql(model, schema_editor)
        quote = schema_editor.quote_name
        schema_editor.execute(
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(self.constraint.name)} "
            f"CHECK ({check}) NOT VALID"
        )
        _validate_or_warn(schema_editor, table, self.constraint.name)


# "At most one session of an official at a time on one platform": sessions are [start, end)
# ranges, so one ending at 12:00 and the next starting at 12:00 do not overlap.
OVERLAP_EXCLUSION_SQL = (
    "EXCLUDE USING gist (official_id WITH =, platform WITH =, "
    "tstzrange(started_at, ended_at, '[)') WITH &&)"
)


class AddSessionOverlapExclusion(migrations.operations.base.Operation):
    """The PostgreSQL exclusion constraint behind the overlap rule (needs btree_gist).

    An exclusion constraint cannot be NOT VALID: when stored sessions already overlap, it is
    not created, a warning says so, and `manage.py session_rules_check --enforce` creates it
    once they are mended. The service checks the rule for every write either way.
    """

    reversible = True
    name = "session_no_overlap_per_official_platform"
    table = "sessions_app_livestreamsession"

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        quote = schema_editor.quote_name
        try:
            with transaction.atomic(using=schema_editor.connection.alias):
                schema_editor.execute(
                    f"ALTER TABLE {quote(self.table)} ADD CONSTRAINT {quote(self.name)} "
                    f"{OVERLAP_EXCLUSION_SQL}"
                )
        except DatabaseError:
            logger.warning(
                "Stored sessions overlap on one platform, so %s was not created: run "
                "`manage.py session_rules_check` to list them and `--enforce` after "
                "mending them.", self.name,
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        schema_editor.execute(
            f"ALTER TABLE {quote(self.table)} DROP CONSTRAINT IF EXISTS {quote(self.name)}"
        )

    def describe(self):
        return "Exclusion constraint: no overlapping sessions of an official on one platform"
