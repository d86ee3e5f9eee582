"""Reads of rankings: always from the latest complete snapshot of a holiday."""

from dataclasses import dataclass, field

from django.db.models import QuerySet

from linfen_tracker import generations
from sessions_app.models import Holiday

from .models import Metric, RankingEntry, RankingSnapshot, Scope


@dataclass
class Leaderboard:
    holiday: Holiday
    metric: str
    scope: str
    snapshot: RankingSnapshot | None
    entries: list[RankingEntry] = field(default_factory=list)

    @property
    def computed_at(self):
        return self.snapshot.computed_at if self.snapshot else None

    @property
    def status(self) -> str:
        """`ready`, `pending` (data changed since; a recompute is due) or `not_computed`."""
        if self.snapshot is None:
            return "not_computed"
        return "pending" if self.holiday.rankings_stale else "ready"


def leaderboard_entries(*, snapshot: RankingSnapshot, metric: str, scope: str) -> QuerySet:
    """Entries of one board, by rank, ties listed by name."""
    qs = RankingEntry.objects.filter(snapshot=snapshot, metric=metric, scope=scope)
    if scope == Scope.OFFICIAL:
        return qs.select_related("official", "official__county").order_by(
            "rank", "official__name", "official_id"
        )
    return qs.select_related("county").order_by("rank", "county__name", "county_id")


def leaderboard_get(
    *, holiday: Holiday, metric: str, scope: str, limit: int | None = None
) -> Leaderboard:
    """The board of `holiday` for `metric` and `scope` from its latest complete snapshot.

    Standard competition ranks (1, 2, 2, 4) as stored; ties are listed by name; `limit` cuts
    the list. No snapshot yet gives an empty board with status `not_computed`.
    """
    if metric not in Metric.values or scope not in Scope.values:
        raise ValueError(f"unknown metric or scope: {metric!r}, {scope!r}")
    snapshot = RankingSnapshot.objects.latest_for(holiday.pk)
    board = Leaderboard(holiday=holiday, metric=metric, scope=scope, snapshot=snapshot)
    if snapshot is not None:
        # A snapshot never changes once complete, but the names on its board can: the
        # entries are cached in this process under the snapshot and the `rankings`
        # generation, which renames bump.
        def entries() -> list[RankingEntry]:
            qs = leaderboard_entries(snapshot=snapshot, metric=metric, scope=scope)
            if not limit:
                return list(qs)
            # Ties are listed by name, so the first `limit` entries need the names of all
            # entries ranked up to the limit's rank, but no more: read that rank first (along
            # entry_board_idx), rather than join and sort a whole board of 10,000 officials.
            cutoff = list(
                RankingEntry.objects.filter(snapshot=snapshot, metric=metric, scope=scope)
                .order_by("rank").values_list("rank", flat=True)[limit - 1:limit]
            )
            if cutoff:
                qs = qs.filter(rank__lte=cutoff[0])
            return list(qs[:limit])

        board.entries = generations.cached(
            generations.RANKINGS, f"entries:{snapshot.pk}:{metric}:{scope}:{limit or 'all'}",
            entries,
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


def leaderboard_length(*, board: Leaderboard) -> int:
    """How many entries the whole board of `board`'s snapshot, metric and scope has (it may
    have been read with a limit); 0 without a snapshot."""
    snapshot = board.snapshot
    if snapshot is None:
        return 0
    return generations.cached(
        generations.RANKINGS, f"length:{snapshot.pk}:{board.metric}:{board.scope}",
        lambda: RankingEntry.objects.filter(snapshot=snapshot, metric=board.metric,
                                            scope=board.scope).count(),
    )
