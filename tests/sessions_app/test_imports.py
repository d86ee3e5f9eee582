"""Spreadsheet import: reading, per-row errors, all-or-nothing saving with history, safety."""

import csv
import io
import re
import zipfile
from datetime import datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from sessions_app import imports, services
from sessions_app.imports import (
    SpreadsheetRejected,
    import_check,
    import_template_build,
    spreadsheets,
)
from sessions_app.models import County, Holiday, ImportBatch, LivestreamSession
from sessions_app.services import (
    import_batch_cancel,
    import_batch_confirm,
    import_batch_stage,
    rankings_recompute_request,
    sessions_import,
)

from ..factories import HolidayFactory, OfficialFactory, SessionFactory, UserFactory, beijing

pytestmark = pytest.mark.django_db

CN_HEADERS = ["官员", "县区", "平台", "标题", "商品", "开始时间", "结束时间", "观看人数", "订单数",
              "销售额(元)"]
EN_HEADERS = ["official", "county", "platform", "title", "products", "started_at", "ended_at",
              "audience", "orders", "revenue"]


def _csv(rows, headers=CN_HEADERS, encoding="utf-8") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _xlsx(rows, headers=EN_HEADERS) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _row(who, /, **overrides) -> list:
    values = {
        "official": str(who.id), "county": "", "platform": "抖音", "title": "吉县苹果直播",
        "products": "苹果", "started_at": "2020-05-01 10:00", "ended_at": "2020-05-01 12:00",
        "audience": "120000", "orders": "3000", "revenue": "230000.50",
    }
    values.update(overrides)
    return [values[f] for f in EN_HEADERS]


def _stage(user, content: bytes, filename: str = "s.csv"):
    return import_batch_stage(user=user, check=import_check(filename=filename, content=content))


def _errors(check) -> list[tuple[int, str, str]]:
    return [(e.row, e.column, e.reason) for e in check.errors]


@pytest.fixture(autouse=True)
def english():
    """Messages are compared in English; pages are requested in English too."""
    with translation.override("en"):
        yield


@pytest.fixture
def client(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def official(db):
    return OfficialFactory(name="张县长")


# --- Reading and mapping ----------------------------------------------------------------------


def test_it_imports_a_csv_with_chinese_headers_with_history_and_the_officials_county(
    official, staff_user
):
    content = _csv([_row(official), _row(official, started_at="2020/5/2 10:00",
                                         ended_at="2020年5月2日 11:30", county="尧都区")])

    check = import_check(filename="s.csv", content=content)
    assert check.ok, _errors(check)
    created = sessions_import(rows=check.rows, user=staff_user, source="s.csv")

    assert len(created) == 2
    first, second = LivestreamSession.objects.order_by("started_at")
    assert first.county == official.county  # empty county: the official's
    assert second.county.slug == "yaodu"
    assert first.entered_by == staff_user
    assert first.revenue == Decimal("230000.50")
    assert first.started_at == beijing(2020, 5, 1, 10)
    assert second.ended_at == beijing(2020, 5, 2, 11, 30)
    history = LivestreamSession.history.filter(id=first.id).get()
    assert history.history_type == "+"
    assert history.history_user == staff_user
    assert history.history_change_reason == "import: s.csv"


def test_it_reads_a_gbk_csv_saved_by_chinese_excel(official):
    content = _csv([_row(official, official="张县长", title="临汾小米")], encoding="gbk")

    check = import_check(filename="gbk.csv", content=content)

    assert check.ok, _errors(check)
    assert check.rows[0].title == "临汾小米"
    assert check.rows[0].official_id == official.id


def test_it_reads_excels_unicode_text_export(official):
    lines = ["\t".join(CN_HEADERS), "\t".join(_row(official))]
    content = "\r\n".join(lines).encode("utf-16")

    check = import_check(filename="unicode.txt", content=content)

    assert check.ok, _errors(check)


def test_a_csv_in_an_unknown_encoding_gets_a_clear_error():
    with pytest.raises(SpreadsheetRejected, match="neither UTF-8 nor GBK"):
        import_check(filename="x.csv", content=",".join(CN_HEADERS).encode() + b"\n\x80\xff,1")


def test_it_reads_a_utf8_csv_with_bom_and_loose_english_headers(official):
    headers = ["Official", "County", "Platform", "Title", "Products", "Started at", "Ended at",
               "Audience", "Orders", "Revenue (yuan)"]
    content = b"\xef\xbb\xbf" + _csv([_row(official, platform="Taobao Live",
                                           revenue="1,234.5")], headers=headers)

    check = import_check(filename="bom.csv", content=content)

    assert check.ok, _errors(check)
    assert check.rows[0].platform == "taobao_live"
    assert check.rows[0].revenue == Decimal("1234.50")


def test_it_reads_the_first_sheet_of_an_xlsx_with_datetime_cells(official):
    # Excel keeps times as day fractions; 10:00 may read back as 09:59:59.999999.
    noisy = datetime(2020, 5, 3, 9, 59, 59, 999_999)
    content = _xlsx([[official.id, "jixian", "kuaishou", "Walnuts", "", noisy,
                      datetime(2020, 5, 3, 12, 0), 1000, 10.0, 99.9]])

    check = import_check(filename="s.xlsx", content=content)

    assert check.ok, _errors(check)
    row = check.rows[0]
    assert row.started_at == beijing(2020, 5, 3, 10)
    assert (row.audience, row.orders, row.revenue) == (1000, 10, Decimal("99.90"))


def _rewrite_member(xlsx: bytes, name: str, change) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            target.writestr(item, change(data) if item.filename == name else data)
    return out.getvalue()


def test_rows_past_a_wrong_declared_sheet_dimension_are_still_read(official):
    rows = [[official.id, "", "douyin", f"Live {d}", "", datetime(2020, 5, d, 10),
             datetime(2020, 5, d, 11), 1, 1, 1] for d in (1, 2, 3)]
    # Some programs declare the used range as just "A1": openpyxl would stop there.
    content = _rewrite_member(
        _xlsx(rows), "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1"', xml),
    )

    check = import_check(filename="dim.xlsx", content=content)

    assert [row.row for row in check.rows] == [2, 3, 4]


def test_a_sheet_going_far_past_the_row_cap_is_refused_early(official, monkeypatch):
    monkeypatch.setattr(spreadsheets, "IMPORT_MAX_ROW_NUMBER", 10)
    content = _csv([_row(official)] + [[""] * 10] * 20)

    with pytest.raises(SpreadsheetRejected, match="past row 10"):
        import_check(filename="long.csv", content=content)


def test_rows_are_numbered_as_the_spreadsheet_shows_them_skipping_blank_and_comment_rows(
    official,
):
    content = _csv([
        ["# 说明: this row is a comment"] + [""] * 9,
        [""] * 10,
        _row(official, audience="-5"),
    ])

    check = import_check(filename="s.csv", content=content)

    assert check.row_count == 1
    assert [(e.row, e.column) for e in check.errors] == [(4, "观看人数")]


# --- Per-row errors -----------------------------------------------------------------------------


def test_it_reports_row_column_and_reason_for_every_bad_row(official):
    OfficialFactory(name="王主任")
    OfficialFactory(name="王主任")
    content = _csv([
        _row(official),
        _row(official, started_at="2020-05-01 11:00", ended_at="2020-05-01 10:00"),
        _row(official, started_at="2020-05-01 12:00", ended_at="2020-05-01 13:00",
             revenue="1.505"),
        _row(official, started_at="2020-05-01 14:00", ended_at="2020-05-01 15:00",
             platform="Bilibili"),
        _row(official, official="999999"),
        _row(official, official="王主任"),
        _row(official, official="李四"),
        _row(official, county="atlantis"),
        _row(official, orders="12.5", started_at="soon", title=""),
    ])

    check = import_check(filename="bad.csv", content=content)

    errors = _errors(check)
    by_row = {}
    for row, column, reason in errors:
        by_row.setdefault(row, []).append((column, reason))
    assert by_row[3] == [("结束时间", "A session must end after it starts.")]
    assert by_row[4][0][0] == "销售额(元)" and "2 decimal places" in by_row[4][0][1]
    assert by_row[5][0][0] == "平台" and "Bilibili" in by_row[5][0][1]
    assert by_row[6] == [("官员", "No official has the id 999999.")]
    assert by_row[7][0][0] == "官员" and "2 officials are named" in by_row[7][0][1]
    assert by_row[8] == [("官员", "No official is named “李四”.")]
    assert by_row[9][0][0] == "县区" and "atlantis" in by_row[9][0][1]
    assert [column for column, _ in by_row[10]] == ["标题", "开始时间", "订单数"]
    assert 2 not in by_row
    assert check.error_row_count == 8
    assert not check.ok


def test_it_refuses_repeats_within_the_file_and_sessions_already_stored(official):
    SessionFactory(official=official, title="Stored walnuts", started_at=beijing(2020, 5, 2, 10),
                   ended_at=beijing(2020, 5, 2, 12))
    content = _csv([
        _row(official),
        _row(official),
        _row(official, started_at="2020-05-02 10:00", ended_at="2020-05-02 11:00"),
    ])

    check = import_check(filename="dup.csv", content=content)

    assert _errors(check) == [
        (3, "开始时间", "Row 2 has a session of this official on this platform at an "
                    "overlapping time."),
        (4, "开始时间", "This official already has a session on this platform at this time "
                    "(Stored walnuts, 2020-05-02 10:00 to 2020-05-02 12:00)."),
    ]


def test_header_problems_are_reported_on_row_1(official):
    headers = ["官员", "平台", "平台", "备注", "开始时间", "结束时间", "观看人数", "订单数",
               "销售额"]
    content = _csv([["1", "抖音", "抖音", "x", "2020-05-01 10:00", "2020-05-01 11:00", "1", "1",
                     "1"]], headers=headers)

    check = import_check(filename="h.csv", content=content)

    assert {(e.row, e.column) for e in check.errors} == {(1, "平台"), (1, "备注"), (1, "标题")}
    assert not check.rows


def test_values_in_columns_without_a_header_are_reported_not_dropped(official):
    headers = CN_HEADERS[:3] + [""] + CN_HEADERS[3:]

    def row(day: int, gap: str, *extra: str) -> list:
        cells = _row(official, started_at=f"2020-05-0{day} 10:00",
                     ended_at=f"2020-05-0{day} 11:00")
        return [*cells[:3], gap, *cells[3:], *extra]

    rows = [row(1, ""), row(2, "note"), row(3, "", "", "stray")]

    check = import_check(filename="gaps.csv", content=_csv(rows, headers=headers))

    assert [(e.row, e.column) for e in check.errors] == [(3, ""), (4, "")]
    assert [row.row for row in check.rows] == [2]


def test_a_formula_cell_in_an_xlsx_is_refused_with_a_clear_error(official):
    content = _xlsx([[official.id, "", "douyin", '=HYPERLINK("http://evil.example","x")', "",
                      "2020-05-01 10:00", "2020-05-01 11:00", "=1+1", 1, 1]])

    check = import_check(filename="f.xlsx", content=content)

    assert _errors(check) == [
        (2, "title", "Text may not start with =, +, -, @, a tab or a line break (a spreadsheet "
                     "would run it as a formula)."),
        (2, "audience", "Formulas are not accepted: paste the values only."),
    ]


def test_csv_text_that_would_run_as_a_formula_on_export_is_refused(official):
    content = _csv([_row(official, products="@SUM(1+1)*cmd|' /C calc'!A0")])

    check = import_check(filename="f.csv", content=content)

    assert [(e.row, e.column) for e in check.errors] == [(2, "商品")]


# --- Whole-file rejections ----------------------------------------------------------------------


def test_a_damaged_xlsx_gets_a_clear_error():
    real = _xlsx([[1, "", "douyin", "t", "", "2020-05-01 10:00", "2020-05-01 11:00", 1, 1, 1]])

    with pytest.raises(SpreadsheetRejected, match="not a valid XLSX"):
        import_check(filename="cut.xlsx", content=real[: len(real) // 2])
    with pytest.raises(SpreadsheetRejected, match="not a valid XLSX"):
        import_check(filename="junk.xlsx", content=b"PK\x03\x04" + b"\x00" * 200)
    with pytest.raises(SpreadsheetRejected, match="not an XLSX workbook"):
        import_check(filename="text.xlsx", content=b"just text")


def test_a_zip_bomb_is_refused_before_it_is_unpacked():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (200 * 1024 * 1024))
    assert len(out.getvalue()) < 1024 * 1024

    with pytest.raises(SpreadsheetRejected, match="unpacks to more than"):
        import_check(filename="bomb.xlsx", content=out.getvalue())


def test_an_xlsx_with_an_entity_expansion_is_refused():
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><workbook>&b;</workbook>')
    content = _rewrite_member(_xlsx([]), "xl/workbook.xml", lambda xml: bomb.encode())

    with pytest.raises(SpreadsheetRejected, match="not a valid XLSX"):
        import_check(filename="entities.xlsx", content=content)


def test_an_upload_over_the_size_limit_is_refused(settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1000

    with pytest.raises(SpreadsheetRejected, match="larger than"):
        import_check(filename="big.csv", content=b"a" * 1001)


def test_a_file_with_more_rows_than_the_cap_is_refused(official, monkeypatch):
    monkeypatch.setattr(spreadsheets, "IMPORT_MAX_ROWS", 3)
    rows = [_row(official, started_at=f"2020-05-01 1{i}:00", ended_at=f"2020-05-01 1{i}:30")
            for i in range(4)]

    with pytest.raises(SpreadsheetRejected, match="more than 3 rows"):
        import_check(filename="many.csv", content=_csv(rows))


def test_old_xls_and_binary_files_get_a_clear_error():
    with pytest.raises(SpreadsheetRejected, match=".xls files"):
        import_check(filename="old.xls", content=b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    with pytest.raises(SpreadsheetRejected, match="neither an XLSX"):
        import_check(filename="x.csv", content=b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(SpreadsheetRejected, match="no data rows"):
        import_check(filename="x.csv", content=_csv([]))


# --- Saving: all or nothing, once ---------------------------------------------------------------


def test_confirm_saves_every_row_and_marks_each_holiday_stale_once(
    official, staff_user, django_capture_on_commit_callbacks
):
    holiday = HolidayFactory()
    rows = [_row(official, started_at=f"2020-05-0{d} 10:00", ended_at=f"2020-05-0{d} 11:00")
            for d in (1, 2, 3)]
    batch = _stage(staff_user, _csv(rows), "ok.csv")

    with django_capture_on_commit_callbacks() as callbacks:
        outcome = import_batch_confirm(batch_id=batch.id, user=staff_user)

    assert outcome.created == 3
    assert LivestreamSession.objects.count() == 3
    assert LivestreamSession.history.count() == 3
    assert not ImportBatch.objects.exists()
    holiday.refresh_from_db()
    assert holiday.data_version == 1
    requests = [c for c in callbacks if getattr(c, "func", None) is rankings_recompute_request]
    assert [r.keywords for r in requests] == [{"holiday_ids": [holiday.id]}]


def test_nothing_is_saved_when_any_row_has_an_error(official, staff_user):
    leaving = OfficialFactory(name="调走的干部")
    rows = [_row(official), _row(leaving, started_at="2020-05-02 10:00",
                                 ended_at="2020-05-02 11:00")]
    batch = _stage(staff_user, _csv(rows), "two.csv")
    leaving.delete()  # between the preview and the confirm

    outcome = import_batch_confirm(batch_id=batch.id, user=staff_user)

    assert outcome.created == 0
    assert [(e.row, e.column) for e in outcome.check.errors] == [(3, "官员")]
    assert not LivestreamSession.objects.exists()
    assert not LivestreamSession.history.exists()
    assert ImportBatch.objects.filter(pk=batch.pk).exists()


def test_only_a_checked_file_without_errors_can_be_staged(official, staff_user):
    check = import_check(filename="bad.csv", content=_csv([_row(official, audience="-1")]))

    with pytest.raises(ValueError):
        import_batch_stage(user=staff_user, check=check)
    assert not ImportBatch.objects.exists()


def test_confirm_validates_again_against_data_saved_since_the_preview(official, staff_user):
    batch = _stage(staff_user, _csv([_row(official)]), "s.csv")
    assert imports.import_batch_check(batch=batch).ok
    SessionFactory(official=official, title="Saved meanwhile",
                   started_at=beijing(2020, 5, 1, 10, 30), ended_at=beijing(2020, 5, 1, 12, 30))

    outcome = import_batch_confirm(batch_id=batch.id, user=staff_user)

    assert outcome.created == 0
    assert _errors(outcome.check) == [
        (2, "开始时间", "This official already has a session on this platform at this time "
                    "(Saved meanwhile, 2020-05-01 10:30 to 2020-05-01 12:30).")
    ]
    assert LivestreamSession.objects.count() == 1


@pytest.mark.skipif(
    not connection.vendor == "postgresql",
    reason="SQLite serialises writers, so the check in the import's transaction cannot be "
           "raced; PostgreSQL's exclusion constraint is what this tests",
)
def test_a_concurrent_write_winning_the_overlap_race_becomes_a_row_error(
    official, staff_user, monkeypatch
):
    batch = _stage(staff_user, _csv([_row(official)]), "s.csv")
    real_bulk_create = services.bulk_create_with_history

    def another_writer_commits_first(objs, model, **kwargs):
        # Between validation and insert, someone saves the same official and start time.
        SessionFactory(official=official, started_at=beijing(2020, 5, 1, 10))
        return real_bulk_create(objs, model, **kwargs)

    monkeypatch.setattr(services, "bulk_create_with_history", another_writer_commits_first)

    outcome = import_batch_confirm(batch_id=batch.id, user=staff_user)

    assert outcome.created == 0
    assert outcome.check.errors
    assert not LivestreamSession.objects.exists()  # the racing row rolled back with ours
    assert ImportBatch.objects.filter(pk=batch.pk).exists()


def test_a_second_confirm_of_the_same_upload_imports_nothing(official, staff_user):
    batch = _stage(staff_user, _csv([_row(official)]), "s.csv")
    import_batch_confirm(batch_id=batch.id, user=staff_user)

    with pytest.raises(imports.ImportBatchGone):
        import_batch_confirm(batch_id=batch.id, user=staff_user)
    assert LivestreamSession.objects.count() == 1


def test_cancel_drops_the_upload_and_saves_nothing(official, staff_user):
    batch = _stage(staff_user, _csv([_row(official)]), "s.csv")

    assert import_batch_cancel(batch_id=batch.id, user=staff_user)

    assert not ImportBatch.objects.exists()
    assert not LivestreamSession.objects.exists()
    with pytest.raises(imports.ImportBatchGone):
        import_batch_confirm(batch_id=batch.id, user=staff_user)


def test_an_expired_upload_cannot_be_confirmed_and_is_purged(official, staff_user):
    old = _stage(staff_user, _csv([_row(official)]), "s.csv")
    ImportBatch.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - imports.IMPORT_BATCH_TTL - timedelta(minutes=1)
    )

    with pytest.raises(imports.ImportBatchGone):
        import_batch_confirm(batch_id=old.id, user=staff_user)
    _stage(staff_user, _csv([_row(official, started_at="2020-05-03 10:00",
                                  ended_at="2020-05-03 11:00")]), "new.csv")
    assert not ImportBatch.objects.filter(pk=old.pk).exists()


def test_a_user_cannot_confirm_someone_elses_upload(official, staff_user):
    batch = _stage(staff_user, _csv([_row(official)]), "s.csv")
    other = UserFactory(group="city_staff")

    with pytest.raises(imports.ImportBatchGone):
        import_batch_confirm(batch_id=batch.id, user=other)
    assert not import_batch_cancel(batch_id=batch.id, user=other)


# --- Templates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_the_filled_in_template_imports(official, file_format):
    template = import_template_build(file_format=file_format)
    if file_format == "csv":
        content = template.content + _csv([_row(official)]).split(b"\r\n", 1)[1]
        assert "# 干部" in template.content.decode("utf-8-sig")
    else:
        workbook = openpyxl.load_workbook(io.BytesIO(template.content))
        assert workbook.sheetnames[1] == "Help"
        workbook.worksheets[0].append(_row(official))
        out = io.BytesIO()
        workbook.save(out)
        content = out.getvalue()

    check = import_check(filename=template.filename, content=content)

    assert check.ok, _errors(check)
    assert len(check.rows) == 1


# --- Pages --------------------------------------------------------------------------------------


def test_officials_are_refused_the_import_page(client, official_user, staff_user, official):
    batch = _stage(staff_user, _csv([_row(official)]))
    client.force_login(official_user)

    assert client.get(reverse("session_import:upload")).status_code == 403
    assert client.post(reverse("session_import:upload")).status_code == 403
    assert client.post(reverse("session_import:confirm", args=[batch.pk])).status_code == 403
    assert not LivestreamSession.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("session_import:upload"))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_staff_upload_preview_and_confirm_through_the_pages(client, staff_user, official):
    client.force_login(staff_user)
    upload = io.BytesIO(_csv([_row(official), _row(official, started_at="2020-05-02 10:00",
                                                   ended_at="2020-05-02 11:00")]))
    upload.name = "week.csv"

    preview = client.post(reverse("session_import:upload"), {"file": upload})
    assert preview.status_code == 200
    assert "吉县苹果直播" in preview.content.decode()
    assert not LivestreamSession.objects.exists()
    batch = ImportBatch.objects.get()
    assert reverse("session_import:confirm", args=[batch.pk]) in preview.content.decode()
    assert client.get(reverse("session_import:preview", args=[batch.pk])).status_code == 200

    done = client.post(reverse("session_import:confirm", args=[batch.pk]), follow=True)

    assert done.status_code == 200
    assert LivestreamSession.objects.filter(entered_by=staff_user).count() == 2
    assert "week.csv" in done.content.decode()


def test_an_upload_with_errors_shows_them_and_stages_nothing(client, staff_user, official):
    client.force_login(staff_user)
    upload = io.BytesIO(_csv([_row(official), _row(official, started_at="2020-05-02 10:00",
                                                   ended_at="2020-05-02 11:00", orders="many")]))
    upload.name = "bad.csv"

    response = client.post(reverse("session_import:upload"), {"file": upload})

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-row="3"' in page and "订单数" in page
    assert "session_import" not in page and "/confirm/" not in page
    assert not ImportBatch.objects.exists()


def test_an_oversized_upload_is_refused_with_413(client, staff_user, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 10
    client.force_login(staff_user)
    upload = io.BytesIO(b"a" * 100_000)
    upload.name = "big.csv"

    response = client.post(reverse("session_import:upload"), {"file": upload})

    assert response.status_code == 413
    assert not ImportBatch.objects.exists()


def test_a_damaged_file_shows_the_reason_on_the_form(client, staff_user):
    client.force_login(staff_user)
    upload = io.BytesIO(b"PK\x03\x04garbage")
    upload.name = "broken.xlsx"

    response = client.post(reverse("session_import:upload"), {"file": upload})

    assert response.status_code == 400
    assert "XLSX" in response.content.decode()


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_the_template_downloads(client, staff_user, file_format):
    client.force_login(staff_user)

    response = client.get(reverse("session_import:upload"), {"template": file_format})

    assert response.status_code == 200
    assert f"sessions-import-template.{file_format}" in response["Content-Disposition"]


def test_cancel_through_the_page_keeps_the_database_unchanged(client, staff_user, official):
    client.force_login(staff_user)
    batch = _stage(staff_user, _csv([_row(official)]), "s.csv")

    response = client.post(reverse("session_import:cancel", args=[batch.pk]))

    assert response.status_code == 302
    assert not ImportBatch.objects.exists()
    assert not LivestreamSession.objects.exists()


def test_county_names_match_in_english_and_chinese(official):
    county = County.objects.get(slug="yaodu")
    content = _csv([
        _row(official, county=county.name_zh),
        _row(official, county=county.name.upper(), started_at="2020-05-02 10:00",
             ended_at="2020-05-02 11:00"),
    ])

    check = import_check(filename="c.csv", content=content)

    assert [row.county_id for row in check.rows] == [county.id, county.id]


def test_holiday_untouched_when_rows_fall_outside_it(official, staff_user):
    holiday = HolidayFactory()
    content = _csv([_row(official, started_at="2020-05-06 10:00", ended_at="2020-05-06 11:00")])
    batch = _stage(staff_user, content, "s.csv")

    import_batch_confirm(batch_id=batch.id, user=staff_user)

    assert Holiday.objects.get(pk=holiday.pk).data_version == 0


def test_it_imports_cohosts_and_item_lines_from_their_columns_and_previews_them(
        client, staff_user, holiday):
    from sessions_app.models import SessionItem

    lead = OfficialFactory(name="Lead")
    cohost = OfficialFactory(name="贺志远")
    client.force_login(staff_user)
    content = (
        "干部,平台,标题,开始时间,结束时间,观看人数,订单数,销售额(元),独立观众数,最高在线人数,"
        "新增粉丝数,联播干部,商品明细\n"
        f"{lead.pk},抖音,核桃专场,2020-05-02 10:00,2020-05-02 12:00,1000,10,500,800,90,7,"
        "贺志远,\"核桃|200|斤|300|是; 小米|5|袋|100\"\n"
    ).encode()
    upload = io.BytesIO(content)
    upload.name = "sessions.csv"

    preview = client.post(reverse("session_import:upload"), {"file": upload})

    check = preview.context["check"]
    assert check.ok, check.errors
    assert "核桃|200|jin|300.00|是; 小米|5|bag|100.00" in preview.content.decode()
    confirm = reverse("session_import:confirm", args=[preview.context["batch"].pk])
    assert client.post(confirm).status_code == 302
    session = LivestreamSession.objects.get(title="核桃专场")
    assert (session.unique_viewers, session.peak_viewers, session.new_followers) == (800, 90, 7)
    assert list(session.hosts.all()) == [cohost]
    assert sorted(session.items.values_list("name", "unit", "revenue",
                                            "poverty_relief_product")) == [
        ("小米", "bag", Decimal("100.00"), False), ("核桃", "jin", Decimal("300.00"), True)]
    assert SessionItem.history.filter(session_id=session.pk).count() == 2


@pytest.mark.parametrize(("cell", "says"), [
    ("核桃|200|斤", "Item line 1: write product|quantity|unit|revenue"),
    ("核桃|lots|斤|10", "Item line 1: Enter a number"),
    ("核桃|1|斤|10|maybe", "Item line 1: Enter yes or no"),
    ("核桃|1|斤|400; 小米|1|袋|101", "add up to 501.00 yuan"),
])
def test_a_bad_item_cell_is_an_error_naming_the_row_and_column(client, staff_user, cell, says):
    official = OfficialFactory()
    client.force_login(staff_user)
    content = ("official,platform,title,started_at,ended_at,audience,orders,revenue,items\n"
               f"{official.pk},douyin,x,2020-05-02 10:00,2020-05-02 11:00,10,1,500,\"{cell}\"\n"
               ).encode()
    upload = io.BytesIO(content)
    upload.name = "sessions.csv"

    check = client.post(reverse("session_import:upload"), {"file": upload},
                        HTTP_ACCEPT_LANGUAGE="en").context["check"]

    assert [(e.row, e.column) for e in check.errors] == [(2, "items")]
    assert says in check.errors[0].reason
