"""Reads of rankings: always from the latest complete snapshot of a holiday."""

from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from linfen_tracker import generations
from sessions_app.models import Holiday

from .metrics import ranked_metric_keys
from .models import Publication, RankingEntry, RankingSnapshot, Scope


@dataclass(frozen=True)
class MovementBaseline:
    """What movement arrows compare with: `published` (a revision), `previous_day` (the
    last snapshot computed before the day of the board shown, Beijing time) or `none`."""

    kind: str
    snapshot: RankingSnapshot | None = None
    publication: Publication | None = None


@dataclass
class Leaderboard:
    holiday: Holiday
    metric: str
    scope: str
    snapshot: RankingSnapshot | None
    entries: list[RankingEntry] = field(default_factory=list)
    # The revision shown, when a published one was asked for; else None (provisional).
    publication: Publication | None = None
    # The latest revision of the holiday, shown or not ("provisional; published revision 2").
    latest_publication: Publication | None = None
    baseline: MovementBaseline = field(default_factory=lambda: MovementBaseline("none"))

    @property
    def revision(self) -> int | None:
        return self.publication.revision if self.publication else None

    @property
    def computed_at(self):
        return self.snapshot.computed_at if self.snapshot else None

    @property
    def status(self) -> str:
        """`ready`, `pending` (data changed since; a recompute is due) or `not_computed`.
        A published revision is `ready`: it never changes."""
        if self.snapshot is None:
            return "not_computed"
        if self.publication is not None:
            return "ready"
        return "pending" if self.holiday.rankings_stale else "ready"


def leaderboard_entries(*, snapshot: RankingSnapshot, metric: str, scope: str) -> QuerySet:
    """Entries of one board, by rank, ties listed by name."""
    qs = RankingEntry.objects.filter(snapshot=snapshot, metric=metric, scope=scope)
    if scope == Scope.OFFICIAL:
        return qs.select_related("official", "official__county").order_by(
            "rank", "official__name", "official_id"
        )
    return qs.select_related("county").order_by("rank", "county__name", "county_id")


class UnknownRevision(ValueError):
    """No such published revision of the holiday; `published` lists the ones there are."""

    def __init__(self, *, revision, published: list[int]):
        super().__init__(f"no revision {revision}")
        self.revision = revision
        self.published = published


def publication_get(*, holiday: Holiday, revision: int | str) -> Publication:
    """Revision `revision` (a number, or "latest") of the holiday; UnknownRevision if none."""
    publications = Publication.objects.filter(holiday=holiday).select_related(
        "snapshot", "published_by")
    found = (publications.order_by("-revision").first() if revision == "latest"
             else publications.filter(revision=int(revision)).first())
    if found is None:
        raise UnknownRevision(revision=revision, published=sorted(
            publications.values_list("revision", flat=True)))
    return found


def publication_list(*, holiday: Holiday) -> list[Publication]:
    """The holiday's published revisions, newest first, with who published them."""
    return list(Publication.objects.filter(holiday=holiday)
                .select_related("snapshot", "published_by").order_by("-revision"))


def movement_baseline(*, holiday: Holiday, snapshot: RankingSnapshot | None,
                      publication: Publication | None = None) -> MovementBaseline:
    """What the arrows of a board compare with (design.md): for the provisional board, the
    last published revision; for a published revision, the one before it; else (nothing
    published before) the last snapshot computed before the day of the board's snapshot,
    Beijing time. Computed when read, so saving a session no longer flattens every arrow."""
    if snapshot is None:
        return MovementBaseline("none")
    earlier = Publication.objects.filter(holiday=holiday).select_related("snapshot")
    if publication is not None:
        earlier = earlier.filter(revision__lt=publication.revision)
    last = earlier.order_by("-revision").first()
    if last is not None:
        return MovementBaseline("published", snapshot=last.snapshot, publication=last)
    from .services import beijing_midnight

    day_before = (RankingSnapshot.objects.complete()
                  .filter(holiday=holiday, pk__lt=snapshot.pk,
                          computed_at__lt=beijing_midnight(
                              timezone.localtime(snapshot.computed_at).date()))
                  .order_by("-id").first())
    if day_before is not None:
        return MovementBaseline("previous_day", snapshot=day_before)
    return MovementBaseline("none")


def _with_baseline_ranks(entries: list[RankingEntry], *, baseline: MovementBaseline,
                         metric: str, scope: str) -> list[RankingEntry]:
    """Each entry's `previous_rank` read from the baseline's board (None: not ranked then),
    not the stored one (the snapshot just before)."""
    if baseline.snapshot is None:
        for entry in entries:
            entry.previous_rank = None
        return entries
    subject = "official_id" if scope == Scope.OFFICIAL else "county_id"
    ranks = dict(RankingEntry.objects.filter(snapshot=baseline.snapshot, metric=metric,
                                             scope=scope).values_list(subject, "rank"))
    for entry in entries:
        entry.previous_rank = ranks.get(getattr(entry, subject))
    return entries


def leaderboard_get(
    *, holiday: Holiday, metric: str, scope: str, limit: int | None = None,
    revision: int | str | None = None,
) -> Leaderboard:
    """The board of `holiday` for `metric` and `scope` from its latest complete snapshot, or
    from published revision `revision` (a number or "latest": UnknownRevision if none).

    Standard competition ranks (1, 2, 2, 4) as stored; ties are listed by name; `limit` cuts
    the list. No snapshot yet gives an empty board with status `not_computed`. Each entry's
    previous_rank is its rank in the board's movement baseline (`movement_baseline`).
    """
    if metric not in ranked_metric_keys() or scope not in Scope.values:
        raise ValueError(f"unknown metric or scope: {metric!r}, {scope!r}")
    publication = None
    if revision is not None:
        publication = publication_get(holiday=holiday, revision=revision)
        snapshot = publication.snapshot
    else:
        snapshot = RankingSnapshot.objects.latest_for(holiday.pk)
    latest_publication = publication or (
        Publication.objects.filter(holiday=holiday).select_related("published_by")
        .order_by("-revision").first())
    baseline = movement_baseline(holiday=holiday, snapshot=snapshot, publication=publication)
    board = Leaderboard(holiday=holiday, metric=metric, scope=scope, snapshot=snapshot,
                        publication=publication, latest_publication=latest_publication,
                        baseline=baseline)
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

        base_id = baseline.snapshot.pk if baseline.snapshot else "none"
        board.entries = generations.cached(
            generations.RANKINGS,
            f"entries:{snapshot.pk}:{metric}:{scope}:{limit or 'all'}:{base_id}",
            lambda: _with_baseline_ranks(entries(), baseline=baseline, metric=metric,
                                         scope=scope),
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


def officials_scatter(*, snapshot: RankingSnapshot | None, limit: int = 2000) -> list[dict]:
    """Per official ranked in `snapshot`: name, audience, conversion and revenue, read from
    the snapshot's boards in one query (the `limit` officials with the most revenue: a
    scatter of more points says nothing more)."""
    if snapshot is None:
        return []
    rows = {}
    entries = (RankingEntry.objects.filter(snapshot=snapshot, scope=Scope.OFFICIAL,
                                           metric__in=("audience", "conversion", "revenue"))
               .select_related("official").only("metric", "value", "official__name"))
    for entry in entries:
        row = rows.setdefault(entry.official_id, {"name": entry.official.name})
        row[entry.metric] = entry.value
    ranked = sorted(rows.values(), key=lambda r: -(r.get("revenue") or 0))[:limit]
    return [{"name": r["name"], "audience": r.get("audience") or 0,
             "conversion": r.get("conversion"), "revenue": r.get("revenue") or 0}
            for r in ranked]


# --- Published revisions: the difference between two ---------------------------------------

_DIFF_SQL = f"""
WITH n AS (
    SELECT scope, metric, COALESCE(official_id, county_id) AS subject, rank, value
    FROM {RankingEntry._meta.db_table} WHERE snapshot_id = %(new)s
), o AS (
    SELECT scope, metric, COALESCE(official_id, county_id) AS subject, rank, value
    FROM {RankingEntry._meta.db_table} WHERE snapshot_id = %(old)s
)
SELECT n.scope, n.metric, n.subject, o.rank, n.rank, o.value, n.value
FROM n LEFT JOIN o ON o.scope = n.scope AND o.metric = n.metric AND o.subject = n.subject
WHERE o.subject IS NULL OR o.rank <> n.rank OR o.value IS DISTINCT FROM n.value
UNION ALL
SELECT o.scope, o.metric, o.subject, o.rank, NULL, o.value, NULL
FROM o WHERE NOT EXISTS (
    SELECT 1 FROM n WHERE n.scope = o.scope AND n.metric = o.metric AND n.subject = o.subject)
"""


@dataclass(frozen=True)
class RevisionChange:
    scope: str
    metric: str
    subject: object  # an Official or a County
    kind: str  # "changed", "added" or "removed"
    rank_before: int | None
    rank_after: int | None
    value_before: object
    value_after: object

    @property
    def format(self) -> str:
        """How the values read: "count", "money" or "decimal" (rankings/metrics.py)."""
        from .metrics import metric_format

        return metric_format(self.metric)


@dataclass(frozen=True)
class RevisionDiff:
    publication: Publication
    previous: Publication | None
    changes: list[RevisionChange]


def publication_diff(*, holiday: Holiday, revision: int) -> RevisionDiff:
    """What changed from revision `revision - 1` to `revision` of the holiday, on every
    board: entries whose rank or value changed, entries added (ranked now, not before) and
    removed; revision 1 lists every entry as added. Set-based: one statement compares the
    two snapshots. Ordered by scope, metric and new rank, the removed ones last."""
    from django.db import connection

    from sessions_app.models import County, Official

    publication = publication_get(holiday=holiday, revision=revision)
    previous = (Publication.objects.filter(holiday=holiday, revision=publication.revision - 1)
                .select_related("snapshot", "published_by").first())
    with connection.cursor() as cursor:
        cursor.execute(_DIFF_SQL, {"new": publication.snapshot_id,
                                   "old": previous.snapshot_id if previous else None})
        rows = cursor.fetchall()
    officials = Official.objects.select_related("county").in_bulk(
        {r[2] for r in rows if r[0] == Scope.OFFICIAL})
    counties = County.objects.in_bulk({r[2] for r in rows if r[0] == Scope.COUNTY})
    changes = []
    for scope, metric, subject_id, rank_before, rank_after, before, after in rows:
        subject = (officials if scope == Scope.OFFICIAL else counties).get(subject_id)
        kind = ("added" if rank_before is None else "removed" if rank_after is None
                else "changed")
        changes.append(RevisionChange(
            scope=scope, metric=metric, subject=subject, kind=kind, rank_before=rank_before,
            rank_after=rank_after, value_before=_decimal(before), value_after=_decimal(after)))
    metric_order = {m: i for i, m in enumerate(ranked_metric_keys())}
    changes.sort(key=lambda c: (c.scope != Scope.OFFICIAL, metric_order.get(c.metric, 99),
                                c.kind == "removed", c.rank_after or c.rank_before or 0))
    return RevisionDiff(publication=publication, previous=previous, changes=changes)


def _decimal(value):
    from decimal import Decimal

    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def publication_readiness(*, holiday: Holiday) -> dict:
    """What a city lead sees before publishing: whether the rankings are current (else 409),
    and how many of the holiday's sessions are not yet verified or have an open flag."""
    from sessions_app.models import LivestreamSession, SessionStatus

    snapshot = RankingSnapshot.objects.latest_for(holiday.pk)
    sessions = LivestreamSession.objects.in_holiday(holiday).exclude(
        status=SessionStatus.REJECTED)
    return {
        "current": snapshot is not None and not holiday.rankings_stale
        and snapshot.data_version == holiday.data_version,
        "snapshot": snapshot,
        "unverified": sessions.filter(status=SessionStatus.ENTERED).count(),
        "flagged": sessions.flagged().count(),
        "next_revision": (Publication.objects.filter(holiday=holiday)
                          .order_by("-revision").values_list("revision", flat=True)
                          .first() or 0) + 1,
    }


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
