"""Reading an upload's first sheet: an XLSX workbook or CSV text, recognised by content.

Uploads are untrusted: size, rows and an XLSX's unpacked size are capped before parsing;
openpyxl reads XML through defusedxml; nothing is evaluated.
"""

import csv
import io
import logging
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _

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
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls


class SpreadsheetRejected(Exception):
    """The upload as a whole cannot be read: too large, not a spreadsheet, damaged."""

    def __init__(self, message: str | Promise):
        super().__init__(message)
        self.message = message


@dataclass
class Spreadsheet:
    """The first sheet as read: headers (as written) and rows numbered as the user sees them."""

    headers: list[str]
    rows: list[tuple[int, Sequence[Any]]]


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


