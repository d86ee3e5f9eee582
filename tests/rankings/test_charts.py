"""The dashboard's figures, built from plain data without a browser or a database."""

import json
from datetime import date
from decimal import Decimal

import pytest
from django.utils import translation

from rankings import charts


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def test_top_officials_bar_lists_the_leaders_top_down_with_their_ranks():
    rows = [{"name": "Ann", "rank": 1, "value": Decimal("900.50")},
            {"name": "Bo", "rank": 2, "value": Decimal("700")},
            {"name": "Cy", "rank": 2, "value": Decimal("700")}]
    fig = charts.top_officials_bar(rows=rows, metric="revenue")
    bar = fig.data[0]
    assert list(bar.y) == ["1. Ann", "2. Bo", "2. Cy"]  # a tie keeps its shared rank
    assert list(bar.x) == [900.5, 700.0, 700.0]
    assert fig.layout.yaxis.autorange == "reversed"  # the leader on top
    assert fig.layout.title.text == "Top officials by revenue"


def test_top_officials_bar_keeps_only_the_first_ones():
    rows = [{"name": f"O{i}", "rank": i, "value": 100 - i} for i in range(1, 16)]
    fig = charts.top_officials_bar(rows=rows, metric="audience", limit=10)
    assert len(fig.data[0].y) == 10
    assert fig.data[0].y[-1] == "10. O10"


def test_revenue_by_day_shows_every_day_in_order_zeros_included():
    days = [{"date": date(2020, 5, d), "revenue": Decimal(r), "sessions": s}
            for d, r, s in [(1, "10.00", 1), (2, "0.00", 0), (3, "5.50", 2)]]
    fig = charts.revenue_by_day(days=days)
    assert list(fig.data[0].x) == ["5/1", "5/2", "5/3"]
    assert list(fig.data[0].y) == [10.0, 0.0, 5.5]
    assert list(fig.data[0].customdata) == [1, 0, 2]


def test_revenue_by_day_labels_days_the_chinese_way_under_chinese():
    with translation.override("zh-hans"):
        fig = charts.revenue_by_day(days=[{"date": date(2020, 5, 1), "revenue": 1,
                                           "sessions": 1}])
    assert list(fig.data[0].x) == ["5月1日"]


def test_revenue_by_county_marks_key_poverty_relief_counties_apart():
    counties = [{"label": "Daning", "revenue": Decimal("500"), "poverty_relief_key": True},
                {"label": "Yaodu", "revenue": Decimal("300"), "poverty_relief_key": False},
                {"label": "Jixian", "revenue": Decimal("100"), "poverty_relief_key": True},
                {"label": "Guxian", "revenue": Decimal("0"), "poverty_relief_key": False}]
    fig = charts.revenue_by_county(counties=counties)
    key, other = fig.data
    assert key.name == "Key poverty-relief county" and other.name == "Other county"
    assert list(key.y) == ["★ Daning", "★ Jixian"] and list(key.x) == [500.0, 100.0]
    assert list(other.y) == ["Yaodu", "Guxian"]
    assert key.marker.color != other.marker.color
    # One axis, in the order given (highest first), whichever trace a county is in.
    assert list(fig.layout.yaxis.categoryarray) == ["★ Daning", "Yaodu", "★ Jixian", "Guxian"]


LINK = '<a href="https://evil.example">Zhang</a> & <b>Wei</b>'


def test_markup_in_names_is_shown_as_text_not_drawn_as_links():
    officials = charts.top_officials_bar(
        rows=[{"name": LINK, "rank": 1, "value": 1}], metric="revenue")
    counties = charts.revenue_by_county(
        counties=[{"label": LINK, "revenue": 1, "poverty_relief_key": key} for key in (True,
                                                                                     False)])

    for fig in (officials, counties):
        text = json.dumps(charts.figure_json(fig))
        assert "<a" not in text and "<b>" not in text  # no tag of the name's to draw
    # Plotly shows the entities as the characters: the name reads as it was typed.
    assert officials.data[0].y[0] == (
        '1. &lt;a href="https://evil.example"&gt;Zhang&lt;/a&gt; &amp; &lt;b&gt;Wei&lt;/b&gt;')
    assert counties.data[0].y[0].startswith("★ &lt;a href=")
    assert list(counties.layout.yaxis.categoryarray) == [counties.data[0].y[0],
                                                         counties.data[1].y[0]]


def test_platform_split_names_platforms_in_the_current_language():
    platforms = [{"platform": "douyin", "revenue": Decimal("700"), "sessions": 3},
                 {"platform": "wechat_channels", "revenue": Decimal("300"), "sessions": 1}]
    fig = charts.platform_split(platforms=platforms)
    assert list(fig.data[0].labels) == ["Douyin", "WeChat Channels"]
    assert list(fig.data[0].values) == [700.0, 300.0]
    with translation.override("zh-hans"):
        zh = charts.platform_split(platforms=platforms)
    assert list(zh.data[0].labels) == ["抖音", "微信视频号"]


def test_figures_serialise_without_plotly_js_or_a_theme():
    fig = charts.revenue_by_day(days=[{"date": date(2020, 5, 1), "revenue": Decimal("1.5"),
                                       "sessions": 1}])
    data = charts.figure_json(fig)
    text = json.dumps(data)
    assert data["data"][0]["type"] == "bar"
    assert "plotly.min.js" not in text and "cdn" not in text.lower()
    assert len(text) < 2_000  # no default template's kilobytes of styling
    assert "width" not in data["layout"]  # the page decides the width


def _every_figure():
    days = [{"date": date(2020, 5, d), "revenue": Decimal("10"), "sessions": 1}
            for d in range(1, 6)]
    counties = [{"label": f"County {i}", "revenue": Decimal(1000 * i),
                 "poverty_relief_key": i % 3 == 0} for i in range(17)]
    hours = [{"hour": h, "revenue": Decimal(h * 100), "sessions": 1} for h in range(24)]
    return [
        charts.top_officials_bar(rows=[{"name": "Ann", "rank": 1, "value": Decimal("9")}],
                                 metric="revenue"),
        charts.revenue_by_day(days=days),
        charts.revenue_by_county(counties=counties),
        charts.revenue_by_hour(hours=hours, day=date(2020, 5, 3)),
    ]


def test_no_chart_zooms_or_pans_so_a_finger_scrolls_the_page():
    for fig in _every_figure():
        assert fig.layout.dragmode is False
        for axis in (fig.layout.xaxis, fig.layout.yaxis):
            assert axis.fixedrange is True, fig.layout.title.text


def test_the_county_chart_names_every_county():
    fig = _every_figure()[2]
    assert len(fig.layout.yaxis.tickvals) == 17  # explicit: Plotly cannot drop any
    assert list(fig.layout.yaxis.tickvals) == list(fig.layout.yaxis.categoryarray)


def test_money_axes_and_bar_values_are_in_the_units_people_read():
    with translation.override("zh-hans"):
        fig = charts.revenue_by_county(counties=[
            {"label": "吉县", "revenue": Decimal("14420600.50"), "poverty_relief_key": True}])
    assert list(fig.data[0].text) == ["1,442.06万"]
    assert list(fig.layout.xaxis.ticktext) == ["0", "500万", "1,000万", "1,500万"]
    # English, and the exact yuan in the hover
    fig = charts.revenue_by_county(counties=[
        {"label": "Ji", "revenue": Decimal("14420600.50"), "poverty_relief_key": True}])
    assert list(fig.data[0].text) == ["14.42 M"]
    assert ",.2f" in fig.data[0].hovertemplate


def test_revenue_by_hour_shows_every_hour_and_labels_every_third():
    fig = _every_figure()[3]
    assert list(fig.data[0].x) == [str(h) for h in range(24)]
    assert list(fig.layout.xaxis.tickvals) == [str(h) for h in range(0, 24, 3)]
    assert fig.layout.title.text == "Revenue by hour, 5/3 (yuan)"
