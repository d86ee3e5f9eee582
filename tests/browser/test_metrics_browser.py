"""What the platforms report, in a real browser: staff enter a co-hosted session with item
lines (the co-host chosen in the searchable picker), and a board of the composite score
shows its formula and opens each score's breakdown with a tap."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from rankings.services import holiday_rankings_recompute
from sessions_app.models import County, LivestreamSession, Official
from sessions_app.services import holiday_save, official_save

from ..factories import HolidayFactory, SessionFactory, UserFactory, beijing
from .test_entry_browser import fill_the_rest, pick

pytestmark = pytest.mark.browser


@pytest.fixture
def officials(server):
    jixian = County.objects.get(slug="jixian")
    return {name: official_save(official=Official(name=name, title="县长", county=jixian),
                                user=None)
            for name in ("贺志远", "马晓燕")}


def test_staff_enter_a_cohosted_session_with_item_lines(page, server, login, officials):
    HolidayFactory(name="Labor Day 2020", name_zh="2020年劳动节")
    login(page, UserFactory(username="metrics-staff", group="city_staff"))
    page.goto(f"{server.url}/sessions/new/")
    pick(page, "hzy", "贺志远")
    fill_the_rest(page)
    page.fill("#id_unique_viewers", "800")
    page.fill("#id_peak_viewers", "90")
    page.click("[data-field=hosts] .ts-control")
    page.keyboard.type("mxy")
    page.locator("[data-field=hosts] .ts-dropdown .option", has_text="马晓燕").first.click()
    page.keyboard.press("Escape")
    page.fill("#id_items-0-name", "吉县苹果")
    page.fill("#id_items-0-quantity", "200")
    page.select_option("#id_items-0-unit", "jin")
    page.fill("#id_items-0-revenue", "600")  # more than the session's 500 yuan
    page.check("#id_items-0-poverty_relief_product")
    page.locator("button[type=submit].primary").first.click()

    expect(page.locator("[data-items-errors]")).to_contain_text("600.00")
    assert not LivestreamSession.objects.exists()
    page.fill("#id_items-0-revenue", "450")
    page.locator("button[type=submit].primary").first.click()

    expect(page).to_have_url(f"{server.url}/sessions/")
    session = LivestreamSession.objects.get()
    assert list(session.hosts.all()) == [officials["马晓燕"]]
    line = session.items.get()
    assert (line.name, line.revenue, line.poverty_relief_product) == (
        "吉县苹果", Decimal("450.00"), True)


def test_a_composite_board_shows_its_formula_and_each_breakdown_on_tap(
        page, server, login, officials):
    holiday = HolidayFactory(name="Labor Day 2020", name_zh="2020年劳动节")
    holiday.composite_weights = {"revenue": 0.5, "audience": 0.5}
    holiday_save(holiday=holiday, user=None)
    SessionFactory(official=officials["贺志远"], revenue=Decimal("1000"), audience=500,
                   started_at=beijing(2020, 5, 1, 10))
    SessionFactory(official=officials["马晓燕"], revenue=Decimal("500"), audience=1000,
                   started_at=beijing(2020, 5, 2, 10))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    login(page, UserFactory(username="metrics-reader", group="officials"))

    page.goto(f"{server.url}/holidays/{holiday.slug}/?metric=composite")

    expect(page.locator("[data-formula]")).to_contain_text("0.5 × 销售额")
    first = page.locator("td[data-components]").first
    expect(first.locator("[data-component=revenue]")).not_to_be_visible()
    first.locator("summary").click()
    expect(first.locator("[data-component=revenue]")).to_be_visible()
    expect(first.locator("[data-component=revenue]")).to_contain_text("100.0%")
    expect(page.locator("[data-cohost-rule]")).to_be_visible()
