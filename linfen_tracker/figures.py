"""How large figures are written for people to read at a glance: Chinese units under
Chinese (1,442.06万, 1.2亿), millions under English (14.42 M). Boards, cards and chart axes
use this; tables, exports and the API keep exact yuan.

One formatter for the templates (the `money` filter) and the charts (`rankings/charts.py`),
so a figure reads the same on a card and on the axis beside it.
"""

import math
from decimal import ROUND_HALF_UP, Decimal

from linfen_tracker.i18n import language_is_chinese

_UNITS_ZH = ((Decimal(10) ** 8, "亿"), (Decimal(10) ** 4, "万"))
_UNITS_EN = ((Decimal(10) ** 9, " B"), (Decimal(10) ** 6, " M"))


def short_figure(value, *, chinese: bool | None = None) -> str:
    """`value` in the largest unit it reaches, at most 2 decimals (trailing zeros dropped):
    14420600.5 -> "1,442.06万" / "14.42 M"; 120000000 -> "1.2亿" / "120 M". Below the
    first unit (10,000 in Chinese, a million in English) the whole number: 9000.5 ->
    "9,001" (no cents). None -> "–"."""
    if value is None or value == "":
        return "–"
    number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    if not number.is_finite():
        return "–"
    chinese = language_is_chinese() if chinese is None else chinese
    sign = "-" if number < 0 else ""
    number = abs(number)
    for size, unit in _UNITS_ZH if chinese else _UNITS_EN:
        # Rounded first, so 99,999,999 is "1亿", not "10,000万".
        scaled = (number / size).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if scaled >= 1:
            text = f"{scaled:,.2f}".rstrip("0").rstrip(".")
            return f"{sign}{text}{unit}"
    return f"{sign}{number.quantize(Decimal(1), rounding=ROUND_HALF_UP):,}"


def axis_ticks(maximum, *, count: int = 5, chinese: bool | None = None
               ) -> tuple[list[float], list[str]]:
    """Round tick values from 0 past `maximum` (about `count` steps of 1, 2, 2.5 or 5 times a
    power of ten) and their labels by `short_figure`: the axis of a chart in the same
    units as the cards."""
    top = float(maximum or 0)
    if top <= 0:
        return [0.0], ["0"]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [i * step for i in range(int(top // step) + 2)]
    return ticks, [short_figure(Decimal(str(t)), chinese=chinese) for t in ticks]
