"""PostgreSQL settings for one transaction of set-based work over a whole holiday (the
rankings snapshot, the flags refresh, a snapshot's notifications).

Such work reads hundreds of thousands of rows through CTEs and temporary tables, which have
no statistics, and often tables written in bulk a moment ago, which have none yet either.
With them the planner once chose nested loops (quadratic with its wrong estimate) and merge
joins (sorting both sides) where a hash join takes one pass; every join of this work is an
equality, so a hash join is always possible, and these settings leave the planner that one
shape whatever its statistics say. The default 4 MB work_mem spills the sorts and hash
aggregates of a big holiday to disk; JIT compiling costs ~50 ms a statement that such
statements never earn back. SET LOCAL: the transaction's own, gone at its end.
"""

from django.db import connection

PLANNER_SETTINGS = (
    "SET LOCAL work_mem = '64MB'",
    "SET LOCAL jit = off",
    "SET LOCAL enable_mergejoin = off",
    "SET LOCAL enable_nestloop = off",
)
# For work whose result is derived and made again if lost (a snapshot, its notifications'
# claim): the commit does not wait for its WAL to reach the disk.
DERIVED_COMMIT = "SET LOCAL synchronous_commit = off"


def set_based_settings(cursor, *, derived: bool = False) -> None:
    """Apply PLANNER_SETTINGS (and DERIVED_COMMIT with `derived`) to the current
    transaction on PostgreSQL; nothing elsewhere."""
    if connection.vendor != "postgresql":
        return
    for statement in (*PLANNER_SETTINGS, *((DERIVED_COMMIT,) if derived else ())):
        cursor.execute(statement)
