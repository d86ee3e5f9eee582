"""The API's hot reads are cached in each process under generations
(linfen_tracker/generations.py): a repeated leaderboard request costs no query, and every
change a client could notice shows on the very next request."""

import os
import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, Permission
from django.core.cache import caches
from django.db import connection
from rest_framework.authtoken.models import Token

from linfen_tracker import generations
from rankings.services import holiday_rankings_recompute
from sessions_app.models import LivestreamSession
from sessions_app.services import holiday_save, session_update
from tests.factories import HolidayFactory, UserFactory

from .conftest import token_client

URL = "/api/v1/rankings/"


@pytest.fixture
def reader(db):
    return UserFactory(username="api-reader", group="officials")


@pytest.fixture
def reader_api(reader):
    return token_client(reader)


def board(client, holiday, **params):
    response = client.get(URL, {"holiday": holiday.slug, **params})
    assert response.status_code == 200, response.content
    return response.json()


def test_a_repeated_leaderboard_request_makes_no_query(
    reader_api, ranked_holiday, django_assert_num_queries
):
    first = board(reader_api, ranked_holiday)

    with django_assert_num_queries(0):
        again = board(reader_api, ranked_holiday)

    assert again == first


def test_different_queries_are_cached_apart(reader_api, ranked_holiday):
    revenue = board(reader_api, ranked_holiday, metric="revenue")
    audience = board(reader_api, ranked_holiday, metric="audience")
    counties = board(reader_api, ranked_holiday, scope="county", limit=1)

    assert [r["official"]["name"] for r in revenue["results"]] == ["Zhang Wei", "Li Na"]
    assert [r["official"]["name"] for r in audience["results"]] == ["Li Na", "Zhang Wei"]
    assert len(counties["results"]) == 1 and "county" in counties["results"][0]


def test_a_deleted_token_is_refused_on_the_next_request(reader_api, reader, ranked_holiday):
    board(reader_api, ranked_holiday)

    Token.objects.filter(user=reader).delete()

    assert reader_api.get(URL, {"holiday": ranked_holiday.slug}).status_code == 401


def test_a_deactivated_user_is_refused_on_the_next_request(reader_api, reader, ranked_holiday):
    board(reader_api, ranked_holiday)

    reader.is_active = False
    reader.save()

    assert reader_api.get(URL, {"holiday": ranked_holiday.slug}).status_code == 401


@pytest.mark.parametrize("withdraw", ["leave the group", "group loses the permission",
                                      "group deleted"])
def test_a_withdrawn_role_takes_effect_on_the_next_request(
    reader_api, reader, ranked_holiday, withdraw
):
    board(reader_api, ranked_holiday)
    officials = Group.objects.get(name="officials")

    if withdraw == "leave the group":
        reader.groups.remove(officials)
    elif withdraw == "group loses the permission":
        officials.permissions.remove(Permission.objects.get(codename="view_livestreamsession"))
    else:
        officials.delete()

    assert reader_api.get(URL, {"holiday": ranked_holiday.slug}).status_code == 403


def test_a_granted_role_takes_effect_on_the_next_request(ranked_holiday):
    newcomer = UserFactory(username="newcomer")
    client = token_client(newcomer)
    assert client.get(URL, {"holiday": ranked_holiday.slug}).status_code == 403

    newcomer.groups.add(Group.objects.get(name="officials"))

    assert client.get(URL, {"holiday": ranked_holiday.slug}).status_code == 200


def test_a_session_write_shows_on_the_next_request_before_any_recompute(
    reader_api, staff_user, ranked_holiday
):
    before = board(reader_api, ranked_holiday)
    session = LivestreamSession.objects.filter(audience=400).get()  # Li Na's

    session_update(session=session, updated_by=staff_user,
                   data={"revenue": Decimal("9000.00")}, expected_version=session.version)
    live = board(reader_api, ranked_holiday)
    holiday_rankings_recompute(holiday_id=ranked_holiday.pk)
    after = board(reader_api, ranked_holiday)

    assert before["status"] == live["status"] == after["status"] == "ready"
    assert before["results"][0]["official"]["name"] != "Li Na"
    assert live["computed_at"] != before["computed_at"]  # read again, not the cached copy
    assert live["results"][0]["official"]["name"] == "Li Na"
    assert live["results"][0]["value"] == "9000.00"
    # Movement is against the stated baseline (nothing published, no snapshot of an earlier
    # day): none, before and after the recompute alike.
    assert live["baseline"]["kind"] == "none" and live["results"][0]["previous_rank"] is None
    assert after["results"] == live["results"]


def test_renamed_officials_counties_and_holidays_show_on_the_next_request(
    reader_api, ranked_holiday, official, staff_user
):
    board(reader_api, ranked_holiday)
    board(reader_api, ranked_holiday, scope="county")

    official.name = "Zhang Wei (renamed)"
    official.save()
    official.county.name = "Ji County (renamed)"
    official.county.save()
    ranked_holiday.name = "Labor Day (renamed)"
    holiday_save(holiday=ranked_holiday, user=staff_user)

    officials = board(reader_api, ranked_holiday)
    counties = board(reader_api, ranked_holiday, scope="county")
    assert officials["holiday"]["name"] == "Labor Day (renamed)"
    assert "Zhang Wei (renamed)" in [r["official"]["name"] for r in officials["results"]]
    assert "Ji County (renamed)" in [r["county"]["name"] for r in counties["results"]]


def test_a_refused_query_is_not_cached(reader_api, staff_user):
    assert reader_api.get(URL, {"holiday": "mid-autumn-2020"}).status_code == 400

    holiday_save(holiday=HolidayFactory.build(slug="mid-autumn-2020", name="Mid-Autumn",
                                              start_date=date(2020, 10, 1),
                                              end_date=date(2020, 10, 8)),
                 user=staff_user)

    response = reader_api.get(URL, {"holiday": "mid-autumn-2020"})
    assert response.status_code == 200
    assert response.json()["holiday"]["slug"] == "mid-autumn-2020"


# --- The generations themselves --------------------------------------------------------


def test_a_bump_changes_that_generation_only(db):
    before = generations.generations_get()

    generations.generation_bump(generations.RANKINGS)
    after = generations.generations_get()

    assert after[generations.AUTH] == before[generations.AUTH]
    assert after[generations.RANKINGS] != before[generations.RANKINGS]


def test_a_bump_replaces_a_process_entry_rather_than_adding_one(db):
    built = []
    for i in range(5):
        built.append(generations.cached(generations.RANKINGS, "k", lambda i=i: i))
        generations.generation_bump(generations.RANKINGS)

    assert built == [0, 1, 2, 3, 4]
    # Memory grows with the distinct keys, not with the writes (LocMemCache's own store).
    assert len(caches["local"]._cache) == 1


def test_an_evicted_generation_never_comes_back_as_an_old_value(db):
    from django.core.cache import cache

    seen = set()
    for _ in range(20):
        seen.add(generations.generations_get()[generations.AUTH])
        generations.generation_bump(generations.AUTH)
        cache.clear()  # as an eviction would

    assert len(seen) == 20


@pytest.fixture
def redis_down(settings):
    """The deployed cache configuration, pointed at a port nothing listens on."""
    settings.CACHES = {**settings.CACHES, "default": {
        "BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": settings.REDIS_CACHE_OPTIONS}}


def test_without_the_shared_cache_reads_go_to_the_database(redis_down):
    builds = []

    values = [generations.cached(generations.RANKINGS, "k", lambda: builds.append(1) or 42)
              for _ in range(3)]

    assert generations.generations_get() is None
    assert values == [42, 42, 42]
    assert len(builds) == 3


def test_with_redis_down_the_api_and_the_pages_still_answer(
    redis_down, reader_api, staff_api, ranked_holiday, official, client, staff_user
):
    client.force_login(staff_user)
    payload = {"official": official.pk, "platform": "douyin", "title": "Walnuts",
               "started_at": "2020-05-04T10:00:00+08:00",
               "ended_at": "2020-05-04T11:00:00+08:00",
               "audience": 10, "orders": 1, "revenue": "10.00"}

    before = board(reader_api, ranked_holiday)
    assert before["status"] == "ready"
    assert reader_api.get(f"/api/v1/holidays/{ranked_holiday.slug}/summary/").status_code == 200
    assert staff_api.post("/api/v1/sessions/", payload, format="json").status_code == 201
    assert board(reader_api, ranked_holiday)["results"] != before["results"]  # not cached
    assert client.get("/").status_code == 200


# --- Across processes, through the shared cache (Redis, as deployed) ------------------------

# CI's cache (its REDIS_URL), or a database number of its own: never the broker's.
SHARED_CACHE = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/12"


def _redis_reachable() -> bool:
    import redis

    try:
        return redis.Redis.from_url(SHARED_CACHE, socket_connect_timeout=1).ping()
    except Exception:
        return False


@pytest.fixture
def shared_cache(settings):
    if not _redis_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Redis at {SHARED_CACHE}")
        pytest.skip(f"no Redis at {SHARED_CACHE}")
    settings.CACHES = {**settings.CACHES, "default": {
        "BACKEND": "django_redis.cache.RedisCache", "LOCATION": SHARED_CACHE,
        "OPTIONS": settings.REDIS_CACHE_OPTIONS}}
    caches["default"].clear()
    caches["local"].clear()
    yield SHARED_CACHE
    caches["default"].clear()


def _in_another_process(code: str, cache_url: str) -> None:
    """Run `code` in a new Django process on the test database and the shared cache."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = (f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
                        f"{db['PORT'] or 5432}/{db['NAME']}")
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": cache_url,
           "DJANGO_SETTINGS_MODULE": "linfen_tracker.settings"}
    env.pop("CELERY_BROKER_URL", None)  # tasks in-process: no worker needed
    setup = "import django; django.setup()\n"
    subprocess.run([sys.executable, "-c", setup + code], env=env, check=True,
                   cwd=django_settings.BASE_DIR, timeout=60)


@pytest.mark.django_db(transaction=True)
def test_a_role_withdrawn_in_another_process_takes_effect_here(shared_cache, ranked_holiday):
    reader = UserFactory(username="remote-reader", group="officials")
    client = token_client(reader)
    assert client.get(URL, {"holiday": ranked_holiday.slug}).status_code == 200

    _in_another_process(
        "from django.contrib.auth import get_user_model\n"
        "get_user_model().objects.get(username='remote-reader').groups.clear()\n",
        shared_cache,
    )

    assert client.get(URL, {"holiday": ranked_holiday.slug}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_session_edited_in_another_process_shows_here(shared_cache, ranked_holiday):
    reader = UserFactory(username="remote-reader", group="officials")
    client = token_client(reader)
    before = board(client, ranked_holiday)

    _in_another_process(
        "from decimal import Decimal\n"
        "from sessions_app.models import LivestreamSession\n"
        "from sessions_app.services import session_update\n"
        "s = LivestreamSession.objects.get(audience=400)\n"
        "session_update(session=s, updated_by=None, data={'revenue': Decimal('9000.00')},\n"
        "               expected_version=s.version)\n",
        shared_cache,
    )
    after = board(client, ranked_holiday)

    # The other process has no broker: it ran the recompute in-process, after its commit.
    assert before["results"][0]["value"] == "1500.50"
    assert after["status"] == "ready"
    assert after["results"][0]["value"] == "9000.00"


def test_without_redis_nothing_is_cached_unless_asked(settings, reader_api, ranked_holiday,
                                                       django_assert_max_num_queries):
    # The default when REDIS_URL is unset: other processes could not see this one's bumps.
    settings.LOCAL_CACHE_SECONDS = 0
    board(reader_api, ranked_holiday)

    with django_assert_max_num_queries(10) as queries:
        board(reader_api, ranked_holiday)

    assert len(queries) >= 3  # token, permissions, holiday, snapshot...


# --- The one round trip to Redis (generations._round_trip) --------------------------------


def test_a_redis_connection_the_server_closed_is_replaced_not_failed(shared_cache):
    import redis
    from django.core.cache import cache

    current = generations.generations_get()
    own = generations._own_connection(cache.client.get_client(write=True))
    host, port = own._sock.getsockname()[:2]
    assert redis.Redis.from_url(shared_cache).client_kill_filter(addr=f"{host}:{port}") == 1

    assert generations.generations_get() == current


def test_an_exchange_cut_short_leaves_no_reply_for_the_next_one(shared_cache, monkeypatch):
    from redis.connection import AbstractConnection

    generations.generations_get()
    read = AbstractConnection.read_response

    def cut_short(self, *args, **kwargs):  # as if the worker were stopped mid-read
        monkeypatch.setattr(AbstractConnection, "read_response", read)
        raise KeyboardInterrupt

    monkeypatch.setattr(AbstractConnection, "read_response", cut_short)
    with pytest.raises(KeyboardInterrupt):
        generations.generations_get()
    generations.generation_bump(generations.RANKINGS)  # the unread reply is now stale

    expected = caches["default"].get_many([generations._key(n) for n in generations.NAMES])
    assert generations.generations_get() == {n: expected[generations._key(n)]
                                             for n in generations.NAMES}


@pytest.mark.django_db(transaction=True)
def test_cached_boards_are_throttled_per_user_through_redis(shared_cache, ranked_holiday,
                                                             monkeypatch):
    from linfen_tracker.throttling import UserFixedWindowThrottle

    monkeypatch.setattr(UserFixedWindowThrottle, "rate", "3/minute", raising=False)
    first = token_client(UserFactory(username="first-reader", group="officials"))
    second = token_client(UserFactory(username="second-reader", group="officials"))

    statuses = [first.get(URL, {"holiday": ranked_holiday.slug}).status_code
                for _ in range(4)]

    assert statuses == [200, 200, 200, 429]  # the last three counted in the round trip
    assert second.get(URL, {"holiday": ranked_holiday.slug}).status_code == 200
