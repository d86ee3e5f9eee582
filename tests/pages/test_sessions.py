"""The session pages: the filterable list, the form that explains every error next to its
field, edit conflicts, the audit history and delete with confirmation."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from rankings.models import Scope
from rankings.selectors import leaderboard_get
from sessions_app.models import County, LivestreamSession
from sessions_app.services import session_update
from tests.factories import HolidayFactory, OfficialFactory, SessionFactory, beijing

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def form_data(official, **overrides):
    data = {
        "official": official.pk,
        "county": "",
        "platform": "douyin",
        "title": "Jixian apples live",
        "products": "apples",
        "started_at": "2020-05-03T19:30",
        "ended_at": "2020-05-03T21:30",
        "audience": "250000",
        "orders": "2100",
        "revenue": "231000.50",
    }
    data.update(overrides)
    return data


def field_errors(html, field):
    """The error text shown inside the block of one form field."""
    block = re.search(rf'data-field="{field}">(.*?)</div>\s*</div>|data-field="{field}">(.*?)'
                      r'(?=<div class="field)', html, re.S)
    assert block, f"no block for {field}"
    text = block.group(1) or block.group(2)
    return re.findall(r"<p>([^<]+)</p>", text.split('class="help"')[0])


def post(client, url, data):
    return client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")


def test_staff_create_a_session_in_beijing_time_and_the_rankings_follow(
    staff, staff_user, holiday, django_capture_on_commit_callbacks
):
    official = OfficialFactory(name="Apple seller")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(staff, "/sessions/new/", form_data(official))
    assert response.status_code == 302 and response["Location"] == "/sessions/"
    session = LivestreamSession.objects.get()
    assert session.started_at == beijing(2020, 5, 3, 19, 30)
    assert session.county == official.county  # empty county: the official's
    assert session.entered_by == staff_user
    assert session.revenue == Decimal("231000.50")
    board = leaderboard_get(holiday=holiday, metric="revenue", scope=Scope.OFFICIAL)
    assert board.status == "ready"
    assert [(e.official.name, e.value) for e in board.entries] == [
        ("Apple seller", Decimal("231000.50"))
    ]


def test_a_chosen_county_is_kept(staff, holiday):
    official = OfficialFactory()
    other = County.objects.get(slug="yaodu")
    post(staff, "/sessions/new/", form_data(official, county=other.pk))
    assert LivestreamSession.objects.get().county == other


def test_a_session_ending_before_it_starts_is_explained_next_to_ended_at(staff, holiday):
    response = post(staff, "/sessions/new/", form_data(
        OfficialFactory(), ended_at="2020-05-03T18:00"))
    assert response.status_code == 200
    html = response.content.decode()
    assert field_errors(html, "ended_at") == ["A session must end after it starts."]
    assert "The session was not saved" in html
    assert not LivestreamSession.objects.exists()


def test_bad_numbers_are_explained_next_to_their_fields(staff, holiday):
    response = post(staff, "/sessions/new/", form_data(
        OfficialFactory(), audience="-5", orders="many", revenue="1.234", title=""))
    html = response.content.decode()
    assert field_errors(html, "audience") == [
        "Ensure this value is greater than or equal to 0."]
    assert field_errors(html, "orders") == ["Enter a whole number."]
    assert field_errors(html, "revenue") == [
        "Ensure that there are no more than 2 decimal places."]
    assert field_errors(html, "title") == ["This field is required."]
    assert field_errors(html, "official") == []
    assert not LivestreamSession.objects.exists()


def test_a_second_session_of_an_official_at_the_same_start_is_refused_at_started_at(
    staff, holiday
):
    existing = SessionFactory(title="Earlier show", started_at=beijing(2020, 5, 2, 10, 0),
                              ended_at=beijing(2020, 5, 2, 11, 0))
    response = post(staff, "/sessions/new/", form_data(
        existing.official, started_at="2020-05-02T10:00", ended_at="2020-05-02T11:00"))
    assert field_errors(response.content.decode(), "started_at") == [
        "This official already has a session on this platform at this time (Earlier show, "
        "2020-05-02 10:00 to 2020-05-02 11:00)."]
    assert LivestreamSession.objects.count() == 1


def test_edit_form_carries_the_version_it_was_loaded_at(staff, holiday):
    session = SessionFactory(started_at=beijing(2020, 5, 2, 10, 5))
    html = staff.get(f"/sessions/{session.pk}/edit/").content.decode()
    assert re.search(r'<input type="hidden" name="version" value="1"', html)
    assert 'value="2020-05-02 10:05"' in html  # as typed, Beijing time


def test_staff_edit_a_session_and_the_history_shows_who_changed_what(
    staff, staff_user, holiday
):
    session = SessionFactory(title="Old title", revenue=Decimal("100.00"))
    data = form_data(session.official, title="New title", revenue="150.00",
                     started_at="2020-05-02T10:00", ended_at="2020-05-02T12:00", version=1)
    response = post(staff, f"/sessions/{session.pk}/edit/", data)
    assert response.status_code == 302
    session.refresh_from_db()
    assert (session.title, session.revenue, session.version) == (
        "New title", Decimal("150.00"), 2)
    html = staff.get(f"/sessions/{session.pk}/edit/", HTTP_ACCEPT_LANGUAGE="en"
                     ).content.decode()
    history = html[html.index('id="history"'):]
    assert staff_user.username in history
    assert re.search(r"Title</strong>: <del>Old title</del> → <ins>New title</ins>", history)
    assert re.search(r"Revenue \(yuan\)</strong>: <del>100.00</del> → <ins>150.00</ins>",
                     history)


def test_a_stale_edit_is_refused_and_overwrites_nothing(staff, staff_user, holiday):
    session = SessionFactory(title="Original")
    # Somebody else saves first, so the version this form was loaded at (1) is stale.
    session_update(session=LivestreamSession.objects.get(pk=session.pk),
                   updated_by=staff_user, data={"title": "Their change"}, expected_version=1)
    data = form_data(session.official, title="My change", started_at="2020-05-02T10:00",
                     ended_at="2020-05-02T12:00", version=1)
    response = post(staff, f"/sessions/{session.pk}/edit/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "changed by someone else; reload it" in html
    session.refresh_from_db()
    assert (session.title, session.version) == ("Their change", 2)


def test_delete_asks_for_confirmation_before_deleting(staff, holiday):
    session = SessionFactory(title="To go")
    html = staff.get(f"/sessions/{session.pk}/delete/", HTTP_ACCEPT_LANGUAGE="en"
                     ).content.decode()
    assert "To go" in html and "Yes, delete it" in html
    assert LivestreamSession.objects.filter(pk=session.pk).exists()
    response = staff.post(f"/sessions/{session.pk}/delete/")
    assert response.status_code == 302
    assert not LivestreamSession.objects.filter(pk=session.pk).exists()


def test_list_filters_by_holiday_platform_and_words(staff):
    may = HolidayFactory()
    HolidayFactory(slug="october", name="October", start_date=beijing(2020, 10, 1).date(),
                   end_date=beijing(2020, 10, 7).date())
    SessionFactory(title="May walnuts", platform="douyin", products="")
    SessionFactory(title="May millet", platform="kuaishou", products="")
    SessionFactory(title="October fair", products="walnuts", started_at=beijing(2020, 10, 2, 9))
    titles = lambda html: re.findall(r"<td>((?:May|October) \w+)</td>", html)  # noqa: E731
    assert sorted(titles(staff.get(f"/sessions/?holiday={may.pk}").content.decode())) == [
        "May millet", "May walnuts"]
    assert titles(staff.get("/sessions/?platform=kuaishou").content.decode()) == ["May millet"]
    assert sorted(titles(staff.get("/sessions/?q=walnut").content.decode())) == [
        "May walnuts", "October fair"]


def test_list_is_paginated_and_pages_keep_the_filters(staff, holiday):
    official = OfficialFactory()
    for i in range(30):
        SessionFactory(official=official, started_at=beijing(2020, 5, 2, 8) + timedelta(
            minutes=10 * i), platform="jd")
    html = staff.get("/sessions/?platform=jd", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert html.count("<tr data-session=") == 25
    assert "30 sessions" in html
    assert 'href="?platform=jd&amp;page=2"' in html
    second = staff.get("/sessions/?platform=jd&page=2").content.decode()
    assert second.count("<tr data-session=") == 5


def test_inactive_officials_are_offered_only_on_their_own_old_sessions(staff, holiday):
    retired = OfficialFactory(name="Retired host", active=False)
    OfficialFactory(name="Active host")
    new_form = staff.get("/sessions/new/").content.decode()
    assert "Active host" in new_form and "Retired host" not in new_form
    old = SessionFactory(official=retired)
    assert "Retired host" in staff.get(f"/sessions/{old.pk}/edit/").content.decode()
