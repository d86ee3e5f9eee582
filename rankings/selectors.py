"""Reads of rankings: live boards ranked at read time from the holidays' totals
(sessions_app.totals, kept by every session write); snapshots for the previous ranks and
an official's page."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from linfen_tracker import generations
from sessions_app.models import County, Holiday, HolidayTotal, Official

from .metrics import COMPOSITE, MetricDefinition, metric_get, ranked_metric_keys
from .models import RankingEntry, RankingSnapshot, Scope


@dataclass
class Leaderboard:
    """A live board: ranks read at read time from the holiday's totals (kept by every
    session write), previous ranks from the latest complete snapshot (`snapshot`)."""

    holiday: Holiday
    metric: str
    scope: str
    snapshot: RankingSnapshot | None
    entries: list[RankingEntry] = field(default_factory=list)
    read_at: datetime | None = None
    # False for the composite score, read from the latest snapshot.
    live: bool = True

    @property
    def computed_at(self):
        """When the board was read from the totals (every write since shows on the next
        read: the cached copies are filed under the `rankings` generation, which writes
        bump)."""
        return self.read_at

    @property
    def status(self) -> str:
        """`ready`: the totals are kept in each write's transaction, so a live board is
        never behind its data. A board read from a snapshot (the composite score):
        `pending` while writes since wait for the next snapshot, `not_computed` before the
        first."""
        if self.live:
            return "ready"
        if self.snapshot is None:
            return "not_computed"
        return "pending" if self.holiday.rankings_stale else "ready"

    @property
    def version(self) -> str:
        """Changes whenever the board may have: the holiday's data_version (bumped by every
        session write touching it) and the snapshot the movement arrows compare with."""
        return f"{self.holiday.data_version}.{self.snapshot.pk if self.snapshot else 0}"


def leaderboard_entries(*, snapshot: RankingSnapshot, metric: str, scope: str) -> QuerySet:
    """Entries of one snapshot's board, by rank, ties listed by name."""
    qs = RankingEntry.objects.filter(snapshot=snapshot, metric=metric, scope=scope)
    if scope == Scope.OFFICIAL:
        return qs.select_related("official", "official__county").order_by(
            "rank", "official__name", "official_id"
        )
    return qs.select_related("county").order_by("rank", "county__name", "county_id")


_TOTALS = HolidayTotal._meta.db_table
_COUNTIES = County._meta.db_table


def _value_sql(definition: MetricDefinition, alias: str) -> str:
    """A base metric's value in a totals row `alias` (NULL where nobody reported an
    optional figure; 0 for a subject with nothing counted on a required one)."""
    default = "NULL" if definition.optional else "0"
    return f"CASE WHEN COALESCE({alias}.reported, 0) > 0 THEN {alias}.value ELSE {default} END"


def _join(alias: str, key: str, subject: str) -> str:
    return (f"LEFT JOIN {_TOTALS} {alias} ON {alias}.holiday_id = %(holiday)s "
            f"AND {alias}.scope = %(scope)s AND {alias}.metric = '{key}' "
            f"AND {alias}.subject_id = {subject}")


def _board_sql(definition: MetricDefinition, scope: str) -> str:
    """Every subject of a board with its value (subject_id, value, sessions): officials
    with a counted session, or every county. A ratio is computed from the subject's two
    kept sums, as the recompute computes it."""
    if scope == Scope.OFFICIAL:
        source = (f"FROM {_TOTALS} c WHERE c.holiday_id = %(holiday)s "
                  f"AND c.scope = %(scope)s AND c.metric = %(first)s AND c.sessions > 0")
        subject, sessions = "c.subject_id", "c.sessions"
    else:
        source = f"FROM {_COUNTIES} k"
        subject, sessions = "k.id", "COALESCE(t.sessions, 0)"
    if definition.is_ratio:
        num, den = metric_get(definition.numerator), metric_get(definition.denominator)
        value = definition.ratio_sql(_value_sql(num, "n"), _value_sql(den, "d"))
        joins = f"{_join('n', num.key, subject)} {_join('d', den.key, subject)}"
        if scope == Scope.COUNTY:
            joins += f" {_join('t', num.key, subject)}"
    else:
        value = _value_sql(definition, "t")
        joins = _join("t", definition.key, subject)
    table, _, condition = source.partition(" WHERE ")
    where = f"WHERE {condition}" if condition else ""
    return (f"SELECT {subject} AS subject_id, {value} AS value, {sessions} AS sessions "
            f"{table} {joins} {where}")


def _ranked_sql(*, board: str, order: str, rank: str) -> str:
    """RANK or DENSE_RANK over the subjects with a value; those without one (NULL) last."""
    return f"""
        SELECT subject_id, value, sessions,
               CASE WHEN value IS NULL THEN NULL
                    ELSE {rank}() OVER (PARTITION BY value IS NULL ORDER BY value {order}) END
        FROM ({board}) b
    """


# The officials' board of a base metric with a limit reads only its top rows along the
# board's index (holiday, scope, metric, value): the value of the limit-th row, then every
# row at least as good, ranked by a window over them (their ranks are the board's, since
# every better value is among them). Officials whose figure nobody reported follow, last.
_TOP_SQL = f"""
SELECT subject_id, value, sessions, {{rank}}() OVER (ORDER BY value {{order}})
FROM {_TOTALS}
WHERE holiday_id = %(holiday)s AND scope = 'official' AND metric = %(metric)s
  AND sessions > 0 AND reported > 0 AND value {{cmp}} %(cutoff)s
"""
_CUTOFF_SQL = f"""
SELECT value FROM {_TOTALS}
WHERE holiday_id = %(holiday)s AND scope = 'official' AND metric = %(metric)s
  AND sessions > 0 AND reported > 0
ORDER BY value {{order}} LIMIT 1 OFFSET %(offset)s
"""
_UNREPORTED_SQL = f"""
SELECT subject_id, NULL, sessions, NULL FROM {_TOTALS}
WHERE holiday_id = %(holiday)s AND scope = 'official' AND metric = %(metric)s
  AND sessions > 0 AND reported = 0
"""


def _cents(value) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def _previous_ranks(*, holiday: Holiday, snapshot: RankingSnapshot | None, metric: str,
                    scope: str, ids: list[int] | None) -> dict[int, int]:
    """The ranks movement is measured from: while the latest snapshot is behind the data,
    its ranks; once it covers the data (the board equals it), the ranks it compared with
    itself (the snapshot before), so arrows stay as they were when the snapshot caught up."""
    if snapshot is None:
        return {}
    column = "official_id" if scope == Scope.OFFICIAL else "county_id"
    rank = "previous_rank" if snapshot.data_version >= holiday.data_version else "rank"
    qs = RankingEntry.objects.filter(snapshot=snapshot, metric=metric, scope=scope)
    if ids is not None:
        qs = qs.filter(**{f"{column}__in": ids})
    return dict(qs.values_list(column, rank))


def _ranked_rows(*, holiday: Holiday, definition: MetricDefinition, scope: str,
                 limit: int | None) -> list[tuple]:
    """(subject_id, value, sessions, rank) of the board, ranks computed by the database;
    NULL values unranked yet."""
    rank = "DENSE_RANK" if holiday.tie_style == "dense" else "RANK"
    order = "DESC" if definition.higher_is_better else "ASC"
    params = {"holiday": holiday.pk, "scope": scope, "metric": definition.key,
              "first": definition.numerator or definition.key}
    with connection.cursor() as cursor:
        if scope == Scope.OFFICIAL and not definition.is_ratio and limit:
            cursor.execute(_CUTOFF_SQL.format(order=order), {**params, "offset": limit - 1})
            found = cursor.fetchone()
            cursor.execute(_TOP_SQL.format(rank=rank, order=order,
                                           cmp=">=" if order == "DESC" else "<="),
                           {**params, "cutoff": found[0] if found else
                            (-1 if order == "DESC" else 10 ** 30)})
            rows = cursor.fetchall()
            if found is None:  # the whole board is there: the unreported follow
                cursor.execute(_UNREPORTED_SQL, params)
                rows += cursor.fetchall()
            return rows
        cursor.execute(_ranked_sql(board=_board_sql(definition, scope), order=order,
                                   rank=rank), params)
        return cursor.fetchall()


def _live_entries(*, holiday: Holiday, snapshot: RankingSnapshot | None, metric: str,
                  scope: str, limit: int | None) -> list[RankingEntry]:
    rows = _ranked_rows(holiday=holiday, definition=metric_get(metric), scope=scope,
                        limit=limit)
    ranks = [row[3] for row in rows if row[3] is not None]
    # Subjects without a value share the last rank (after all ranked, or after the last
    # distinct value under dense ranking).
    last = (max(ranks, default=0) if holiday.tie_style == "dense" else len(ranks)) + 1
    ids = [row[0] for row in rows]
    if scope == Scope.OFFICIAL:
        subjects = Official.objects.select_related("county").in_bulk(ids)
    else:
        subjects = County.objects.in_bulk(ids)
    # A full board reads the whole previous board; a top-N one only its subjects' rows.
    previous = _previous_ranks(holiday=holiday, snapshot=snapshot, metric=metric, scope=scope,
                               ids=ids if limit and len(ids) < 1000 else None)
    entries = []
    for subject_id, value, sessions, rank in rows:
        subject = subjects.get(subject_id)
        if subject is None:  # deleted meanwhile
            continue
        entry = RankingEntry(scope=scope, metric=metric, value=_cents(value),
                             rank=rank if rank is not None else last,
                             previous_rank=previous.get(subject_id), sessions=sessions)
        if scope == Scope.OFFICIAL:
            entry.official = subject
        else:
            entry.county = subject
        entries.append(entry)
    entries.sort(key=lambda e: (e.rank, e.official.name if scope == Scope.OFFICIAL
                                else e.county.name, subject_id_of(e)))
    return entries[:limit] if limit else entries


def subject_id_of(entry: RankingEntry) -> int:
    return entry.official_id if entry.scope == Scope.OFFICIAL else entry.county_id


def _snapshot_entries(*, snapshot: RankingSnapshot, metric: str, scope: str,
                      limit: int | None) -> list[RankingEntry]:
    qs = leaderboard_entries(snapshot=snapshot, metric=metric, scope=scope)
    if not limit:
        return list(qs)
    # Ties are listed by name, so the first `limit` entries need the names of all entries
    # ranked up to the limit's rank, but no more: read that rank first.
    cutoff = list(
        RankingEntry.objects.filter(snapshot=snapshot, metric=metric, scope=scope)
        .order_by("rank").values_list("rank", flat=True)[limit - 1:limit]
    )
    if cutoff:
        qs = qs.filter(rank__lte=cutoff[0])
    return list(qs[:limit])


def leaderboard_get(
    *, holiday: Holiday, metric: str, scope: str, limit: int | None = None
) -> Leaderboard:
    """The live board of `holiday` for `metric` and `scope`, ranked at read time from the
    holiday's totals (every registered metric: sums and maxima as kept, ratios from the
    two kept sums).

    Officials with at least one counted session are ranked (co-hosts credited with the
    session), and every county (those with nothing share the last rank); ranks are the
    holiday's tie style, competition (9, 7, 7, 5 -> 1, 2, 2, 4) or dense (1, 2, 2, 3);
    subjects without a value (a zero denominator, nothing reported) share the last rank;
    ties are listed by name; `limit` cuts the list. Each entry's previous_rank is its rank
    in the latest complete snapshot, or once that snapshot covers the data, the rank it
    compared with (`_previous_ranks`; None if none). Entries are unsaved RankingEntry
    objects (no id): the shape pages and the API already read.

    The composite score (each metric against the best of the scope) is read from the
    latest complete snapshot, which follows writes within RANKINGS_SNAPSHOT_DELAY_SECONDS.
    """
    if metric not in ranked_metric_keys() or scope not in Scope.values:
        raise ValueError(f"unknown metric or scope: {metric!r}, {scope!r}")
    snapshot = RankingSnapshot.objects.latest_for(holiday.pk)
    board = Leaderboard(holiday=holiday, metric=metric, scope=scope, snapshot=snapshot,
                        live=metric != COMPOSITE)
    if not board.live:
        if snapshot is not None:
            board.read_at = snapshot.computed_at
            board.entries = generations.cached(
                generations.RANKINGS,
                f"entries:{snapshot.pk}:{metric}:{scope}:{limit or 'all'}",
                lambda: _snapshot_entries(snapshot=snapshot, metric=metric, scope=scope,
                                          limit=limit))
        return board
    # Cached in this process under the `rankings` generation, which every session write,
    # recompute and rename bumps.
    board.read_at, board.entries = generations.cached(
        generations.RANKINGS,
        f"live:{holiday.pk}:{snapshot.pk if snapshot else 0}:{metric}:{scope}:{limit or 'all'}",
        lambda: (timezone.now(), _live_entries(holiday=holiday, snapshot=snapshot,
                                               metric=metric, scope=scope, limit=limit)),
    )
    return board


def official_rankings(*, official_id: int) -> list[RankingEntry]:
    """The official's entries in the latest complete snapshot of every holiday they are
    ranked in, newest holiday first."""
    latest_ids = [
        s.pk
        for s in (
            RankingSnapshot.objects.latest_for(h)
            for h in RankingSnapshot.objects.complete()
            .values_list("holiday_id", flat=True)
            .distinct()
        )
        if s is not None
    ]
    return list(
        RankingEntry.objects.filter(official_id=official_id, snapshot_id__in=latest_ids)
        .select_related("snapshot__holiday")
        .order_by("-snapshot__holiday__start_date", "metric")
    )
