"""No page leaks across roles: anonymous visitors see only the login page and /healthz;
officials read but cannot reach the pages that change sessions; staff can."""

import re

import pytest
from django.urls import reverse

from sessions_app.models import LivestreamSession
from tests.factories import OfficialFactory, SessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(holiday):
    return SessionFactory()


def read_pages(session):
    return [
        "/",
        "/holidays/labor-day-2020/",
        "/holidays/labor-day-2020/screen/",
        "/holidays/labor-day-2020/screen/state/",
        "/holidays/labor-day-2020/screen/content/",
        f"/officials/{session.official_id}/",
        "/sessions/",
    ]


def write_pages(session):
    return ["/sessions/new/", f"/sessions/{session.pk}/edit/", f"/sessions/{session.pk}/delete/"]


def valid_posts(session):
    """(url, data) for each write page, with data that page would save: a refusal must be
    the only thing that stops it."""
    form = {"official": session.official_id, "county": "", "platform": "jd",
            "title": "changed", "products": "", "started_at": "2020-05-03T10:00",
            "ended_at": "2020-05-03T11:00", "audience": "1", "orders": "1", "revenue": "1.00"}
    return [("/sessions/new/", form),
            (f"/sessions/{session.pk}/edit/", {**form, "started_at": "2020-05-04T10:00",
                                               "ended_at": "2020-05-04T11:00",
                                               "version": session.version}),
            (f"/sessions/{session.pk}/delete/", {})]


def stored_sessions():
    """Every session and history row, as stored."""
    return (list(LivestreamSession.objects.order_by("pk").values()),
            list(LivestreamSession.history.order_by("pk").values()))


def test_anonymous_visitors_are_sent_to_the_login_page_from_every_page(client, session):
    for url in read_pages(session) + write_pages(session):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next="), url


def test_anonymous_visitors_cannot_post_to_the_pages_that_change_sessions(client, session):
    before = stored_sessions()
    for url, data in valid_posts(session):
        response = client.post(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    assert stored_sessions() == before


def test_login_page_and_health_check_are_open_to_anonymous_visitors(client):
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_officials_can_read_every_page_that_only_reads(client, official_user, session):
    client.force_login(official_user)
    for url in read_pages(session):
        assert client.get(url).status_code == 200, url


def test_officials_get_403_on_the_pages_that_create_edit_and_delete(
    client, official_user, session
):
    client.force_login(official_user)
    before = stored_sessions()
    for url, data in valid_posts(session):
        assert client.get(url).status_code == 403, url
        assert client.post(url, data).status_code == 403, url
    assert stored_sessions() == before


def test_staff_posting_the_same_data_change_sessions(client, staff_user, session):
    # What makes the refusals above mean something: the same posts from staff do save.
    client.force_login(staff_user)
    (new, create), (edit, change), (delete, _) = valid_posts(session)
    assert client.post(new, create).status_code == 302
    assert client.post(edit, change).status_code == 302
    session.refresh_from_db()
    assert (session.title, session.platform) == ("changed", "jd")
    assert client.post(delete, {}).status_code == 302
    assert not LivestreamSession.objects.filter(pk=session.pk).exists()
    assert LivestreamSession.objects.filter(title="changed").count() == 1


def test_officials_see_no_edit_or_delete_links_in_the_list(client, official_user, session):
    client.force_login(official_user)
    html = client.get("/sessions/").content.decode()
    assert session.title in html
    assert f"/sessions/{session.pk}/edit/" not in html
    assert f"/sessions/{session.pk}/delete/" not in html
    assert "/sessions/new/" not in html


def test_staff_can_open_the_pages_that_create_edit_and_delete(client, staff_user, session):
    client.force_login(staff_user)
    for url in write_pages(session):
        assert client.get(url).status_code == 200, url
    html = client.get("/sessions/").content.decode()
    assert f"/sessions/{session.pk}/edit/" in html


@pytest.mark.parametrize("user, role", [("staff_user", "City staff"),
                                        ("official_user", "Official"),
                                        ("superuser", "Administrator")])
def test_the_page_shows_the_users_role(request, client, user, role):
    client.force_login(request.getfixturevalue(user))
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert re.findall(r"<span [^>]*data-role>([^<]*)</span>", html) == [role]


def test_logging_out_ends_the_session(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert client.get("/").status_code == 302


def test_login_form_logs_in_and_lands_on_the_dashboard(client, staff_user):
    response = client.post("/accounts/login/", {"username": "staff",
                                                "password": "pw-for-tests-1"})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    bad = client.post("/accounts/login/", {"username": "staff", "password": "wrong"},
                      HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert bad.status_code == 200
    assert "请输入一个正确的用户名和密码" in bad.content.decode()


def test_an_official_with_a_linked_account_gets_a_link_to_their_own_page(client, official_user):
    client.force_login(official_user)
    assert 'data-nav="own-page"' not in client.get("/").content.decode()
    official = OfficialFactory(user=official_user)
    html = client.get("/").content.decode()
    assert f'<a href="/officials/{official.pk}/" data-nav="own-page">' in html
