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
