"""Plotly figures of a holiday: pure functions from plain data to a `plotly.graph_objects.Figure`.

Pages embed each figure as JSON (`figure_json`) and `static/js/charts.js` draws it with the
plotly.js served from `static/vendor/`; no figure ever inlines plotly.js. Labels are
translated when a function runs, so call them under the request's language. Layouts carry no
fixed width and no theme template (the default one adds kilobytes of JSON to every figure);
`charts.js` makes them responsive and larger on the big screen.
"""

import html
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal

import plotly.graph_objects as go
from django.utils.translation import gettext as _

from linfen_tracker.figures import axis_ticks, short_figure
from sessions_app.models import Platform

from . import metrics

RED = "#c0392b"
BLUE = "#1f6feb"
KEY_COLOUR = "#b35900"
OTHER_COLOUR = "#8c96a8"
PLATFORM_COLOURS = ["#c0392b", "#1f6feb", "#e8a33d", "#1a7f37", "#8250df", "#bf3989", "#5d6678"]

_INTEGER = ",.0f"


def _layout(**extra) -> dict:
    # No drag zoom or pan anywhere (`dragmode: False`, and `fixedrange` on every axis): on a
    # phone a finger dragged over a chart must scroll the page, not trap the official in a
    # zoomed chart. charts.js also hides Plotly's toolbar.
    return {
        "dragmode": False,
        "template": "none",
        "font": {"family": "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif",
                 "size": 14, "color": "#1d2330"},
        "margin": {"l": 10, "r": 10, "t": 48, "b": 10},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "separators": ".,",
        **extra,
    }


def _number(value) -> float:
    return float(value) if isinstance(value, Decimal) else value


def plain_text(value) -> str:
    """`value` as Plotly shows text literally. Plotly reads labels, hover text and titles
    as a subset of HTML (`<a href>`, `<b>`, `<br>`, `<span style>`): a name holding
    `<a href=...>` would become a live link on the dashboard and the big screen. `&`, `<`
    and `>` become entities, which Plotly shows as the characters. For every text that
    comes from data (names), never for the templates we write."""
    return html.escape(str(value), quote=False)


def day_label(day) -> str:
    """"5月1日" / "5/1": Django's zh_Hans MONTH_DAY_FORMAT pads the month ("05月1日")."""
    return _("%(month)s/%(day)s") % {"month": day.month, "day": day.day}


def metric_label(metric: str) -> str:
    return metrics.metric_label(metric)


def metric_in_sentence(metric: str) -> str:
    """The metric's label inside a sentence: "Revenue" -> "revenue", "Net revenue" -> "net
    revenue"; an abbreviation ("GPM") and Chinese stay as they are."""
    label = metric_label(metric)
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def _value_axis(values, *, grid: bool = True, **extra) -> dict:
    """A value axis with round ticks labelled in the cards' units (1,000万 / 10 M), fixed:
    no zoom."""
    ticks, labels = axis_ticks(max((_number(v) for v in values), default=0))
    axis = {"automargin": True, "fixedrange": True, "tickmode": "array", "tickvals": ticks,
            "ticktext": labels, "range": [0, ticks[-1] if ticks[-1] > 0 else 1], **extra}
    if grid:
        axis["gridcolor"] = "#dde1e8"
    return axis


def _category_axis(labels: list[str], **extra) -> dict:
    """A category axis naming every category: Plotly's automatic ticks drop every other
    label when they crowd (9 of 17 counties on the big screen); an explicit list does not."""
    return {"type": "category", "automargin": True, "fixedrange": True, "tickmode": "array",
            "tickvals": labels, "ticktext": labels, **extra}


def top_officials_bar(*, rows: Iterable[Mapping], metric: str, limit: int = 10) -> go.Figure:
    """Horizontal bars of the best `limit` officials for `metric`, the leader on top.

    `rows` are board entries in rank order: {"name", "rank", "value"}; the bar label
    carries the rank, so ties show the same number.
    """
    rows = [row for row in rows if row["value"] is not None][:limit]
    labels = [f"{row['rank']}. {plain_text(row['name'])}" for row in rows]
    values = [_number(row["value"]) for row in rows]
    value_format = metrics.metric_format(metric)
    money = value_format == "money"

    def text(value) -> str:
        if money:
            return short_figure(value)
        return f"{_number(value):,.2f}" if value_format == "decimal" else \
            f"{_number(value):,.0f}"

    fig = go.Figure(
        go.Bar(
            x=values,
            y=labels,
            orientation="h",
            marker={"color": RED},
            text=[text(row["value"]) for row in rows],
            textposition="auto",
            hovertemplate="%{y}: %{x:" + (_INTEGER if value_format == "count" else ",.2f")
            + "}<extra></extra>",
        )
    )
    fig.update_layout(
        **_layout(title={"text": _("Top officials by %(metric)s") % {
            "metric": metric_in_sentence(metric)}}),
        yaxis=_category_axis(labels, autorange="reversed"),
        xaxis=_value_axis(values),
        height=max(260, 36 * len(rows) + 90),
    )
    return fig


def revenue_by_day(*, days: Iterable[Mapping]) -> go.Figure:
    """Revenue of each day of the holiday, every day shown (zeros too), in date order.

    `days` are {"date", "revenue", "sessions"}, as `holiday_summary()["by_day"]`.
    """
    days = list(days)
    labels = [day_label(day["date"]) for day in days]
    values = [_number(day["revenue"]) for day in days]
    sessions = [day["sessions"] for day in days]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker={"color": BLUE},
            customdata=sessions,
            hovertemplate="%{x}: %{y:,.2f} "
            + _("yuan") + " (%{customdata} " + _("sessions") + ")<extra></extra>",
        )
    )
    fig.update_layout(
        **_layout(title={"text": _("Revenue by day (yuan)")}),
        xaxis=_category_axis(labels),
        yaxis=_value_axis(values),
        height=320,
    )
    return fig


def revenue_by_county(*, counties: Iterable[Mapping]) -> go.Figure:
    """Revenue of every county, highest first, key poverty-relief counties marked.

    `counties` are {"label", "revenue", "poverty_relief_key"} in the order to show. Key
    counties get their own colour, a star before the name and a legend entry, so the mark
    survives a black-and-white projector.
    """
    counties = list(counties)
    return _marked_revenue_bars(
        counties, label=_county_label, marked=lambda c: c["poverty_relief_key"],
        names=(_("Key poverty-relief county"), _("Other county")),
        # The value on each bar; nothing for a county with nothing.
        text=lambda c: short_figure(c["revenue"]) if c["revenue"] else "",
        hovertemplate="%{y}: %{x:,.2f}<extra></extra>",
        title=_("Revenue by county (yuan)"), height=max(320, 28 * len(counties) + 120),
    )


def _marked_revenue_bars(items: list[Mapping], *, label, marked, names: tuple[str, str],
                         text, hovertemplate: str, title: str, height: int) -> go.Figure:
    """Horizontal revenue bars of `items` in their order, those `marked` (key counties,
    certified products) in their own colour and legend entry (`names`: marked, other)."""
    order = [label(item) for item in items]
    fig = go.Figure()
    for is_marked, name, colour in ((True, names[0], KEY_COLOUR),
                                    (False, names[1], OTHER_COLOUR)):
        group = [item for item in items if bool(marked(item)) is is_marked]
        fig.add_trace(go.Bar(
            x=[_number(item["revenue"]) for item in group],
            y=[label(item) for item in group],
            orientation="h", name=name, marker={"color": colour},
            text=[text(item) for item in group], textposition="auto",
            hovertemplate=hovertemplate,
        ))
    fig.update_layout(
        **_layout(title={"text": title}),
        barmode="overlay",
        yaxis=_category_axis(order, categoryorder="array", categoryarray=order,
                             autorange="reversed"),
        xaxis=_value_axis([item["revenue"] for item in items]),
        legend={"orientation": "h", "y": -0.08, "x": 0},
        height=height,
    )
    return fig


def _county_label(county: Mapping) -> str:
    label = plain_text(county["label"])
    return f"★ {label}" if county["poverty_relief_key"] else label


def platform_split(*, platforms: Iterable[Mapping]) -> go.Figure:
    """Share of revenue by platform, a ring; `platforms` are {"platform", "revenue",
    "sessions"}, as `holiday_summary()["by_platform"]`."""
    platforms = list(platforms)
    fig = go.Figure(
        go.Pie(
            labels=[str(Platform(p["platform"]).label) for p in platforms],
            values=[_number(p["revenue"]) for p in platforms],
            customdata=[p["sessions"] for p in platforms],
            hole=0.45,
            sort=False,
            marker={"colors": PLATFORM_COLOURS[: len(platforms)]},
            textinfo="label+percent",
            hovertemplate="%{label}: %{value:,.2f} " + _("yuan")
            + " (%{customdata} " + _("sessions") + ")<extra></extra>",
        )
    )
    fig.update_layout(
        **_layout(title={"text": _("Revenue by platform")}),
        showlegend=False,
        height=340,
    )
    return fig


def revenue_by_hour(*, hours: Iterable[Mapping], day) -> go.Figure:
    """Revenue of each hour of one day (a session counts in the hour it started, Beijing
    time), every hour from 0 to 23 shown. `hours` are {"hour", "revenue", "sessions"}."""
    hours = sorted(hours, key=lambda h: h["hour"])
    labels = [str(h["hour"]) for h in hours]
    values = [_number(h["revenue"]) for h in hours]
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=values,
            marker={"color": BLUE},
            customdata=[h["sessions"] for h in hours],
            hovertemplate="%{x}:00 %{y:,.2f} " + _("yuan")
            + " (%{customdata} " + _("sessions") + ")<extra></extra>",
        )
    )
    fig.update_layout(
        **_layout(title={"text": _("Revenue by hour, %(day)s (yuan)") % {
            "day": day_label(day)}}),
        # Every third hour labelled: 24 labels do not fit a third of a screen in large type.
        xaxis={"type": "category", "automargin": True, "fixedrange": True,
               "tickmode": "array", "tickvals": labels[::3], "ticktext": labels[::3]},
        yaxis=_value_axis(values),
        height=320,
    )
    return fig


def revenue_by_product(*, products: Iterable[Mapping]) -> go.Figure:
    """The products with the most revenue (from the sessions' item lines), highest first;
    certified poverty-alleviation products in their own colour and marked with ✓.

    `products` are {"name", "revenue", "certified"}, as `holiday_summary()["by_product"]`."""
    products = list(products)
    return _marked_revenue_bars(
        products, label=_product_label, marked=lambda p: p["certified"],
        names=(_("Certified poverty-alleviation product"), _("Other product")),
        text=lambda p: short_figure(p["revenue"]),
        hovertemplate="%{y}: %{x:,.2f} " + _("yuan") + "<extra></extra>",
        title=_("Revenue by product (top 10, yuan)"),
        height=max(280, 30 * len(products) + 130),
    )


def _product_label(product: Mapping) -> str:
    label = plain_text(product["name"])
    return f"✓ {label}" if product["certified"] else label


def conversion_against_audience(*, officials: Iterable[Mapping]) -> go.Figure:
    """One point per ranked official: audience (views) across, conversion (orders per 100
    views) up, the name on hover: who draws viewers and who sells. Officials without a
    conversion (no audience) are left out. `officials` are {"name", "audience",
    "conversion", "revenue"}."""
    officials = [o for o in officials if o["conversion"] is not None]
    fig = go.Figure(go.Scatter(
        x=[_number(o["audience"]) for o in officials],
        y=[_number(o["conversion"]) for o in officials],
        mode="markers",
        marker={"color": RED, "size": 10, "opacity": 0.75},
        text=[plain_text(o["name"]) for o in officials],
        customdata=[_number(o["revenue"]) for o in officials],
        hovertemplate="%{text}<br>" + _("Audience") + " %{x:,.0f}<br>" + _("Conversion")
        + " %{y:.2f}%<br>" + _("Revenue") + " %{customdata:,.2f}<extra></extra>",
    ))
    fig.update_layout(
        **_layout(title={"text": _("Conversion against audience, per official")}),
        xaxis={**_value_axis([o["audience"] for o in officials]),
               "title": {"text": _("Audience (views)")}},
        yaxis={"automargin": True, "fixedrange": True, "gridcolor": "#dde1e8",
               "rangemode": "tozero", "ticksuffix": "%",
               "title": {"text": _("Conversion (orders per 100 views)")}},
        height=380,
    )
    return fig


def figure_json(fig: go.Figure) -> dict:
    """The figure as plain JSON data, for `json_script` (numbers and dates already encoded
    by plotly's own encoder)."""
    return json.loads(fig.to_json())
