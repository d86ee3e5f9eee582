"""The admin is usable as it is: lists, filters, search, entry through the services with the
pages' rules and version check, a link to the one import page, and the CSV export."""


import pytest
from django.urls import reverse

from sessions_app import services
from sessions_app.models import LivestreamSession

from ..factories import HolidayFactory, OfficialFactory, SessionFactory, UserFactory, beijing

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


# The item lines' inline, as the admin page posts it with no line.
ITEMS_NONE = {"items-TOTAL_FORMS": "0", "items-INITIAL_FORMS": "0"}


def test_adding_a_session_in_the_admin_goes_through_the_service(
        admin_client, superuser, holiday, django_capture_on_commit_callbacks):
    official = OfficialFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:sessions_app_livestreamsession_add"), {
            "official": official.pk, "county": official.county_id, "platform": "douyin",
            "title": "Admin walnuts", "products": "", "started_at": "2020-05-02T10:00",
            "ended_at": "2020-05-02T11:00", "audience": "100", "orders": "3", "revenue": "45.50",
            **ITEMS_NONE,
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
        "title": "Bad", "started_at": "2020-05-02T10:00", "ended_at": "2020-05-02T09:00",
        "audience": "-1", "orders": "3", "revenue": "1.999",
    })
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"ended_at", "audience", "revenue"} <= set(errors)
    assert not LivestreamSession.objects.exists()


def _change(admin_client, session, **overrides):
    data = {
        "official": session.official_id, "county": session.county_id, "platform": "douyin",
        "title": session.title, "products": "", "started_at": "2020-05-02T10:00",
        "ended_at": "2020-05-02T11:00", "audience": "100", "orders": "3", "revenue": "45.50",
        "version": str(session.version), **ITEMS_NONE,
    }
    data.update(overrides)
    return admin_client.post(
        reverse("admin:sessions_app_livestreamsession_change", args=[session.pk]), data,
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_a_stale_admin_form_is_refused_and_overwrites_nothing(admin_client, staff_user):
    session = SessionFactory(title="Original")
    # An API client saves first: the admin form was loaded at version 1.
    services.session_update(session=LivestreamSession.objects.get(pk=session.pk),
                            updated_by=staff_user, data={"title": "Their change"},
                            expected_version=1)

    response = _change(admin_client, session, title="Admin change", version="1")

    assert response.status_code == 200
    assert "changed by someone else" in str(response.context["adminform"].form.non_field_errors())
    session.refresh_from_db()
    assert (session.title, session.version) == ("Their change", 2)


def test_an_admin_edit_from_the_current_version_goes_through_the_service(
        admin_client, superuser):
    session = SessionFactory(title="Original")

    response = _change(admin_client, session, title="Corrected")

    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.title, session.version) == ("Corrected", 2)
    assert session.history.latest().history_user == superuser


def test_an_admin_edit_without_a_version_is_refused(admin_client):
    session = SessionFactory(title="Original")

    response = _change(admin_client, session, title="Blind", version="")

    assert response.status_code == 200
    assert "version" in response.context["adminform"].form.errors
    session.refresh_from_db()
    assert session.title == "Original"


def test_the_admin_links_to_the_one_import_page_and_has_no_importer_of_its_own(admin_client):
    page = admin_client.get(reverse("admin:sessions_app_livestreamsession_changelist"))

    assert f'href="{reverse("session_import:upload")}"' in page.content.decode()
    assert admin_client.get("/admin/sessions_app/livestreamsession/import/").status_code in (
        302, 404)  # the admin's catch-all: no such page
    assert not LivestreamSession.objects.exists()


def test_the_admin_export_action_quotes_formulas_like_the_api(admin_client):
    plain = SessionFactory(title="导出测试")
    # Written before the formula rule (straight to the table), so export must defuse it.
    risky = SessionFactory(title="@SUM(1+1)", products="=HYPERLINK(\"x\")")
    url = reverse("admin:sessions_app_livestreamsession_changelist")

    response = admin_client.post(url, {"action": "export_csv",
                                       "_selected_action": [plain.pk, risky.pk]})

    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "导出测试" in text
    assert "'@SUM(1+1)" in text and "'=HYPERLINK" in text


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
