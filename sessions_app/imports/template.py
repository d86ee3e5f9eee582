"""The downloadable import template (CSV or XLSX) with the accepted headers documented."""

import csv
import io
from dataclasses import dataclass

from django.utils.translation import gettext as _

from linfen_tracker.i18n import language_is_chinese

from .columns import IMPORT_COLUMNS


@dataclass(frozen=True)
class ImportTemplate:
    content: bytes
    content_type: str
    filename: str


def _template_headers() -> list[str]:
    chinese = language_is_chinese()
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

