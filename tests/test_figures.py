"""Large figures as people read them: Chinese units under Chinese, millions under English."""

from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from linfen_tracker.figures import axis_ticks, short_figure


@pytest.mark.parametrize(("value", "chinese", "english"), [
    (Decimal("14420600.50"), "1,442.06万", "14.42 M"),
    (Decimal("120000000"), "1.2亿", "120 M"),
    (Decimal("9000.50"), "9,001", "9,001"),  # no cents on boards
    (Decimal("10000"), "1万", "10,000"),
    (Decimal("99999999"), "1亿", "100 M"),  # rounding reaches the next unit
    (Decimal("12345678901"), "123.46亿", "12.35 B"),
    (0, "0", "0"),
    (None, "–", "–"),
])
def test_short_figures_in_both_languages(value, chinese, english):
    assert short_figure(value, chinese=True) == chinese
    assert short_figure(value, chinese=False) == english


def test_the_money_filter_follows_the_page_language():
    template = Template("{% load figures %}{{ v|money }}")
    with translation.override("zh-hans"):
        assert template.render(Context({"v": Decimal("14200000")})) == "1,420万"
    with translation.override("en"):
        assert template.render(Context({"v": Decimal("14200000")})) == "14.2 M"


def test_axis_ticks_are_round_and_labelled_in_the_same_units():
    assert axis_ticks(Decimal("7500000"), chinese=True) == (
        [0, 2_000_000, 4_000_000, 6_000_000, 8_000_000], ["0", "200万", "400万", "600万", "800万"])
    assert axis_ticks(14_200_000, chinese=False)[1] == ["0", "5 M", "10 M", "15 M"]
    assert axis_ticks(0) == ([0.0], ["0"])
