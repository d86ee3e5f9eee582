"""Security settings and controls: login lockout, CSRF, production cookies/HSTS, health."""

import json
import os
import subprocess
import sys
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
    env.update(DJANGO_SETTINGS_MODULE="linfen_tracker.settings", DEBUG="0")
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


def test_healthz_needs_no_login_and_shows_no_data(client):
    body = client.get("/healthz").content.decode()
    assert set(json.loads(body)) == {"status", "database", "broker"}
