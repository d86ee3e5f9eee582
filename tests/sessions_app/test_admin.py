"""The admin is usable as it is: lists, filters, search, entry through the services, and
spreadsheet import/export with a per-row error report."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from sessions_app.models import LivestreamSession

from ..factories import HolidayFactory, OfficialFactory, SessionFactory, beijing

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def _search_cases():
    """(model, rows to create from Ji County and Yaodu -> (query, the rows it must find));
    every other row of the model must be left out."""

    def counties(ji, yaodu):
        return "尧都", {yaodu}

    def officials(ji, yaodu):
        walnut = OfficialFactory(name="Walnut seller")
        OfficialFactory(name="Millet seller")
        return "walnut", {walnut}

    def holidays(ji, yaodu):
        national = HolidayFactory(name="National Day 2020", slug="national-day-2020",
                                  start_date=beijing(2020, 10, 1).date(),
                                  end_date=beijing(2020, 10, 8).date())
        return "national", {national}

    def sessions_by_title(ji, yaodu):
        found = SessionFactory(title="Walnuts at dawn")
        SessionFactory(title="Millet at noon")
        return "dawn", {found}

    def sessions_by_official(ji, yaodu):
        found = SessionFactory(official=OfficialFactory(name="Apple seller"))
        SessionFactory(official=OfficialFactory(name="Pear seller"))
        return "apple", {found}

    def sessions_by_county(ji, yaodu):
        found = SessionFactory(county=yaodu)
        SessionFactory(county=ji)
        return "尧都", {found}

    return [
        pytest.param("county", counties, id="county"),
        pytest.param("official", officials, id="official"),
        pytest.param("holiday", holidays, id="holiday"),
        pytest.param("livestreamsession", sessions_by_title, id="session-title"),
        pytest.param("livestreamsession", sessions_by_official, id="session-official"),
        pytest.param("livestreamsession", sessions_by_county, id="session-county"),
    ]


@pytest.mark.parametrize("model, make_rows", _search_cases())
def test_every_model_has_a_list_whose_search_finds_the_matching_rows_only(
        admin_client, model, make_rows, holiday, county, other_county):
    query, wanted = make_rows(county, other_county)
    url = reverse(f"admin:sessions_app_{model}_changelist")

    everything = admin_client.get(url)
    found = admin_client.get(url, {"q": query})

    assert everything.status_code == found.status_code == 200
    assert len(everything.context["cl"].result_list) > len(wanted)  # something to leave out
    assert set(found.context["cl"].result_list) == wanted


def test_sessions_filter_by_holiday_county_and_platform(admin_client, holiday, other_county):
    inside = SessionFactory(title="Inside walnuts", platform="kuaishou")
    SessionFactory(title="June millet", started_at=inside.started_at.replace(month=6),
                   county=other_county)
    url = reverse("admin:sessions_app_livestreamsession_changelist")
    page = admin_client.get(url, {"holiday": holiday.slug}).content.decode()
    assert "Inside walnuts" in page and "June millet" not in page
    page = admin_client.get(url, {"platform__exact": "douyin"}).content.decode()
    assert "Inside walnuts" not in page and "June millet" in page
    page = admin_client.get(url, {"county__id__exact": inside.county_id}).content.decode()
    assert "Inside walnuts" in page and "June millet" not in page


def test_adding_a_session_in_the_admin_goes_through_the_service(
        admin_client, superuser, holiday, django_capture_on_commit_callbacks):
    official = OfficialFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:sessions_app_livestreamsession_add"), {
            "official": official.pk, "county": official.county_id, "platform": "douyin",
            "title": "Admin walnuts", "products": "", "started_at_0": "2020-05-02",
            "started_at_1": "10:00:00", "ended_at_0": "2020-05-02", "ended_at_1": "11:00:00",
            "audience": "100", "orders": "3", "revenue": "45.50",
        })
    assert response.status_code == 302, response.content.decode()[:2000]
    session = LivestreamSession.objects.get(title="Admin walnuts")
    assert session.entered_by == superuser
    assert session.history.get().history_user == superuser
    holiday.refresh_from_db()
    assert not holiday.rankings_stale  # the recompute ran after the commit


def test_the_admin_form_shows_rule_errors_next_to_fields(admin_client):
    official = OfficialFactory()
    response = admin_client.post(reverse("admin:sessions_app_livestreamsession_add"), {
        "official": official.pk, "county": official.county_id, "platform": "douyin",
        "title": "Bad", "started_at_0": "2020-05-02", "started_at_1": "10:00:00",
        "ended_at_0": "2020-05-02", "ended_at_1": "09:00:00", "audience": "-1",
        "orders": "3", "revenue": "1.999",
    })
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"ended_at", "audience", "revenue"} <= set(errors)
    assert not LivestreamSession.objects.exists()


def _csv_format(admin_client, url) -> str:
    choices = admin_client.get(url).context["form"].fields["format"].choices
    return next(value for value, label in choices if str(label).lower() == "csv")


def _import(admin_client, csv_text):
    url = reverse("admin:sessions_app_livestreamsession_import")
    upload = SimpleUploadedFile("sessions.csv", csv_text.encode(), content_type="text/csv")
    return admin_client.post(url, {"import_file": upload,
                                   "format": _csv_format(admin_client, url), "resource": 0})


HEADER = "official,county,platform,title,products,started_at,ended_at,audience,orders,revenue\n"


def test_admin_import_reports_each_bad_row_and_saves_nothing(admin_client):
    official = OfficialFactory()
    rows = (
        f"{official.pk},,douyin,Good,walnuts,2020-05-02 10:00:00,2020-05-02 11:00:00,10,1,5.00\n"
        f"{official.pk},,douyin,Bad,walnuts,2020-05-03 10:00:00,2020-05-03 09:00:00,-3,1,5.00\n"
    )
    response = _import(admin_client, HEADER + rows)
    page = response.content.decode()
    result = response.context["result"]
    assert result.has_validation_errors()
    (invalid,) = result.invalid_rows
    assert invalid.number == 2
    assert set(invalid.field_specific_errors) == {"audience", "ended_at"}
    assert "Bad" in page
    assert not LivestreamSession.objects.exists()


def test_admin_import_of_good_rows_previews_then_confirms_with_history(
        admin_client, superuser, holiday, django_capture_on_commit_callbacks):
    official = OfficialFactory()
    rows = (
        f"{official.pk},,douyin,One,walnuts,2020-05-02 10:00:00,2020-05-02 11:00:00,10,1,5.00\n"
        f"{official.pk},yaodu,jd,Two,millet,2020-05-03 10:00:00,2020-05-03 12:00:00,20,2,7.50\n"
    )
    response = _import(admin_client, HEADER + rows)
    assert not LivestreamSession.objects.exists()  # a preview saves nothing
    confirm = response.context["confirm_form"]
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post(reverse("admin:sessions_app_livestreamsession_process_import"),
                                 {**confirm.initial})
    assert done.status_code == 302
    one, two = LivestreamSession.objects.order_by("started_at")
    assert (one.county, two.county.slug) == (official.county, "yaodu")
    assert one.revenue == Decimal("5.00") and one.entered_by == superuser
    assert one.history.get().history_user == superuser
    holiday.refresh_from_db()
    assert holiday.data_version == 1 and not holiday.rankings_stale


def test_admin_export_writes_the_sessions(admin_client):
    SessionFactory(title="导出测试")
    url = reverse("admin:sessions_app_livestreamsession_export")
    response = admin_client.post(url, {"format": _csv_format(admin_client, url), "resource": 0,
                                       "sessionresource_title": True,
                                       "sessionresource_revenue": True, "export_items": []})
    assert response.status_code == 200
    assert "导出测试" in response.content.decode("utf-8-sig")
