"""The preview table of an upload: its rows as staff wrote them, the bad ones in place with
their errors on the cells that caused them, each row's holiday (or none), and in update mode
what each row changes. Staff see the bad values where they are, not only a list of errors.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from ..models import Platform
from .columns import IMPORT_COLUMNS

# The rows shown: the first PREVIEW_ROWS of the file, and every row with an error (at most
# PREVIEW_ERRORS of them), in the file's order.


@dataclass
class PreviewCell:
    field: str
    text: str
    # What is wrong with this cell (empty: nothing).
    error: str = ""
    # Update mode: the stored value the cell replaces (None: the cell changes nothing).
    old: str | None = None


@dataclass
class PreviewRow:
    row: int
    cells: list[PreviewCell]
    # Errors of the whole row, or of a column the table does not show.
    problems: list = field(default_factory=list)
    holiday: str | None = None
    has_error: bool = False
    # Update mode: the stored session the row corrects; else a session it clashes with.
    session_id: int | None = None
    changed: bool = False


def preview_text(name: str, value: Any, *, county_name: Callable[[int], str]) -> str:
    """A value as the preview shows it."""
    if value is None:
        return ""
    if name == "county" and isinstance(value, int):
        return county_name(value)
    if name == "platform" and value in Platform.values:
        return str(Platform(value).label)
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, int) and name != "official":
        return f"{value:,}"
    if name == "items" and isinstance(value, list):
        # The lines as the cell writes them (imports/columns.py).
        return "; ".join(
            f"{line['name']}|{Decimal(line['quantity']).normalize():f}|{line['unit']}|"
            f"{Decimal(line['revenue']):.2f}"
            + ("|是" if line.get("poverty_relief_product") else "")
            for line in value if isinstance(line, dict))
    if name == "hosts" and isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def preview_rows_build(*, check, read, limit_rows: int, limit_errors: int,
                       county_name: Callable[[int], str]) -> tuple[list, list[PreviewRow]]:
    """(columns, rows) of the preview table: columns as [(field, header as written)] in the
    template's order, rows as PreviewRow."""
    columns = [(c.field, read.header_of[c.field]) for c in IMPORT_COLUMNS
               if c.field in read.header_of]
    errors_of: dict[int, list] = {}
    for error in check.errors:
        errors_of.setdefault(error.row, []).append(error)
    valid = {row.row: row for row in check.rows}
    first = [number for number, _values in read.rows[:limit_rows]]
    bad = [number for number, _values in read.rows if number in errors_of][:limit_errors]
    shown = sorted(set(first) | set(bad))
    values_of = dict(read.rows)
    header_field = {header: name for name, header in columns}

    rows = []
    for number in shown:
        values = values_of.get(number, {})
        raw = read.raw.get(number, {})
        resolved = valid.get(number)
        row_errors = errors_of.get(number, [])
        cell_errors: dict[str, list[str]] = {}
        problems = []
        for error in row_errors:
            name = header_field.get(error.column)
            if name:
                cell_errors.setdefault(name, []).append(error.reason)
            else:
                problems.append(error)
        cells = []
        for name, _header in columns:
            if name in raw:
                text = raw[name]
            elif resolved is not None and name == "official":
                text = resolved.official_name
            elif resolved is not None and name == "county":
                text = resolved.county_name
            elif resolved is not None:
                text = preview_text(name, getattr(resolved, name), county_name=county_name)
            else:
                text = preview_text(name, values.get(name), county_name=county_name)
            old = None
            if resolved is not None and name in resolved.changes:
                old = preview_text(name, resolved.changes[name][0], county_name=county_name)
            cells.append(PreviewCell(field=name, text=text,
                                     error=" ".join(cell_errors.get(name, [])), old=old))
        clash = next((e.session_id for e in row_errors if e.session_id), None)
        rows.append(PreviewRow(
            row=number, cells=cells, problems=problems,
            holiday=resolved.holiday if resolved is not None else None,
            has_error=bool(row_errors),
            session_id=resolved.session_id if resolved is not None else clash,
            changed=bool(resolved is not None and resolved.changes),
        ))
    return columns, rows
