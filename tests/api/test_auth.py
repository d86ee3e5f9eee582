"""Token authentication, django-axes lockout on the token endpoint, throttling."""

from datetime import datetime, timedelta

from django.utils import timezone
from rest_framework.authtoken.models import Token

from linfen_tracker.throttling import AnonFixedWindowThrottle, UserFixedWindowThrottle

from .conftest import english_client, token_client

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


def test_a_client_writing_a_new_x_forwarded_for_each_time_is_still_throttled(
    anon_api, monkeypatch, db
):
    monkeypatch.setattr(AnonFixedWindowThrottle, "rate", "3/minute", raising=False)

    statuses = [
        anon_api.post(TOKEN, BAD, format="json", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        .status_code
        for n in range(4)
    ]

    assert statuses == [400, 400, 400, 429]


def test_behind_one_trusted_proxy_each_client_is_throttled_by_the_address_it_gives(
    anon_api, monkeypatch, settings, db
):
    # Every request comes from the proxy; it appends the address that connected to it.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    monkeypatch.setattr(AnonFixedWindowThrottle, "rate", "3/minute", raising=False)

    def post(forwarded_for: str) -> int:
        return anon_api.post(TOKEN, BAD, format="json", REMOTE_ADDR="10.0.0.2",
                             HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    # What a client writes itself stays to the left of the proxy's entry.
    first = [post(f"192.0.2.{n}, 203.0.113.7") for n in range(4)]
    other_client = post("203.0.113.8")

    assert first == [400, 400, 400, 429]
    assert other_client == 400


def test_behind_the_proxy_token_guesses_lock_the_guessing_client_not_the_user(
    anon_api, staff_user, settings
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    via_proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for n in range(settings.AXES_FAILURE_LIMIT):
        anon_api.post(TOKEN, BAD, format="json", **via_proxy,
                      HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.9")

    attacker = anon_api.post(TOKEN, GOOD, format="json", **via_proxy,
                             HTTP_X_FORWARDED_FOR="203.0.113.9")
    owner = english_client().post(TOKEN, GOOD, format="json", **via_proxy,
                                  HTTP_X_FORWARDED_FOR="198.51.100.7")

    assert attacker.status_code == 429
    assert owner.status_code == 200
    assert owner.json()["token"]


def test_one_address_guessing_many_usernames_gets_no_token_for_any(anon_api, staff_user,
                                                                   settings):
    settings.AXES_ADDRESS_FAILURE_LIMIT = 8
    for n in range(settings.AXES_ADDRESS_FAILURE_LIMIT):
        anon_api.post(TOKEN, {"username": f"guess{n}", "password": "Summer2020!"},
                      format="json")

    locked = anon_api.post(TOKEN, GOOD, format="json")
    other_address = english_client().post(TOKEN, GOOD, format="json",
                                          REMOTE_ADDR="198.51.100.7")

    assert locked.status_code == 429
    assert "locked" in locked.json()["detail"]
    assert "token" not in locked.json()
    assert other_address.status_code == 200


# --- Token lifetime and revocation -----------------------------------------------------------

def _days_later(monkeypatch, days: float) -> None:
    later = timezone.now() + timedelta(days=days)
    monkeypatch.setattr(timezone, "now", lambda: later)


def test_a_token_says_when_it_expires(anon_api, staff_user, settings):
    body = anon_api.post(TOKEN, GOOD, format="json").json()

    token = Token.objects.get(key=body["token"])
    expires = datetime.fromisoformat(body["expires"])
    assert expires == token.created + timedelta(days=settings.API_TOKEN_DAYS)


def test_a_cached_token_is_refused_with_a_401_once_it_expires(staff_user, monkeypatch, settings):
    # The test settings cache token users per process (LOCAL_CACHE_SECONDS): the first
    # request caches this one, the cache must not serve it past its lifetime.
    client = token_client(staff_user)
    assert client.get("/api/v1/counties/").status_code == 200
    _days_later(monkeypatch, settings.API_TOKEN_DAYS - 0.01)
    assert client.get("/api/v1/counties/").status_code == 200

    _days_later(monkeypatch, settings.API_TOKEN_DAYS)
    response = client.get("/api/v1/counties/")

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"


def test_asking_again_after_expiry_gives_a_new_token_and_the_old_one_stays_dead(
    anon_api, staff_user, monkeypatch, settings
):
    old = anon_api.post(TOKEN, GOOD, format="json").json()["token"]
    _days_later(monkeypatch, settings.API_TOKEN_DAYS + 1)

    # Sent along with the expired token, as a client that only renews on a 401 would.
    anon_api.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    new = anon_api.post(TOKEN, GOOD, format="json")

    assert new.status_code == 200
    assert new.json()["token"] != old
    assert not Token.objects.filter(key=old).exists()
    client = english_client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {new.json()['token']}")
    assert client.get("/api/v1/counties/").status_code == 200


def test_a_client_revokes_its_own_token(staff_user, anon_api):
    client = token_client(staff_user)
    assert client.get("/api/v1/counties/").status_code == 200  # cached from here on

    revoked = client.delete(TOKEN)

    assert revoked.status_code == 204
    assert not Token.objects.filter(user=staff_user).exists()
    assert client.get("/api/v1/counties/").status_code == 401
    assert anon_api.post(TOKEN, GOOD, format="json").status_code == 200  # a new one


def test_revoking_needs_the_token_itself(staff_user, anon_api):
    token = Token.objects.create(user=staff_user)
    by_session = english_client()
    by_session.force_login(staff_user)

    assert anon_api.delete(TOKEN).status_code == 401
    assert by_session.delete(TOKEN).status_code == 401
    assert Token.objects.filter(key=token.key).exists()
