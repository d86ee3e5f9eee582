"""Targets and positions: what officials read about themselves on a board.

Writes (`target_save`, `target_delete`) and reads (`targets_progress`, `entry_positions`)
of one small feature, kept apart from `services.py`, which is the recompute engine. Every
figure is read from the latest complete snapshot in SQL, by joins on the snapshot's entries:
nothing sums sessions here, and a target needs no upkeep when sessions change.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from . import metrics
from .models import RankingEntry, RankingSnapshot, Scope, Target

# The "top" of a board: the rows a dashboard shows before the rest, and the threshold of the
# "entered / left the top 10" notification.
TOP_N = 10


def target_metrics() -> list[str]:
    """The metrics a target may be set on: every metric of the registry."""
    return metrics.metric_keys()


# The boards whose movements (overtaken, entering or leaving the top 10) are worth telling an
# official about: the headline figures. Net revenue and the derived metrics move with them, so
# notices on every board would repeat each other (one place to change them).
RANK_NOTICE_METRICS = ("audience", "orders", "revenue")


def metric_label(metric: str) -> str:
    return metrics.metric_label(metric)


def metric_is_money(metric: str) -> bool:
    return metrics.metric_is_money(metric)


# --- Writes -----------------------------------------------------------------------------------

_TARGET_FIELDS = ("holiday", "official", "county", "metric", "value")


def target_save(*, target: Target, data: dict | None = None, user=None) -> Target:
    """Create or change a target from `data` (holiday, official or county, metric, value).

    Rules (model `clean` and constraints): exactly one of official and county, a known metric,
    a value above zero, one target per subject, metric and holiday. A broken rule raises
    ValidationError naming the field; nothing is saved.
    """
    for name, value in (data or {}).items():
        if name not in _TARGET_FIELDS:
            raise ValidationError({name: "not a target field"})
        setattr(target, name, value)
    if target.pk is None and user is not None and user.is_authenticated:
        target.created_by = user
    target.full_clean()
    try:
        with transaction.atomic():
            target.save()
    except IntegrityError as error:
        # A concurrent save of the same subject and metric passed full_clean meanwhile.
        raise ValidationError({"metric": Target._meta.constraints[2].violation_error_message}
                              ) from error
    return target


def target_delete(*, target: Target) -> None:
    """Delete a target (its progress was only ever read, never stored)."""
    target.delete()


# --- Reads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """A target's progress in the latest complete snapshot of its holiday."""

    target: Decimal
    current: Decimal  # zero when the subject is not ranked (yet)
    snapshot_id: int | None

    @property
    def ratio(self) -> Decimal:
        return self.current / self.target if self.target else Decimal(0)

    @property
    def percent(self) -> int:
        """Whole percent, capped at 100 for the bar (the text says the real figures)."""
        return min(int(self.ratio * 100), 100)

    @property
    def remaining(self) -> Decimal:
        return max(self.target - self.current, Decimal(0))

    @property
    def reached(self) -> bool:
        return self.current >= self.target


def _placeholders(values: list) -> str:
    # Portable IN lists: psycopg 3 adapts no tuples, SQLite has no = ANY(array).
    return ", ".join(["%s"] * len(values))


_ENTRIES = RankingEntry._meta.db_table
_SNAPSHOTS = RankingSnapshot._meta.db_table
_TARGETS = Target._meta.db_table

# Each target's entry in the latest complete snapshot of its holiday, read by a subquery per
# target: along the board index (snapshot, scope, metric) of that snapshot's partition only
# (rankings/entries.py; the others are pruned when it runs). A join of the targets with the
# entries was planned as a hash join over every kept snapshot's official boards (500,000
# rows at 10,000 officials: 55-90 ms) once the entries had statistics.
_PROGRESS_SQL = f"""
WITH latest AS (
    SELECT holiday_id, MAX(id) AS snapshot_id FROM {_SNAPSHOTS}
    WHERE complete AND holiday_id IN (SELECT holiday_id FROM {_TARGETS} WHERE id IN ({{ids}}))
    GROUP BY holiday_id
)
SELECT t.id, l.snapshot_id, CASE WHEN t.official_id IS NOT NULL THEN
    (SELECT e.value FROM {_ENTRIES} e WHERE e.snapshot_id = l.snapshot_id
        AND e.scope = 'official' AND e.metric = t.metric AND e.official_id = t.official_id
     LIMIT 1)
ELSE
    (SELECT e.value FROM {_ENTRIES} e WHERE e.snapshot_id = l.snapshot_id
        AND e.scope = 'county' AND e.metric = t.metric AND e.county_id = t.county_id
     LIMIT 1)
END
FROM {_TARGETS} t
LEFT JOIN latest l ON l.holiday_id = t.holiday_id
WHERE t.id IN ({{ids}})
"""


def targets_progress(targets: list[Target]) -> list[Target]:
    """Attach `.progress` (a Progress) to each target, read in one query from the latest
    complete snapshot of each target's holiday: the subject's summed value on the target's
    metric, zero if the subject is not ranked there or nothing is computed yet."""
    if not targets:
        return targets
    ids = [t.pk for t in targets]
    with connection.cursor() as cursor:
        cursor.execute(_PROGRESS_SQL.format(ids=_placeholders(ids)), [*ids, *ids])
        found = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    for target in targets:
        snapshot_id, value = found.get(target.pk, (None, None))
        target.progress = Progress(
            target=Decimal(target.value), current=Decimal(value or 0).quantize(Decimal("0.01")),
            snapshot_id=snapshot_id,
        )
    return targets


def targets_for_holiday(*, holiday_id: int, official_id: int | None = None,
                        counties: bool = False) -> list[Target]:
    """A holiday's targets with progress: those of `official_id`, and with `counties` those of
    every county; by metric."""
    qs = Target.objects.filter(holiday_id=holiday_id).select_related("official", "county")
    wanted = []
    if official_id:
        wanted += list(qs.filter(official_id=official_id))
    if counties:
        wanted += list(qs.filter(county__isnull=False).order_by("county__name", "metric"))
    return targets_progress(wanted)


@dataclass(frozen=True)
class Position:
    """Where an entry stands on its board: its rank and value, and how far it is from the next
    rank up and from the top 10 (what it takes to draw level; None when already there)."""

    entry_id: int
    rank: int
    value: Decimal | None  # None: a ratio with a zero denominator, nothing reported
    next_up_value: Decimal | None
    top_value: Decimal | None

    @property
    def gap_next(self) -> Decimal | None:
        if self.next_up_value is None or self.value is None:
            return None
        return self.next_up_value - self.value

    @property
    def gap_top(self) -> Decimal | None:
        if self.top_value is None or self.value is None or self.rank <= TOP_N:
            return None
        return self.top_value - self.value


# Both neighbours are read along the board's index (snapshot, scope, metric, rank): the entry
# just above, and the last entry ranked within the top.
_POSITION_SQL = f"""
SELECT e.id, e.rank, e.value,
    (SELECT u.value FROM {_ENTRIES} u WHERE u.snapshot_id = e.snapshot_id
        AND u.scope = e.scope AND u.metric = e.metric AND u.rank < e.rank
        ORDER BY u.rank DESC LIMIT 1),
    (SELECT t.value FROM {_ENTRIES} t WHERE t.snapshot_id = e.snapshot_id
        AND t.scope = e.scope AND t.metric = e.metric AND t.rank <= %s
        ORDER BY t.rank DESC LIMIT 1)
FROM {_ENTRIES} e WHERE {{entries}}
"""
# An entry is found by its board (the board index: entries have no index on id alone,
# migration rankings 0012) and then by its id among those of its rank.
_POSITION_ENTRY = ("(e.snapshot_id = %s AND e.scope = %s AND e.metric = %s AND e.rank = %s "
                   "AND e.id = %s)")


def entry_positions(entries: list[RankingEntry]) -> dict[int, Position]:
    """Positions of the given stored ranking entries, by entry id, in one query: the gap to
    the next rank up is the value of the nearest entry ranked above minus this one's; the
    gap to the top 10 is the value of the last entry ranked 10 or better minus this one's."""
    if not entries:
        return {}
    params = [TOP_N]
    for entry in entries:
        params += [entry.snapshot_id, entry.scope, entry.metric, entry.rank, entry.pk]
    with connection.cursor() as cursor:
        cursor.execute(_POSITION_SQL.format(entries=" OR ".join([_POSITION_ENTRY] * len(entries))),
                       params)
        rows = cursor.fetchall()
    return {
        row[0]: Position(entry_id=row[0], rank=row[1],
                         value=None if row[2] is None else Decimal(row[2]),
                         next_up_value=None if row[3] is None else Decimal(row[3]),
                         top_value=None if row[4] is None else Decimal(row[4]))
        for row in rows
    }


def board_position(*, entries: list[RankingEntry], entry: RankingEntry) -> Position:
    """Where `entry` stands on a board given whole (`entries`, in board order): the same
    figures as `entry_positions`, read from the board in memory (live boards' entries are
    read from the totals and have no id)."""
    above = [e for e in entries if e.rank < entry.rank]
    top = [e for e in entries if e.rank <= TOP_N]
    return Position(entry_id=entry.pk, rank=entry.rank, value=Decimal(entry.value),
                    next_up_value=Decimal(above[-1].value) if above else None,
                    top_value=Decimal(top[-1].value) if top else None)


def board_own_entry(*, entries: list[RankingEntry], scope: str, user) -> RankingEntry | None:
    """The entry of the user's linked official (official boards) or of that official's county
    (county boards) among a board's entries; None for users without a linked official."""
    official = getattr(user, "official", None) if user.is_authenticated else None
    if official is None:
        return None
    for entry in entries:
        if scope == Scope.OFFICIAL and entry.official_id == official.pk:
            return entry
        if scope == Scope.COUNTY and entry.county_id == official.county_id:
            return entry
    return None


def board_own_entry_stored(*, snapshot: RankingSnapshot, metric: str, scope: str,
                           user) -> RankingEntry | None:
    """`board_own_entry` read from the snapshot's stored entries, for a board shown a page
    at a time (the user's row may be on none of the pages read)."""
    official = getattr(user, "official", None) if user.is_authenticated else None
    if official is None:
        return None
    entries = RankingEntry.objects.filter(snapshot=snapshot, metric=metric, scope=scope)
    if scope == Scope.OFFICIAL:
        return entries.filter(official_id=official.pk).select_related(
            "official__county").first()
    return entries.filter(county_id=official.county_id).select_related("county").first()


# --- Import from a spreadsheet ----------------------------------------------------------------

# Headers as staff write them (Chinese) or the data names; any order.
TARGET_IMPORT_COLUMNS = {
    "holiday": ("假期", "holiday"),
    "official": ("干部", "官员", "official"),
    "county": ("县区", "county"),
    "metric": ("指标", "metric"),
    "value": ("目标值", "目标", "value"),
}


@dataclass(frozen=True)
class TargetRowError:
    row: int
    column: str
    message: str


def _lookup(model, key: str, *fields: str):
    key = str(key).strip()
    if key.isdigit():
        found = model.objects.filter(pk=int(key)).first()
        if found:
            return found
    for field in fields:
        found = list(model.objects.filter(**{field: key})[:2])
        if len(found) == 1:
            return found[0]
    return None


def targets_import(*, headers: list[str], rows: list[tuple[int, list]], user
                   ) -> tuple[int, list[TargetRowError]]:
    """Set the targets of a sheet: one per row (holiday by slug or id; official by id or
    unique name, or county by slug or name; metric by value or label; value). A target that
    exists for the subject, metric and holiday gets the new value. Every row goes through
    `target_save`'s rules; if any row has an error nothing is saved, and every error is
    returned with its row number and column. Returns (targets saved, errors)."""
    from django.utils.translation import gettext as _

    from sessions_app.models import County, Holiday, Official

    names = {h.strip().lower(): i for i, h in enumerate(headers)}
    index = {field: next((names[a.lower()] for a in aliases if a.lower() in names), None)
             for field, aliases in TARGET_IMPORT_COLUMNS.items()}
    missing = [f for f in ("holiday", "metric", "value") if index[f] is None]
    if missing or (index["official"] is None and index["county"] is None):
        return 0, [TargetRowError(row=1, column=", ".join(missing or ["official", "county"]),
                                  message=_("Missing column."))]
    labels = {metric_label(m).lower(): m for m in target_metrics()}
    errors: list[TargetRowError] = []
    saved = 0

    def cell(cells, field):
        i = index[field]
        value = cells[i] if i is not None and i < len(cells) else None
        return "" if value is None else str(value).strip()

    with transaction.atomic():
        for number, cells in rows:
            holiday = _lookup(Holiday, cell(cells, "holiday"), "slug", "name")
            official_key, county_key = cell(cells, "official"), cell(cells, "county")
            official = _lookup(Official, official_key, "name") if official_key else None
            county = (_lookup(County, county_key, "slug", "name", "name_zh")
                      if county_key else None)
            metric = cell(cells, "metric")
            metric = labels.get(metric.lower(), metric)
            row_errors = []
            if holiday is None:
                row_errors.append(("holiday", _("No such holiday.")))
            if official_key and official is None:
                row_errors.append(("official", _("No such official, or several of that name.")))
            if county_key and county is None:
                row_errors.append(("county", _("No such county.")))
            try:
                value = Decimal(cell(cells, "value").replace(",", ""))
            except ArithmeticError:
                row_errors.append(("value", _("Not a number.")))
                value = None
            if not row_errors:
                existing = Target.objects.filter(
                    holiday=holiday, metric=metric,
                    **({"official": official} if official else {"county": county})).first()
                try:
                    with transaction.atomic():
                        target_save(target=existing or Target(), user=user, data={
                            "holiday": holiday, "official": official, "county": county,
                            "metric": metric, "value": value})
                    saved += 1
                except ValidationError as error:
                    row_errors += [(field if field != "__all__" else "", message)
                                   for field, messages in error.message_dict.items()
                                   for message in messages]
            errors += [TargetRowError(row=number, column=c, message=str(m))
                       for c, m in row_errors]
        if errors:
            transaction.set_rollback(True)
            return 0, errors
    return saved, []
