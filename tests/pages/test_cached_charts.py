"""The dashboard's charts are cached for every process under what they are drawn from, so a
renamed county or official, a changed poverty-relief flag or a new session shows in them on
the next page, not minutes later. Run on PostgreSQL + Redis too (REDIS_URL)."""

import json
import re
from decimal import Decimal

import pytest

from rankings import charts
from rankings.services import holiday_rankings_recompute
from sessions_app.models import Official
from sessions_app.services import session_create
from tests.factories import OfficialFactory, SessionFactory, beijing

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client, official_user):
    client.force_login(official_user)
    return client


@pytest.fixture
def ranked(holiday, county, other_county):
    """Sessions in Ji County (a key poverty-relief county) and Yaodu District (not one)."""
    SessionFactory(official=OfficialFactory(name="Zhang Wei", county=county),
                   revenue=Decimal("1000.00"))
    SessionFactory(official=OfficialFactory(name="Li Na", county=other_county),
                   revenue=Decimal("300.00"))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    return holiday


def chart(client, element_id: str, lang: str = "en") -> dict:
    response = client.get("/holidays/labor-day-2020/", HTTP_ACCEPT_LANGUAGE=lang)
    assert response.status_code == 200
    data = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>',
                     response.content.decode(), re.S).group(1)
    return json.loads(data)


def bar_labels(figure: dict) -> list[str]:
    return [label for trace in figure["data"] for label in trace["y"]]


def test_a_repeated_dashboard_draws_no_chart_again(reader, ranked, monkeypatch):
    drawn = []
    real = charts.revenue_by_county
    monkeypatch.setattr(charts, "revenue_by_county",
                        lambda **kwargs: drawn.append(1) or real(**kwargs))

    first = chart(reader, "chart-by-county")
    again = chart(reader, "chart-by-county")

    assert again == first
    assert len(drawn) == 1


def test_a_renamed_county_shows_in_the_county_chart_at_once(reader, ranked, county):
    assert "★ Ji County" in bar_labels(chart(reader, "chart-by-county"))
    assert "★ 吉县" in bar_labels(chart(reader, "chart-by-county", lang="zh-hans"))

    county.name, county.name_zh = "Jixian", "吉县新名"
    county.save()

    assert "★ Jixian" in bar_labels(chart(reader, "chart-by-county"))
    assert "★ 吉县新名" in bar_labels(chart(reader, "chart-by-county", lang="zh-hans"))


def test_a_changed_poverty_relief_flag_shows_in_the_county_chart_at_once(
    reader, ranked, other_county
):
    assert "Yaodu District" in bar_labels(chart(reader, "chart-by-county"))

    other_county.poverty_relief_key = True
    other_county.save()

    key_trace = chart(reader, "chart-by-county")["data"][0]
    assert "★ Yaodu District" in key_trace["y"]


def test_a_renamed_official_shows_in_the_top_officials_chart_at_once(reader, ranked):
    assert "1. Zhang Wei" in bar_labels(chart(reader, "chart-top-officials"))
    official = Official.objects.get(name="Zhang Wei")

    official.name = "Zhang Wei (Ji County)"
    official.save()

    assert "1. Zhang Wei (Ji County)" in bar_labels(chart(reader, "chart-top-officials"))


def test_a_new_session_shows_in_the_day_chart_at_once(reader, ranked, county):
    def may_4(figure):
        return figure["data"][0]["y"][3]

    host = OfficialFactory(county=county)
    assert may_4(chart(reader, "chart-by-day")) == 0

    session_create(entered_by=None, official=host,
                   platform="jd", title="Millet", started_at=beijing(2020, 5, 4, 10),
                   ended_at=beijing(2020, 5, 4, 11), audience=1, orders=1,
                   revenue=Decimal("700.00"))

    assert may_4(chart(reader, "chart-by-day")) == 700
