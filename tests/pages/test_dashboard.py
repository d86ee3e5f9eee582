"""The holiday dashboard, the big screen and the official page: what they show and what they
say when there is nothing (yet) to show."""

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import F
from django.utils import timezone

from rankings.models import RankingSnapshot
from rankings.services import holiday_rankings_recompute
from sessions_app.models import County
from sessions_app.services import holiday_save, session_update
from tests.factories import HolidayFactory, OfficialFactory, SessionFactory, beijing

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client, official_user):
    client.force_login(official_user)
    return client


def get(client, url, lang="en"):
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=lang)
    assert response.status_code == 200, url
    return response.content.decode()


def board_rows(html):
    """(rank, movement, name) of each leaderboard row, in order."""
    rows = re.findall(
        r'<tr data-rank="(\d+)" data-movement="(\w+)">.*?<td class="name">(?:<a [^>]*>)?([^<]+)<',
        html, re.S,
    )
    return [(int(rank), move, name.strip()) for rank, move, name in rows]


def test_with_no_holiday_the_dashboard_says_there_is_none_yet(reader):
    html = get(reader, "/")
    assert 'data-empty="no-holiday"' in html
    assert "There is no holiday to rank yet" in html


def test_a_holiday_with_no_sessions_says_so_and_draws_no_charts(reader, holiday):
    holiday_rankings_recompute(holiday_id=holiday.pk)
    html = get(reader, "/")
    assert "No sessions have been recorded for this holiday yet." in html
    assert 'data-figure="' not in html
    assert "plotly.min.js" not in html


def test_a_session_shows_on_the_board_before_any_snapshot(reader, holiday):
    SessionFactory(official=OfficialFactory(name="Before any snapshot"))
    html = get(reader, f"/holidays/{holiday.slug}/")
    assert 'data-status="ready"' in html
    assert board_rows(html)[0][2] == "Before any snapshot"


def test_after_a_change_the_dashboard_shows_the_new_board_without_waiting(reader, holiday):
    session = SessionFactory(official=OfficialFactory(name="Was first"), revenue=Decimal("900"))
    SessionFactory(official=OfficialFactory(name="Now first"), revenue=Decimal("500"))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    session_update(session=session, updated_by=None, data={"revenue": Decimal("100")},
                   expected_version=session.version)
    html = get(reader, "/")
    assert 'data-status="ready"' in html
    assert [n for _r, _m, n in board_rows(html)] == ["Now first", "Was first"]
    assert "js/dashboard.js" not in html  # nothing to wait for


def test_headline_shows_totals_and_the_poverty_relief_share(reader, holiday):
    key = County.objects.get(slug="jixian")
    other = County.objects.get(slug="yaodu")
    assert key.poverty_relief_key and not other.poverty_relief_key
    SessionFactory(official=OfficialFactory(county=key), revenue=Decimal("300000.00"),
                   audience=1_000_000, orders=2_500)
    SessionFactory(official=OfficialFactory(county=other), revenue=Decimal("100000.00"),
                   audience=234_567, orders=500)
    SessionFactory(official=OfficialFactory(county=key), revenue=Decimal("999.00"),
                   started_at=beijing(2020, 5, 6, 0, 0))  # the day after: not counted
    html = get(reader, "/")
    assert re.search(r'data-total="sessions">2<', html)
    assert re.search(r'data-total="audience">1,234,567<', html)
    assert re.search(r'data-total="orders">3,000<', html)
    # Cards in the units people read (English: whole yuan below a million), exact on hover.
    assert re.search(r'data-total="revenue" title="400,000.00">400,000<', html)
    assert re.search(r'data-total="poverty_relief_revenue" title="300,000.00">300,000<', html)
    assert "75.0% of revenue" in html


def test_ties_share_a_rank_and_say_so_and_the_next_rank_is_skipped(reader, holiday):
    for name, revenue in [("Ann", "900.00"), ("Bo", "700.00"), ("Cy", "700.00"), ("Di", "500")]:
        SessionFactory(official=OfficialFactory(name=name), revenue=Decimal(revenue))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    html = get(reader, "/?metric=revenue&scope=official")
    assert [(r, n) for r, _, n in board_rows(html)] == [
        (1, "Ann"), (2, "Bo"), (2, "Cy"), (4, "Di")
    ]
    assert html.count("(tied)") == 2


def test_metric_and_scope_tabs_pick_the_board(reader, holiday):
    SessionFactory(official=OfficialFactory(name="Many viewers"), audience=900, orders=1,
                   revenue=Decimal("1.00"))
    SessionFactory(official=OfficialFactory(name="Many orders"), audience=1, orders=900,
                   revenue=Decimal("2.00"))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    assert board_rows(get(reader, "/?metric=audience"))[0][2] == "Many viewers"
    assert board_rows(get(reader, "/?metric=orders"))[0][2] == "Many orders"
    county_html = get(reader, "/?metric=orders&scope=county")
    assert 'data-scope="county"' in county_html
    assert len(board_rows(county_html)) == County.objects.count()
    # Anything unknown falls back to the revenue board of officials.
    fallback = get(reader, "/?metric=bogus&scope=bogus")
    assert 'data-metric="revenue" data-scope="official"' in fallback


def test_movement_arrows_compare_with_the_previous_days_last_rankings(reader, holiday):
    first = SessionFactory(official=OfficialFactory(name="Leader"), revenue=Decimal("900"))
    SessionFactory(official=OfficialFactory(name="Chaser"), revenue=Decimal("500"))
    yesterday = holiday_rankings_recompute(holiday_id=holiday.pk)
    # Nothing from a previous day, nothing published: no movement to show at all.
    assert 'data-movement="new"' in get(reader, "/")
    assert "▲" not in get(reader, "/") and "New</span>" not in get(reader, "/")
    RankingSnapshot.objects.filter(pk=yesterday.snapshot_id).update(
        computed_at=F("computed_at") - timedelta(days=1))
    session_update(session=first, updated_by=None, data={"revenue": Decimal("100")},
                   expected_version=first.version)
    SessionFactory(official=OfficialFactory(name="Newcomer"), revenue=Decimal("50"))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    holiday_rankings_recompute(holiday_id=holiday.pk)  # another save today changes nothing
    html = get(reader, "/")
    rows = board_rows(html)
    assert rows == [(1, "up", "Chaser"), (2, "down", "Leader"), (3, "new", "Newcomer")]
    assert 'data-baseline="previous_day"' in html


def test_charts_are_embedded_as_json_and_drawn_with_our_own_plotly(reader, holiday):
    SessionFactory()
    holiday_rankings_recompute(holiday_id=holiday.pk)
    html = get(reader, "/")
    for element_id in ("chart-top-officials", "chart-by-day", "chart-by-county",
                       "chart-by-platform"):
        assert f'data-figure="{element_id}"' in html
        data = re.search(
            rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S
        ).group(1)
        assert json.loads(data)["data"], element_id
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts == ["/static/vendor/plotly.min.js", "/static/js/plotly-locale-zh-cn.js",
                       "/static/js/charts.js"]
    assert "cdn" not in html.lower()


def test_the_dashboard_is_in_chinese_by_default(client, official_user, holiday):
    client.force_login(official_user)
    html = client.get("/").content.decode()
    assert 'lang="zh-hans"' in html
    assert "排行榜" in html


def test_root_shows_the_holiday_under_way(reader):
    HolidayFactory(slug="old", name="Spring 2019", start_date=beijing(2019, 4, 4).date(),
                   end_date=beijing(2019, 4, 6).date())
    today = timezone.localdate()
    HolidayFactory(slug="now", name="Under way", start_date=today, end_date=today)
    assert "<h1>Under way</h1>" in get(reader, "/")
    assert "<h1>Spring 2019</h1>" in get(reader, "/holidays/old/")
    assert reader.get("/holidays/nope/").status_code == 404


def test_screen_state_changes_when_the_board_or_its_snapshot_changes(reader, holiday):
    url = f"/holidays/{holiday.slug}/screen/state/"
    state = reader.get(url).json()
    assert state["status"] == "ready"
    assert re.fullmatch(r"\d\d:\d\d:\d\d", state["as_of"])  # when the screen last heard
    session = SessionFactory()
    holiday_save(holiday=holiday, user=None)  # a write bumps the holiday's data_version
    written = reader.get(url).json()["snapshot"]
    assert written != state["snapshot"]
    holiday_rankings_recompute(holiday_id=holiday.pk)
    snapshotted = reader.get(url).json()["snapshot"]
    assert snapshotted != written
    session_update(session=session, updated_by=None, data={"orders": 1},
                   expected_version=session.version)
    assert reader.get(url).json()["snapshot"] not in (state["snapshot"], written, snapshotted)


def test_screen_content_gives_the_new_board_and_figures_to_swap_in(reader, holiday):
    SessionFactory(official=OfficialFactory(name="On the big screen"))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    state = reader.get(f"/holidays/{holiday.slug}/screen/state/").json()
    content = reader.get(
        f"/holidays/{holiday.slug}/screen/content/?metric=orders&scope=official",
        HTTP_ACCEPT_LANGUAGE="en",
    ).json()
    assert content["snapshot"] == state["snapshot"]
    assert "On the big screen" in content["html"]["screen-board"]
    assert 'data-metric="orders"' in content["html"]["screen-board"]
    assert 'data-total="sessions"' in content["html"]["screen-headline"]
    # The counties' revenue and the day's revenue by hour (the board names the officials).
    assert set(content["figures"]) == {"chart-by-county", "chart-by-hour"}
    assert [view["scope"] for view in content["views"]] == ["official", "county"] * 3
    assert content["ranks"][0][1:] == ["On the big screen", 1]


def test_a_name_with_a_link_in_it_draws_no_link_on_the_dashboard_or_the_big_screen(
    reader, holiday
):
    SessionFactory(official=OfficialFactory(name='<a href="https://evil.example">x</a>'))
    holiday_rankings_recompute(holiday_id=holiday.pk)

    html = get(reader, "/")
    dashboard = re.search(r'<script id="chart-top-officials" type="application/json">'
                          r'(.*?)</script>', html, re.S).group(1)
    figure = json.loads(dashboard)
    labels = figure["data"][0]["y"]
    assert labels == ['1. &lt;a href="https://evil.example"&gt;x&lt;/a&gt;']
    assert "<a" not in json.dumps(figure)


def test_screen_page_polls_its_state_and_loads_no_page_chrome(reader, holiday):
    html = get(reader, f"/holidays/{holiday.slug}/screen/")
    assert f'data-state-url="/holidays/{holiday.slug}/screen/state/"' in html
    assert 'data-poll-ms="5000"' in html
    assert 'data-poll-ms="2000"' in get(reader, f"/holidays/{holiday.slug}/screen/?poll=2")
    assert 'data-poll-ms="1000"' in get(reader, f"/holidays/{holiday.slug}/screen/?poll=0")
    assert 'data-poll-ms="5000"' in get(reader, f"/holidays/{holiday.slug}/screen/?poll=x")
    assert "/static/js/screen.js" in html
    assert 'class="topbar"' not in html


def test_official_page_shows_sessions_totals_and_rank_in_each_holiday(reader, holiday):
    official = OfficialFactory(name="Host")
    SessionFactory(official=official, title="Walnuts at dawn", revenue=Decimal("100.00"),
                   audience=10, orders=1)
    SessionFactory(official=official, title="Millet at noon", revenue=Decimal("50.50"),
                   audience=5, orders=2)
    SessionFactory(official=OfficialFactory(name="Rival"), revenue=Decimal("1000.00"),
                   audience=1, orders=1)
    holiday_rankings_recompute(holiday_id=holiday.pk)
    html = get(reader, f"/officials/{official.pk}/")
    assert "Walnuts at dawn" in html and "Millet at noon" in html
    assert re.search(r'data-total="sessions">2<', html)
    assert re.search(r'data-total="revenue" title="150.50">151<', html)
    row = re.search(r'<tr data-holiday="labor-day-2020">(.*?)</tr>', html, re.S).group(1)
    assert re.search(r'data-metric="audience">No. 1<', row)
    assert re.search(r'data-metric="orders">No. 1<', row)
    assert re.search(r'data-metric="revenue">No. 2<', row)


def test_official_page_of_an_unranked_official_says_so(reader):
    html = get(reader, f"/officials/{OfficialFactory().pk}/")
    assert "Not ranked in any holiday yet." in html
    assert "No sessions recorded for this official yet." in html
