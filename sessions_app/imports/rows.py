"""Checking rows: every cell read (cells.py), every row against the model's rules, and the
rows together against the database (officials, counties, overlapping sessions).

Set-based: one query for the officials a file names, one for the counties, one for the
sessions stored in the file's time range for its officials; the rest is per-row Python
on the model's own validators and `clean()`, the same rules every entry path applies.
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import County, ImportBatch, LivestreamSession, Official, Platform
from ..validators import MESSAGES, PARSE_MESSAGES, overlap_error, session_rules_check
from .cells import CELL_READERS, _CellError, _empty, _formula_check
from .columns import COLUMN_ORDER, HEADER_FIELDS, IMPORT_COLUMNS, _header_key
from .preview import preview_rows_build
from .spreadsheets import Spreadsheet, spreadsheet_read
from .updates import stored_sessions_match

PREVIEW_ROWS = 20
# A file wrong on every row would make a page of 100,000 errors; the first ones show the fix.
PREVIEW_ERRORS = 1000
# A staged upload waits this long for its confirm; older ones are refused and purged.
IMPORT_BATCH_TTL = timedelta(hours=2)


class ImportBatchGone(Exception):
    """The staged upload was already confirmed, cancelled, or has expired."""


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str
    # A stored session the row clashes with, for a link to it.
    session_id: int | None = None


# What an import does with its rows: add new sessions, or correct stored ones (each row
# names a stored session by its official and start time).
MODE_CREATE = "create"
MODE_UPDATE = "update"


@dataclass
class ImportRow:
    """One valid row, ready to save."""

    row: int
    official_id: int
    official_name: str
    county_id: int
    county_name: str
    platform: str
    title: str
    products: str
    started_at: datetime
    ended_at: datetime
    audience: int
    orders: int
    revenue: Decimal
    refunded_orders: int = 0
    refunds: Decimal = Decimal("0.00")
    unique_viewers: int | None = None
    peak_viewers: int | None = None
    new_followers: int | None = None
    # Co-hosts' official ids, and item lines as the service takes them (dicts).
    hosts: list[int] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    # The holiday the start falls in (its name), None when it is in none.
    holiday: str | None = None
    # Update mode: the stored session the row corrects, its version when the file was
    # checked (the confirm refuses a session changed since), and field -> (old, new) for the
    # values the row changes (empty: the row changes nothing).
    session_id: int | None = None
    version: int | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def platform_label(self) -> str:
        return Platform(self.platform).label


@dataclass
class ImportCheck:
    """What an import would do: the valid rows, every error, and the counts for the preview."""

    filename: str
    row_count: int = 0
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # The rows as read from the file, kept when the upload is staged for its confirm.
    read: "ReadRows | None" = field(default=None, repr=False)
    mode: str = MODE_CREATE
    # The preview table: its columns [(field, header)] and rows (preview.PreviewRow), the
    # bad rows in place.
    preview_columns: list = field(default_factory=list)
    preview: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)

    @property
    def outside_holidays(self) -> int:
        """Valid rows whose start is in no holiday: they would count in no ranking."""
        return sum(1 for row in self.rows if row.holiday is None)

    @property
    def changed_rows(self) -> list[ImportRow]:
        """Update mode: the rows that change their stored session."""
        return [row for row in self.rows if row.changes]

    @property
    def unchanged_count(self) -> int:
        return len(self.rows) - len(self.changed_rows)

    @property
    def error_row_count(self) -> int:
        """Data rows with an error (row 1, the headers, is not one)."""
        return len({error.row for error in self.errors if error.row > 1})


def _header_map(headers: list[str]) -> tuple[dict[str, int], list[RowError]]:
    """field -> column index, and the header row's errors (unknown, repeated, missing)."""
    positions: dict[str, int] = {}
    errors: list[RowError] = []
    for index, header in enumerate(headers):
        if not header:
            continue
        field_name = HEADER_FIELDS.get(_header_key(header))
        if field_name is None:
            errors.append(RowError(1, header, _(
                "Unknown column: remove it or rename it to one of the headers the template "
                "lists."
            )))
        elif field_name in positions:
            errors.append(RowError(1, header, _("This column appears twice (as “%(first)s”).")
                                   % {"first": headers[positions[field_name]]}))
        else:
            positions[field_name] = index
    for column in IMPORT_COLUMNS:
        if column.required and column.field not in positions:
            errors.append(RowError(1, column.header_zh, _(
                "Missing column “%(zh)s” (or “%(en)s”)."
            ) % {"zh": column.header_zh, "en": column.field}))
    return positions, errors


@dataclass
class ReadRows:
    """Every row's cells read and checked on their own (format, the model fields' rules).

    What a staged upload keeps (as JSON): the checks that cannot change before the confirm
    are not redone, the ones against the database (officials, counties, repeats) are.
    """

    header_of: dict[str, str]  # field -> the header as the user wrote it
    row_count: int
    rows: list[tuple[int, dict[str, Any]]]
    errors: list[RowError] = field(default_factory=list)
    # Cells that could not be read or broke a rule, as written (row -> field -> text), so
    # the preview shows the bad value in place. Not staged: a staged file has none.
    raw: dict[int, dict[str, str]] = field(default_factory=dict)
    mode: str = MODE_CREATE
    # Update mode: row -> (session id, version) of the stored session it corrects, as read
    # when the file was checked; the confirm refuses a row whose session changed since.
    matched: dict[int, tuple[int, int]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        rows = [
            [number, {name: _json_value(value) for name, value in values.items()}]
            for number, values in self.rows
        ]
        document = {"header_of": self.header_of, "row_count": self.row_count, "rows": rows,
                    "mode": self.mode,
                    "matched": [[row, *match] for row, match in self.matched.items()]}
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "ReadRows":
        document = json.loads(data)
        rows = []
        for number, values in document["rows"]:
            for name in ("started_at", "ended_at"):
                values[name] = datetime.fromisoformat(values[name])
            for name in ("revenue", "refunds"):
                if name in values:
                    values[name] = Decimal(values[name])
            for line in values.get("items", []):
                line["quantity"], line["revenue"] = (Decimal(line["quantity"]),
                                                     Decimal(line["revenue"]))
            rows.append((number, values))
        return cls(header_of=document["header_of"], row_count=document["row_count"], rows=rows,
                   mode=document.get("mode", MODE_CREATE),
                   matched={row: (session_id, version)
                            for row, session_id, version in document.get("matched", [])})


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


# Columns read as values of a type: a formula there is explained as a formula. In text
# columns, text starting with "=" is refused by the model's rule, as on every path.
_TYPED_COLUMNS = {"started_at", "ended_at", "audience", "orders", "revenue",
                  "refunded_orders", "refunds", "unique_viewers", "peak_viewers",
                  "new_followers"}
# Relations are resolved for the whole file at once (session_rows_resolve); item lines are
# checked with the row (_items_errors).
_RESOLVED_LATER = {"official", "county", "hosts", "items"}
_MODEL_DEFAULTS = {"products": "", "refunded_orders": 0, "refunds": Decimal("0.00")}


def _model_errors(values: dict[str, Any], failed: set[str]) -> dict[str, list[str]]:
    """The model's rules (validators.py, `LivestreamSession.clean`) on one row's values:
    field -> messages. Fields whose cell could not be read are left out."""
    fields = {name: value for name, value in values.items() if name not in _RESOLVED_LATER}
    session = LivestreamSession(**{**_MODEL_DEFAULTS, **fields})
    try:
        session_rules_check(session=session, exclude={*_RESOLVED_LATER, *failed})
    except ValidationError as error:
        return error.message_dict
    for name in fields:  # the model's cleaned values (e.g. revenue as a Decimal)
        values[name] = getattr(session, name)
    return _items_errors(values, failed)


def _items_errors(values: dict[str, Any], failed: set[str]) -> dict[str, list[str]]:
    """The item lines' rules, as the service applies them on every path: each line's own
    (quantity > 0, a known unit, revenue >= 0) and their revenues at most the session's."""
    from ..services import session_items_build  # services imports this module
    from ..validators import session_items_check

    if "items" not in values or "items" in failed:
        return {}
    try:
        lines = session_items_build(items=values["items"])
        errors = session_items_check(revenue=values.get("revenue"),
                                     item_revenues=[line.revenue for line in lines])
        if errors:
            raise ValidationError(errors)
    except ValidationError as error:
        return error.message_dict
    return {}


def _column_header(name: str, header_of: dict[str, str]) -> str:
    if name in header_of:
        return header_of[name]
    column = next((c for c in IMPORT_COLUMNS if c.field == name), None)
    return column.header_zh if column else ""


def _cell_text(cell: Any) -> str:
    """A cell as the preview shows a value it refused: as written, at most 80 characters."""
    if cell is None:
        return ""
    text = cell.isoformat(sep=" ") if isinstance(cell, datetime) else str(cell)
    return text if len(text) <= 80 else text[:79] + "…"


def session_rows_read(*, sheet: Spreadsheet, mode: str = MODE_CREATE) -> ReadRows:
    """Read every cell of `sheet` by its column's header, then check each row on its own
    with the model's rules: the same as every entry path (bounds, years, whole seconds,
    lengths, formulas, end after start, at most 24 hours, known platform).

    Also: known headers, required columns, no value in a column without a header.
    """
    positions, header_errors = _header_map(sheet.headers)
    header_of = {name: sheet.headers[index] for name, index in positions.items()}
    read = ReadRows(header_of=header_of, row_count=len(sheet.rows), rows=[],
                    errors=header_errors, mode=mode)
    if any(column.required and column.field not in positions for column in IMPORT_COLUMNS):
        return read

    width = len(sheet.headers)
    headerless = [i for i, header in enumerate(sheet.headers) if not header]
    for number, cells in sheet.rows:
        values: dict[str, Any] = {}
        failed: set[str] = set()
        if any(not _empty(c) for c in cells[width:]) or any(
            i < len(cells) and not _empty(cells[i]) for i in headerless
        ):
            read.errors.append(RowError(number, "", _("A value in a column without a header.")))
        for name, index in positions.items():
            cell = cells[index] if index < len(cells) else None
            try:
                if name in _TYPED_COLUMNS:
                    _formula_check(cell)
                values[name] = CELL_READERS[name](cell)
            except _CellError as error:
                read.errors.append(RowError(number, header_of[name], error.reason))
                failed.add(name)
                read.raw.setdefault(number, {})[name] = _cell_text(cell)
        for name, messages in _model_errors(values, failed).items():
            column = "" if name == "__all__" else _column_header(name, header_of)
            read.errors.append(RowError(number, column, " ".join(messages)))
            if name in positions:
                index = positions[name]
                read.raw.setdefault(number, {})[name] = _cell_text(
                    cells[index] if index < len(cells) else None)
            values.pop(name, None)
        read.rows.append((number, values))
    return read


def session_rows_resolve(*, read: ReadRows, filename: str = "") -> ImportCheck:
    """Check rows read by `session_rows_read` against the database: what an import would save.

    Officials are found by id or unique name (and must be active), counties by slug or
    name (empty: the official's county), each in one query. A row that overlaps a stored
    session of the same official on the same platform (one query) or another row of the
    file is an error, as on every entry path. Returns an ImportCheck with the valid rows
    and every error as (row number as the spreadsheet shows it, column header as written,
    reason), sorted by row and column.
    """
    check = ImportCheck(filename=filename, row_count=read.row_count, read=read)
    check.errors.extend(read.errors)
    header_of = read.header_of
    parsed = read.rows
    read_failed = {error.row for error in read.errors}
    keys = [v.get("official") for _n, v in parsed] + [
        key for _n, v in parsed for key in v.get("hosts", [])]
    official_ids = {key for key in keys if isinstance(key, int)}
    official_names = {key for key in keys if isinstance(key, str)}
    officials_by_id, officials_by_name = _officials_lookup(ids=official_ids, names=official_names)
    counties = _counties_lookup()

    # Pass 2: resolve officials and counties.
    candidates: list[ImportRow] = []
    for number, values in parsed:
        row_errors = []
        official = None
        key = values.get("official")
        if isinstance(key, int):
            official = officials_by_id.get(key)
            if official is None:
                row_errors.append(RowError(number, header_of["official"], str(
                    PARSE_MESSAGES["official_unknown"]) % {"value": key}))
        elif key is not None:
            matches = officials_by_name.get(key, [])
            if len(matches) == 1:
                official = matches[0]
            else:
                if matches:
                    reason = _(
                        "%(count)s officials are named “%(name)s”: give the official's id "
                        "instead."
                    ) % {"name": key, "count": len(matches)}
                else:
                    reason = _("No official is named “%(name)s”.") % {"name": key}
                row_errors.append(RowError(number, header_of["official"], reason))
        if official is not None and not official.active:
            row_errors.append(RowError(number, header_of["official"],
                                       str(MESSAGES["inactive_official"])))
        hosts, host_errors = _hosts_resolve(values.get("hosts", []), lead=official,
                                            by_id=officials_by_id, by_name=officials_by_name)
        row_errors.extend(RowError(number, header_of["hosts"], reason) for reason in host_errors)
        county = None
        county_key = values.get("county")
        if county_key:
            county = counties.get(_header_key(county_key))
            if county is None:
                row_errors.append(RowError(number, header_of["county"], str(
                    PARSE_MESSAGES["county_unknown"]) % {"value": county_key}))
        elif official is not None:
            county = counties[f"#{official.county_id}"]
        check.errors.extend(row_errors)
        if row_errors or number in read_failed or any(name not in values for name in header_of):
            continue
        candidates.append(ImportRow(
            row=number,
            official_id=official.id,
            official_name=official.name,
            county_id=county.id,
            county_name=county.display_name,
            platform=values["platform"],
            title=values["title"],
            products=values.get("products", ""),
            started_at=values["started_at"],
            ended_at=values["ended_at"],
            audience=values["audience"],
            orders=values["orders"],
            revenue=values["revenue"],
            refunded_orders=values.get("refunded_orders", 0),
            refunds=values.get("refunds", Decimal("0.00")),
            unique_viewers=values.get("unique_viewers"),
            peak_viewers=values.get("peak_viewers"),
            new_followers=values.get("new_followers"),
            hosts=[host.pk for host in hosts],
            items=values.get("items", []),
        ))

    check.mode = read.mode
    matched_ids: set[int] = set()
    if read.mode == MODE_UPDATE:
        # Each row corrects the stored session of its official and start time.
        match_errors = stored_sessions_match(
            rows=candidates, values_of=dict(parsed), header_of=header_of, matched=read.matched)
        check.errors.extend(match_errors)
        unmatched = {error.row for error in match_errors}
        candidates = [row for row in candidates if row.row not in unmatched]
        matched_ids = {row.session_id for row in candidates}

    # Pass 3: at most one session of an official at a time on one platform, against the
    # file's other rows and the stored sessions (one query); in update mode a row's own
    # session is not a clash.
    clashes = {**_overlaps_within(candidates),
               **_overlaps_stored(candidates, exclude_ids=matched_ids)}
    column = header_of.get("started_at", "")
    calendar = _holiday_calendar()
    for row in candidates:
        if row.row in clashes:
            reason, clash_id = clashes[row.row]
            check.errors.append(RowError(row.row, column, reason, clash_id))
        else:
            holiday = calendar.holiday_on(timezone.localtime(row.started_at).date())
            row.holiday = holiday.display_name if holiday else None
            check.rows.append(row)

    check.errors.sort(key=lambda e: (e.row, _column_rank(e.column, header_of)))
    check.preview_columns, check.preview = preview_rows_build(
        check=check, read=read, limit_rows=PREVIEW_ROWS, limit_errors=PREVIEW_ERRORS,
        county_name=lambda pk: counties[f"#{pk}"].display_name if f"#{pk}" in counties else "",
    )
    return check


def _hosts_resolve(keys: list, *, lead, by_id: dict, by_name: dict) -> tuple[list, list[str]]:
    """The co-hosts a cell names (ids or unique names), and the reasons it cannot: unknown,
    ambiguous, inactive, the lead host, listed twice (validators.session_hosts_check)."""
    from ..validators import session_hosts_check

    hosts, reasons = [], []
    for key in keys:
        if isinstance(key, int):
            official = by_id.get(key)
            if official is None:
                reasons.append(str(PARSE_MESSAGES["official_unknown"]) % {"value": key})
                continue
        else:
            matches = by_name.get(key, [])
            if len(matches) != 1:
                reasons.append(_("%(count)s officials are named “%(name)s”: give the "
                                 "official's id instead.") % {"name": key, "count": len(matches)}
                               if matches else
                               _("No official is named “%(name)s”.") % {"name": key})
                continue
            official = matches[0]
        hosts.append(official)
    errors = session_hosts_check(lead_id=lead.pk if lead else None, hosts=hosts)
    reasons += [" ".join(ValidationError(errors["hosts"]).messages)] if errors else []
    return hosts, reasons


def _holiday_calendar():
    # Imported here: the selectors module imports services, which imports this module.
    from ..selectors import holiday_calendar

    return holiday_calendar()


def _overlaps_within(rows: list[ImportRow]) -> dict[int, tuple[str, None]]:
    """Rows overlapping an earlier row of the file (same official and platform): row ->
    (why, None)."""
    by_key: dict[tuple[int, str], list[ImportRow]] = defaultdict(list)
    for row in rows:
        by_key[(row.official_id, row.platform)].append(row)
    clashes = {}
    for group in by_key.values():
        group.sort(key=lambda r: (r.started_at, r.row))
        latest: ImportRow | None = None  # the row that ends last so far
        for row in group:
            if latest is not None and row.started_at < latest.ended_at:
                clashes[row.row] = (_(
                    "Row %(row)s has a session of this official on this platform at an "
                    "overlapping time."
                ) % {"row": latest.row}, None)
            if latest is None or row.ended_at > latest.ended_at:
                latest = row
    return clashes


def _overlaps_stored(rows: list[ImportRow], *, exclude_ids: set[int] = frozenset()
                     ) -> dict[int, tuple[str, int]]:
    """Rows overlapping a stored session of the same official and platform (other than the
    sessions in `exclude_ids`): row -> (why, the stored session's id, for a link)."""
    if not rows:
        return {}
    # A range and the officials, not 10,000 IN parameters: bounded query size on any database.
    stored = LivestreamSession.objects.filter(
        official_id__in={row.official_id for row in rows},
        started_at__lt=max(row.ended_at for row in rows),
        ended_at__gt=min(row.started_at for row in rows),
    ).values_list("pk", "official_id", "platform", "started_at", "ended_at", "title")
    by_key: dict[tuple[int, str], list[tuple]] = defaultdict(list)
    for pk, official_id, platform, started, ended, title in stored:
        if pk not in exclude_ids:
            by_key[(official_id, platform)].append((pk, started, ended, title))
    clashes = {}
    for row in rows:
        for pk, started, ended, title in by_key.get((row.official_id, row.platform), ()):
            if started < row.ended_at and ended > row.started_at:
                error = overlap_error(title=title, started_at=started, ended_at=ended)
                clashes[row.row] = (" ".join(error.messages), pk)
                break
    return clashes


def _column_rank(column: str, header_of: dict[str, str]) -> int:
    for name, header in header_of.items():
        if header == column:
            return COLUMN_ORDER[name]
    return len(COLUMN_ORDER)


@dataclass(frozen=True)
class _OfficialRef:
    id: int
    name: str
    county_id: int
    active: bool

    @property
    def pk(self) -> int:
        return self.id


def _officials_lookup(
    *, ids: set[int], names: set[str]
) -> tuple[dict[int, _OfficialRef], dict[str, list[_OfficialRef]]]:
    if not ids and not names:
        return {}, {}
    by_id: dict[int, _OfficialRef] = {}
    by_name: dict[str, list[_OfficialRef]] = {}
    # Ids beyond 64 bits name nothing (and would overflow the query's integer).
    ids = {i for i in ids if 0 < i < 2**63}
    rows = Official.objects.filter(Q(pk__in=ids) | Q(name__in=names)).values_list(
        "id", "name", "county_id", "active"
    )
    for official_id, name, county_id, active in rows:
        ref = _OfficialRef(official_id, name, county_id, active)
        by_id[official_id] = ref
        by_name.setdefault(name, []).append(ref)
    return by_id, by_name


def _counties_lookup() -> dict[str, County]:
    """All counties (17 rows, one query) by slug, names and "#id"."""
    lookup: dict[str, County] = {}
    for county in County.objects.all():
        lookup[f"#{county.id}"] = county
        for key in (county.slug, county.name, county.name_zh):
            lookup[_header_key(key)] = county
    return lookup


def import_check(*, filename: str, content: bytes, mode: str = MODE_CREATE) -> ImportCheck:
    """Read and validate an upload: what confirming it would save, or why it cannot. In
    MODE_UPDATE each row corrects the stored session of its official and start time.

    Raises SpreadsheetRejected when the file as a whole cannot be read.
    """
    sheet = spreadsheet_read(filename=filename, content=content)
    return session_rows_resolve(read=session_rows_read(sheet=sheet, mode=mode),
                                filename=filename)




def import_batch_check(*, batch: ImportBatch) -> ImportCheck:
    """The staged rows checked again against the current data (officials, counties, repeats)."""
    read = ReadRows.from_json(bytes(batch.content))
    return session_rows_resolve(read=read, filename=batch.filename)


def import_batch_get(*, batch_id: int, user: AbstractBaseUser) -> ImportBatch:
    """The user's own staged upload, if it has not expired; else ImportBatchGone."""
    batch = ImportBatch.objects.filter(
        pk=batch_id, user=user, created_at__gte=timezone.now() - IMPORT_BATCH_TTL
    ).first()
    if batch is None:
        raise ImportBatchGone
    return batch
