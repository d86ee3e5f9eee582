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


def _reference_rows() -> tuple[list[list], list[list]]:
    """The active officials [id, name, title, county] (by county in pinyin order, then the
    pinyin of the name) and the counties [slug, name], in the page's language."""
    from ..models import County, Official

    officials = [
        [o.pk, o.name, o.display_title, o.county.display_name]
        for o in Official.objects.filter(active=True).select_related("county")
        .order_by("county__name", "name_pinyin", "name", "pk")
    ]
    counties = [[c.slug, c.display_name] for c in County.objects.order_by("name")]
    return officials, counties


def _quoted(sheet_title: str) -> str:
    return "'" + sheet_title.replace("'", "''") + "'"


def _dropdowns(sheet, headers: list[str], *, officials_sheet, officials: int,
               counties_sheet, counties: int) -> None:
    """Lists to pick from in the official, county and platform columns (Excel's data
    validation), for every row the import reads. A value typed outside a list is refused by
    Excel with a message; the import checks every cell again anyway."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    from .columns import IMPORT_COLUMNS, PLATFORM_NAMES
    from .spreadsheets import IMPORT_MAX_ROWS

    chinese = language_is_chinese()
    column_of = {column.field: get_column_letter(i + 1) for i, column in enumerate(IMPORT_COLUMNS)}
    header_of = {column.field: headers[i] for i, column in enumerate(IMPORT_COLUMNS)}
    last_row = IMPORT_MAX_ROWS + 1
    lists = {
        "official": (f"={_quoted(officials_sheet.title)}!$B$2:$B${officials + 1}",
                     _("Pick an official from the list (sheet “%(sheet)s”), or write their "
                       "id.") % {"sheet": officials_sheet.title}),
        "county": (f"={_quoted(counties_sheet.title)}!$B$2:$B${counties + 1}",
                   _("Pick a county from the list, or leave it empty for the official's.")),
        "platform": ('"' + ",".join(names[0] if chinese else str(code)
                                    for code, names in PLATFORM_NAMES.items()) + '"',
                     _("Pick a platform from the list.")),
    }
    for field, (source, message) in lists.items():
        if (field == "official" and not officials) or (field == "county" and not counties):
            continue
        # An id is allowed in the official column too: warn rather than stop.
        validation = DataValidation(
            type="list", formula1=source, allow_blank=True, showErrorMessage=True,
            errorStyle="warning" if field == "official" else "stop",
            errorTitle=_("Not in the list"), error=message,
            promptTitle=header_of[field][:32], prompt=message, showInputMessage=True,
        )
        letter = column_of[field]
        validation.add(f"{letter}2:{letter}{last_row}")
        sheet.add_data_validation(validation)


def import_template_build(*, file_format: str) -> ImportTemplate:
    """The downloadable template, `csv` or `xlsx`: the header row, and the accepted headers
    and formats documented (XLSX: a second sheet; CSV: "# " comment rows, which the import
    skips). Headers are Chinese under Chinese, the English data names under English.

    The XLSX also lists the active officials (id, name, job title, county) and the counties
    on sheets of their own, and its official, county and platform columns offer them as
    drop-down lists."""
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

        officials, counties = _reference_rows()
        officials_sheet = workbook.create_sheet(_("Officials"))
        officials_sheet.append([_("Id"), _("Name"), _("Job title"), _("County")])
        for row in officials:
            officials_sheet.append(row)
        counties_sheet = workbook.create_sheet(_("Counties"))
        counties_sheet.append([_("Slug"), _("Name")])
        for row in counties:
            counties_sheet.append(row)
        for reference in (officials_sheet, counties_sheet):
            for cell in reference[1]:
                cell.font = Font(bold=True)
            reference.freeze_panes = "A2"
            for letter in "ABCD":
                reference.column_dimensions[letter].width = 18
        _dropdowns(sheet, headers, officials_sheet=officials_sheet, officials=len(officials),
                   counties_sheet=counties_sheet, counties=len(counties))
        out = io.BytesIO()
        workbook.save(out)
        return ImportTemplate(
            content=out.getvalue(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            filename="sessions-import-template.xlsx",
        )
    raise ValueError(f"Unknown template format: {file_format!r}")

