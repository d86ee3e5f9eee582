"""The import preview and the update mode: bad rows shown in place with their values, a
clash naming the stored session with a link, rows in no holiday flagged, corrections of
stored sessions through `session_update` with the versions read when the file was checked,
and the template's officials sheet with drop-down lists."""

import io
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse
from django.utils import translation

from sessions_app import imports, services
from sessions_app.imports import MODE_UPDATE, import_check, import_template_build
from sessions_app.models import ImportBatch, LivestreamSession, SessionEvidence, SessionStatus

from ..factories import HolidayFactory, OfficialFactory, SessionFactory, UserFactory, beijing
from .test_imports import CN_HEADERS, _csv, _row

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def official(db):
    return OfficialFactory(name="张县长")


@pytest.fixture
def staff_client(client, staff_user):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.force_login(staff_user)
    return client


def upload(client, content: bytes, *, mode: str = "create", name: str = "s.csv"):
    return client.post(reverse("session_import:upload"), {
        "file": _named(content, name), "mode": mode})


def _named(content: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_a_bad_row_is_shown_in_place_with_its_value_and_its_error(staff_client, official):
    content = _csv([_row(official), _row(official, audience="-5", started_at="2020-05-02 10:00",
                                         ended_at="2020-05-02 11:00")])
    response = upload(staff_client, content)
    html = response.content.decode()
    assert response.status_code == 200
    check = response.context["check"]
    bad = next(row for row in check.preview if row.row == 3)
    assert bad.has_error
    audience = next(cell for cell in bad.cells if cell.field == "audience")
    assert audience.text == "-5" and "0" in audience.error
    # In the table, between the good rows, marked.
    assert [row.row for row in check.preview] == [2, 3]
    assert 'data-row="3" class="has-error"' in html
    assert 'data-column="audience" class="bad" data-error' in html


def test_every_bad_row_is_shown_past_the_first_rows(official):
    good = [_row(official, started_at=f"2020-05-0{1 + i // 12} {8 + i % 12:02d}:00",
                 ended_at=f"2020-05-0{1 + i // 12} {8 + i % 12:02d}:30") for i in range(30)]
    good.append(_row(official, orders="lots", started_at="2020-05-05 20:00",
                     ended_at="2020-05-05 21:00"))
    check = import_check(filename="s.csv", content=_csv(good))
    shown = [row.row for row in check.preview]
    assert shown[:imports.PREVIEW_ROWS] == list(range(2, 2 + imports.PREVIEW_ROWS))
    assert shown[-1] == 32  # the bad last row, though past the first rows
    last = check.preview[-1]
    assert next(c for c in last.cells if c.field == "orders").text == "lots"


def test_a_clash_with_a_stored_session_names_it_with_a_link(staff_client, official):
    stored = SessionFactory(official=official, platform="douyin", title="已有的直播",
                            started_at=beijing(2020, 5, 1, 11), ended_at=beijing(2020, 5, 1, 13))
    response = upload(staff_client, _csv([_row(official)]))  # 10:00-12:00 on Douyin
    (error,) = response.context["check"].errors
    assert error.session_id == stored.pk and "已有的直播" in error.reason
    html = response.content.decode()
    assert f'href="/sessions/{stored.pk}/edit/" data-session-link="{stored.pk}"' in html


def test_rows_in_no_holiday_are_counted_and_marked(staff_client, official):
    HolidayFactory()
    content = _csv([_row(official), _row(official, started_at="2021-05-01 10:00",
                                         ended_at="2021-05-01 12:00")])
    response = upload(staff_client, content)
    check = response.context["check"]
    assert check.ok and check.outside_holidays == 1
    assert [row.holiday for row in check.rows] == ["Labor Day 2020", None]
    html = response.content.decode()
    assert 'data-outside-holidays="1"' in html
    assert html.count("data-no-holiday") == 1


# --- Update mode ------------------------------------------------------------------------------


@pytest.fixture
def stored(official):
    return SessionFactory(official=official, platform="douyin", title="吉县苹果直播",
                          products="苹果", started_at=beijing(2020, 5, 1, 10),
                          ended_at=beijing(2020, 5, 1, 12), audience=120000, orders=3000,
                          revenue=Decimal("230000.50"))


def test_update_mode_corrects_the_stored_session_through_the_service(
        staff_client, staff_user, official, stored):
    content = _csv([_row(official, revenue="250000.00", orders="3100")])
    response = upload(staff_client, content, mode="update")
    check = response.context["check"]
    assert check.ok and check.mode == MODE_UPDATE
    (row,) = check.rows
    assert row.session_id == stored.pk and row.version == stored.version
    assert row.changes == {"orders": (3000, 3100),
                           "revenue": (Decimal("230000.50"), Decimal("250000.00"))}
    html = response.content.decode()
    assert "<del>230,000.50</del> → <ins>250,000.00</ins>" in html
    assert LivestreamSession.objects.get(pk=stored.pk).revenue == Decimal("230000.50")

    batch = ImportBatch.objects.get()
    confirmed = staff_client.post(reverse("session_import:confirm", args=[batch.pk]))
    assert confirmed.status_code == 302
    stored.refresh_from_db()
    assert (stored.revenue, stored.orders, stored.version) == (Decimal("250000.00"), 3100, 2)
    assert stored.last_changed_by == staff_user
    assert LivestreamSession.objects.count() == 1  # corrected, not added
    latest = stored.history.first()
    assert latest.history_user == staff_user and latest.history_change_reason == "import: s.csv"


def test_update_mode_sends_a_verified_session_back_to_be_checked(
        staff_user, official, stored):
    reviewer = UserFactory(username="reviewer-x", group="city_staff")
    SessionEvidence.objects.create(session=stored, kind="other", file="x", size=1, sha256="a",
                                   original_filename="x.csv", content_type="text/csv")
    services.session_verify(session=stored, reviewer=reviewer)
    check = import_check(filename="s.csv", content=_csv([_row(official, audience="130000")]),
                         mode=MODE_UPDATE)
    batch = services.import_batch_stage(user=staff_user, check=check)
    outcome = services.import_batch_confirm(batch_id=batch.pk, user=staff_user)
    assert outcome.updated == 1
    stored.refresh_from_db()
    assert (stored.audience, stored.status) == (130000, SessionStatus.ENTERED)


def test_a_session_changed_between_preview_and_confirm_is_refused(
        staff_client, staff_user, official, stored):
    upload(staff_client, _csv([_row(official, revenue="250000.00")]), mode="update")
    batch = ImportBatch.objects.get()
    services.session_update(session=stored, updated_by=UserFactory(username="other-staff"),
                            data={"title": "改过的标题"}, expected_version=stored.version)

    response = staff_client.post(reverse("session_import:confirm", args=[batch.pk]))
    assert response.status_code == 409
    (error,) = response.context["check"].errors
    assert error.session_id == stored.pk and "changed after the file was checked" in error.reason
    stored.refresh_from_db()
    assert (stored.revenue, stored.title) == (Decimal("230000.50"), "改过的标题")


def test_a_change_racing_the_confirm_is_refused_by_the_version_rule(
        staff_user, official, stored, monkeypatch):
    """Past the check, session_update's own version check holds: nothing is saved."""
    second = SessionFactory(official=official, platform="kuaishou", title="快手场",
                            started_at=beijing(2020, 5, 2, 10), ended_at=beijing(2020, 5, 2, 11))
    content = _csv([_row(official, revenue="1.00"),
                    _row(official, platform="快手", title="快手场", started_at="2020-05-02 10:00",
                         ended_at="2020-05-02 11:00", revenue="2.00")])
    batch = services.import_batch_stage(
        user=staff_user, check=import_check(filename="s.csv", content=content, mode=MODE_UPDATE))
    original = services.session_update

    def update_racing(*, session, updated_by, data, expected_version):
        if session.pk == second.pk:  # someone saved it a moment ago
            LivestreamSession.objects.filter(pk=second.pk).update(version=9)
        return original(session=session, updated_by=updated_by, data=data,
                        expected_version=expected_version)

    monkeypatch.setattr(services, "session_update", update_racing)
    outcome = services.import_batch_confirm(batch_id=batch.pk, user=staff_user)
    assert not outcome.updated and outcome.check.errors[-1].session_id == second.pk
    assert LivestreamSession.objects.get(pk=stored.pk).revenue == Decimal("230000.50")


def test_update_mode_refuses_a_row_matching_no_stored_session(official, stored):
    check = import_check(filename="s.csv", content=_csv([
        _row(official, started_at="2020-05-01 10:30", ended_at="2020-05-01 12:00")]),
        mode=MODE_UPDATE)
    (error,) = check.errors
    assert error.row == 2 and "No stored session of this official starts" in error.reason
    assert not check.ok


def test_update_mode_leaves_a_clash_with_the_rows_own_session_alone(official, stored):
    check = import_check(filename="s.csv", mode=MODE_UPDATE,
                         content=_csv([_row(official, ended_at="2020-05-01 13:00")]))
    assert check.ok, check.errors
    assert check.rows[0].changes["ended_at"][1] == beijing(2020, 5, 1, 13)


# --- The template --------------------------------------------------------------------------------


def test_the_xlsx_template_lists_the_officials_and_offers_them_in_drop_downs(official):
    OfficialFactory(name="停用的", active=False)
    with translation.override("zh-hans"):
        workbook = openpyxl.load_workbook(io.BytesIO(
            import_template_build(file_format="xlsx").content))
    assert workbook.sheetnames == ["直播场次", "说明", "干部", "县区"]
    officials = [row for row in workbook["干部"].iter_rows(min_row=2, values_only=True)]
    assert officials == [(official.pk, "张县长", "County head", "吉县")]  # active ones only
    counties = workbook["县区"]
    assert counties.max_row == 18  # the header and the 17 counties
    sheet = workbook["直播场次"]
    assert sheet["A1"].value == "干部"
    rules = {str(v.sqref): v for v in sheet.data_validations.dataValidation}
    assert rules["A2:A20001"].formula1 == "='干部'!$B$2:$B$2"
    assert rules["B2:B20001"].formula1 == "='县区'!$B$2:$B$18"
    assert rules["C2:C20001"].formula1.startswith('"抖音,快手,')


def test_update_mode_replaces_cohosts_and_item_lines_and_resets_a_checked_session(
        staff_user, official, stored):
    from sessions_app.models import SessionItem

    cohost = OfficialFactory(name="联播县长")
    LivestreamSession.objects.filter(pk=stored.pk).update(
        status=SessionStatus.VERIFIED, verified_by=UserFactory(username="rv"),
        verified_at=stored.created_at)
    headers = [*CN_HEADERS, "联播干部", "商品明细"]
    row = [*_row(official), str(cohost.pk), "苹果|1000|斤|200000|是"]
    check = import_check(filename="s.csv", content=_csv([row], headers=headers),
                         mode=MODE_UPDATE)
    assert check.ok, check.errors
    assert set(check.rows[0].changes) == {"hosts", "items"}

    batch = services.import_batch_stage(user=staff_user, check=check)
    outcome = services.import_batch_confirm(batch_id=batch.pk, user=staff_user)

    assert outcome.updated == 1
    stored.refresh_from_db()
    assert stored.status == SessionStatus.ENTERED
    assert list(stored.hosts.all()) == [cohost]
    assert list(SessionItem.objects.filter(session=stored).values_list(
        "name", "poverty_relief_product")) == [("苹果", True)]
    # The same file again changes nothing.
    again = import_check(filename="s.csv", content=_csv([row], headers=headers),
                         mode=MODE_UPDATE)
    assert again.ok and again.rows[0].changes == {}
