"""The rankings endpoint caches its JSON body (rankings/api.py): a cached answer is the same
JSON as the first, and the browsable API still renders it."""

import pytest


@pytest.mark.django_db
def test_a_cached_board_is_the_same_json_as_the_first(staff_api, ranked_holiday):
    url = f"/api/v1/rankings/?holiday={ranked_holiday.slug}&metric=revenue"

    first, cached = staff_api.get(url), staff_api.get(url)

    assert first["Content-Type"] == cached["Content-Type"] == "application/json"
    assert first.content == cached.content
    assert [row["official"]["name"] for row in cached.json()["results"]] == ["Zhang Wei",
                                                                               "Li Na"]


@pytest.mark.django_db
def test_the_browsable_api_renders_a_cached_board(staff_api, ranked_holiday):
    url = f"/api/v1/rankings/?holiday={ranked_holiday.slug}&metric=revenue"
    staff_api.get(url)  # cached

    page = staff_api.get(url, HTTP_ACCEPT="text/html")

    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert "Zhang Wei" in page.content.decode()


@pytest.mark.django_db
def test_a_cached_api_read_costs_one_round_trip_to_redis(staff_api, ranked_holiday,
                                                         monkeypatch):
    """The generations and the throttle's count go in one write to Redis
    (generations._round_trip), whatever redis-py call makes it."""
    from django.core.cache import cache

    if not hasattr(getattr(cache, "client", None), "get_client"):
        pytest.skip("the shared cache is not Redis (REDIS_URL unset)")
    from redis.connection import AbstractConnection

    writes = []
    send = AbstractConnection.send_packed_command

    def counted_send(self, command, *args, **kwargs):
        writes.append(b"".join(command) if isinstance(command, list) else command)
        return send(self, command, *args, **kwargs)

    url = f"/api/v1/rankings/?holiday={ranked_holiday.slug}&metric=revenue"
    staff_api.get(url), staff_api.get(url)  # the token's user and the board are cached
    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted_send)

    assert staff_api.get(url).status_code == 200
    assert len(writes) == 1
    assert b"MGET" in writes[0] and b"INCR" in writes[0]
