"""The admin is usable as it is: lists, filters, search, entry through the services, and
spreadsheet import/export with a per-row error report."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from sessions_app.models import LivestreamSession

from ..factories import OfficialFactory, SessionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("model", ["county", "official", "holiday", "livestreamsession"])
def test_every_model_has_a_working_list_with_search(admin_client, model, holiday):
    SessionFactory()
    url = reverse(f"admin:sessions_app_{model}_changelist")
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(url, {"q": "a"}).status_code == 200


def test_sessions_filter_by_holiday_county_and_platform(admin_client, holiday):
    inside = SessionFactory(title="Inside walnuts", platform="kuaishou")
    SessionFactory(title="June millet", started_at=inside.started_at.replace(month=6))
    url = reverse("admin:sessions_app_livestreamsession_changelist")
    page = admin_client.get(url, {"holiday": holiday.slug}).content.decode()
    assert "Inside walnuts" in page and "June millet" not in page
    page = admin_client.get(url, {"platform__exact": "douyin"}).content.decode()
    assert "Inside walnuts" not in page
    page = admin_client.get(url, {"county__id__exact": inside.county_id}).content.decode()
    assert "Inside walnuts" in page


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


def test_the_official_form_offers_only_accounts_that_are_not_staff(admin_client, superuser):
    official = OfficialFactory(name="Zhang Wei")
    own = UserFactory(username="zhang-wei-login")
    clerk = UserFactory(username="clerk-login", is_staff=True)
    url = reverse("admin:sessions_app_official_change", args=[official.pk])

    form = admin_client.get(url).content.decode()
    refused = admin_client.post(url, {"name": "Zhang Wei", "title": "County head",
                                      "county": official.county_id, "user": superuser.pk,
                                      "active": "on"})

    assert f'<option value="{own.pk}">zhang-wei-login</option>' in form
    assert "clerk-login" not in form and f'value="{clerk.pk}"' not in form
    assert f'<option value="{superuser.pk}"' not in form
    assert refused.status_code == 200  # the form again, with the error
    assert list(refused.context["adminform"].form.errors) == ["user"]
    official.refresh_from_db()
    assert official.user is None
