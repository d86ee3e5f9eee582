"""Spreadsheet-safe downloads, shared by both apps' exports (API, admin, report).

A cell whose text starts with a formula prefix is run as a formula when Excel or WPS opens
the file (CSV injection, OWASP): `=HYPERLINK(...)`, `+cmd`, `@SUM(...)`, and a leading tab or
carriage return, which some programs skip before looking for one. Entry refuses such text
(sessions_app.validators.NoFormulaValidator); every export quotes it as well, through
`export_cell`, because rows written before that rule, or names typed into the admin, may
still hold it.
"""

import csv
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def export_cell(value) -> object:
    """A value as an export writes it: text starting with a formula prefix gets a leading
    apostrophe, which spreadsheets show as plain text; None becomes empty; numbers stay."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return "" if value is None else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(*, header: list, rows: Iterable[list], filename: str) -> StreamingHttpResponse:
    """A streamed CSV download in UTF-8 with a byte-order mark, which is what makes Excel
    read Chinese text as UTF-8 rather than the system code page. Every cell, headers
    included, goes through `export_cell`."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield "\ufeff" + writer.writerow([export_cell(str(h)) for h in header])
        for row in rows:
            yield writer.writerow([export_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
