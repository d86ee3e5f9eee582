"""Anomaly flags: the rules that point a reviewer at figures worth a second look.

Each rule is one `FlagRule` in `FLAG_RULES`: its code, its thresholds, a SELECT that finds
the sessions it flags among one holiday's sessions, and its message in both languages (a
gettext string whose numbers come from the SELECT). A new rule is one declaration here.

`session_flags_refresh` runs every rule's SELECT (UNION ALL) into a temporary table and
brings the holiday's `SessionFlag` rows in line with it in four statements: delete the
flags whose rule no longer holds, re-open a dismissed flag whose figures changed, refresh
the numbers of the others and insert the new ones. Nothing loops over sessions in Python.

Every SELECT yields `session_id, code, params, figures`: `params` a JSON object of the
message's numbers (built with `||`, which both PostgreSQL and SQLite have), `figures` the
session's own figures that raised the flag (a change to them re-opens a dismissed flag).
The SELECTs read `%(start)s`/`%(end)s` (the holiday's bounds), `%(scope_start)s`/
`%(scope_end)s` (the sessions to refresh: the holiday, or one official's in it) and the
thresholds, named `<code>__<name>`.
"""

import json
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
FLAGS = SessionFlag._meta.db_table
# Namespace of the PostgreSQL advisory locks that keep two refreshes of one holiday apart.
FLAGS_LOCK_NAMESPACE = 7_115_202
# The longest a session may last (validators.MAX_SESSION_HOURS): a session overlapping one
# of the holiday's starts at most this long before the holiday.
_OVERLAP_REACH = timedelta(hours=24)


def _json(*pairs: tuple[str, str]) -> str:
    """A SQL expression building a JSON object of string values from (key, expression)."""
    parts = [f"'\"{key}\": \"' || CAST({expression} AS TEXT) || '\"'"
             for key, expression in pairs]
    return "'{' || " + " || ', ' || ".join(parts) + " || '}'"


# The sessions a refresh looks at: in the holiday, and (for a refresh after a write) of the
# officials written. `{official}` is the column naming the official.
def _in_scope(alias: str = "s") -> str:
    return (f"{alias}.started_at >= %(start)s AND {alias}.started_at < %(end)s"
            f" AND (%(all_officials)s = 1 OR {alias}.official_id IN"
            f" (SELECT official_id FROM flag_refresh_officials))")


@dataclass(frozen=True)
class FlagRule:
    code: str
    label: Promise
    # The message, with %(name)s placeholders for the params the SQL yields.
    message: Promise
    sql: str
    thresholds: dict = field(default_factory=dict)


FLAG_RULES: tuple[FlagRule, ...] = (
    FlagRule(
        code="orders_exceed_audience",
        label=_("Orders exceed audience"),
        message=_("orders %(orders)s exceed audience %(audience)s"),
        sql=f"""
SELECT s.id AS session_id, 'orders_exceed_audience' AS code,
       {_json(("orders", "s.orders"), ("audience", "s.audience"))} AS params,
       CAST(s.orders AS TEXT) || '/' || CAST(s.audience AS TEXT) AS figures
FROM {SESSIONS} s
WHERE {_in_scope()} AND s.orders > s.audience""",
    ),
    FlagRule(
        code="aov_outlier",
        label=_("Unusual order value"),
        message=_("average order %(aov)s yuan is more than %(factor)s times away from the "
                  "median %(median)s yuan of %(peers)s sessions on this platform"),
        # The median of revenue/orders of the holiday's sessions on the platform with orders
        # (rejected ones aside), from row numbers: both backends have window functions, only
        # PostgreSQL has percentile_cont.
        sql=f"""
SELECT s.id, 'aov_outlier',
       {_json(("aov", "ROUND(s.revenue * 1.0 / s.orders, 2)"),
              ("median", "ROUND(m.median, 2)"), ("peers", "m.peers"),
              ("factor", "%(aov_outlier__factor)s"))},
       CAST(s.revenue AS TEXT) || '/' || CAST(s.orders AS TEXT)
FROM {SESSIONS} s
JOIN (
    SELECT platform, AVG(aov) AS median, MAX(peers) AS peers FROM (
        SELECT platform, revenue * 1.0 / orders AS aov,
               ROW_NUMBER() OVER (PARTITION BY platform ORDER BY revenue * 1.0 / orders) AS n,
               COUNT(*) OVER (PARTITION BY platform) AS peers
        FROM {SESSIONS}
        WHERE started_at >= %(start)s AND started_at < %(end)s AND orders > 0
          AND status <> 'rejected'
    ) ranked
    WHERE n IN ((peers + 1) / 2, (peers + 2) / 2)
    GROUP BY platform
) m ON m.platform = s.platform
WHERE {_in_scope()} AND s.orders > 0 AND m.peers >= %(aov_outlier__min_peers)s
  AND (s.revenue > %(aov_outlier__factor)s * m.median * s.orders
       OR s.revenue * %(aov_outlier__factor)s < m.median * s.orders)""",
        thresholds={"factor": 5, "min_peers": 10},
    ),
    FlagRule(
        code="overlap",
        label=_("Overlapping sessions"),
        message=_("its time overlaps %(count)s other session(s) of the same host, "
                  "e.g. #%(other)s"),
        # Who hosted what: today the lead official only. Co-hosts (a `hosts` table) join
        # this CTE as one more UNION ALL branch, and the rule then covers them too.
        sql=f"""
SELECT a.session_id, 'overlap',
       {_json(("count", "COUNT(DISTINCT b.session_id)"), ("other", "MIN(b.session_id)"))},
       MIN(CAST(a.started_at AS TEXT)) || '/' || MIN(CAST(a.ended_at AS TEXT)) || '/'
           || CAST(MIN(b.session_id) AS TEXT)
FROM (
    SELECT s.id AS session_id, s.official_id, s.started_at, s.ended_at
    FROM {SESSIONS} s WHERE {_in_scope()}
) a
JOIN (
    SELECT s.id AS session_id, s.official_id, s.started_at, s.ended_at
    FROM {SESSIONS} s
    WHERE s.started_at >= %(overlap_from)s AND s.started_at < %(end)s
) b ON b.official_id = a.official_id AND b.session_id <> a.session_id
   AND b.started_at < a.ended_at AND a.started_at < b.ended_at
GROUP BY a.session_id""",
    ),
    FlagRule(
        code="high_refund_rate",
        label=_("High refund rate"),
        message=_("refunds %(refunds)s yuan are %(rate)s%% of revenue %(revenue)s yuan "
                  "(more than %(limit)s%%)"),
        sql=f"""
SELECT s.id, 'high_refund_rate',
       {_json(("refunds", "s.refunds"), ("revenue", "s.revenue"),
              ("rate", "ROUND(s.refunds * 100.0 / s.revenue, 1)"),
              ("limit", "%(high_refund_rate__percent)s"))},
       CAST(s.refunds AS TEXT) || '/' || CAST(s.revenue AS TEXT)
FROM {SESSIONS} s
WHERE {_in_scope()} AND s.revenue > 0
  AND s.refunds * 100 > s.revenue * %(high_refund_rate__percent)s""",
        thresholds={"percent": 30},
    ),
    FlagRule(
        code="late_entry",
        label=_("Late entry"),
        message=_("entered %(days)s days after the holiday's last day (more than "
                  "%(limit)s)"),
        sql=f"""
SELECT s.id, 'late_entry',
       {_json(("days", "%(late_days_sql)s"), ("limit", "%(late_entry__days)s"))},
       CAST(s.started_at AS TEXT)
FROM {SESSIONS} s
WHERE {_in_scope()} AND s.created_at >= %(late_after)s""",
        thresholds={"days": 7},
    ),
)

FLAG_CODES = tuple(rule.code for rule in FLAG_RULES)
_RULES = {rule.code: rule for rule in FLAG_RULES}


def flag_label(code: str) -> str:
    rule = _RULES.get(code)
    return str(rule.label) if rule else code


def flag_message(*, code: str, params: str | dict) -> str:
    """The flag's message in the active language, with its numbers."""
    rule = _RULES.get(code)
    values = json.loads(params) if isinstance(params, str) else params
    if rule is None:
        return code
    try:
        return gettext(str(rule.message)) % values
    except (KeyError, TypeError, ValueError):
        return str(rule.label)


# Days from the holiday's end (the first instant after its last day) to the entry, counted
# as "days after the last day": PostgreSQL and SQLite spell date arithmetic differently.
_LATE_DAYS = {
    "postgresql": "FLOOR(EXTRACT(EPOCH FROM (s.created_at - %(end)s)) / 86400) + 1",
    "sqlite": "CAST(julianday(s.created_at) - julianday(%(end)s) AS INTEGER) + 1",
}


def flags_select_sql() -> str:
    """Every rule's SELECT, one UNION ALL: (session_id, code, params, figures)."""
    late_days = _LATE_DAYS.get(connection.vendor, _LATE_DAYS["postgresql"])
    return "\nUNION ALL\n".join(
        rule.sql.replace("%(late_days_sql)s", late_days) for rule in FLAG_RULES)


def flags_params(*, holiday: Holiday, all_officials: bool = True) -> dict:
    """The parameters of `flags_select_sql` for one holiday."""
    start, end = holiday.bounds
    late = FLAG_RULES[-1].thresholds["days"]
    params = {
        "start": connection.ops.adapt_datetimefield_value(start),
        "end": connection.ops.adapt_datetimefield_value(end),
        "overlap_from": connection.ops.adapt_datetimefield_value(start - _OVERLAP_REACH),
        "late_after": connection.ops.adapt_datetimefield_value(end + timedelta(days=late)),
        "all_officials": 1 if all_officials else 0,
    }
    for rule in FLAG_RULES:
        for name, value in rule.thresholds.items():
            params[f"{rule.code}__{name}"] = value
    return params


@dataclass(frozen=True)
class FlagsRefreshed:
    holiday_id: int
    flags: int  # open or dismissed flags of the sessions looked at, after the refresh
    raised: list[int]  # ids of flags new or re-opened by this refresh
    seconds: float


_CURRENT = "flag_refresh_current"


def _statements(now) -> list[tuple[str, dict]]:
    """Bring the flags of the sessions in scope in line with the current findings."""
    in_scope = f"session_id IN (SELECT s.id FROM {SESSIONS} s WHERE {_in_scope()})"
    return [
        # The rule no longer holds: the flag goes.
        (f"""DELETE FROM {FLAGS} WHERE {in_scope} AND NOT EXISTS (
                SELECT 1 FROM {_CURRENT} c
                WHERE c.session_id = {FLAGS}.session_id AND c.code = {FLAGS}.code)""", {}),
        # The figures that raised it changed: re-opened (and raised again).
        (f"""UPDATE {FLAGS} SET params = c.params, figures = c.figures, raised_at = %(now)s,
                    dismissed_by_id = NULL, dismissed_at = NULL, dismissal_note = ''
             FROM {_CURRENT} c
             WHERE c.session_id = {FLAGS}.session_id AND c.code = {FLAGS}.code
               AND c.figures <> {FLAGS}.figures
             RETURNING {FLAGS}.id""", {"now": now}),
        # Same figures, other numbers (a platform's median moved): the message follows.
        (f"""UPDATE {FLAGS} SET params = c.params
             FROM {_CURRENT} c
             WHERE c.session_id = {FLAGS}.session_id AND c.code = {FLAGS}.code
               AND c.params <> {FLAGS}.params""", {}),
        (f"""INSERT INTO {FLAGS} (session_id, code, params, figures, raised_at,
                                  dismissal_note)
             SELECT c.session_id, c.code, c.params, c.figures, %(now)s, ''
             FROM {_CURRENT} c
             WHERE NOT EXISTS (SELECT 1 FROM {FLAGS} f
                               WHERE f.session_id = c.session_id AND f.code = c.code)
             ON CONFLICT (session_id, code) DO NOTHING
             RETURNING id""", {"now": now}),
    ]


def _lock(holiday_id: int) -> None:
    """Wait for any other refresh of the holiday (PostgreSQL; SQLite has one writer)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)",
                           [FLAGS_LOCK_NAMESPACE, holiday_id % 2_147_483_647])


def session_flags_refresh(*, holiday_id: int, official_ids=None,
                          notify: bool = True) -> FlagsRefreshed:
    """Recompute the anomaly flags of a holiday's sessions (every rule of FLAG_RULES) and
    store them; return the ids of the flags raised (new, or re-opened because the figures
    that raised them changed).

    `official_ids` limits the refresh to those officials' sessions in the holiday (after a
    write: the figures written, and the sessions they may overlap); the platform medians
    are still taken over the whole holiday. The recompute task refreshes the whole holiday.
    With `notify`, each raised flag tells the people concerned after commit
    (`session_flagged`, the flag's message as detail)."""
    began = time.monotonic()
    holiday = Holiday.objects.get(pk=holiday_id)
    params = flags_params(holiday=holiday, all_officials=official_ids is None)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(holiday_id)
        cursor.execute("DROP TABLE IF EXISTS flag_refresh_officials")
        cursor.execute("CREATE TEMPORARY TABLE flag_refresh_officials (official_id bigint)")
        if official_ids is not None:
            cursor.executemany("INSERT INTO flag_refresh_officials VALUES (%s)",
                               [(int(i),) for i in set(official_ids)])
        cursor.execute(f"DROP TABLE IF EXISTS {_CURRENT}")
        cursor.execute(f"CREATE TEMPORARY TABLE {_CURRENT} AS {flags_select_sql()}", params)
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE INDEX ON {_CURRENT} (session_id, code)")
            cursor.execute(f"ANALYZE {_CURRENT}")
        raised = []
        for sql, extra in _statements(now):
            cursor.execute(sql, {**params, **extra})
            if "RETURNING" in sql:  # the re-opened and the new ones
                raised += [row[0] for row in cursor.fetchall()]
        cursor.execute(f"SELECT COUNT(*) FROM {_CURRENT}")
        count = cursor.fetchone()[0]
        cursor.execute(f"DROP TABLE {_CURRENT}")
        cursor.execute("DROP TABLE flag_refresh_officials")
        if notify and raised:
            transaction.on_commit(partial(flags_raised_notify, flag_ids=raised))
    return FlagsRefreshed(holiday_id=holiday_id, flags=count, raised=raised,
                          seconds=time.monotonic() - began)


def flags_raised_notify(*, flag_ids: list[int]) -> None:
    """Send `session_flagged` for each flag raised, with its message (the site's default
    language for a message sent to others)."""
    from django.conf import settings
    from django.utils import translation

    from .services import session_event_send

    with translation.override(settings.LANGUAGE_CODE):
        for flag in SessionFlag.objects.filter(pk__in=flag_ids).order_by("pk"):
            session_event_send(session_id=flag.session_id, kind="session_flagged",
                               detail=flag.message)
