"""Anomaly flags: the rules that point a reviewer at figures worth a second look.

Each rule is one `FlagRule` in `FLAG_RULES`: its code, its thresholds, a SELECT that finds
the sessions it flags among one holiday's sessions, and its message in both languages (a
gettext string whose numbers come from the SELECT, formatted when the flag is read). A new
rule is one declaration here.

`session_flags_refresh` compares the rules' findings with the stored `SessionFlag` rows in
one join and brings them in line: delete the flags whose rule no longer holds, re-open a
dismissed flag whose figures changed, refresh the numbers of the others and insert the new
ones. On PostgreSQL that is one statement (the rules' SELECTs, the comparison and the
writes as CTEs); on SQLite the differences go into a temporary table first. Every rule
reads the sessions from one materialized CTE (`s`). Nothing loops over sessions in Python.

Every SELECT yields `session_id, code, figure_1, figure_2, value_1, value_2, value_3`, all
numbers (0 where a rule has fewer): the figures are the session's own figures that raised
the flag (a change to them re-opens a dismissed flag), the values the numbers of the message
(`FlagRule.values`; the thresholds it names are the rule's). Numbers, not text: comparing
them is cheap, where building and comparing a JSON text of each finding was a good part of
the refresh. The SELECTs read `s` (its columns: SESSION_COLUMNS, `in_holiday`, `in_scope`:
the sessions whose flags are refreshed), `%(start)s`/`%(end)s` (the holiday's bounds) and
the thresholds, named `<code>__<name>`.
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

from linfen_tracker.generations import RANKINGS, generation_bump
from linfen_tracker.set_based import set_based_settings

from .models import Holiday, SessionFlag

logger = logging.getLogger(__name__)

SESSIONS = "sessions_app_livestreamsession"
# Co-hosts: (livestreamsession_id, official_id) rows.
HOSTS = "sessions_app_livestreamsession_hosts"
FLAGS = SessionFlag._meta.db_table
# Namespace of the PostgreSQL advisory locks that keep two refreshes of one holiday apart.
FLAGS_LOCK_NAMESPACE = 7_115_202
# A holiday-wide refresh that changed at least this many flags analyses the flags table
# (PostgreSQL) before it returns. Autovacuum does so too, but up to a minute later: after the
# first refresh of a big holiday (600,000 flags written at 1,000,000 sessions) the planner
# still took the holiday's flags for a few dozen and read all of them for each save's
# targeted refresh (a save of 100 ms instead of 14 ms) until it did.
FLAGS_ANALYZE_CHANGED = 10_000
# The longest a session may last (validators.MAX_SESSION_HOURS): a session overlapping one
# of the holiday's starts at most this long before the holiday.
_OVERLAP_REACH = timedelta(hours=24)


# Every rule reads the sessions from `s`, one materialized CTE (`_sessions_sql`): the
# sessions near the holiday (a day either side, for the overlaps), each marked `in_holiday`
# (started in it) and `in_scope` (in the holiday, and after a write among the sessions the
# written officials host, as lead or co-host: the sessions whose flags are refreshed). One
# scan of the sessions table for the whole refresh: each rule reading the table itself
# (the rules that read one session, the medians, the flagged sessions' order values, both
# sides of the overlaps, the stored flags' sessions) scanned the holiday's 400,000 rows six
# times, about 0.2 s each. A rule reads the columns of SESSION_COLUMNS (add one there if
# it needs more). HOSTED_BY marks where the overlap rule reads the hosts' timelines: after
# a write, every host of those sessions (`hosts_of_sessions`).
SESSION_COLUMNS = ("id", "official_id", "platform", "started_at", "ended_at", "audience",
                   "orders", "revenue", "refunds", "created_at", "status")
HOSTED_BY = "/*hosted_by*/"


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
        sql="""
SELECT s.id AS session_id, 'aov_outlier' AS code,
       CAST(s.revenue AS DOUBLE PRECISION) AS figure_1,
       CAST(s.orders AS DOUBLE PRECISION) AS figure_2,
       CAST(ROUND(s.revenue * 1.0 / s.orders, 2) AS DOUBLE PRECISION) AS value_1,
       CAST(ROUND(CAST(m.median AS NUMERIC), 2) AS DOUBLE PRECISION) AS value_2,
       CAST(m.peers AS DOUBLE PRECISION) AS value_3
FROM s
JOIN (%(platform_medians)s) m ON m.platform = s.platform
WHERE s.in_scope AND s.orders > 0 AND m.peers >= %(aov_outlier__min_peers)s
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
        # is fine). Windows, not a self-join: a host's sessions pair up quadratically. One
        # window: its frame (the rows before) is the latest end's, and LAG and LEAD ignore
        # frames, so one pass computes all five where a second window definition cost a
        # second pass (0.13 s of 1.2 at 400,000 sessions). A session found on several
        # hosts' timelines is one flag (GROUP BY).
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
           MAX(ended_at) OVER w AS latest_end,
           LAG(ended_at) OVER w AS previous_end, LAG(session_id) OVER w AS previous_id,
           LEAD(started_at) OVER w AS next_start, LEAD(session_id) OVER w AS next_id
    FROM (
        SELECT s.id AS session_id, s.official_id AS host_id, s.started_at, s.ended_at,
               s.in_scope
        FROM s
        WHERE {HOSTED_BY.replace('hosted_by', 'hosted_by:s.official_id')}
        UNION ALL
        SELECT s.id AS session_id, h.official_id AS host_id, s.started_at, s.ended_at,
               s.in_scope
        FROM {HOSTS} h JOIN s ON s.id = h.livestreamsession_id
        WHERE {HOSTED_BY.replace('hosted_by', 'hosted_by:h.official_id')}
    ) hosting
    WINDOW w AS (PARTITION BY host_id ORDER BY started_at, session_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
) ordered
WHERE in_scope AND (latest_end > started_at OR next_start < ended_at)
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
# `percentile_disc`, an ordered-set aggregate that sorts each platform once and skips the
# two passes of windows (at 400,000 sessions: about 0.9 s instead of 2.2 s). It returns the
# K-th of N values for K = ceil(N x fraction): 0.5 gives the lower middle, ceil(N / 2), and
# 0.5 + 1e-9 the upper one, N / 2 + 1 for an even N and the same middle for an odd one (for
# any N below 500,000,000 per platform): both from one sort, where asking for the lower
# middle ascending and again descending sorted every platform twice (0.1-0.2 s).
_AOV = "CAST(revenue AS DOUBLE PRECISION) / orders"
_MEDIAN_SESSIONS = "FROM s WHERE in_holiday AND orders > 0 AND status <> 'rejected'"
_PLATFORM_MEDIANS = {
    "postgresql": f"""
    SELECT platform, (middle[1] + middle[2]) / 2 AS median, peers FROM (
        SELECT platform, COUNT(*) AS peers,
               percentile_disc(CAST(ARRAY[0.5, 0.500000001] AS DOUBLE PRECISION[]))
                   WITHIN GROUP (ORDER BY {_AOV}) AS middle
        {_MEDIAN_SESSIONS}
        GROUP BY platform
    ) middles""",
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


def _own_rule_sql(rule: FlagRule) -> str:
    """A rule that reads the session alone, as a SELECT over `s`. One SELECT a rule: each
    reads the materialized sessions, which costs little, where pairing each session with
    every rule in one pass (a CASE per pair) cost more than the scans it saved."""
    figures = [*rule.figures, *(["0"] * (len(FIGURE_COLUMNS) - len(rule.figures)))]
    values = [sql for _name, sql, _decimals in rule.values]
    values += ["0"] * (len(VALUE_COLUMNS) - len(values))
    columns = ", ".join(f"CAST({sql} AS DOUBLE PRECISION) AS {name}" for sql, name in
                        zip(figures + values, NUMBER_COLUMNS, strict=True))
    return f"""
SELECT s.id AS session_id, '{rule.code}' AS code, {columns}
FROM s WHERE s.in_scope AND ({rule.where})"""


def _sessions_sql(*, officials: list[int] | None, hosts: list[int] | None) -> str:
    """The body of the CTE `s`: the sessions near the holiday, all of them (`officials`
    None), or after a write those `hosts` host (read through the indexes), marked
    `in_holiday` and `in_scope`."""
    in_holiday = "started_at >= %(start)s AND started_at < %(end)s"
    read = "1 = 1" if officials is None else _officials_condition(hosts, "id")
    return f"""
SELECT {", ".join(SESSION_COLUMNS)},
       ({in_holiday}) AS in_holiday,
       ({in_holiday} AND {_officials_condition(officials, "id")}) AS in_scope
FROM {SESSIONS}
WHERE started_at >= %(overlap_from)s AND started_at < %(overlap_to)s AND {read}"""


def _with_sessions(*, officials: list[int] | None, hosts: list[int] | None) -> str:
    # Materialized: every rule reads it (SQLite and PostgreSQL both understand the word).
    return f"WITH s AS MATERIALIZED ({_sessions_sql(officials=officials, hosts=hosts)})"


def _findings_sql(*, officials: list[int] | None, hosts: list[int] | None, rules) -> str:
    """The SELECTs of `rules` over `s`, one UNION ALL of (session_id, code, figure_1,
    figure_2, value_1, value_2, value_3) (the first SELECT names the columns)."""
    if officials is not None and any(rule.reads_peers for rule in rules):
        # `s` then holds the officials' sessions only, not the peers a median needs.
        raise ValueError("a rule that reads its peers is refreshed across the holiday")
    sql = "\nUNION ALL\n".join(
        rule.sql or _own_rule_sql(rule) for rule in rules)
    for column in ("s.official_id", "h.official_id"):
        sql = sql.replace(HOSTED_BY.replace("hosted_by", f"hosted_by:{column}"),
                          _ids_condition(hosts if officials is not None else None, column))
    return sql


def flags_select_sql(*, officials: list[int] | None = None, hosts: list[int] | None = None,
                     rules=FLAG_RULES) -> str:
    """The findings of `rules` as one statement: WITH the sessions `s`, their SELECTs; with
    `officials` (ids), only of the sessions those officials host (lead or co-host), read on
    the timelines of `hosts` (every host of those sessions: `hosts_of_sessions`)."""
    return _vendor_spelled(f"{_with_sessions(officials=officials, hosts=hosts)}\n"
                           f"{_findings_sql(officials=officials, hosts=hosts, rules=rules)}")


def _vendor_spelled(sql: str) -> str:
    for marker, spelled in _VENDOR_SQL.get(connection.vendor,
                                           _VENDOR_SQL["postgresql"]).items():
        sql = sql.replace(marker, spelled)
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
        "holiday": holiday.pk,
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
    # Flags let go because their session moved to another holiday, which takes them over
    # (or deletes them) when it is refreshed next.
    released: int = 0


_DIFF = "flag_refresh_diff"


def _diff_ctes(*, officials: list[int] | None, hosts: list[int] | None, rules,
               moved: str) -> tuple[str, str]:
    """(The CTEs `s`, `findings` and `stored`, the SELECT of the differences between the
    findings and the holiday's stored flags): one join of numbers, giving (flag_id,
    same_figures, moved, session_id, code, the numbers); no flag_id: a new flag (a finding
    that another holiday's flag matches gets that flag's id, to take it over: looked up by
    its key for those findings alone); no session_id: a flag whose
    rule no longer holds, or whose session left the holiday (`moved` 1: for another one,
    the condition `moved` on the session `x`: `_other_holidays`).

    The stored flags are the holiday's (`SessionFlag.holiday`, through its index) and those
    no holiday holds of the sessions in scope, of the rules refreshed, and after a write of
    the officials' sessions (whatever their dates): picking them through their sessions'
    dates joined every stored flag, of every holiday, with the holiday's sessions (a third
    of the comparison at 400,000 sessions, and more with each holiday). Where a session
    lies is read only for the flags that no finding matches (a subquery per row, by id)."""
    codes = tuple(rule.code for rule in rules)
    numbers = ", ".join(f"f.{c}" for c in NUMBER_COLUMNS)
    conditions = ["(f.holiday_id = %(holiday)s OR (f.holiday_id IS NULL"
                  " AND f.session_id IN (SELECT id FROM s WHERE in_scope)))"]
    if set(codes) != set(FLAG_CODES):
        conditions.append("f.code IN (" + ", ".join(f"'{code}'" for code in codes) + ")")
    if officials is not None:
        conditions.append(_officials_condition(officials, "f.session_id"))
    same_figures = " AND ".join(f"f.{c} = c.{c}" for c in FIGURE_COLUMNS)
    held_same = " AND ".join(f"o.{c} = c.{c}" for c in FIGURE_COLUMNS)
    held = f"FROM {FLAGS} o WHERE o.session_id = c.session_id AND o.code = c.code"
    differ = " OR ".join(f"c.{c} <> f.{c}" for c in NUMBER_COLUMNS)
    ctes = f"""{_with_sessions(officials=officials, hosts=hosts)},
findings AS ({_findings_sql(officials=officials, hosts=hosts, rules=rules)}),
stored AS (
    SELECT f.id, f.session_id, f.code, f.holiday_id, {numbers} FROM {FLAGS} f
    WHERE {" AND ".join(conditions)})"""
    select = f"""
SELECT COALESCE(f.id, (SELECT o.id {held})) AS flag_id,
       CASE WHEN f.id IS NULL THEN (SELECT CASE WHEN {held_same} THEN 1 ELSE 0 END {held})
            WHEN {same_figures} THEN 1 ELSE 0 END AS same_figures,
       CASE WHEN c.session_id IS NULL THEN (
           SELECT CASE WHEN {moved} THEN 1 ELSE 0 END FROM {SESSIONS} x
           WHERE x.id = f.session_id) ELSE 0 END AS moved,
       c.session_id, c.code, {", ".join(f"c.{c}" for c in NUMBER_COLUMNS)}
FROM stored f FULL OUTER JOIN findings c ON c.session_id = f.session_id AND c.code = f.code
WHERE f.id IS NULL OR c.session_id IS NULL OR f.holiday_id IS NULL OR {differ}"""
    return ctes, select


def _other_holidays(holiday: Holiday, holidays) -> tuple[str, dict]:
    """A condition on a session `x`: it started outside `holiday`, in one of the others
    (`holidays`: few, their bounds as parameters); and its parameters."""
    params, ranges = {}, []
    for n, other in enumerate(h for h in holidays if h.pk != holiday.pk):
        start, end = (connection.ops.adapt_datetimefield_value(moment)
                      for moment in other.bounds)
        params.update({f"other_{n}_start": start, f"other_{n}_end": end})
        ranges.append(f"(x.started_at >= %(other_{n}_start)s"
                      f" AND x.started_at < %(other_{n}_end)s)")
    outside = "NOT (x.started_at >= %(start)s AND x.started_at < %(end)s)"
    return f"({outside} AND ({' OR '.join(ranges) or '1 = 0'}))", params


def _apply_statements(diff: str) -> list[str]:
    """Bring the holiday's stored flags in line with the differences in `diff` (a table or
    a CTE): the flags whose rule no longer holds go, and those whose session moved to
    another holiday are let go (no holiday: the other's refresh takes them, keeping their
    dismissal if it finds them, else deletes them, whichever holiday is refreshed first);
    those whose figures changed are re-opened (RETURNING: raised again), those whose values
    alone changed (a median moved) get them, and all of these become this holiday's (a
    flag another holiday held included); the new ones are inserted (RETURNING)."""
    numbers = ", ".join(NUMBER_COLUMNS)
    set_numbers = ", ".join(f"{c} = d.{c}" for c in NUMBER_COLUMNS)
    set_values = ", ".join(f"{c} = d.{c}" for c in VALUE_COLUMNS)
    return [
        f"DELETE FROM {FLAGS} WHERE id IN (SELECT flag_id FROM {diff} "
        f"WHERE session_id IS NULL AND moved = 0)",
        f"UPDATE {FLAGS} SET holiday_id = NULL WHERE id IN (SELECT flag_id FROM {diff} "
        f"WHERE session_id IS NULL AND moved = 1)",
        f"""UPDATE {FLAGS} SET {set_numbers}, holiday_id = %(holiday)s, raised_at = %(now)s,
                   dismissed_by_id = NULL, dismissed_at = NULL, dismissal_note = ''
            FROM {diff} d
            WHERE {FLAGS}.id = d.flag_id AND d.session_id IS NOT NULL AND d.same_figures = 0
            RETURNING {FLAGS}.id""",
        f"""UPDATE {FLAGS} SET {set_values}, holiday_id = %(holiday)s FROM {diff} d
            WHERE {FLAGS}.id = d.flag_id AND d.session_id IS NOT NULL
              AND d.same_figures = 1""",
        f"""INSERT INTO {FLAGS} (session_id, code, holiday_id, {numbers}, raised_at,
                                 dismissal_note)
            SELECT session_id, code, %(holiday)s, {numbers}, %(now)s, '' FROM {diff}
            WHERE flag_id IS NULL
            ON CONFLICT (session_id, code) DO NOTHING
            RETURNING id""",
    ]


def _refresh_in_one_statement(cursor, *, params: dict, officials: list[int] | None,
                              hosts: list[int] | None, rules,
                              moved: str) -> tuple[int, int, list[int]]:
    """PostgreSQL: the comparison and the writes in one statement, data-modifying CTEs over
    the materialized differences: no temporary table, one round trip. The writes touch
    different rows (a flag goes, is re-opened, gets new values or is new), so one snapshot
    is all they need. Returns (differences, flags let go, flags raised)."""
    ctes, select = _diff_ctes(officials=officials, hosts=hosts, rules=rules,
                               moved=moved)
    gone, released, reopened, revalued, added = _apply_statements("diff")
    cursor.execute(_vendor_spelled(f"""{ctes},
diff AS MATERIALIZED ({select}),
gone AS ({gone}),
released AS ({released}),
reopened AS ({reopened}),
revalued AS ({revalued}),
added AS ({added})
SELECT 0, COUNT(*) FROM diff
UNION ALL SELECT 2, COUNT(*) FROM diff WHERE session_id IS NULL AND moved = 1
UNION ALL SELECT 1, id FROM reopened
UNION ALL SELECT 1, id FROM added"""), params)
    rows = cursor.fetchall()
    return (next(count for kind, count in rows if kind == 0),
            next(count for kind, count in rows if kind == 2),
            [flag_id for kind, flag_id in rows if kind == 1])


def _refresh_by_table(cursor, *, params: dict, officials: list[int] | None,
                      hosts: list[int] | None, rules,
                      moved: str) -> tuple[int, int, list[int]]:
    """Where a WITH cannot write (SQLite): the differences into a temporary table, then
    the writes, only when something differs. Returns (differences, flags let go, flags
    raised)."""
    ctes, select = _diff_ctes(officials=officials, hosts=hosts, rules=rules,
                               moved=moved)
    cursor.execute(f"DROP TABLE IF EXISTS {_DIFF}")
    cursor.execute(_vendor_spelled(f"CREATE TEMPORARY TABLE {_DIFF} AS {ctes} {select}"),
                   params)
    cursor.execute(f"SELECT COUNT(*), SUM(CASE WHEN session_id IS NULL AND moved = 1 "
                   f"THEN 1 ELSE 0 END) FROM {_DIFF}")
    changed, released = cursor.fetchone()
    raised = []
    for sql in _apply_statements(_DIFF) if changed else ():
        cursor.execute(sql, params)
        if "RETURNING" in sql:  # the re-opened and the new ones
            raised += [row[0] for row in cursor.fetchall()]
    cursor.execute(f"DROP TABLE {_DIFF}")
    return changed, released or 0, raised


# A holiday-wide refresh takes the settings of set-based work (linfen_tracker/set_based.py):
# the medians' sort and the windows of a big holiday spill to disk at the default work_mem,
# and the CTEs have no statistics, nor, until autovacuum passes, has the flags table after a
# big refresh (merge joins sorted both sides of the comparison: 3.5 s of 4.4 at 880,000
# flags).


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
    holiday-wide by the recompute task after each new snapshot. Such a limited refresh is
    three small indexed statements on PostgreSQL (the holiday, the hosts of the officials'
    sessions, the refresh), with no temporary table, and takes no lock (a race with a
    holiday-wide one is settled by the unique constraint and the next refresh); a
    holiday-wide refresh is skipped (`skipped`) while another of the holiday runs, as a
    recompute coalesces.
    With `notify`, each raised flag tells the people concerned after commit
    (`session_flagged`, the flag's message as detail)."""
    began = time.monotonic()
    # Every holiday (a few): where a session that left this one went (`_other_holidays`).
    holidays = list(Holiday.objects.all())
    holiday = next((h for h in holidays if h.pk == holiday_id), None)
    if holiday is None:
        raise Holiday.DoesNotExist(f"no holiday {holiday_id}")
    params = flags_params(holiday=holiday)
    moved, moved_params = _other_holidays(holiday, holidays)
    params.update(moved_params)
    targeted = official_ids is not None
    rules = tuple(r for r in rules if not (targeted and r.reads_peers))
    params["now"] = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        if not targeted:
            if not _try_lock(holiday_id):
                return FlagsRefreshed(holiday_id=holiday_id, changed=0, raised=[],
                                      seconds=time.monotonic() - began, skipped=True)
            set_based_settings(cursor)
        officials = sorted(set(official_ids)) if targeted else None
        hosts = hosts_of_sessions(officials=officials, params=params) if targeted else None
        refresh = (_refresh_in_one_statement if connection.vendor == "postgresql"
                   else _refresh_by_table)
        changed, released, raised = refresh(cursor, params=params, officials=officials,
                                            hosts=hosts, rules=rules, moved=moved)
        if notify and raised:
            transaction.on_commit(partial(flags_raised_notify, flag_ids=raised))
        if changed:  # (flags let go included) cached counts of flagged sessions are rebuilt
            generation_bump(RANKINGS)
    if not targeted and changed >= FLAGS_ANALYZE_CHANGED and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {FLAGS}")
    return FlagsRefreshed(holiday_id=holiday_id, changed=changed, raised=raised,
                          seconds=time.monotonic() - began, released=released)


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
