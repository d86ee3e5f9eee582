"""Officials on a phone and the hall screen, in a real browser on the demo-like data.

Phone (390 x 844, touch, as inside WeChat): a finger dragged over a chart scrolls the page
and leaves the chart's axes alone, no chart shows Plotly's toolbar, the board's first row is
on the first screen, every link and button is at least 44 px, money reads in 万.

Hall screen (1920 x 1080): every county named in the county chart, nothing taller than the
screen, no text under 28 px, "data as of" kept fresh, a lost connection shown after two
failed polls and cleared when they return, an expired login sent to the login page, and the
TV mode rotating through every page and announcing who moved up.
"""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from rankings.services import holiday_rankings_recompute
from sessions_app.models import County

from ..factories import HolidayFactory, OfficialFactory, UserFactory, beijing
from .test_pages_browser import enter_session

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
HALL = {"width": 1920, "height": 1080}


@pytest.fixture
def holiday(server):
    return HolidayFactory(name="Labor Day 2020", name_zh="2020年劳动节")


@pytest.fixture
def reader(server):
    return UserFactory(username="screen-reader", group="officials")


@pytest.fixture
def ranked(holiday):
    """Twelve officials over six counties, revenues from 12 to 1.2 million yuan."""
    counties = list(County.objects.order_by("name"))[:6]
    officials = []
    for i in range(12):
        official = OfficialFactory(name=f"干部{i:02d}", county=counties[i % 6])
        enter_session(official=official, start=beijing(2020, 5, 1 + i % 5, 8 + i),
                      revenue=str(Decimal(1_200_000 - 100_000 * i)))
        officials.append(official)
    holiday_rankings_recompute(holiday_id=holiday.pk)
    return officials


@pytest.fixture
def phone(browser, server, csp_violations):
    context = browser.new_context(locale="zh-CN", viewport=PHONE, has_touch=True,
                                  is_mobile=True, device_scale_factor=2, base_url=server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    tab.on("console", lambda m: csp_violations.append(m.text)
           if "Content Security Policy" in m.text else None)
    yield tab
    context.close()


def finger_drag(page, *, x: float, y: float, dx: float, dy: float, steps: int = 10) -> None:
    """A finger put down at (x, y) and moved by (dx, dy): real touch events, which Chromium
    turns into a page scroll unless the page cancels them (as a zoomable chart does)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for i in range(1, steps + 1):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [
            {"x": x + dx * i / steps, "y": y + dy * i / steps}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_a_finger_dragged_over_a_chart_scrolls_the_page_and_leaves_the_chart_alone(
        phone, server, login, reader, ranked):
    login(phone, reader)
    chart = phone.locator('[data-figure="chart-by-day"]')
    chart.scroll_into_view_if_needed()
    chart.locator("svg.main-svg").first.wait_for()
    before = chart.evaluate("e => [e._fullLayout.xaxis.range, e._fullLayout.yaxis.range]")
    scrolled = phone.evaluate("window.scrollY")
    box = chart.bounding_box()
    finger_drag(phone, x=box["x"] + box["width"] / 2,
                y=min(box["y"] + box["height"] / 2, PHONE["height"] - 100), dx=-60, dy=-250)
    phone.wait_for_timeout(300)
    assert phone.evaluate("window.scrollY") > scrolled + 100  # the page moved
    after = chart.evaluate("e => [e._fullLayout.xaxis.range, e._fullLayout.yaxis.range]")
    assert after == before  # the chart did not zoom or pan
    assert phone.locator(".modebar").count() == 0  # no Plotly toolbar


def test_on_a_phone_the_board_comes_first_and_everything_is_big_enough_to_tap(
        phone, server, login, reader, ranked):
    login(phone, reader)
    first_row = phone.locator("table.board tbody tr").first
    assert first_row.bounding_box()["y"] + first_row.bounding_box()["height"] <= PHONE["height"]
    small = phone.evaluate("""() => Array.from(document.querySelectorAll("a, button"))
        .filter(e => e.offsetParent !== null)
        .map(e => [e.textContent.trim(), e.getBoundingClientRect()])
        .filter(([, r]) => r.height < 44 || r.width < 44).map(([t]) => t)""")
    assert small == []
    # Money in Chinese units on the board and the cards, exact yuan on hover.
    value = phone.locator('table.board tr[data-rank="1"] td.value')
    assert value.inner_text() == "120万" and value.get_attribute("title") == "1,200,000.00"


def test_the_hall_screen_fits_1920_by_1080_in_large_type_and_names_every_county(
        page, server, login, reader, ranked, holiday):
    page.set_viewport_size(HALL)
    login(page, reader)
    page.goto(f"{server.url}/holidays/{holiday.slug}/screen/")
    county_chart = page.locator('[data-figure="chart-by-county"]')
    county_chart.locator("svg.main-svg").first.wait_for()
    page.locator('[data-figure="chart-by-hour"] svg.main-svg').first.wait_for()
    page.wait_for_timeout(300)

    ticks = county_chart.locator(".ytick text").all_text_contents()
    names = {c.name_zh for c in County.objects.all()}
    assert {tick.removeprefix("★ ") for tick in ticks} == names  # all 17, none dropped
    assert page.evaluate("document.documentElement.scrollHeight") <= HALL["height"]
    assert page.evaluate("document.documentElement.scrollWidth") <= HALL["width"]
    too_small = page.evaluate("""() => Array.from(document.querySelectorAll("body *"))
        .filter(e => (e.offsetParent !== null || e.closest("svg"))
                     && e.getClientRects().length
                     && Array.from(e.childNodes)
                          .some(n => n.nodeType === 3 && n.textContent.trim()))
        .map(e => [e.textContent.trim().slice(0, 30), parseFloat(getComputedStyle(e).fontSize)])
        .filter(([, size]) => size < 28)""")
    assert too_small == []
    assert page.locator(".modebar").count() == 0
    as_of = page.locator("[data-as-of]")
    assert as_of.inner_text().startswith("数据截至")
    assert float(as_of.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 40


def test_the_screen_says_when_the_connection_is_lost_and_clears_it_when_it_returns(
        page, server, login, reader, ranked, holiday):
    page.set_viewport_size(HALL)
    login(page, reader)
    page.goto(f"{server.url}/holidays/{holiday.slug}/screen/?poll=1")
    alert = page.locator("[data-connection-lost]")
    first = page.locator("[data-as-of] time").inner_text()
    expect(page.locator("[data-as-of] time")).not_to_have_text(first, timeout=5_000)

    page.route("**/screen/state/", lambda route: route.abort())  # the network is gone
    expect(alert).to_be_visible(timeout=6_000)
    assert "连接中断" in alert.inner_text()
    stale = page.locator("[data-as-of] time").inner_text()
    assert stale in alert.inner_text()  # says how old the board is

    page.unroute("**/screen/state/")
    expect(alert).to_be_hidden(timeout=6_000)
    expect(page.locator("[data-as-of] time")).not_to_have_text(stale, timeout=5_000)


def test_an_expired_login_sends_the_screen_to_the_login_page(
        page, server, login, reader, ranked, holiday):
    page.set_viewport_size(HALL)
    login(page, reader)
    screen = f"/holidays/{holiday.slug}/screen/?poll=1"
    page.goto(f"{server.url}{screen}")
    page.context.clear_cookies()  # the session expired
    page.wait_for_url("**/accounts/login/**", timeout=8_000)
    assert "next=" in page.url and "screen" in page.url


def test_tv_mode_pages_through_every_official_and_the_counties_and_announces_a_rise(
        page, server, login, reader, ranked, holiday):
    page.set_viewport_size(HALL)
    login(page, reader)
    page.goto(f"{server.url}/holidays/{holiday.slug}/screen/?tv=1&rotate=3&poll=1")
    board = page.locator("#screen-board")
    assert board.locator("table.board tbody tr").count() == 10
    assert "1/2" in board.locator("[data-page-of]").inner_text()
    # The 11th and 12th officials are on page 2, then the counties' board.
    expect(board.locator("[data-page-of]")).to_contain_text("2/2", timeout=8_000)
    assert board.locator("table.board tbody tr").count() == 2
    expect(board.locator("table.board")).to_have_attribute("data-scope", "county",
                                                           timeout=8_000)

    # The last official overtakes everyone: the banner names them and their new rank.
    enter_session(official=ranked[-1], start=beijing(2020, 5, 5, 21), revenue="5000000")
    holiday_rankings_recompute(holiday_id=holiday.pk)
    banner = page.locator("[data-moved-up-banner]")
    expect(banner).to_be_visible(timeout=8_000)
    assert banner.inner_text() == "干部11 升至第1名"
