"""Reads of rankings: live boards ranked at read time from the holidays' totals
(sessions_app.totals, kept by every session write); snapshots for published revisions, the
movement baselines and an official's page."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from linfen_tracker import generations
from sessions_app.models import County, Holiday, HolidayTotal, Official

from .metrics import COMPOSITE, MetricDefinition, metric_get, ranked_metric_keys
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
    """A live board: ranks read at read time from the holiday's totals (kept by every
    session write), previous ranks from the board's movement baseline (`baseline`)."""

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
    read_at: datetime | None = None
    # True: ranked at read time from the kept totals; False: read from a snapshot (the
    # composite score, a published revision).
    live: bool = True

    @property
    def revision(self) -> int | None:
        return self.publication.revision if self.publication else None

    @property
    def computed_at(self):
        """When the board was read from the totals (every write since shows on the next
        read: the cached copies are filed under the `rankings` generation, which writes
        bump)."""
        return self.read_at

    @property
    def status(self) -> str:
        """`ready`: a live board is ranked from totals kept in each write's transaction, so
        it is never behind its data; a published revision never changes. A board read from
        the latest snapshot (the composite score): `pending` while writes since wait for the
        next snapshot, `not_computed` before the first."""
        if self.live:
            return "ready"
        if self.snapshot is None:
            return "not_computed"
        if self.publication is not None:
            return "ready"
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
                      publication: Publication | None = None,
                      today: bool = False) -> MovementBaseline:
    """What the arrows of a board compare with (design.md): for the provisional board, the
    last published revision; for a published revision, the one before it; else (nothing
    published before) the last snapshot computed before the day of the board's snapshot,
    Beijing time. Computed when read, so saving a session no longer flattens every arrow."""
    if snapshot is None and not today:
        return MovementBaseline("none")
    earlier = Publication.objects.filter(holiday=holiday).select_related("snapshot")
    if publication is not None:
        earlier = earlier.filter(revision__lt=publication.revision)
    last = earlier.order_by("-revision").first()
    if last is not None:
        return MovementBaseline("published", snapshot=last.snapshot, publication=last)
    from .services import beijing_midnight

    # A live board (`today`) is today's, Beijing time; a snapshot's board is its day's.
    day = (timezone.localdate() if today
           else timezone.localtime(snapshot.computed_at).date())
    day_before = (RankingSnapshot.objects.complete()
                  .filter(holiday=holiday, computed_at__lt=beijing_midnight(day))
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


def _baseline_ranks(*, baseline: MovementBaseline, metric: str, scope: str,
                    ids: list[int] | None) -> dict[int, int]:
    """The ranks movement is measured from: the subjects' ranks on the baseline's board
    (`movement_baseline`); none without a baseline."""
    if baseline.snapshot is None:
        return {}
    column = "official_id" if scope == Scope.OFFICIAL else "county_id"
    qs = RankingEntry.objects.filter(snapshot=baseline.snapshot, metric=metric, scope=scope)
    if ids is not None:
        qs = qs.filter(**{f"{column}__in": ids})
    return dict(qs.values_list(column, "rank"))


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


def _live_entries(*, holiday: Holiday, baseline: MovementBaseline, metric: str,
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
    previous = _baseline_ranks(baseline=baseline, metric=metric, scope=scope,
                               ids=ids if limit and len(ids) < 1000 else None)
    entries = []
    for subject_id, value, sessions, rank in rows:
        subject = subjects.get(subject_id)
        if subject is None:  # deleted meanwhile
            continue
        entry = RankingEntry(scope=scope, metric=metric, value=_cents(value),
                             rank=rank if rank is not None else last, sessions=sessions)
        entry.previous_rank = previous.get(subject_id)
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
    *, holiday: Holiday, metric: str, scope: str, limit: int | None = None,
    revision: int | str | None = None,
) -> Leaderboard:
    """The board of `holiday` for `metric` and `scope`.

    Live (no `revision`, any metric but the composite score): ranked at read time from the
    holiday's totals (every registered metric: sums and maxima as kept, ratios from the two
    kept sums). Officials with at least one counted session are ranked (co-hosts credited
    with the session), and every county (those with nothing share the last rank); ranks are
    the holiday's tie style, competition (9, 7, 7, 5 -> 1, 2, 2, 4) or dense (1, 2, 2, 3);
    subjects without a value (a zero denominator, nothing reported) share the last rank;
    ties are listed by name; `limit` cuts the list. Entries are unsaved RankingEntry objects
    (no id): the shape pages and the API already read.

    From a snapshot: published revision `revision` (a number or "latest": UnknownRevision if
    none), or for the composite score (each metric against the best of the scope) the
    latest complete snapshot, which follows writes within RANKINGS_SNAPSHOT_DELAY_SECONDS.
    No snapshot yet gives an empty board with status `not_computed`.

    Each entry's previous_rank is its rank in the board's movement baseline
    (`movement_baseline`: the last published revision, else the previous day's last
    snapshot; None if not ranked there).
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
    live = publication is None and metric != COMPOSITE
    if live:
        # The board shown is today's (Beijing time), whatever the latest snapshot's day.
        baseline = movement_baseline(holiday=holiday, snapshot=snapshot, today=True)
    else:
        baseline = movement_baseline(holiday=holiday, snapshot=snapshot,
                                     publication=publication)
    board = Leaderboard(holiday=holiday, metric=metric, scope=scope, snapshot=snapshot,
                        publication=publication, latest_publication=latest_publication,
                        baseline=baseline, live=live)
    base_id = baseline.snapshot.pk if baseline.snapshot else "none"
    if not live:
        if snapshot is not None:
            # A snapshot never changes once complete, but the names on its board can: the
            # entries are cached in this process under the snapshot and the `rankings`
            # generation, which renames bump.
            board.read_at = snapshot.computed_at
            board.entries = generations.cached(
                generations.RANKINGS,
                f"entries:{snapshot.pk}:{metric}:{scope}:{limit or 'all'}:{base_id}",
                lambda: _with_baseline_ranks(
                    _snapshot_entries(snapshot=snapshot, metric=metric, scope=scope,
                                      limit=limit),
                    baseline=baseline, metric=metric, scope=scope))
        return board
    # Cached in this process under the `rankings` generation, which every session write,
    # recompute and rename bumps.
    board.read_at, board.entries = generations.cached(
        generations.RANKINGS,
        f"live:{holiday.pk}:{base_id}:{metric}:{scope}:{limit or 'all'}",
        lambda: (timezone.now(), _live_entries(holiday=holiday, baseline=baseline,
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
    """How many entries the whole board has (it may have been read with a limit): a live
    board's subjects in the kept totals (every county; officials with a counted session),
    else the entries of its snapshot (0 without one)."""
    if board.live:
        if board.scope == Scope.COUNTY:
            return County.objects.count()
        first = metric_get(board.metric)
        return generations.cached(
            generations.RANKINGS, f"live-length:{board.holiday.pk}:{board.scope}",
            lambda: HolidayTotal.objects.filter(
                holiday_id=board.holiday.pk, scope=board.scope,
                metric=first.numerator or first.key, sessions__gt=0).count(),
        )
    snapshot = board.snapshot
    if snapshot is None:
        return 0
    return generations.cached(
        generations.RANKINGS, f"length:{snapshot.pk}:{board.metric}:{board.scope}",
        lambda: RankingEntry.objects.filter(snapshot=snapshot, metric=board.metric,
                                            scope=board.scope).count(),
    )
