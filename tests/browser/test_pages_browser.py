"""The pages in a real browser (Debian's Chromium through Playwright, against a live server):
staff enter a session and see the leaderboard change, the dashboard draws its Plotly charts,
the language switch works, the big screen refreshes itself, and no page contacts any host
but ours.

Screenshots: `UPDATE_SCREENSHOTS=1 pytest tests/browser -k screenshots` rewrites
docs/screenshots/ (dashboard in both languages, big screen) from the demo data.
"""

import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.db.models import F

from rankings.services import holiday_publish, holiday_rankings_recompute
from sessions_app.models import County, Holiday
from sessions_app.services import session_create
from tests.factories import HolidayFactory, OfficialFactory, SessionFactory, UserFactory, beijing

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


@pytest.fixture
def holiday(server):
    return HolidayFactory()


@pytest.fixture
def staff_user(server):
    return UserFactory(username="browser-staff", is_staff=True, group="city_staff")


@pytest.fixture
def official_user(server):
    return UserFactory(username="browser-official", group="officials")


def enter_session(*, official, start, revenue, user=None):
    """A session saved through the service, committed, so the live server (and its recompute,
    run in-process after commit) sees it."""
    with transaction.atomic():
        session = session_create(
            entered_by=user, official=official, platform="douyin", title=f"{official.name} live",
            started_at=start, ended_at=start.replace(hour=start.hour + 2), audience=1000,
            orders=100, revenue=Decimal(revenue),
        )
    return session


def board_names(page) -> list[str]:
    return [name.strip() for name in page.locator("table.board td.name a").all_inner_texts()]


def test_staff_enter_a_session_and_see_the_leaderboard_update(
    page, server, login, staff_user, holiday, foreign_requests
):
    leader = OfficialFactory(name="Established leader")
    newcomer = OfficialFactory(name="Walnut newcomer", county=County.objects.get(slug="daning"))
    enter_session(official=leader, start=beijing(2020, 5, 1, 9), revenue="5000")
    # Published as it stands: the arrows then compare with this revision.
    holiday_publish(holiday=holiday, user=UserFactory(username="lead", group="city_leads"))
    login(page, staff_user)
    assert board_names(page) == ["Established leader"]

    page.goto(f"{server.url}/sessions/new/")
    page.select_option("#id_official", str(newcomer.pk))
    page.select_option("#id_platform", "kuaishou")
    page.fill("#id_title", "Daning walnuts at dusk")
    page.fill("#id_started_at", "2020-05-02T18:30")
    page.fill("#id_ended_at", "2020-05-02T20:30")
    page.fill("#id_audience", "300000")
    page.fill("#id_orders", "2500")
    page.fill("#id_revenue", "9000.50")
    with page.expect_navigation():
        page.click("button[type=submit].primary")
    assert page.url.endswith("/sessions/")
    assert page.locator("tr[data-session]", has_text="Daning walnuts at dusk").count() == 1

    page.goto(f"{server.url}/")
    assert board_names(page) == ["Walnut newcomer", "Established leader"]
    # In 万 on the board, the exact yuan on hover.
    assert page.locator('tr[data-rank="1"] td.value').inner_text() == "9,001"
    assert page.locator('tr[data-rank="1"] td.value').get_attribute("title") == "9,000.50"
    assert page.locator('tr[data-rank="2"]').get_attribute("data-movement") == "down"
    assert page.locator('[data-baseline="published"]').count() == 1
    assert foreign_requests() == []


def test_the_session_form_shows_an_error_next_to_the_field(
    page, server, login, staff_user, holiday
):
    OfficialFactory(name="Careful official")
    login(page, staff_user)
    page.goto(f"{server.url}/sessions/new/")
    page.select_option("#id_official", label="Careful official · County head · 吉县")
    page.select_option("#id_platform", "douyin")
    page.fill("#id_title", "Backwards")
    page.fill("#id_started_at", "2020-05-02T18:30")
    page.fill("#id_ended_at", "2020-05-02T17:00")
    page.fill("#id_audience", "-1")
    page.fill("#id_orders", "1")
    page.fill("#id_revenue", "1")
    with page.expect_navigation():
        page.click("button[type=submit].primary")
    assert page.locator('[data-field="ended_at"] .errorlist').inner_text() == (
        "结束时间必须晚于开始时间。")
    assert page.locator('[data-field="audience"] .errorlist').is_visible()
    assert page.locator('[data-field="title"] .errorlist').count() == 0


def test_dashboard_draws_its_charts_with_nothing_from_other_hosts(
    page, server, login, official_user, holiday, foreign_requests
):
    for i, (name, slug) in enumerate([("Ji", "jixian"), ("Yao", "yaodu"), ("Xi", "xixian")]):
        official = OfficialFactory(name=name, county=County.objects.get(slug=slug))
        enter_session(official=official, start=beijing(2020, 5, 1 + i, 10), revenue=str(
            1000 * (i + 1)))
    login(page, official_user)
    for chart in ("chart-top-officials", "chart-by-day", "chart-by-county", "chart-by-platform"):
        element = page.locator(f'[data-figure="{chart}"]')
        element.locator("svg.main-svg").first.wait_for()
        assert element.locator(".plot-container").count() == 1, chart
    assert page.locator('[data-figure="chart-by-day"] g.point').count() == 5  # May 1-5
    # The county chart marks key poverty-relief counties (Jixian, Xixian) with a star.
    ticks = page.locator('[data-figure="chart-by-county"] .ytick text').all_text_contents()
    assert "★ 吉县" in ticks and "尧都区" in ticks
    requested = [url for url in page.evaluate(
        "performance.getEntriesByType('resource').map(e => e.name)")]
    assert any(url.endswith("/static/vendor/plotly.min.js") for url in requested)
    assert foreign_requests() == []


def test_language_switch_changes_every_label_and_sticks(
    page, server, login, official_user, holiday
):
    login(page, official_user)
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("#leaderboard h2").inner_text() == "排行榜"
    assert page.locator("[data-role]").inner_text() == "干部"
    with page.expect_navigation():
        page.click('.langswitch button[data-lang="en"]')
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#leaderboard h2").inner_text() == "Leaderboard"
    assert page.locator("[data-role]").inner_text() == "Official"
    page.goto(f"{server.url}/sessions/")  # the choice is kept from page to page
    assert page.locator("h1").inner_text() == "Livestream sessions"
    with page.expect_navigation():
        page.click('.langswitch button[data-lang="zh-hans"]')
    assert page.locator("h1").inner_text() == "直播场次"


def test_big_screen_swaps_in_a_new_snapshot_without_reloading(
    page, server, login, official_user, holiday, foreign_requests
):
    first = OfficialFactory(name="First on screen")
    enter_session(official=first, start=beijing(2020, 5, 1, 9), revenue="100")
    login(page, official_user)
    page.goto(f"{server.url}/holidays/{holiday.slug}/screen/?poll=1")
    page.locator('[data-figure="chart-by-county"] svg.main-svg').first.wait_for()
    assert board_names(page) == ["First on screen"]
    assert "5月1日" in page.locator('[data-figure="chart-by-hour"] .gtitle').text_content()
    page.evaluate("window.loadedOnce = true")

    enter_session(official=OfficialFactory(name="Late arrival"), start=beijing(2020, 5, 3, 9),
                  revenue="900")
    holiday_rankings_recompute(holiday_id=holiday.pk)  # in case the in-process one coalesced
    page.locator("table.board", has_text="Late arrival").wait_for(timeout=5_000)
    assert board_names(page) == ["Late arrival", "First on screen"]
    assert page.evaluate("window.loadedOnce") is True  # swapped in place, not reloaded
    # The charts are redrawn too: revenue by hour is now of May 3, the latest day with a show.
    title = page.locator('[data-figure="chart-by-hour"] .gtitle')
    assert "5月3日" in title.text_content()
    assert foreign_requests() == []


def test_screenshots_of_the_demo_dashboard_and_big_screen(
    page, server, login, tmp_path, foreign_requests
):
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    target = SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path
    target.mkdir(parents=True, exist_ok=True)

    def shoot(name, *, full_page):
        page.locator("[data-figure] svg.main-svg").first.wait_for()
        page.wait_for_timeout(300)  # let Plotly finish laying out every chart
        assert page.locator("table.board tbody tr").count() >= 10
        page.screenshot(path=str(target / name), full_page=full_page)
        assert (target / name).stat().st_size > 50_000

    official = get_user_model().objects.get(username="official")
    login(page, official, password="linfen-official-2020")
    shoot("dashboard-zh.png", full_page=True)
    with page.expect_navigation():
        page.click('.langswitch button[data-lang="en"]')
    shoot("dashboard-en.png", full_page=True)
    with page.expect_navigation():
        page.click('.langswitch button[data-lang="zh-hans"]')
    page.set_viewport_size({"width": 1920, "height": 1080})  # a hall display
    page.goto(f"{server.url}/holidays/labor-day-2020/screen/")
    shoot("screen.png", full_page=False)

    # An official's phone, as inside WeChat: the board first.
    phone = page.context.browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
        device_scale_factor=2, base_url=server.url)
    try:
        tab = phone.new_page()
        login(tab, official, password="linfen-official-2020")
        tab.locator("[data-figure] svg.main-svg").first.wait_for()
        tab.wait_for_timeout(300)
        tab.screenshot(path=str(target / "phone-zh.png"), full_page=False)
        assert (target / "phone-zh.png").stat().st_size > 50_000
    finally:
        phone.close()
    assert foreign_requests() == []


def test_the_dashboard_shows_a_new_session_at_once_without_waiting_for_a_snapshot(
    page, server, login, official_user, holiday
):
    enter_session(official=OfficialFactory(name="Shown at once"), start=beijing(2020, 5, 1, 9),
                  revenue="100")
    Holiday.objects.filter(pk=holiday.pk).update(data_version=F("data_version") + 1)
    login(page, official_user)
    assert page.locator('[data-status="ready"]').count() == 1
    assert board_names(page) == ["Shown at once"]


def test_the_dashboard_draws_under_the_content_security_policy_and_names_stay_text(
    page, server, login, official_user, holiday, csp_violations
):
    link = '<a href="https://evil.example/">Trap</a>'
    enter_session(official=OfficialFactory(name=link), start=beijing(2020, 5, 1, 10),
                  revenue="100")
    login(page, official_user)
    policy = page.goto(f"{server.url}/").headers["content-security-policy"]
    for chart in ("chart-top-officials", "chart-by-day", "chart-by-county", "chart-by-platform"):
        page.locator(f'[data-figure="{chart}"] svg.main-svg').first.wait_for()

    # Plotly draws a name's <a href> as a link inside its SVG; escaped, it is the text.
    assert page.locator("[data-figure] svg a").count() == 0
    ticks = page.locator('[data-figure="chart-top-officials"] .ytick text').all_text_contents()
    assert ticks == [f"1. {link}"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert csp_violations == []

    # The policy is enforced: an injected inline handler does not run (and is reported).
    page.evaluate("""() => { const img = document.createElement("img");
        img.setAttribute("onerror", "window.injected = true"); img.src = "/nowhere.png";
        document.body.appendChild(img); }""")
    page.wait_for_function("() => true")
    page.wait_for_timeout(300)
    assert page.evaluate("window.injected") is None
    assert any("script-src" in violation for violation in csp_violations)
    csp_violations.clear()  # expected: not a failure of the page


def test_the_api_docs_work_under_the_content_security_policy(
    page, server, login, staff_user, foreign_requests
):
    login(page, staff_user)
    page.goto(f"{server.url}/api/v1/docs/")

    page.locator(".swagger-ui .opblock").first.wait_for()

    assert page.locator('.swagger-ui .opblock-summary-path[data-path="/api/v1/rankings/"]'
                        ).count() == 1
    assert foreign_requests() == []


def test_the_admin_and_the_browsable_api_work_under_the_content_security_policy(
    page, server, login, csp_violations
):
    root = UserFactory(username="browser-root", is_staff=True, is_superuser=True)
    official = OfficialFactory(name="Admin-edited official")
    login(page, root)
    for path in ["/admin/", "/admin/sessions_app/livestreamsession/add/",
                 f"/admin/sessions_app/official/{official.pk}/change/",
                 "/admin/sessions_app/livestreamsession/",
                 f"/api/v1/officials/{official.pk}/"]:
        page.goto(f"{server.url}{path}")
        page.wait_for_load_state("load")

    # The admin's own script: the changelist's "select all" box ticks every row's box.
    SessionFactory()
    page.goto(f"{server.url}/admin/sessions_app/livestreamsession/")
    page.locator("#action-toggle").check()
    assert page.locator("input.action-select").first.is_checked()
    assert csp_violations == []
