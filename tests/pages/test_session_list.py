"""The session list page filters as the API does (one filterset): a holiday by id or slug,
a county by slug, start times; a value that names nothing is an error at its field, not a
list that ignores it."""

import re

import pytest

from tests.factories import HolidayFactory, SessionFactory, beijing

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client, official_user):
    client.force_login(official_user)
    return client


@pytest.fixture
def two_holidays(db):
    may = HolidayFactory()
    october = HolidayFactory(slug="national-day-2020", name="National Day 2020",
                             start_date=beijing(2020, 10, 1).date(),
                             end_date=beijing(2020, 10, 7).date())
    SessionFactory(title="May walnuts")
    SessionFactory(title="October fair", started_at=beijing(2020, 10, 2, 9))
    return may, october


def titles(response) -> list[str]:
    return re.findall(r"<td>((?:May|October) \w+)</td>", response.content.decode())


def test_the_list_takes_a_holiday_by_slug_or_by_id(reader, two_holidays):
    may, october = two_holidays

    by_slug = reader.get("/sessions/?holiday=national-day-2020")
    by_id = reader.get(f"/sessions/?holiday={october.pk}")

    assert by_slug.status_code == by_id.status_code == 200
    assert titles(by_slug) == titles(by_id) == ["October fair"]
    assert titles(reader.get("/sessions/?holiday=labor-day-2020")) == ["May walnuts"]


def test_a_holiday_given_by_slug_is_shown_as_chosen(reader, two_holidays):
    may, october = two_holidays

    html = reader.get("/sessions/?holiday=national-day-2020").content.decode()

    assert re.search(rf'<option value="{october.pk}" selected>', html)
    assert not re.search(rf'<option value="{may.pk}" selected>', html)


def test_an_unknown_holiday_is_an_error_at_the_field_not_an_empty_or_whole_list(
    reader, two_holidays
):
    response = reader.get("/sessions/?holiday=labour-day-2020", HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert response.status_code == 400
    assert "No such item: labour-day-2020." in html
    assert titles(response) == []
    assert "data-invalid-filters" in html
    assert 'data-empty="sessions"' not in html  # not "no session matches"


def test_an_unknown_platform_names_the_valid_ones_on_the_page(reader, two_holidays):
    response = reader.get("/sessions/?platform=tiktok", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert ("&quot;tiktok&quot; is not a valid choice: use douyin, kuaishou, taobao_live, "
            "wechat_channels, jd, pinduoduo or other.") in response.content.decode()


def test_the_list_filters_by_county_slug_and_start_time_as_the_api_does(reader, two_holidays):
    assert titles(reader.get("/sessions/?county=jixian")) == ["October fair", "May walnuts"]
    assert titles(reader.get("/sessions/?county=yaodu")) == []
    assert titles(reader.get("/sessions/?started_after=2020-10-01T00:00")) == ["October fair"]
    assert titles(reader.get("/sessions/?started_before=2020-10-01T00:00&q=walnut")) == [
        "May walnuts"]


def test_an_empty_filter_form_lists_everything(reader, two_holidays):
    response = reader.get("/sessions/?holiday=&county=&official=&platform=&q=")

    assert response.status_code == 200
    assert titles(response) == ["October fair", "May walnuts"]
