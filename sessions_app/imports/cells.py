"""Reading one cell as the value of its column: only parsing, with the messages every entry
path uses (validators.PARSE_MESSAGES). The rules are the model's (rows.py applies them)."""

import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from ..validators import PARSE_MESSAGES
from .columns import PLATFORM_CODES, UNIT_CODES, _header_key

BEIJING = timezone.get_default_timezone()
CENT = Decimal("0.01")


class _CellError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _formula_check(value: Any) -> None:
    """A formula where a number or a time belongs: say so, rather than "not a number".
    (Text starting with "=" is the model's rule, with the same message as on every path.)"""
    formula = (isinstance(value, str) and value.lstrip().startswith("=")) or type(
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
    return str(value).strip()


def _required() -> _CellError:
    return _CellError(str(PARSE_MESSAGES["required"]))


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
    # Chinese and English names are read as the code; anything else goes to the model as
    # written, which refuses it with the message every path gives.
    return PLATFORM_CODES.get(_header_key(text), text)


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
            raise _CellError(str(PARSE_MESSAGES["moment"]))
    else:
        raise _CellError(str(PARSE_MESSAGES["moment"]))
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
        raise _CellError(str(PARSE_MESSAGES["whole_number"]))
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise _CellError(str(PARSE_MESSAGES["whole_number"]))
    if isinstance(value, str):
        text = _number_text(value)
        if re.fullmatch(r"[+-]?\d+(\.0*)?", text):
            return int(Decimal(text))
    raise _CellError(str(PARSE_MESSAGES["whole_number"]))


def _amount(value: Any) -> Decimal:
    if _empty(value):
        raise _required()
    if isinstance(value, bool):
        raise _CellError(str(PARSE_MESSAGES["amount"]))
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
    raise _CellError(str(PARSE_MESSAGES["amount"]))


def _cents(amount: Decimal) -> Decimal:
    """1.5000 and 1.5 become 1.50 (the same amount); 1.505 stays as it is, to be refused."""
    try:
        rounded = amount.quantize(CENT)
    except InvalidOperation:  # more digits than any revenue: the field's check refuses it
        return amount
    return rounded if rounded == amount else amount


def _optional_whole_number(value: Any) -> int:
    return 0 if _empty(value) else _whole_number(value)


def _optional_amount(value: Any) -> Decimal:
    return Decimal("0.00") if _empty(value) else _amount(value)


def _optional_count(value: Any) -> int | None:
    """An optional figure: empty is "not reported" (None), not 0."""
    return None if _empty(value) else _whole_number(value)


def _hosts(value: Any) -> list[int | str]:
    """Co-hosts: ids or names separated by ; (or ， 、 ,); resolved with the officials."""
    text = unicodedata.normalize("NFKC", _text(value))
    return [_official_key(part.strip()) for part in re.split(r"[;,、]", text) if part.strip()]


_YES = {"是", "yes", "y", "1", "true", "扶贫", "√"}
_NO = {"否", "no", "n", "0", "false", ""}


def _items(value: Any) -> list[dict]:
    """Item lines in one cell: lines separated by ; (or a line break), each
    "product|quantity|unit|revenue|是" (the last part optional). Only parsing: the rules
    (quantity > 0, the lines' revenues at most the session's) are the model's and the
    service's, checked as for every path."""
    text = unicodedata.normalize("NFKC", _text(value))
    lines = []
    for number, line in enumerate((p for p in re.split(r"[;\n]", text) if p.strip()), 1):
        parts = [part.strip() for part in line.split("|")]
        if len(parts) not in (4, 5):
            raise _CellError(_("Item line %(line)s: write product|quantity|unit|revenue, "
                               "optionally |是 for a certified poverty-alleviation product.")
                             % {"line": number})
        name, quantity, unit, revenue = parts[:4]
        flag = parts[4].casefold() if len(parts) == 5 else ""
        try:
            quantity_value = Decimal(_number_text(quantity))
            if not quantity_value.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            raise _CellError(_("Item line %(line)s: %(message)s") % {
                "line": number, "message": PARSE_MESSAGES["number"]}) from None
        try:
            revenue_value = _amount(revenue)
        except _CellError as error:
            raise _CellError(_("Item line %(line)s: %(message)s") % {
                "line": number, "message": error.reason}) from None
        if flag not in _YES | _NO:
            raise _CellError(_("Item line %(line)s: %(message)s") % {
                "line": number, "message": PARSE_MESSAGES["yes_no"]})
        lines.append({"name": name, "quantity": quantity_value,
                      "unit": UNIT_CODES.get(_header_key(unit), unit), "revenue": revenue_value,
                      "poverty_relief_product": flag in _YES})
    return lines


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
    "refunded_orders": _optional_whole_number,
    "refunds": _optional_amount,
    "unique_viewers": _optional_count,
    "peak_viewers": _optional_count,
    "new_followers": _optional_count,
    "hosts": _hosts,
    "items": _items,
}


