"""The import page in a real browser: a file with one bad row shows that row's error and saves
nothing; the corrected file previews, confirms and lands in the database."""

import csv

from sessions_app.models import ImportBatch, LivestreamSession

from ..factories import OfficialFactory, UserFactory

HEADERS = ["官员", "县区", "平台", "标题", "商品", "开始时间", "结束时间", "观看人数", "订单数",
           "销售额(元)"]


def _write_csv(path, official, *, bad_audience: str | None) -> None:
    rows = [
        [official.name, "", "抖音", "吉县苹果", "苹果", "2020-05-01 10:00", "2020-05-01 12:00",
         "120000", "3000", "230000.50"],
        [official.name, "乡宁县", "快手", "乡宁核桃", "核桃", "2020-05-02 10:00",
         "2020-05-02 11:00", bad_audience or "8000", "120", "9800"],
    ]
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        writer.writerows(rows)


def test_staff_see_the_bad_rows_error_then_import_the_corrected_file(
    page, server, login, foreign_requests, tmp_path
):
    staff = UserFactory(username="import-staff", group="city_staff")
    official = OfficialFactory(name="贺县长")
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    _write_csv(bad, official, bad_audience="-5")
    _write_csv(good, official, bad_audience=None)
    login(page, staff)

    page.goto(f"{server.url}/sessions/import/")
    page.set_input_files("input[type=file]", str(bad))
    with page.expect_navigation():
        page.click("form.import-upload button[type=submit]")

    error_row = page.locator('#import-errors tr[data-row="3"]')
    assert error_row.count() == 1
    assert "观看人数" in error_row.inner_text()
    assert page.locator("button[name=confirm]").count() == 0
    assert not LivestreamSession.objects.exists()
    assert not ImportBatch.objects.exists()

    page.set_input_files("input[type=file]", str(good))
    with page.expect_navigation():
        page.click("form.import-upload button[type=submit]")
    assert page.locator("#import-errors").count() == 0
    assert page.locator("#import-rows tbody tr").count() == 2
    with page.expect_navigation():
        page.click("button[name=confirm]")

    assert LivestreamSession.objects.filter(entered_by=staff).count() == 2
    assert page.locator(".messages li").count() == 1
    assert foreign_requests() == []


def test_staff_see_bad_values_in_place_and_reimport_corrected_figures_in_update_mode(
    page, server, login, foreign_requests, tmp_path
):
    from decimal import Decimal

    from sessions_app.services import session_create

    from ..factories import beijing

    staff = UserFactory(username="update-staff", group="city_staff")
    official = OfficialFactory(name="贺县长")
    stored = session_create(
        entered_by=staff, official=official, platform="douyin", title="吉县苹果",
        started_at=beijing(2020, 5, 1, 10), ended_at=beijing(2020, 5, 1, 12),
        audience=120000, orders=3000, revenue=Decimal("230000.50"))
    login(page, staff)

    # A bad value is shown where it is, highlighted, among the good rows.
    bad = tmp_path / "bad.csv"
    _write_csv(bad, official, bad_audience="-5")
    page.goto(f"{server.url}/sessions/import/")
    page.set_input_files("input[type=file]", str(bad))
    with page.expect_navigation():
        page.click("form.import-upload button[type=submit]")
    cell = page.locator('#import-rows tr[data-row="3"] td[data-column="audience"]')
    assert cell.get_attribute("class") == "bad"
    assert cell.inner_text().startswith("-5")
    # The first row clashes with the stored session: named, with a link to it.
    link = page.locator(f'#import-errors a[data-session-link="{stored.pk}"]')
    assert link.get_attribute("href") == f"/sessions/{stored.pk}/edit/"

    # The platform's corrected figures for the stored session, imported as corrections.
    corrected = tmp_path / "corrected.csv"
    with open(corrected, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        writer.writerow([official.name, "", "抖音", "吉县苹果", "苹果", "2020-05-01 10:00",
                         "2020-05-01 12:00", "125000", "3100", "250000.00"])
    page.set_input_files("input[type=file]", str(corrected))
    page.check('input[name=mode][value="update"]')
    with page.expect_navigation():
        page.click("form.import-upload button[type=submit]")
    revenue = page.locator('#import-rows tr[data-row="2"] td[data-column="revenue"]')
    assert revenue.locator("del").inner_text() == "230,000.50"
    assert revenue.locator("ins").inner_text() == "250,000.00"
    assert page.locator("button[name=confirm]").inner_text() == "更新 1 个场次"
    with page.expect_navigation():
        page.click("button[name=confirm]")

    stored.refresh_from_db()
    assert (stored.audience, stored.orders, stored.revenue) == (125000, 3100,
                                                                Decimal("250000.00"))
    assert LivestreamSession.objects.count() == 1
    assert foreign_requests() == []
