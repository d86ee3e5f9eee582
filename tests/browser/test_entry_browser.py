"""Staff entering results, in a real browser: the official picker finds an official by pinyin
initials and remembers the last choice, times are typed and pasted as "YYYY-MM-DD HH:MM",
the holiday's days are one tap, "save and enter the next" keeps the official and the day,
the focus goes to the first field in error, and a session outside every holiday is
flagged before and after saving."""

import pytest
from playwright.sync_api import expect

from sessions_app.models import County, LivestreamSession, Official
from sessions_app.services import official_save

from ..factories import HolidayFactory, UserFactory, beijing

pytestmark = pytest.mark.browser


@pytest.fixture
def staff(server):
    return UserFactory(username="entry-staff", group="city_staff")


@pytest.fixture
def officials(server):
    HolidayFactory(name="Labor Day 2020", name_zh="2020年劳动节")
    counties = {c.slug: c for c in County.objects.all()}
    made = {}
    for name, slug in [("贺志远", "jixian"), ("马晓燕", "jixian"), ("乔文斌", "daning"),
                       ("王建国", "yaodu"), ("何志勇", "xixian")]:
        made[name] = official_save(official=Official(name=name, title="县长",
                                                     county=counties[slug]), user=None)
    return made


def pick(page, query: str, option_text: str) -> None:
    """Type into the official picker and choose the option with `option_text`."""
    page.click("[data-field=official] .ts-control")
    page.keyboard.type(query)
    expect(page.locator(".ts-dropdown .option", has_text=option_text)).to_have_count(1)
    page.locator(".ts-dropdown .option", has_text=option_text).first.click()


def fill_the_rest(page, *, start="2020-05-03 20:30", end="2020-05-03 22:30"):
    page.select_option("#id_platform", "douyin")
    page.fill("#id_title", "吉县苹果")
    page.fill("#id_started_at", start)
    page.fill("#id_ended_at", end)
    page.fill("#id_audience", "1000")
    page.fill("#id_orders", "10")
    page.fill("#id_revenue", "500")


def test_the_picker_finds_an_official_by_pinyin_initials_grouped_by_county(
        page, server, login, staff, officials):
    login(page, staff)
    page.goto(f"{server.url}/sessions/new/")
    page.click("[data-field=official] .ts-control")
    page.keyboard.type("hzy")
    expect(page.locator(".ts-dropdown .option")).to_have_count(2)
    found = page.locator(".ts-dropdown .option").all_inner_texts()
    # 贺志远 (He Zhiyuan) and 何志勇 (He Zhiyong) share "hzy"; 马晓燕 does not.
    assert sorted(name.split(" · ")[0] for name in found) == ["何志勇", "贺志远"]
    headers = page.locator(".ts-dropdown .optgroup-header").all_inner_texts()
    assert headers == ["吉县", "隰县"]  # grouped by county
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    page.keyboard.type("daning")  # a county finds its officials
    expect(page.locator(".ts-dropdown .option")).to_have_count(1)
    assert [t.split(" · ")[0] for t in page.locator(".ts-dropdown .option").all_inner_texts()
            ] == ["乔文斌"]
    page.keyboard.press("Enter")
    assert page.locator("#id_official").input_value() == str(officials["乔文斌"].pk)


def test_the_picker_offers_the_last_choice_first_next_time(
        page, server, login, staff, officials):
    login(page, staff)
    page.goto(f"{server.url}/sessions/new/")
    pick(page, "wjg", "王建国")
    page.goto(f"{server.url}/sessions/")  # the list's filter shares what was chosen
    page.click("form.filters [data-combobox] + .ts-wrapper .ts-control, "
               "form.filters .ts-wrapper .ts-control")
    first_group = page.locator(".ts-dropdown .optgroup").first
    assert first_group.locator(".optgroup-header").inner_text() == "最近选择"
    assert first_group.locator(".option").first.inner_text().startswith("王建国")


def test_a_pasted_time_is_read_and_a_pasted_range_fills_the_end(
        page, server, login, staff, officials):
    login(page, staff)
    page.goto(f"{server.url}/sessions/new/")
    paste = """(box, text) => { const data = new DataTransfer(); data.setData("text", text);
        box.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true,
                                                       cancelable: true})); }"""
    start = page.locator("#id_started_at")
    start.evaluate(paste, "2020年5月3日 20:30")
    assert start.input_value() == "2020-05-03 20:30"
    start.evaluate(paste, "2020/5/4 19:00-21:30")
    assert start.input_value() == "2020-05-04 19:00"
    assert page.locator("#id_ended_at").input_value() == "2020-05-04 21:30"
    # Typed loosely, written back whole on leaving the box.
    start.fill("")
    start.type("2020-5-2 9:05")
    page.keyboard.press("Tab")
    assert start.input_value() == "2020-05-02 09:05"

    pick(page, "hzy", "贺志远")
    fill_the_rest(page, start="2020-05-02 09:05", end="2020-05-02 11:00")
    start.evaluate(paste, "2020-05-02 09:05")
    with page.expect_navigation():
        page.click("button[type=submit].primary:not([data-save-next])")
    session = LivestreamSession.objects.get()
    assert session.started_at == beijing(2020, 5, 2, 9, 5)


def test_the_holidays_days_are_one_tap_and_save_and_next_keeps_official_and_day(
        page, server, login, staff, officials):
    login(page, staff)
    page.goto(f"{server.url}/sessions/new/")
    pick(page, "hzy", "贺志远")
    page.click('[data-day-choices] [data-day="2020-05-04"]')
    assert page.locator("#id_started_at").input_value() == "2020-05-04 "
    page.keyboard.type("20:30")
    page.locator("#id_ended_at").fill("")
    page.click('[data-day-choices] [data-day="2020-05-04"]')  # the end follows an empty box
    assert page.locator("#id_ended_at").input_value() == "2020-05-04 "
    page.click("#id_ended_at")
    page.keyboard.type("22:00")
    page.select_option("#id_platform", "kuaishou")
    page.fill("#id_title", "第一场")
    page.fill("#id_audience", "1000")
    page.fill("#id_orders", "10")
    page.fill("#id_revenue", "500")
    assert "2020年劳动节" in page.locator("[data-holiday-note]").inner_text()
    with page.expect_navigation():
        page.click("button[data-save-next]")

    assert LivestreamSession.objects.get().started_at == beijing(2020, 5, 4, 20, 30)
    assert page.locator("#id_official").input_value() == str(officials["贺志远"].pk)
    assert page.locator("#id_started_at").input_value() == "2020-05-04 "
    # The official is kept: the focus waits in the first empty field.
    assert page.evaluate("document.activeElement.id") == "id_platform"


def test_after_a_refused_save_the_focus_is_on_the_first_field_in_error(
        page, server, login, staff, officials):
    login(page, staff)
    page.goto(f"{server.url}/sessions/new/")
    pick(page, "hzy", "贺志远")
    fill_the_rest(page, start="2020-05-03 20:30", end="2020-05-03 19:00")
    page.fill("#id_orders", "-1")
    with page.expect_navigation():
        page.click("button[type=submit].primary:not([data-save-next])")
    assert page.locator(".field.has-error").first.get_attribute("data-field") == "ended_at"
    assert page.evaluate("document.activeElement.id") == "id_ended_at"


def test_a_session_outside_every_holiday_is_flagged_before_and_after_saving(
        page, server, login, staff, officials):
    login(page, staff)
    page.goto(f"{server.url}/sessions/new/")
    pick(page, "hzy", "贺志远")
    fill_the_rest(page, start="2021-05-03 20:30", end="2021-05-03 22:30")  # a year typo
    note = page.locator("[data-holiday-note]")
    assert "不在任何假期内" in note.inner_text()
    assert "outside" in note.get_attribute("class")
    page.fill("#id_started_at", "2020-05-03 20:30")
    page.locator("#id_started_at").dispatch_event("change")
    assert "2020年劳动节" in note.inner_text()
    page.fill("#id_started_at", "2021-05-03 20:30")
    with page.expect_navigation():
        page.click("button[type=submit].primary:not([data-save-next])")
    assert page.url.endswith("/sessions/")
    warning = page.locator(".messages li.warning")
    assert "2021-05-03" in warning.inner_text() and "不计入任何排名" in warning.inner_text()
    row = page.locator("tr[data-session]")
    assert row.locator("td[data-holiday]").inner_text() == "不在任何假期内"
