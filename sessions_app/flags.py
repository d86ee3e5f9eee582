"""Anomaly flags: the rules that point a reviewer at figures worth a second look.

Each rule is one `FlagRule` in `FLAG_RULES`: its code, its thresholds, a SELECT that finds
the sessions it flags among one holiday's sessions, and its message in both languages (a
gettext string whose numbers come from the SELECT, formatted when the flag is read). A new
rule is one declaration here.

`session_flags_refresh` runs every rule's SELECT (UNION ALL) into a temporary table,
compares it with the holiday's `SessionFlag` rows in one join and, when something differs,
brings them in line in four statements: delete the flags whose rule no longer holds,
re-open a dismissed flag whose figures changed, refresh the numbers of the others and
insert the new ones. Nothing loops over sessions in Python.

Every SELECT yields `session_id, code, figure_1, figure_2, value_1, value_2, value_3`, all
numbers (0 where a rule has fewer): the figures are the session's own figures that raised
the flag (a change to them re-opens a dismissed flag), the values the numbers of the message
(`FlagRule.values`; the thresholds it names are the rule's). Numbers, not text: comparing
them is cheap, where building and comparing a JSON text of each finding was a good part of
the refresh. The SELECTs read `%(start)s`/`%(end)s` (the holiday's bounds), `%(scope_start)s`/
`%(scope_end)s` (the sessions to refresh: the holiday, or one official's in it) and the
thresholds, named `<code>__<name>`.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.db import connection, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .models import Holiday, SessionFlag

logger = logging.getLogger(__name__)

SESSIONS = "sessions_app_livestreamsession"
# Co-hosts: (livestreamsession_id, official_id) rows.
HOSTS = "sessions_app_livestreamsession_hosts"
FLAGS = SessionFlag._meta.db_table
# Namespace of the PostgreSQL advisory locks that keep two refreshes of one holiday apart.
FLAGS_LOCK_NAMESPACE = 7_115_202
# The longest a session may last (validators.MAX_SESSION_HOURS): a session overlapping one
# of the holiday's starts at most this long before the holiday.
_OVERLAP_REACH = timedelta(hours=24)


# The sessions a refresh looks at: the holiday's, and after a write only those the written
# officials host, as lead or co-host (`flags_select_sql` puts the condition in place of
# SCOPE). HOSTED_BY marks where the overlap rule reads the hosts' timelines: after a write,
# every host of those sessions (`_hosts_condition`).
SCOPE = "/*scope*/"
HOSTED_BY = "/*hosted_by*/"


def _in_scope(alias: str = "s") -> str:
    return (f"{alias}.started_at >= %(start)s AND {alias}.started_at < %(end)s"
            f" AND {SCOPE.replace('scope', 'scope:' + alias)}")


# How a value of a message is written: with that many decimals, or ID (a session's id; 0:
# none known, written "?").
ID = "id"
FIGURE_COLUMNS = ("figure_1", "figure_2")
VALUE_COLUMNS = ("value_1", "value_2", "value_3")
NUMBER_COLUMNS = FIGURE_COLUMNS + VALUE_COLUMNS


@dataclass(frozen=True)
class FlagRule:
    """A rule reads either the session alone (`where`, and SQL over the session `s` in
    `figures` and `values`; all such rules share one scan of the holiday's sessions) or more
    (`sql`: a whole SELECT of session_id, code, figure_1, figure_2, value_1, value_2,
    value_3)."""

    code: str
    label: Promise
    # The message, with %(name)s placeholders for the values and the shown thresholds.
    message: Promise
    sql: str = ""
    where: str = ""
    # At most two SQL expressions (own rules).
    figures: tuple[str, ...] = ()
    # At most three (name in the message, SQL expression for an own rule, decimals or ID).
    values: tuple[tuple[str, str, int | str], ...] = ()
    thresholds: dict = field(default_factory=dict)
    # The thresholds the message names: {name in the message: name in `thresholds`}.
    shown: dict = field(default_factory=dict)
    # Whether a session's flag depends on the other sessions of the holiday (a median):
    # then the refresh after a write leaves it to the holiday-wide pass of the worker.
    reads_peers: bool = False


FLAG_RULES: tuple[FlagRule, ...] = (
    FlagRule(
        code="orders_exceed_audience",
        label=_("Orders exceed audience"),
        message=_("orders %(orders)s exceed audience %(audience)s"),
        where="s.orders > s.audience",
        figures=("s.orders", "s.audience"),
        values=(("orders", "s.orders", 0), ("audience", "s.audience", 0)),
    ),
    FlagRule(
        code="aov_outlier",
        label=_("Unusual order value"),
        message=_("average order %(aov)s yuan is more than %(factor)s times away from the "
                  "median %(median)s yuan of %(peers)s sessions on this platform"),
        # The median of revenue/orders of the holiday's sessions on the platform with orders
        # (rejected ones aside): `_PLATFORM_MEDIANS`.
        sql=f"""
SELECT s.id AS session_id, 'aov_outlier' AS code,
       CAST(s.revenue AS DOUBLE PRECISION) AS figure_1,
       CAST(s.orders AS DOUBLE PRECISION) AS figure_2,
       CAST(ROUND(s.revenue * 1.0 / s.orders, 2) AS DOUBLE PRECISION) AS value_1,
       CAST(ROUND(CAST(m.median AS NUMERIC), 2) AS DOUBLE PRECISION) AS value_2,
       CAST(m.peers AS DOUBLE PRECISION) AS value_3
FROM {SESSIONS} s
JOIN (%(platform_medians)s) m ON m.platform = s.platform
WHERE {_in_scope()} AND s.orders > 0 AND m.peers >= %(aov_outlier__min_peers)s
  AND (s.revenue > %(aov_outlier__factor)s * m.median * s.orders
       OR s.revenue * %(aov_outlier__factor)s < m.median * s.orders)""",
        values=(("aov", "", 2), ("median", "", 2), ("peers", "", 0)),
        thresholds={"factor": 5, "min_peers": 10},
        shown={"factor": "factor"},
        reads_peers=True,
    ),
    FlagRule(
        code="overlap",
        label=_("Overlapping sessions"),
        message=_("its time overlaps another session of the same host (#%(other)s)"),
        # Who hosted what, ordered by start per host (the lead and each co-host: a row per
        # session and host): a session overlaps an earlier one when the latest end before it
        # is after its start, a later one when the next start is before its end (touching
        # is fine). Windows, not a self-join: a host's sessions pair up quadratically. A
        # session found on several hosts' timelines is one flag (GROUP BY).
        # The session named is the next one, else the previous one; "?" (0) when the
        # overlap is with an earlier session that is not the previous one (nested shows).
        # Found on several timelines, the least as text (as when the message was stored
        # as text).
        sql=f"""
SELECT session_id, 'overlap' AS code, MIN(figure_1) AS figure_1, MIN(figure_2) AS figure_2,
       CAST(CASE WHEN MIN(other) = '?' THEN 0 ELSE CAST(MIN(other) AS BIGINT) END
            AS DOUBLE PRECISION) AS value_1,
       CAST(0 AS DOUBLE PRECISION) AS value_2, CAST(0 AS DOUBLE PRECISION) AS value_3
FROM (
SELECT session_id,
       COALESCE(CAST(CASE WHEN next_start < ended_at THEN next_id
                WHEN previous_end > started_at THEN previous_id END AS TEXT), '?') AS other,
       EPOCH(started_at)) AS figure_1, EPOCH(ended_at)) AS figure_2
FROM (
    SELECT session_id, started_at, ended_at, in_scope,
           MAX(ended_at) OVER (PARTITION BY host_id ORDER BY started_at, session_id
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS latest_end,
           LAG(ended_at) OVER w AS previous_end, LAG(session_id) OVER w AS previous_id,
           LEAD(started_at) OVER w AS next_start, LEAD(session_id) OVER w AS next_id
    FROM (
        SELECT s.id AS session_id, s.official_id AS host_id, s.started_at, s.ended_at,
               CASE WHEN s.started_at >= %(start)s AND s.started_at < %(end)s
                    THEN 1 ELSE 0 END AS in_scope
        FROM {SESSIONS} s
        WHERE s.started_at >= %(overlap_from)s AND s.started_at < %(overlap_to)s
          AND {HOSTED_BY.replace('hosted_by', 'hosted_by:s.official_id')}
        UNION ALL
        SELECT s.id AS session_id, h.official_id AS host_id, s.started_at, s.ended_at,
               CASE WHEN s.started_at >= %(start)s AND s.started_at < %(end)s
                    THEN 1 ELSE 0 END AS in_scope
        FROM {HOSTS} h JOIN {SESSIONS} s ON s.id = h.livestreamsession_id
        WHERE s.started_at >= %(overlap_from)s AND s.started_at < %(overlap_to)s
          AND {HOSTED_BY.replace('hosted_by', 'hosted_by:h.official_id')}
    ) hosting
    WINDOW w AS (PARTITION BY host_id ORDER BY started_at, session_id)
) ordered
WHERE in_scope = 1 AND (latest_end > started_at OR next_start < ended_at)
) found
GROUP BY session_id""",
        values=(("other", "", ID),),
    ),
    FlagRule(
        code="high_refund_rate",
        label=_("High refund rate"),
        message=_("refunds %(refunds)s yuan are %(rate)s%% of revenue %(revenue)s yuan "
                  "(more than %(limit)s%%)"),
        where="s.revenue > 0 AND s.refunds * 100 > s.revenue * %(high_refund_rate__percent)s",
        figures=("s.refunds", "s.revenue"),
        values=(("refunds", "s.refunds", 2), ("revenue", "s.revenue", 2),
                ("rate", "ROUND(s.refunds * 100.0 / s.revenue, 1)", 1)),
        thresholds={"percent": 30},
        shown={"limit": "percent"},
    ),
    FlagRule(
        code="late_entry",
        label=_("Late entry"),
        message=_("entered %(days)s days after the holiday's last day (more than "
                  "%(limit)s)"),
        where="s.created_at >= %(late_after)s",
        figures=("EPOCH(s.started_at))",),
        values=(("days", "%(late_days_sql)s", 0),),
        thresholds={"days": 7},
        shown={"limit": "days"},
    ),
)

FLAG_CODES = tuple(rule.code for rule in FLAG_RULES)
_RULES = {rule.code: rule for rule in FLAG_RULES}


def flag_label(code: str) -> str:
    rule = _RULES.get(code)
    return str(rule.label) if rule else code


def _written(value, decimals: int | str) -> str:
    if decimals == ID:
        return str(int(value)) if value else "?"
    return f"{float(value):.{decimals}f}"


def flag_params(*, code: str, values) -> dict[str, str]:
    """The numbers of a flag's message, written out, from its values (in `FlagRule.values`'
    order) and the rule's thresholds it shows."""
    rule = _RULES.get(code)
    if rule is None:
        return {}
    written = {name: _written(value, decimals)
               for (name, _sql, decimals), value in zip(rule.values, values, strict=False)}
    for name, threshold in rule.shown.items():
        written[name] = str(rule.thresholds[threshold])
    return written


def flag_message(*, code: str, params: dict) -> str:
    """The flag's message in the active language, with its numbers (`flag_params`)."""
    rule = _RULES.get(code)
    if rule is None:
        return code
    try:
        return gettext(str(rule.message)) % params
    except (KeyError, TypeError, ValueError):
        return str(rule.label)


# The median of revenue/orders per platform among the holiday's sessions with orders
# (rejected ones aside), and how many they are. Sorted as floating point: sorting 400,000
# exact decimal quotients took 1.6 s, five times as long. The mean of the two middle values
# (the middle one when their number is odd): SQLite from row numbers; PostgreSQL from
# `percentile_disc(0.5)` ascending (the lower middle) and descending (the upper middle),
# the same two values, in ordered-set aggregates that sort each platform once and skip the
# two passes of windows (at 400,000 sessions: about 0.9 s instead of 2.2 s).
_AOV = "CAST(revenue AS DOUBLE PRECISION) / orders"
_MEDIAN_SESSIONS = (f"FROM {SESSIONS} WHERE started_at >= %(start)s AND started_at < %(end)s"
                    f" AND orders > 0 AND status <> 'rejected'")
_PLATFORM_MEDIANS = {
    "postgresql": f"""
    SELECT platform, (percentile_disc(0.5) WITHIN GROUP (ORDER BY {_AOV})
                      + percentile_disc(0.5) WITHIN GROUP (ORDER BY {_AOV} DESC)) / 2 AS median,
           COUNT(*) AS peers
    {_MEDIAN_SESSIONS}
    GROUP BY platform""",
    "sqlite": f"""
    SELECT platform, AVG(aov) AS median, MAX(peers) AS peers FROM (
        SELECT platform, {_AOV} AS aov,
               ROW_NUMBER() OVER (PARTITION BY platform ORDER BY {_AOV}) AS n,
               COUNT(*) OVER (PARTITION BY platform) AS peers
        {_MEDIAN_SESSIONS}
    ) ranked
    WHERE n IN ((peers + 1) / 2, (peers + 2) / 2)
    GROUP BY platform""",
}

# What PostgreSQL and SQLite spell differently: the medians (above); days from the holiday's
# end (the first instant after its last day) to the entry, counted as "days after the last
# day"; and a moment as a number of seconds, for the figures that re-open a flag.
_VENDOR_SQL = {
    "postgresql": {
        "%(platform_medians)s": _PLATFORM_MEDIANS["postgresql"],
        "%(late_days_sql)s": "(date_part('day', s.created_at - %(end)s) + 1)",
        "EPOCH(": "date_part('epoch', (",
    },
    "sqlite": {
        "%(platform_medians)s": _PLATFORM_MEDIANS["sqlite"],
        "%(late_days_sql)s": "(CAST(julianday(s.created_at) - julianday(%(end)s) AS INTEGER)"
                             " + 1)",
        "EPOCH(": "(0 + strftime('%%s', ",
    },
}


def _own_rules_sql(rules: list[FlagRule]) -> str:
    """The rules that read the session alone, in one scan of the holiday's sessions: each
    session is paired with the rules it breaks (numbered: a CASE on a number is cheaper
    than comparing codes)."""
    codes = " UNION ALL ".join(f"SELECT {n} AS n, '{r.code}' AS code"
                               for n, r in enumerate(rules))
    matches = " ".join(f"WHEN {n} THEN ({r.where})" for n, r in enumerate(rules))

    def column(name: str, expressions: list[list[str]], i: int) -> str:
        cases = " ".join(f"WHEN {n} THEN CAST({listed[i]} AS DOUBLE PRECISION)"
                         for n, listed in enumerate(expressions) if i < len(listed))
        zero = "CAST(0 AS DOUBLE PRECISION)"
        return f"CASE r.n {cases} ELSE {zero} END AS {name}" if cases else f"{zero} AS {name}"

    figures = [list(r.figures) for r in rules]
    values = [[sql for _name, sql, _decimals in r.values] for r in rules]
    columns = ([column(name, figures, i) for i, name in enumerate(FIGURE_COLUMNS)]
               + [column(name, values, i) for i, name in enumerate(VALUE_COLUMNS)])
    return f"""
SELECT s.id AS session_id, r.code AS code, {", ".join(columns)}
FROM {SESSIONS} s JOIN ({codes}) r ON CASE r.n {matches} ELSE 1 = 0 END
WHERE {_in_scope()}"""


def flags_select_sql(*, officials: list[int] | None = None, hosts: list[int] | None = None,
                     rules=FLAG_RULES) -> str:
    """The SELECTs of `rules`, one UNION ALL: (session_id, code, figure_1, figure_2,
    value_1, value_2, value_3); with
    `officials` (ids), only the sessions those officials host (lead or co-host), read on
    the timelines of `hosts` (every host of those sessions: `hosts_of_sessions`). (The
    first SELECT names the columns.)"""
    sql = "\nUNION ALL\n".join(
        ([_own_rules_sql(own)] if (own := [r for r in rules if not r.sql]) else [])
        + [rule.sql for rule in rules if rule.sql])
    for marker, spelled in _VENDOR_SQL.get(connection.vendor,
                                           _VENDOR_SQL["postgresql"]).items():
        sql = sql.replace(marker, spelled)
    sql = sql.replace(SCOPE.replace("scope", "scope:s"), _officials_condition(officials))
    for column in ("s.official_id", "h.official_id"):
        sql = sql.replace(HOSTED_BY.replace("hosted_by", f"hosted_by:{column}"),
                          _ids_condition(hosts if officials is not None else None, column))
    return sql


def _ids_condition(ids: list[int] | None, column: str) -> str:
    """The ids written into the SQL (integers, so nothing to escape): the planner then reads
    those officials' sessions through the official_id index (a temporary table of the ids,
    without statistics, was joined by scanning the holiday: 465 ms instead of a few)."""
    if ids is None:
        return "1 = 1"
    listed = ", ".join(str(int(i)) for i in sorted(set(ids))) or "NULL"
    return f"{column} IN ({listed})"


def _officials_condition(officials: list[int] | None, column: str = "s.id") -> str:
    """The sessions `officials` host, as lead or co-host (all when None), as a condition
    on a session id column."""
    if officials is None:
        return "1 = 1"
    return (f"{column} IN (SELECT id FROM {SESSIONS} WHERE "
            f"{_ids_condition(officials, 'official_id')} UNION SELECT livestreamsession_id "
            f"FROM {HOSTS} WHERE {_ids_condition(officials, 'official_id')})")


def hosts_of_sessions(*, officials: list[int], params: dict) -> list[int]:
    """Every host (lead or co-host) of the sessions near the holiday that `officials` host:
    whose timelines decide those sessions' overlaps."""
    hosted = _officials_condition(officials, "s.id")
    window = "s.started_at >= %(overlap_from)s AND s.started_at < %(overlap_to)s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.official_id FROM {SESSIONS} s WHERE {window} AND {hosted} "
            f"UNION SELECT h.official_id FROM {HOSTS} h "
            f"JOIN {SESSIONS} s ON s.id = h.livestreamsession_id WHERE {window} AND {hosted}",
            params)
        return sorted({row[0] for row in cursor.fetchall()} | set(officials))


def flags_params(*, holiday: Holiday) -> dict:
    """The parameters of `flags_select_sql` for one holiday."""
    start, end = holiday.bounds
    late = FLAG_RULES[-1].thresholds["days"]
    params = {
        "start": connection.ops.adapt_datetimefield_value(start),
        "end": connection.ops.adapt_datetimefield_value(end),
        "overlap_from": connection.ops.adapt_datetimefield_value(start - _OVERLAP_REACH),
        "overlap_to": connection.ops.adapt_datetimefield_value(end + _OVERLAP_REACH),
        "late_after": connection.ops.adapt_datetimefield_value(end + timedelta(days=late)),
    }
    for rule in FLAG_RULES:
        for name, value in rule.thresholds.items():
            params[f"{rule.code}__{name}"] = value
    return params


@dataclass(frozen=True)
class FlagsRefreshed:
    holiday_id: int
    changed: int  # flags deleted, changed or added
    raised: list[int]  # ids of flags new or re-opened by this refresh
    seconds: float
    skipped: bool = False  # another holiday-wide refresh of the holiday was running


_FOUND = "flag_refresh_found"
_DIFF = "flag_refresh_diff"


def _reconcile_statements(*, findings: str, officials: list[int] | None,
                          codes: tuple[str, ...]) -> list[str]:
    """Compare the stored flags of the sessions in scope with the findings (the table
    `findings`) in one join of numbers, into a small table of differences, then apply them:
    the flags whose rule no longer holds go, those whose figures changed are re-opened
    (RETURNING: raised again), those whose values alone changed (a median moved) get them,
    the new ones are inserted (RETURNING)."""
    scope = f"AND {_officials_condition(officials, 'id')}"
    # Every rule: no need to pick the flags by code (an index scan of them all).
    code_list = ("" if set(codes) == set(FLAG_CODES)
                 else "code IN (" + ", ".join(f"'{code}'" for code in codes) + ") AND ")
    numbers = ", ".join(NUMBER_COLUMNS)
    same_figures = " AND ".join(f"f.{c} = c.{c}" for c in FIGURE_COLUMNS)
    differ = " OR ".join(f"c.{c} <> f.{c}" for c in NUMBER_COLUMNS)
    set_numbers = ", ".join(f"{c} = d.{c}" for c in NUMBER_COLUMNS)
    set_values = ", ".join(f"{c} = d.{c}" for c in VALUE_COLUMNS)
    return [
        f"""CREATE TEMPORARY TABLE {_DIFF} AS
            SELECT f.id AS flag_id, CASE WHEN {same_figures} THEN 1 ELSE 0 END AS same_figures,
                   c.session_id, c.code, {", ".join(f"c.{c}" for c in NUMBER_COLUMNS)}
            FROM (
                SELECT id, session_id, code, {numbers} FROM {FLAGS}
                WHERE {code_list}session_id IN (
                    SELECT id FROM {SESSIONS}
                    WHERE started_at >= %(start)s AND started_at < %(end)s {scope})
            ) f
            FULL OUTER JOIN {findings} c
                ON c.session_id = f.session_id AND c.code = f.code
            WHERE f.id IS NULL OR c.session_id IS NULL OR {differ}""",
        f"DELETE FROM {FLAGS} WHERE id IN (SELECT flag_id FROM {_DIFF} "
        f"WHERE session_id IS NULL)",
        f"""UPDATE {FLAGS} SET {set_numbers}, raised_at = %(now)s,
                   dismissed_by_id = NULL, dismissed_at = NULL, dismissal_note = ''
            FROM {_DIFF} d
            WHERE {FLAGS}.id = d.flag_id AND d.session_id IS NOT NULL AND d.same_figures = 0
            RETURNING {FLAGS}.id""",
        f"""UPDATE {FLAGS} SET {set_values} FROM {_DIFF} d
            WHERE {FLAGS}.id = d.flag_id AND d.session_id IS NOT NULL
              AND d.same_figures = 1""",
        f"""INSERT INTO {FLAGS} (session_id, code, {numbers}, raised_at, dismissal_note)
            SELECT session_id, code, {numbers}, %(now)s, '' FROM {_DIFF}
            WHERE flag_id IS NULL
            ON CONFLICT (session_id, code) DO NOTHING
            RETURNING id""",
    ]


# PostgreSQL settings for the refresh's transaction: the medians' sort and the windows of a
# big holiday spill to disk at the default 4 MB work_mem; JIT compilation costs more than it
# saves here; and the temporary tables have no statistics (ANALYZE would cost more than the
# joins) nor, until autovacuum passes, has the flags table after a big refresh: nested loops,
# quadratic with the wrong estimate, and merge joins, which sorted both sides of the
# comparison (3.5 s of 4.4 at 880,000 flags), are ruled out. Every join here is an
# equality, so a hash join is always possible (the recompute does the same).
POSTGRESQL_TUNING = ["SET LOCAL work_mem = '64MB'", "SET LOCAL jit = off",
                     "SET LOCAL enable_nestloop = off", "SET LOCAL enable_mergejoin = off"]


def _try_lock(holiday_id: int) -> bool:
    """Take the holiday's lock of holiday-wide refreshes for this transaction; False if
    another holds it (PostgreSQL; SQLite has one writer at a time anyway)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)",
                       [FLAGS_LOCK_NAMESPACE, holiday_id % 2_147_483_647])
        return cursor.fetchone()[0]


PEER_RULES = tuple(rule for rule in FLAG_RULES if rule.reads_peers)
OWN_RULES = tuple(rule for rule in FLAG_RULES if not rule.reads_peers)


def session_flags_refresh(*, holiday_id: int, official_ids=None, rules=FLAG_RULES,
                          notify: bool = True) -> FlagsRefreshed:
    """Recompute the anomaly flags of a holiday's sessions (`rules`: every rule of
    FLAG_RULES by default) and store them; return the ids of the flags raised (new, or
    re-opened because the figures that raised them changed).

    `official_ids` limits the refresh to those officials' sessions in the holiday (after a
    write: the figures written, and the sessions they may overlap), and to the rules that
    read only the session and its host's other sessions (OWN_RULES): a rule that reads its
    peers (the platform's median, PEER_RULES) changes with every write, and is refreshed
    holiday-wide by the recompute task after each new snapshot. Such a limited refresh is a
    few small indexed statements and takes no lock (a race with a holiday-wide one is
    settled by the unique constraint and the next refresh); a holiday-wide refresh is
    skipped (`skipped`) while another of the holiday runs, as a recompute coalesces.
    With `notify`, each raised flag tells the people concerned after commit
    (`session_flagged`, the flag's message as detail)."""
    began = time.monotonic()
    holiday = Holiday.objects.get(pk=holiday_id)
    params = flags_params(holiday=holiday)
    targeted = official_ids is not None
    rules = tuple(r for r in rules if not (targeted and r.reads_peers))
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        if not targeted:
            if not _try_lock(holiday_id):
                return FlagsRefreshed(holiday_id=holiday_id, changed=0, raised=[],
                                      seconds=time.monotonic() - began, skipped=True)
            if connection.vendor == "postgresql":
                for statement in POSTGRESQL_TUNING:
                    cursor.execute(statement)
        for table in (_FOUND, _DIFF):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        officials = list(official_ids) if targeted else None
        # The findings are stored first: a FULL JOIN with the rules' SELECT inline was
        # planned as a loop over it (11 s at 400,000 sessions instead of 1.6 s).
        hosts = hosts_of_sessions(officials=officials, params=params) if targeted else None
        cursor.execute(f"CREATE TEMPORARY TABLE {_FOUND} AS "
                       f"{flags_select_sql(officials=officials, hosts=hosts, rules=rules)}",
                       params)
        raised = []
        compare, *apply = _reconcile_statements(findings=_FOUND, officials=officials,
                                                codes=tuple(r.code for r in rules))
        cursor.execute(compare, params)
        cursor.execute(f"SELECT COUNT(*) FROM {_DIFF}")
        changed = cursor.fetchone()[0]
        for sql in apply if changed else ():  # nothing differs: nothing to write
            cursor.execute(sql, {**params, "now": now})
            if "RETURNING" in sql:  # the re-opened and the new ones
                raised += [row[0] for row in cursor.fetchall()]
        for table in (_DIFF, _FOUND):
            cursor.execute(f"DROP TABLE {table}")
        if notify and raised:
            transaction.on_commit(partial(flags_raised_notify, flag_ids=raised))
    return FlagsRefreshed(holiday_id=holiday_id, changed=changed, raised=raised,
                          seconds=time.monotonic() - began)


def flags_raised_notify(*, flag_ids: list[int]) -> None:
    """Send `session_flagged` for each flag raised, with its message (the site's default
    language for a message sent to others), all in one message to the worker."""
    from django.conf import settings
    from django.utils import translation

    from .services import session_events_send

    with translation.override(settings.LANGUAGE_CODE):
        events = [{"session_id": flag.session_id, "kind": "session_flagged",
                   "detail": flag.message}
                  for flag in SessionFlag.objects.filter(pk__in=flag_ids).order_by("pk")]
    session_events_send(events=events)
