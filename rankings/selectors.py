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

from .models import Metric, RankingEntry, RankingSnapshot, Scope


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

    @property
    def computed_at(self):
        """When the board was read from the totals (every write since shows on the next
        read: the cached copies are filed under the `rankings` generation, which writes
        bump)."""
        return self.read_at

    @property
    def status(self) -> str:
        """`ready`: the totals are kept in each write's transaction, so a board is never
        behind its data (kept for the API's shape: `pending` and `not_computed` described
        boards read from snapshots)."""
        return "ready"

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

# Officials with at least one counted session, ranked by RANK() over the board's index
# (holiday, scope, metric, value). With a limit, only the rows down to the value of the
# limit-th row are read: the ranks of those rows are the board's, since every higher value
# is among them.
_OFFICIALS_SQL = f"""
SELECT subject_id, value, sessions, RANK() OVER (ORDER BY value DESC) AS rank
FROM {_TOTALS}
WHERE holiday_id = %s AND scope = 'official' AND metric = %s AND sessions > 0
  AND value >= %s
"""
_CUTOFF_SQL = f"""
SELECT value FROM {_TOTALS}
WHERE holiday_id = %s AND scope = 'official' AND metric = %s AND sessions > 0
ORDER BY value DESC LIMIT 1 OFFSET %s
"""
# Every county: those with nothing counted have zero and share the last rank.
_COUNTIES_SQL = f"""
SELECT c.id, COALESCE(t.value, 0), COALESCE(t.sessions, 0),
       RANK() OVER (ORDER BY COALESCE(t.value, 0) DESC)
FROM {_COUNTIES} c
LEFT JOIN {_TOTALS} t ON t.holiday_id = %s AND t.scope = 'county' AND t.metric = %s
     AND t.subject_id = c.id
"""


def _cents(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


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


def _live_entries(*, holiday: Holiday, snapshot: RankingSnapshot | None, metric: str,
                  scope: str, limit: int | None) -> list[RankingEntry]:
    with connection.cursor() as cursor:
        if scope == Scope.OFFICIAL:
            cutoff = None
            if limit:
                cursor.execute(_CUTOFF_SQL, [holiday.pk, metric, limit - 1])
                found = cursor.fetchone()
                cutoff = found[0] if found else None
            cursor.execute(_OFFICIALS_SQL, [holiday.pk, metric,
                                            cutoff if cutoff is not None else -1])
        else:
            cursor.execute(_COUNTIES_SQL, [holiday.pk, metric])
        rows = cursor.fetchall()
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
        entry = RankingEntry(scope=scope, metric=metric, value=_cents(value), rank=rank,
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


def leaderboard_get(
    *, holiday: Holiday, metric: str, scope: str, limit: int | None = None
) -> Leaderboard:
    """The live board of `holiday` for `metric` and `scope`, ranked at read time from the
    holiday's totals.

    Officials with at least one counted session are ranked, and every county (those with
    nothing share the last rank); standard competition ranks (9, 7, 7, 5 -> 1, 2, 2, 4);
    ties are listed by name; `limit` cuts the list. Each entry's previous_rank is its rank
    in the latest complete snapshot, or once that snapshot covers the data, the rank it
    compared with (`_previous_ranks`; None if none). Entries are unsaved
    RankingEntry objects (no id): the shape pages and the API already read.
    """
    if metric not in Metric.values or scope not in Scope.values:
        raise ValueError(f"unknown metric or scope: {metric!r}, {scope!r}")
    snapshot = RankingSnapshot.objects.latest_for(holiday.pk)
    board = Leaderboard(holiday=holiday, metric=metric, scope=scope, snapshot=snapshot)
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
