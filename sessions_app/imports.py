"""Spreadsheet import of livestream sessions: read, validate every row, save all rows or none.

The import page shows the preview of `import_check` and stages a file without errors
(`import_batch_stage`: its rows as read, in the database); on confirm, `import_batch_confirm`
checks the staged rows against the database again (officials, counties and sessions may have
changed since the preview) and saves every row in one transaction, or nothing when any row
is wrong.

Validation is set-based: one query for the officials a file names, one for the counties, one
for sessions already stored at the same official and start time; the rest is per-row Python
on the model's own fields and rules. Saving is `bulk_create_with_history` (plain
`bulk_create` writes no audit history) and one `rankings_mark_stale` for the whole file.

Uploads are untrusted: size, rows and an XLSX's unpacked size are capped before parsing;
openpyxl reads XML through defusedxml; formula cells are refused, not evaluated or stored.
"""

import csv
import io
import json
import logging
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from .models import County, ImportBatch, LivestreamSession, Official, Platform
from .services import local_date, rankings_mark_stale

logger = logging.getLogger(__name__)

IMPORT_MAX_ROWS = 20_000
IMPORT_MAX_COLUMNS = 50
# 10,000 rows unpack to about 5 MB of XML; a zip bomb declares far more. zipfile stops at
# each member's declared size (and fails its CRC check past it), so the sum is a real bound,
# and it bounds openpyxl's parsing time too (about 1.5 s per 5 MB).
XLSX_MAX_UNPACKED_BYTES = 32 * 1024 * 1024
# Blank rows are skipped but still cost reading: a sheet may not go past this row.
IMPORT_MAX_ROW_NUMBER = 2 * IMPORT_MAX_ROWS
XLSX_MAX_MEMBERS = 500
# A staged upload waits this long for its confirm; older ones are refused and purged.
IMPORT_BATCH_TTL = timedelta(hours=2)
PREVIEW_ROWS = 20
# A file wrong on every row would make a page of 100,000 errors; the first ones show the fix.
PREVIEW_ERRORS = 1000
BULK_BATCH_SIZE = 1000

BEIJING = timezone.get_default_timezone()
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls
FORMULA_CELL = "="
CENT = Decimal("0.01")
# Text starting with these is run as a formula when a spreadsheet program opens an export
# of it (CSV injection, OWASP), so imported text may not start with them.
FORMULA_PREFIXES = ("=", "+", "-", "@")


class SpreadsheetRejected(Exception):
    """The upload as a whole cannot be read: too large, not a spreadsheet, damaged."""

    def __init__(self, message: str | Promise):
        super().__init__(message)
        self.message = message


class ImportBatchGone(Exception):
    """The staged upload was already confirmed, cancelled, or has expired."""


@dataclass(frozen=True)
class ImportColumn:
    field: str
    header_zh: str
    required: bool
    help: Promise
    # Other spellings accepted, compared after `_header_key` normalisation.
    aliases: tuple[str, ...] = ()

    @property
    def accepted_headers(self) -> list[str]:
        return [self.header_zh, self.field, *self.aliases]


IMPORT_COLUMNS: tuple[ImportColumn, ...] = (
    ImportColumn(
        "official", "官员", True,
        gettext_lazy("The official's id, or their exact name if no other official has it."),
        ("官员id", "官员姓名", "official id", "official name"),
    ),
    ImportColumn(
        "county", "县区", False,
        gettext_lazy("County slug (e.g. jixian) or name (e.g. 吉县). Empty: the official's "
                     "county."),
        ("区县", "县", "county slug"),
    ),
    ImportColumn(
        "platform", "平台", True,
        gettext_lazy("抖音 / 快手 / 淘宝直播 / 微信视频号 / 京东 / 拼多多 / 其他, or douyin, "
                     "kuaishou, taobao_live, wechat_channels, jd, pinduoduo, other."),
        ("直播平台",),
    ),
    ImportColumn(
        "title", "标题", True, gettext_lazy("Title of the livestream, at most 200 characters."),
        ("直播标题",),
    ),
    ImportColumn(
        "products", "商品", False, gettext_lazy("Products sold (optional)."),
        ("产品", "商品名称"),
    ),
    ImportColumn(
        "started_at", "开始时间", True,
        gettext_lazy("Start in Beijing time, e.g. 2020-05-01 10:00 (or a date-time cell)."),
        ("started", "start", "直播开始时间"),
    ),
    ImportColumn(
        "ended_at", "结束时间", True,
        gettext_lazy("End in Beijing time, after the start, e.g. 2020-05-01 12:00."),
        ("ended", "end", "直播结束时间"),
    ),
    ImportColumn(
        "audience", "观看人数", True,
        gettext_lazy("Viewer count the platform reports, a whole number >= 0."),
        ("观看量", "观众人数"),
    ),
    ImportColumn(
        "orders", "订单数", True, gettext_lazy("Number of orders, a whole number >= 0."),
        ("订单量",),
    ),
    ImportColumn(
        "revenue", "销售额(元)", True,
        gettext_lazy("Revenue in yuan, >= 0, at most 2 decimal places, e.g. 230000.50."),
        ("销售额", "revenue (yuan)", "revenue_yuan"),
    ),
)

PLATFORM_NAMES: dict[str, tuple[str, ...]] = {
    Platform.DOUYIN: ("抖音", "Douyin"),
    Platform.KUAISHOU: ("快手", "Kuaishou"),
    Platform.TAOBAO_LIVE: ("淘宝直播", "淘宝", "Taobao Live", "Taobao"),
    Platform.WECHAT_CHANNELS: ("微信视频号", "视频号", "WeChat Channels", "WeChat"),
    Platform.JD: ("京东", "京东直播", "JD", "JD.com"),
    Platform.PINDUODUO: ("拼多多", "Pinduoduo"),
    Platform.OTHER: ("其他", "其它", "Other"),
}


def _header_key(text: str) -> str:
    """Compare headers and names loosely: full-width forms, case, spaces, _ and - ignored."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s_\-]+", "", text)


HEADER_FIELDS: dict[str, str] = {
    _header_key(header): column.field
    for column in IMPORT_COLUMNS
    for header in column.accepted_headers
}
PLATFORM_CODES: dict[str, str] = {
    _header_key(name): str(code)
    for code, names in PLATFORM_NAMES.items()
    for name in (str(code), *names)
}
COLUMN_ORDER = {column.field: i for i, column in enumerate(IMPORT_COLUMNS)}


@dataclass
class Spreadsheet:
    """The first sheet as read: headers (as written) and rows numbered as the user sees them."""

    headers: list[str]
    rows: list[tuple[int, Sequence[Any]]]


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str


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

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)

    @property
    def error_row_count(self) -> int:
        """Data rows with an error (row 1, the headers, is not one)."""
        return len({error.row for error in self.errors if error.row > 1})

    @property
    def preview_rows(self) -> list[ImportRow]:
        return self.rows[:PREVIEW_ROWS]


# --- Reading ----------------------------------------------------------------------------------


def spreadsheet_read(*, filename: str, content: bytes) -> Spreadsheet:
    """Read the first sheet of an XLSX, or a CSV (UTF-8 with or without BOM, GB18030/GBK as
    saved by Chinese Excel, or UTF-16 text), recognised by content rather than by name.

    Rows are numbered as the spreadsheet shows them (the header is row 1); blank rows and
    comment rows (first cell starting with "# ") are skipped. Raises SpreadsheetRejected.
    """
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    if len(content) > limit:
        raise SpreadsheetRejected(
            _("The file is larger than %(limit)s MB.") % {"limit": _megabytes(limit)}
        )
    if not content.strip():
        raise SpreadsheetRejected(_("The file is empty."))
    if content.startswith(ZIP_MAGIC):
        sheet = _xlsx_read(content)
    elif content.startswith(OLE_MAGIC):
        raise SpreadsheetRejected(
            _("Old Excel .xls files are not accepted: save the file as .xlsx or CSV (UTF-8).")
        )
    elif filename.lower().endswith((".xlsx", ".xlsm")):
        raise SpreadsheetRejected(
            _("The file is named .xlsx but is not an XLSX workbook: save it again from Excel.")
        )
    else:
        sheet = _csv_read(content)
    if not sheet.rows:
        raise SpreadsheetRejected(_("The file has a header row but no data rows."))
    return sheet


def _megabytes(size: int) -> str:
    return number_format(size / (1024 * 1024), decimal_pos=0)


def _too_many_rows() -> SpreadsheetRejected:
    return SpreadsheetRejected(
        _("The file has more than %(max)s rows: split it into smaller files.")
        % {"max": number_format(IMPORT_MAX_ROWS, force_grouping=True)}
    )


def _sheet_collect(raw_rows: Iterator[tuple[int, Sequence[Any]]]) -> Spreadsheet:
    """Header from the first row, then the data rows that are neither blank nor comments."""
    headers: list[str] | None = None
    rows: list[tuple[int, Sequence[Any]]] = []
    for number, cells in raw_rows:
        if number > IMPORT_MAX_ROW_NUMBER:
            raise SpreadsheetRejected(
                _("The sheet goes past row %(max)s: delete the empty rows at its end or split "
                  "the file.") % {"max": number_format(IMPORT_MAX_ROW_NUMBER, force_grouping=True)}
            )
        if headers is None:
            if number != 1 or _blank(cells):
                raise SpreadsheetRejected(
                    _("Row 1 must hold the column headers (see the template).")
                )
            headers = ["" if c is None else str(c).strip() for c in cells]
            while headers and not headers[-1]:
                headers.pop()
            if len(headers) > IMPORT_MAX_COLUMNS:
                raise SpreadsheetRejected(
                    _("The file has more than %(max)s columns.") % {"max": IMPORT_MAX_COLUMNS}
                )
            continue
        if _blank(cells) or _comment(cells):
            continue
        if len(rows) >= IMPORT_MAX_ROWS:
            raise _too_many_rows()
        rows.append((number, cells))
    if headers is None:
        raise SpreadsheetRejected(_("The file is empty."))
    return Spreadsheet(headers=headers, rows=rows)


def _blank(cells: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _comment(cells: Sequence[Any]) -> bool:
    # "# " rather than "#": Excel's error values (#N/A, #REF!) must not hide a row.
    first = cells[0] if cells else None
    return isinstance(first, str) and (first.strip() == "#" or first.startswith("# "))


def _csv_decode(content: bytes) -> str:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return content.decode("utf-16")
        except UnicodeDecodeError as error:
            raise SpreadsheetRejected(_("The file is damaged UTF-16 text.")) from error
    if b"\x00" in content:
        raise SpreadsheetRejected(
            _("The file is neither an XLSX workbook nor CSV text: save it as .xlsx or CSV.")
        )
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # GB18030 is a superset of GBK and GB2312: what Chinese Excel writes as "CSV".
        return content.decode("gb18030")
    except UnicodeDecodeError as error:
        raise SpreadsheetRejected(
            _("The CSV file is neither UTF-8 nor GBK/GB18030 text: save it as "
              "\"CSV UTF-8\" from Excel.")
        ) from error


def _csv_read(content: bytes) -> Spreadsheet:
    text = _csv_decode(content)
    first_line = text.split("\n", 1)[0]
    # Excel's "Unicode text" export is tab-separated.
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    try:
        # Each record is one spreadsheet row, even when a quoted cell spans lines.
        return _sheet_collect(enumerate(reader, start=1))
    except csv.Error as error:
        raise SpreadsheetRejected(
            _("The CSV file is malformed near line %(line)s: %(error)s")
            % {"line": reader.line_num, "error": error}
        ) from error


def _xlsx_read(content: bytes) -> Spreadsheet:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as error:
        raise SpreadsheetRejected(
            _("The file is not a valid XLSX workbook: open it in Excel and save it again.")
        ) from error
    if (
        len(members) > XLSX_MAX_MEMBERS
        or sum(m.file_size for m in members) > XLSX_MAX_UNPACKED_BYTES
    ):
        raise SpreadsheetRejected(
            _("The workbook unpacks to more than %(limit)s MB: it is too large or not a "
              "real spreadsheet.") % {"limit": _megabytes(XLSX_MAX_UNPACKED_BYTES)}
        )
    # Imported lazily: openpyxl is only needed for XLSX uploads.
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it ignores; they do not matter here.
            warnings.simplefilter("ignore")
            # data_only=False: a formula cell reads as its formula text, so it is refused
            # instead of importing a cached value the user never sees.
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
            try:
                if not workbook.worksheets:
                    raise SpreadsheetRejected(_("The workbook has no sheet."))
                sheet = workbook.worksheets[0]
                # Read-only mode stops at the sheet's declared dimension, which some programs
                # write wrong ("A1"): without this, rows past it would be dropped silently.
                sheet.reset_dimensions()
                raw = sheet.iter_rows(min_row=1, max_col=IMPORT_MAX_COLUMNS, values_only=True)
                return _sheet_collect(enumerate(raw, start=1))
            finally:
                workbook.close()
    except SpreadsheetRejected:
        raise
    except Exception as error:
        # openpyxl and the XML parser raise many kinds of errors on a damaged or hostile file
        # (KeyError, ParseError, DTDForbidden, ValueError, ...): all mean "cannot read it".
        logger.info("Unreadable XLSX upload: %r", error)
        raise SpreadsheetRejected(
            _("The file is not a valid XLSX workbook: open it in Excel and save it again.")
        ) from error


# --- Cells --------------------------------------------------------------------------------------


class _CellError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _formula_check(value: Any) -> None:
    formula = (isinstance(value, str) and value.lstrip().startswith(FORMULA_CELL)) or type(
        value
    ).__name__ in ("ArrayFormula", "DataTableFormula")  # openpyxl's array/table formulas
    if formula:
        raise _CellError(_("Formulas are not accepted: paste the values only."))


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    if _empty(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date):
        raise _CellError(_("Expected text, found a date."))
    text = str(value).strip()
    if text.startswith(FORMULA_PREFIXES):
        raise _CellError(_("Text may not start with =, +, - or @ (it would run as a formula)."))
    return text


def _required() -> _CellError:
    return _CellError(_("This column is required."))


def _required_text(value: Any) -> str:
    text = _text(value)
    if not text:
        raise _required()
    return text


def _official_key(value: Any) -> int | str:
    if isinstance(value, bool):
        raise _CellError(_("Give the official's id or name."))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = _text(value)
    if not text:
        raise _required()
    return int(text) if text.isascii() and text.isdigit() else text


def _county_key(value: Any) -> str:
    return _text(value)


def _platform(value: Any) -> str:
    text = _text(value)
    if not text:
        raise _required()
    code = PLATFORM_CODES.get(_header_key(text))
    if code is None:
        raise _CellError(
            _("Unknown platform “%(value)s”: use one of %(names)s.")
            % {"value": text, "names": ", ".join(names[0] for names in PLATFORM_NAMES.values())}
        )
    return code


def _moment(value: Any) -> datetime:
    if _empty(value):
        raise _required()
    if isinstance(value, datetime):
        # Excel stores times as fractions of a day: round away float noise (09:59:59.999).
        moment = (value + timedelta(microseconds=500_000)).replace(microsecond=0)
    elif isinstance(value, date):
        raise _CellError(_("Give the time as well as the date, e.g. 2020-05-01 10:00."))
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        text = text.replace("年", "-").replace("月", "-").replace("日", " ").replace("/", "-")
        text = " ".join(text.split())
        try:
            moment = parse_datetime(text)
        except ValueError:
            moment = None
        if moment is None:
            if parse_date(text) is not None:
                raise _CellError(_("Give the time as well as the date, e.g. 2020-05-01 10:00."))
            raise _CellError(
                _("Not a date and time: write it like 2020-05-01 10:00 (Beijing time).")
            )
    else:
        raise _CellError(_("Not a date and time: write it like 2020-05-01 10:00 (Beijing time)."))
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, BEIJING)
    return moment


def _number_text(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip()
    return re.sub(r"[,\s]", "", text)


def _whole_number(value: Any) -> int:
    if _empty(value):
        raise _required()
    if isinstance(value, bool):
        raise _CellError(_("Expected a whole number."))
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise _CellError(_("Expected a whole number."))
    if isinstance(value, str):
        text = _number_text(value)
        if re.fullmatch(r"[+-]?\d+(\.0*)?", text):
            return int(Decimal(text))
    raise _CellError(_("Expected a whole number."))


def _amount(value: Any) -> Decimal:
    if _empty(value):
        raise _required()
    if isinstance(value, bool):
        raise _CellError(_("Expected an amount in yuan, e.g. 230000.50."))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr is the shortest text that reads back as this float: what the user typed.
        return _cents(Decimal(repr(value)))
    if isinstance(value, str):
        text = _number_text(value).removeprefix("¥").removesuffix("元")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = None
        if amount is not None and amount.is_finite():
            return _cents(amount)
    raise _CellError(_("Expected an amount in yuan, e.g. 230000.50."))


def _cents(amount: Decimal) -> Decimal:
    """1.5000 and 1.5 become 1.50 (the same amount); 1.505 stays as it is, to be refused."""
    try:
        rounded = amount.quantize(CENT)
    except InvalidOperation:  # more digits than any revenue: the field's check refuses it
        return amount
    return rounded if rounded == amount else amount


CELL_READERS = {
    "official": _official_key,
    "county": _county_key,
    "platform": _platform,
    "title": _required_text,
    "products": _text,
    "started_at": _moment,
    "ended_at": _moment,
    "audience": _whole_number,
    "orders": _whole_number,
    "revenue": _amount,
}
# Checked with the model field's own clean(): length, choices, decimal places, >= 0.
MODEL_CHECKED_FIELDS = ("platform", "title", "products", "audience", "orders", "revenue")


# --- Validation ---------------------------------------------------------------------------------


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

    def to_json(self) -> bytes:
        rows = [
            [number, {name: _json_value(value) for name, value in values.items()}]
            for number, values in self.rows
        ]
        document = {"header_of": self.header_of, "row_count": self.row_count, "rows": rows}
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> "ReadRows":
        document = json.loads(data)
        rows = []
        for number, values in document["rows"]:
            for name in ("started_at", "ended_at"):
                values[name] = datetime.fromisoformat(values[name])
            values["revenue"] = Decimal(values["revenue"])
            rows.append((number, values))
        return cls(header_of=document["header_of"], row_count=document["row_count"], rows=rows)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def session_rows_read(*, sheet: Spreadsheet) -> ReadRows:
    """Read every cell of `sheet` by its column's header and check it on its own.

    Rules: known headers, required columns and cells, known platform, whole numbers >= 0,
    revenue >= 0 with at most 2 decimal places, title length (the model fields' own
    `clean()`), end after start. No formula cells, no text that would run as one.
    """
    positions, header_errors = _header_map(sheet.headers)
    header_of = {name: sheet.headers[index] for name, index in positions.items()}
    read = ReadRows(header_of=header_of, row_count=len(sheet.rows), rows=[],
                    errors=header_errors)
    if any(column.required and column.field not in positions for column in IMPORT_COLUMNS):
        return read

    width = len(sheet.headers)
    headerless = [i for i, header in enumerate(sheet.headers) if not header]
    model_fields = {name: LivestreamSession._meta.get_field(name) for name in MODEL_CHECKED_FIELDS}
    for number, cells in sheet.rows:
        values: dict[str, Any] = {}
        if any(not _empty(c) for c in cells[width:]) or any(
            i < len(cells) and not _empty(cells[i]) for i in headerless
        ):
            read.errors.append(RowError(number, "", _("A value in a column without a header.")))
        for name, index in positions.items():
            cell = cells[index] if index < len(cells) else None
            try:
                _formula_check(cell)
                value = CELL_READERS[name](cell)
                if name in model_fields:
                    value = model_fields[name].clean(value, None)
            except _CellError as error:
                read.errors.append(RowError(number, header_of[name], error.reason))
                continue
            except ValidationError as error:
                read.errors.append(RowError(number, header_of[name], " ".join(error.messages)))
                continue
            values[name] = value
        started, ended = values.get("started_at"), values.get("ended_at")
        if started and ended and ended <= started:
            read.errors.append(
                RowError(number, header_of["ended_at"], _("A session must end after it starts."))
            )
            values.pop("ended_at")
        read.rows.append((number, values))
    return read


def session_rows_resolve(*, read: ReadRows, filename: str = "") -> ImportCheck:
    """Check rows read by `session_rows_read` against the database: what an import would save.

    Officials are found by id or unique name, counties by slug or name (empty: the
    official's county), each in one query; a session already stored for the same official
    and start time (one query), or repeated within the file, is an error. Returns an
    ImportCheck with the valid rows and every error as (row number as the spreadsheet shows
    it, column header as written, reason), sorted by row and column.
    """
    check = ImportCheck(filename=filename, row_count=read.row_count, read=read)
    check.errors.extend(read.errors)
    header_of = read.header_of
    parsed = read.rows
    read_failed = {error.row for error in read.errors}
    official_ids = {v["official"] for _n, v in parsed if isinstance(v.get("official"), int)}
    official_names = {v["official"] for _n, v in parsed if isinstance(v.get("official"), str)}
    officials_by_id, officials_by_name = _officials_lookup(ids=official_ids, names=official_names)
    counties = _counties_lookup()

    # Pass 2: resolve officials and counties, find repeats within the file.
    candidates: list[ImportRow] = []
    first_row_of: dict[tuple[int, datetime], int] = {}
    for number, values in parsed:
        row_errors = []
        official = None
        key = values.get("official")
        if isinstance(key, int):
            official = officials_by_id.get(key)
            if official is None:
                row_errors.append(RowError(number, header_of["official"],
                                           _("No official has the id %(id)s.") % {"id": key}))
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
        county = None
        county_key = values.get("county")
        if county_key:
            county = counties.get(_header_key(county_key))
            if county is None:
                row_errors.append(RowError(number, header_of["county"], _(
                    "Unknown county “%(value)s”: give its slug (e.g. jixian) or name (e.g. 吉县)."
                ) % {"value": county_key}))
        elif official is not None:
            county = counties[f"#{official.county_id}"]
        started = values.get("started_at")
        if official is not None and started is not None:
            first = first_row_of.setdefault((official.id, started), number)
            if first != number:
                row_errors.append(RowError(number, header_of["started_at"], _(
                    "Row %(row)s already has a session of this official starting at this time."
                ) % {"row": first}))
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
            started_at=started,
            ended_at=values["ended_at"],
            audience=values["audience"],
            orders=values["orders"],
            revenue=values["revenue"],
        ))

    # Pass 3: sessions already stored for the same official and start time, in one query.
    stored = _stored_starts(candidates)
    for row in candidates:
        if (row.official_id, row.started_at) in stored:
            check.errors.append(RowError(row.row, header_of["started_at"], _(
                "This official already has a session starting at this time."
            )))
        else:
            check.rows.append(row)

    check.errors.sort(key=lambda e: (e.row, _column_rank(e.column, header_of)))
    return check


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


def _officials_lookup(
    *, ids: set[int], names: set[str]
) -> tuple[dict[int, _OfficialRef], dict[str, list[_OfficialRef]]]:
    if not ids and not names:
        return {}, {}
    by_id: dict[int, _OfficialRef] = {}
    by_name: dict[str, list[_OfficialRef]] = {}
    rows = Official.objects.filter(Q(pk__in=ids) | Q(name__in=names)).values_list(
        "id", "name", "county_id"
    )
    for official_id, name, county_id in rows:
        ref = _OfficialRef(official_id, name, county_id)
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


def _stored_starts(rows: list[ImportRow]) -> set[tuple[int, datetime]]:
    if not rows:
        return set()
    # A range and the officials, not 10,000 IN parameters: bounded query size on any database.
    starts = [row.started_at for row in rows]
    stored = LivestreamSession.objects.filter(
        official_id__in={row.official_id for row in rows},
        started_at__gte=min(starts),
        started_at__lte=max(starts),
    ).values_list("official_id", "started_at")
    return set(stored)


def import_check(*, filename: str, content: bytes) -> ImportCheck:
    """Read and validate an upload: what confirming it would save, or why it cannot.

    Raises SpreadsheetRejected when the file as a whole cannot be read.
    """
    sheet = spreadsheet_read(filename=filename, content=content)
    return session_rows_resolve(read=session_rows_read(sheet=sheet), filename=filename)


# --- Saving -------------------------------------------------------------------------------------


def sessions_import(
    *, rows: list[ImportRow], user: AbstractBaseUser | None, source: str = ""
) -> list[LivestreamSession]:
    """Save validated rows in one transaction, each with its audit history row.

    The history names `user` (also `entered_by`) and the change reason "import: <source>".
    The holidays the rows fall in are marked stale once, so one recompute per holiday
    follows the commit. A clash on the one-session-per-official-start constraint (a
    concurrent write) raises IntegrityError and saves nothing.
    """
    sessions = [
        LivestreamSession(
            official_id=row.official_id,
            county_id=row.county_id,
            platform=row.platform,
            title=row.title,
            products=row.products,
            started_at=row.started_at,
            ended_at=row.ended_at,
            audience=row.audience,
            orders=row.orders,
            revenue=row.revenue,
            entered_by=user,
        )
        for row in rows
    ]
    with transaction.atomic():
        created = bulk_create_with_history(
            sessions,
            LivestreamSession,
            batch_size=BULK_BATCH_SIZE,
            default_user=user,
            default_change_reason=f"import: {source}"[:100],
        )
        rankings_mark_stale(days={local_date(row.started_at) for row in rows})
    return created


def import_batch_stage(*, user: AbstractBaseUser, check: ImportCheck) -> ImportBatch:
    """Keep a checked upload's rows in the database until it is confirmed or cancelled (the
    preview and the confirm may reach different processes); purge expired ones."""
    if check.read is None or not check.ok:
        raise ValueError("Only a file checked without errors can be staged.")
    ImportBatch.objects.filter(created_at__lt=timezone.now() - IMPORT_BATCH_TTL).delete()
    return ImportBatch.objects.create(
        user=user, filename=check.filename[:255], content=check.read.to_json()
    )


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


def import_batch_cancel(*, batch_id: int, user: AbstractBaseUser) -> bool:
    """Drop the user's staged upload; return whether there was one. Nothing is saved."""
    deleted, _detail = ImportBatch.objects.filter(pk=batch_id, user=user).delete()
    return bool(deleted)


@dataclass
class ImportOutcome:
    check: ImportCheck
    created: int = 0


def import_batch_confirm(*, batch_id: int, user: AbstractBaseUser) -> ImportOutcome:
    """Validate the staged upload again and save all its rows, or none.

    The batch row is locked and deleted in the import's transaction, so a double-clicked
    confirm imports once (the second finds no batch: ImportBatchGone). With any error the
    transaction saves nothing and the batch stays for the user to see the errors and cancel.
    A concurrent write that wins the unique (official, start) race is reported as row errors
    found by validating again, not as a server error.
    """
    try:
        with transaction.atomic():
            batch = (
                ImportBatch.objects.select_for_update()
                .filter(pk=batch_id, user=user,
                        created_at__gte=timezone.now() - IMPORT_BATCH_TTL)
                .first()
            )
            if batch is None:
                raise ImportBatchGone
            check = import_batch_check(batch=batch)
            if not check.ok:
                return ImportOutcome(check=check)
            created = sessions_import(rows=check.rows, user=user, source=batch.filename)
            batch.delete()
    except IntegrityError:
        logger.info("Import of batch %s lost a race on a unique constraint", batch_id)
        check = import_batch_check(batch=batch)
        if check.ok:
            check.errors.append(RowError(0, "", _(
                "Another change was saved at the same time: upload the file again."
            )))
        return ImportOutcome(check=check)
    return ImportOutcome(check=check, created=len(created))


# --- Template -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportTemplate:
    content: bytes
    content_type: str
    filename: str


def _template_headers() -> list[str]:
    chinese = (get_language() or "").startswith("zh")
    return [column.header_zh if chinese else column.field for column in IMPORT_COLUMNS]


def _template_help() -> list[list[str]]:
    rows = [[_("Header"), _("Also accepted"), _("Required"), _("What to write")]]
    for column in IMPORT_COLUMNS:
        rows.append([
            column.header_zh,
            ", ".join(column.accepted_headers[1:]),
            _("yes") if column.required else _("no"),
            str(column.help),
        ])
    return rows


def import_template_build(*, file_format: str) -> ImportTemplate:
    """The downloadable template, `csv` or `xlsx`: the header row, and the accepted headers
    and formats documented (XLSX: a second sheet; CSV: "# " comment rows, which the import
    skips). Headers are Chinese under Chinese, the English data names under English."""
    headers = _template_headers()
    if file_format == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(headers)
        for line in _template_help()[1:]:
            writer.writerow([f"# {line[0]} ({line[1]}): {line[3]}"])
        # The "# " prefix stays outside the translation: it is what makes the import skip them.
        writer.writerow(["# " + _("Delete these rows or leave them: the import skips them.")])
        # The BOM makes Excel open the file as UTF-8 rather than the system code page.
        return ImportTemplate(
            content=out.getvalue().encode("utf-8-sig"),
            content_type="text/csv; charset=utf-8",
            filename="sessions-import-template.csv",
        )
    if file_format == "xlsx":
        from openpyxl import Workbook
        from openpyxl.styles import Font

        workbook = Workbook()
        sheet = workbook.active
        sheet.title = _("Sessions")
        sheet.append(headers)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for letter in "ABCDEFGHIJ":
            sheet.column_dimensions[letter].width = 18
        help_sheet = workbook.create_sheet(_("Help"))
        for line in _template_help():
            help_sheet.append(line)
        for cell in help_sheet[1]:
            cell.font = Font(bold=True)
        help_sheet.column_dimensions["A"].width = 14
        help_sheet.column_dimensions["B"].width = 40
        help_sheet.column_dimensions["D"].width = 80
        out = io.BytesIO()
        workbook.save(out)
        return ImportTemplate(
            content=out.getvalue(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            filename="sessions-import-template.xlsx",
        )
    raise ValueError(f"Unknown template format: {file_format!r}")
