"""How the pages print figures: counts and yuan with thousands separators in every language
(Django's zh_Hans format has none, which makes 14200000 hard to read on a projector), and
a leaderboard entry's movement since the previous snapshot."""

from decimal import Decimal

from django import template

from linfen_tracker.figures import short_figure

register = template.Library()


@register.filter
def money(value) -> str:
    """Yuan as people read them on boards and cards: 14200600.5 -> "1,420.06万" (Chinese),
    "14.2 M" (English); below 10,000 (a million) the whole yuan. Exact yuan: `yuan`."""
    return short_figure(value)


@register.filter
def count(value) -> str:
    """12345678 -> "12,345,678"; None -> "–"."""
    if value is None or value == "":
        return "–"
    return f"{int(value):,}"


@register.filter
def yuan(value) -> str:
    """Decimal("14200000.5") -> "14,200,000.50"; None -> "–"."""
    if value is None or value == "":
        return "–"
    return f"{Decimal(value):,.2f}"


@register.filter
def percent(value) -> str:
    """A share 0.7042 -> "70.4%"; None (nothing to share) -> "–"."""
    if value is None:
        return "–"
    return f"{Decimal(value) * 100:.1f}%"


@register.filter
def movement(entry) -> str:
    """`new` (not in the previous snapshot), `up`, `down` or `same`, from `previous_rank`."""
    if entry.previous_rank is None:
        return "new"
    if entry.rank < entry.previous_rank:
        return "up"
    if entry.rank > entry.previous_rank:
        return "down"
    return "same"


@register.filter
def rank_change(entry) -> int:
    """How many places the entry moved (always positive; 0 when new or unchanged)."""
    if entry.previous_rank is None:
        return 0
    return abs(entry.previous_rank - entry.rank)


@register.filter
def metric_value(value, value_format: str) -> str:
    """A board's value as its metric's format says (rankings/metrics.py): "count" 12,345;
    "money" short yuan (1,420.06万); "decimal" 2 places (a ratio, a score); None -> "–"
    (a zero denominator, nothing reported)."""
    if value is None or value == "":
        return "–"
    if value_format == "money":
        return short_figure(value)
    if value_format == "decimal":
        return f"{Decimal(value):,.2f}"
    return f"{int(value):,}"


@register.filter
def component_percent(share) -> str:
    """A composite component 0.8333 -> "83.3%"."""
    if share is None:
        return "–"
    return f"{Decimal(str(share)) * 100:.1f}%"
