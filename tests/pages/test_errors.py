"""The 403, 404 and 500 pages: in the site's layout, in the visitor's language, with a way
back; the 500 page without touching the request or the database. DEBUG is off, as deployed
(with DEBUG on Django shows its technical pages instead)."""

import pytest
from django.test import Client, RequestFactory
from django.utils.functional import SimpleLazyObject

from linfen_tracker.views import server_error
from tests.factories import SessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _debug_off(settings):
    settings.DEBUG = False


@pytest.fixture
def reader(client, official_user):
    client.force_login(official_user)
    return client


def test_a_logged_in_user_without_the_permission_gets_the_403_page(reader, holiday):
    response = reader.get("/sessions/new/", HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert response.status_code == 403
    assert 'data-error="403"' in html and "<h1>Not allowed</h1>" in html
    assert 'class="topbar"' in html and "official-reader" in html  # the layout, logged in
    assert 'href="/" data-back="dashboard"' in html


def test_the_403_page_is_chinese_by_default(reader, holiday):
    html = reader.get("/sessions/new/").content.decode()

    assert "<h1>无权访问</h1>" in html
    assert "返回首页" in html


@pytest.mark.parametrize("url", [
    "/holidays/no-such-holiday/",
    "/holidays/no-such-holiday/screen/",
    "/sessions/999999/edit/",
    "/officials/999999/",
    "/no/such/page/",
])
def test_a_missing_holiday_session_official_or_page_gets_the_404_page(
    client, staff_user, holiday, url
):
    client.force_login(staff_user)

    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert response.status_code == 404
    assert 'data-error="404"' in html and "<h1>Not found</h1>" in html
    assert 'class="topbar"' in html
    assert 'data-back="dashboard"' in html


def test_the_404_page_is_chinese_by_default(reader, holiday):
    html = reader.get("/holidays/no-such-holiday/").content.decode()

    assert "<h1>未找到</h1>" in html


def test_the_error_pages_link_back_to_the_previous_page_when_it_is_ours(reader, holiday):
    session = SessionFactory()
    came_from = f"http://testserver/officials/{session.official_id}/"

    ours = reader.get("/sessions/999999/edit/", HTTP_REFERER=came_from).content.decode()
    theirs = reader.get("/holidays/nope/", HTTP_REFERER="https://evil.example/x").content.decode()

    assert f'href="{came_from}" data-back="previous"' in ours
    assert 'data-back="previous"' not in theirs
    assert "evil.example" not in theirs


def test_an_unknown_api_url_is_a_json_404(client, staff_user):
    client.force_login(staff_user)

    response = client.get("/api/v1/no-such-resource/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_failing_page_gets_the_500_page_in_the_layout(reader, holiday, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("rankings.views.holiday_current_or_latest", fail)
    client = Client(raise_request_exception=False)
    client.cookies = reader.cookies

    english = client.get("/", HTTP_ACCEPT_LANGUAGE="en")
    chinese = client.get("/")

    html = english.content.decode()
    assert english.status_code == 500
    assert 'data-error="500"' in html and "<h1>Server error</h1>" in html
    assert 'class="topbar"' in html and 'href="/" data-back="dashboard"' in html
    assert "boom" not in html
    assert "<h1>服务器出错</h1>" in chinese.content.decode()


def test_a_failing_api_call_is_a_json_500(staff_user, holiday, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("rankings.api.leaderboard_get", fail)
    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(staff_user)
    SessionFactory()

    response = client.get("/api/v1/rankings/", {"holiday": "labor-day-2020"})

    assert response.status_code == 500
    assert response.json() == {"detail": "A server error occurred."}


def failing_context_processor(request):
    raise RuntimeError("the database is down")


def test_the_500_page_renders_without_the_request_or_the_database(
    settings, django_assert_num_queries
):
    # What may have failed: the user, the session, anything the context processors read.
    settings.TEMPLATES = [{
        **settings.TEMPLATES[0],
        "OPTIONS": {**settings.TEMPLATES[0]["OPTIONS"], "context_processors": [
            *settings.TEMPLATES[0]["OPTIONS"]["context_processors"],
            "tests.pages.test_errors.failing_context_processor",
        ]},
    }]
    request = RequestFactory().get("/holidays/labor-day-2020/")
    request.user = SimpleLazyObject(lambda: 1 / 0)
    request.session = SimpleLazyObject(lambda: 1 / 0)

    with django_assert_num_queries(0):
        response = server_error(request)

    assert response.status_code == 500
    assert b'data-error="500"' in response.content
