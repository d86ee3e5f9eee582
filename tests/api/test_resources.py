"""Counties, officials and holidays: plain CRUD, holidays by id or slug, their rules."""

import pytest

from sessions_app.models import Holiday
from tests.factories import OfficialFactory, UserFactory


def test_holiday_is_created_through_the_service_and_readable_by_slug(staff_api):
    response = staff_api.post("/api/v1/holidays/", {
        "name": "National Day 2020", "slug": "national-day-2020",
        "start_date": "2020-10-01", "end_date": "2020-10-08"}, format="json")

    assert response.status_code == 201, response.data
    holiday = Holiday.objects.get(slug="national-day-2020")
    assert holiday.data_version >= 1  # holiday_save marks its rankings stale
    body = staff_api.get("/api/v1/holidays/national-day-2020/").json()
    assert body["id"] == holiday.pk and body["end_date"] == "2020-10-08"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"end_date": "2020-09-30"}, "end_date"),
        ({"start_date": "1899-10-01"}, "start_date"),
        ({"end_date": "not a date"}, "end_date"),
        ({"slug": "2020"}, "slug"),
        ({"slug": "labor-day-2020"}, "slug"),
        ({"slug": "has spaces"}, "slug"),
    ],
)
def test_a_bad_holiday_is_a_400_with_the_field(staff_api, holiday, change, field):
    body = {"name": "National Day 2020", "slug": "national-day-2020",
            "start_date": "2020-10-01", "end_date": "2020-10-08", **change}

    response = staff_api.post("/api/v1/holidays/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Holiday.objects.count() == 1


def test_an_unknown_holiday_is_404(staff_api):
    assert staff_api.get("/api/v1/holidays/no-such-holiday/").status_code == 404


def test_the_city_can_flag_a_county_as_a_key_poverty_relief_county(staff_api, other_county):
    response = staff_api.patch(f"/api/v1/counties/{other_county.pk}/",
                               {"poverty_relief_key": True}, format="json")

    assert response.status_code == 200
    other_county.refresh_from_db()
    assert other_county.poverty_relief_key is True


def test_officials_filter_by_county_slug_and_active(staff_api, official, other_county):
    response = staff_api.get("/api/v1/officials/", {"county": "jixian", "active": "true"})

    assert [o["id"] for o in response.json()["results"]] == [official.pk]
    assert staff_api.get("/api/v1/officials/", {"county": "nowhere"}).status_code == 400


def test_an_official_needs_an_existing_county(staff_api):
    response = staff_api.post("/api/v1/officials/", {"name": "Zhao", "title": "Mayor",
                                                     "county": 999999}, format="json")

    assert response.status_code == 400
    assert "county" in response.json()


def test_an_official_is_linked_to_an_account_of_their_own(staff_api, official):
    account = UserFactory(username="zhang-wei", group="officials")

    response = staff_api.patch(f"/api/v1/officials/{official.pk}/", {"user": account.pk},
                               format="json")

    assert response.status_code == 200
    official.refresh_from_db()
    assert official.user == account


def test_an_account_linked_to_another_official_is_a_400_naming_the_field(staff_api, official):
    taken = OfficialFactory(name="Li Na", user=UserFactory(username="li-na")).user

    response = staff_api.patch(f"/api/v1/officials/{official.pk}/", {"user": taken.pk},
                               format="json")

    assert response.status_code == 400
    assert response.json() == {"user": ["This account is already linked to another official."]}
    official.refresh_from_db()
    assert official.user is None
    # The official already holding it may be saved with it.
    taken_by = taken.official
    assert staff_api.put(f"/api/v1/officials/{taken_by.pk}/", {
        "name": "Li Na", "title": "Mayor", "county": taken_by.county_id, "user": taken.pk,
    }, format="json").status_code == 200


@pytest.mark.parametrize("role", ["staff", "superuser"])
def test_staff_and_administrator_accounts_cannot_be_linked_to_an_official(
    staff_api, official, superuser, staff_user, role
):
    account = superuser if role == "superuser" else UserFactory(username="clerk",
                                                                is_staff=True)

    response = staff_api.patch(f"/api/v1/officials/{official.pk}/", {"user": account.pk},
                               format="json")

    assert response.status_code == 400
    assert "staff or an administrator" in response.json()["user"][0]
    official.refresh_from_db()
    assert official.user is None


def test_the_browsable_api_asks_for_an_account_id_and_lists_no_usernames(staff_api, official):
    UserFactory(username="someone-elses-login")

    html = staff_api.get(f"/api/v1/officials/{official.pk}/", HTTP_ACCEPT="text/html"
                         ).content.decode()

    assert 'name="user"' in html  # the form is there, as an id box
    assert "someone-elses-login" not in html
