"""Security settings and controls: login lockout, CSRF, production cookies/HSTS, health."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import Client

from sessions_app.models import LivestreamSession

from .conftest import celery_broker
from .factories import OfficialFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def login(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_repeated_failed_logins_lock_the_account_even_for_the_right_password(staff_user):
    client = Client()
    for _ in range(4):
        assert login(client, "staff", "wrong-password").status_code == 200
    assert login(client, "staff", "wrong-password").status_code == 429  # the 5th locks
    locked = login(client, "staff", "pw-for-tests-1")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    response = client.get("/sessions/")  # the same browser is still not logged in
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_right_password_logs_in_before_the_limit(staff_user):
    client = Client()
    for _ in range(3):
        login(client, "staff", "wrong-password")
    assert login(client, "staff", "pw-for-tests-1").status_code == 302
    assert client.session["_auth_user_id"] == str(staff_user.pk)


PROXY = "10.0.0.2"  # every request arrives from the proxy, which appends the client's address


@pytest.fixture
def behind_one_proxy(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}


def login_via_proxy(client, username, password, address):
    return client.post("/accounts/login/", {"username": username, "password": password},
                       REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address)


def test_behind_the_proxy_a_lockout_holds_the_guessing_client_not_the_user_everywhere(
    staff_user, behind_one_proxy, settings
):
    attacker = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        # What the attacker writes into X-Forwarded-For stays left of the proxy's entry.
        login_via_proxy(attacker, "staff", "wrong-password", f"192.0.2.{n}, 203.0.113.9")

    still_locked = login_via_proxy(attacker, "staff", "pw-for-tests-1", "192.0.2.99, 203.0.113.9")
    elsewhere = login_via_proxy(Client(), "staff", "pw-for-tests-1", "198.51.100.7")

    assert still_locked.status_code == 429
    assert elsewhere.status_code == 302


def test_one_address_failing_on_many_usernames_is_locked_out_for_all(staff_user, settings):
    settings.AXES_ADDRESS_FAILURE_LIMIT = 8  # each username below its own limit of 5
    statuses = [login(Client(), f"guess{n}", "Summer2020!").status_code
                for n in range(settings.AXES_ADDRESS_FAILURE_LIMIT)]

    locked = login(Client(), "staff", "pw-for-tests-1")
    other_address = Client(REMOTE_ADDR="198.51.100.7")

    assert statuses == [200] * 7 + [429]  # the 8th failure locks the address
    assert locked.status_code == 429
    assert login(other_address, "staff", "pw-for-tests-1").status_code == 302


def test_a_successful_login_does_not_wipe_the_address_failures_on_other_usernames(
    staff_user, settings
):
    settings.AXES_ADDRESS_FAILURE_LIMIT = 8
    for n in range(settings.AXES_ADDRESS_FAILURE_LIMIT - 1):
        login(Client(), f"guess{n}", "Summer2020!")
    assert login(Client(), "staff", "pw-for-tests-1").status_code == 302

    login(Client(), "guess-last", "Summer2020!")

    assert login(Client(), "staff", "pw-for-tests-1").status_code == 429


def test_the_login_form_refuses_a_post_without_the_csrf_token(staff_user):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "staff",
                                                "password": "pw-for-tests-1"})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session  # the right password logged nobody in


def test_the_session_form_refuses_a_post_without_the_csrf_token(staff_user, holiday):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    official = OfficialFactory()
    response = client.post("/sessions/new/", {
        "official": official.pk, "county": "", "platform": "douyin", "title": "Forged",
        "products": "", "started_at": "2020-05-02T10:00", "ended_at": "2020-05-02T11:00",
        "audience": "10", "orders": "1", "revenue": "12.50"})  # valid: only the token lacks
    assert response.status_code == 403
    assert not LivestreamSession.objects.exists()


def test_production_settings_secure_cookies_hsts_and_https():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE",
                        "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS")}
    env.update(DJANGO_SETTINGS_MODULE="linfen_tracker.settings", DEBUG="0",
               SECRET_KEY="production-like-" + "s" * 40)
    probe = ("import json, django; from django.conf import settings; django.setup(); "
             "print(json.dumps([settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE,"
             " settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS,"
             " settings.SESSION_COOKIE_HTTPONLY, settings.X_FRAME_OPTIONS]))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    assert json.loads(out) == [True, True, True, 31536000, True, "DENY"]


def test_healthz_reports_database_and_in_process_tasks(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "eager"}


def test_healthz_is_503_when_the_broker_is_unreachable(client):
    with celery_broker("redis://127.0.0.1:1/0"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "unavailable"
    assert response.json()["database"] == "ok"


def test_healthz_asks_the_broker_at_most_once_a_second_per_process(client, monkeypatch,
                                                                   settings):
    from linfen_tracker import views

    pings = []
    monkeypatch.setattr(views, "_broker_ping", lambda: pings.append(1) or "ok")
    monkeypatch.setattr(views, "_broker_answer", None)
    settings.HEALTHZ_BROKER_CHECK_SECONDS = 0.3
    with celery_broker("redis://127.0.0.1:1/0"):
        first = client.get("/healthz")
        second = client.get("/healthz")
        assert len(pings) == 1
        time.sleep(0.35)
        client.get("/healthz")
    assert len(pings) == 2
    assert first.json()["broker"] == second.json()["broker"] == "ok"


def test_healthz_needs_no_login_and_shows_no_data(client):
    body = client.get("/healthz").content.decode()
    assert set(json.loads(body)) == {"status", "database", "broker"}


@pytest.mark.parametrize("path", ["/accounts/password_reset/", "/accounts/password_reset/done/",
                                  "/accounts/reset/MQ/set-password/", "/accounts/reset/done/"])
def test_there_is_no_password_reset_by_mail(client, path):
    assert client.get(path).status_code == 404
    assert client.post(path, {"email": "staff@example.com"}).status_code == 404


def test_the_login_page_offers_no_password_reset(client):
    html = client.get("/accounts/login/").content.decode()

    assert "password_reset" not in html and "reset" not in html.lower()


def test_a_logged_in_user_can_still_change_their_password(client, staff_user):
    client.force_login(staff_user)

    response = client.post("/accounts/password_change/", {
        "old_password": "pw-for-tests-1", "new_password1": "Walnut-harvest-2021",
        "new_password2": "Walnut-harvest-2021"})

    assert response.status_code == 302
    staff_user.refresh_from_db()
    assert staff_user.check_password("Walnut-harvest-2021")


def test_pages_and_the_api_send_the_content_security_policy(client, staff_user):
    client.force_login(staff_user)
    for path in ("/accounts/login/", "/", "/api/v1/counties/"):
        policy = client.get(path)["Content-Security-Policy"]
        directives = {d.split()[0]: d.split()[1:] for d in policy.split(";")}

        assert directives["default-src"] == ["'self'"]
        assert directives["script-src"][0] == "'self'"
        assert "'unsafe-inline'" not in directives["script-src"]
        assert "'unsafe-eval'" not in directives["script-src"]
        assert directives["object-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert directives["base-uri"] == directives["form-action"] == ["'self'"]


def test_no_template_of_ours_has_an_inline_script_or_event_handler():
    # The policy would block them; json_script data blocks are written by a filter.
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", text), template
        assert "javascript:" not in text, template
