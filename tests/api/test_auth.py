"""Token authentication, django-axes lockout on the token endpoint, throttling."""

from rest_framework.authtoken.models import Token

from linfen_tracker.throttling import AnonFixedWindowThrottle, UserFixedWindowThrottle

from .conftest import english_client

TOKEN = "/api/v1/auth/token/"
GOOD = {"username": "staff", "password": "pw-for-tests-1"}
BAD = {"username": "staff", "password": "wrong"}


def test_a_token_from_the_endpoint_authenticates_later_requests(anon_api, staff_user):
    token = anon_api.post(TOKEN, GOOD, format="json").json()["token"]

    client = english_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    assert client.get("/api/v1/sessions/").status_code == 200


def test_asking_twice_returns_the_same_token(anon_api, staff_user):
    first = anon_api.post(TOKEN, GOOD, format="json").json()["token"]
    second = anon_api.post(TOKEN, GOOD, format="json").json()["token"]

    assert first == second


def test_wrong_credentials_are_a_400_with_a_reason(anon_api, staff_user):
    response = anon_api.post(TOKEN, BAD, format="json")

    assert response.status_code == 400
    assert response.json()["non_field_errors"]
    assert "token" not in response.json()
    assert not Token.objects.filter(user=staff_user).exists()


def test_missing_fields_are_a_400_per_field(anon_api):
    response = anon_api.post(TOKEN, {}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"username", "password"}


def test_an_inactive_user_gets_no_token(anon_api, staff_user):
    staff_user.is_active = False
    staff_user.save()

    response = anon_api.post(TOKEN, GOOD, format="json")

    assert response.status_code == 400
    assert "token" not in response.json()
    assert not Token.objects.filter(user=staff_user).exists()


def test_an_invalid_token_is_a_401(anon_api):
    anon_api.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    assert anon_api.get("/api/v1/counties/").status_code == 401


def test_a_locked_out_user_gets_a_clear_429_even_with_the_right_password(
    anon_api, staff_user, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert anon_api.post(TOKEN, BAD, format="json").status_code in (400, 429)

    response = anon_api.post(TOKEN, GOOD, format="json")

    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert "locked" in response.json()["detail"]
    assert int(response["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert "token" not in response.json()


def test_failures_below_the_limit_do_not_lock_out(anon_api, staff_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        anon_api.post(TOKEN, BAD, format="json")

    assert anon_api.post(TOKEN, GOOD, format="json").status_code == 200


def test_anonymous_clients_are_throttled(anon_api, monkeypatch, db):
    monkeypatch.setattr(AnonFixedWindowThrottle, "rate", "3/minute", raising=False)

    statuses = [anon_api.post(TOKEN, BAD, format="json").status_code for _ in range(4)]

    assert statuses == [400, 400, 400, 429]


def test_authenticated_clients_are_throttled(staff_api, monkeypatch):
    monkeypatch.setattr(UserFixedWindowThrottle, "rate", "2/minute", raising=False)

    statuses = [staff_api.get("/api/v1/counties/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_a_throttled_client_is_told_when_to_retry_and_is_served_in_the_next_window(
    staff_api, monkeypatch
):
    now = [615.0]  # 15 s into the minute that began at 600
    monkeypatch.setattr(UserFixedWindowThrottle, "rate", "2/minute", raising=False)
    monkeypatch.setattr(UserFixedWindowThrottle, "timer", lambda self: now[0])

    within = [staff_api.get("/api/v1/counties/") for _ in range(3)]
    now[0] = 660.0
    next_window = staff_api.get("/api/v1/counties/")

    assert [r.status_code for r in within] == [200, 200, 429]
    assert within[2]["Retry-After"] == "45"
    assert next_window.status_code == 200


def test_throttle_counts_are_per_user(staff_api, superuser_api, monkeypatch):
    monkeypatch.setattr(UserFixedWindowThrottle, "rate", "1/minute", raising=False)

    assert staff_api.get("/api/v1/counties/").status_code == 200
    assert superuser_api.get("/api/v1/counties/").status_code == 200
    assert staff_api.get("/api/v1/counties/").status_code == 429
