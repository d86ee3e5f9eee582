"""Which database a request reads (linfen_tracker/db_router.py), without a real replica: the
decisions the middleware takes and the router's rules. tests/test_replica.py runs the same
against a streaming replica."""

import time

import pytest
from django.db import transaction
from django.test import override_settings
from django.urls import reverse

from linfen_tracker import db_router
from linfen_tracker.db_router import PIN_COOKIE, ReplicaRouter, ReplicaState, reads_from
from sessions_app.models import LivestreamSession

from .factories import SessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def replica_up(monkeypatch):
    """Reads enabled, and the replica measured up, 0.4 s behind."""
    monkeypatch.setattr(db_router, "replica_state",
                        lambda: ReplicaState(True, 0.4, "streaming"))
    with override_settings(REPLICA_READS=True):
        yield


def read_from(response) -> str:
    return response["X-Read-From"]


def test_the_router_sends_writes_to_the_primary_and_reads_where_the_request_says():
    router = ReplicaRouter()

    assert router.db_for_write(LivestreamSession) == "default"
    assert router.db_for_read(LivestreamSession) == "default"
    with transaction.atomic(), reads_from("replica"):
        # Inside a transaction every read is the primary's.
        assert router.db_for_read(LivestreamSession) == "default"


@pytest.mark.django_db(transaction=True)
def test_the_router_reads_the_replica_outside_transactions_when_told():
    router = ReplicaRouter()

    with reads_from("replica"):
        assert router.db_for_read(LivestreamSession) == "replica"
    assert router.db_for_read(LivestreamSession) == "default"


def test_nothing_migrates_on_the_replica():
    assert ReplicaRouter().allow_migrate("replica", "sessions_app") is False
    assert ReplicaRouter().allow_migrate("default", "sessions_app") is True


def test_boards_lists_and_the_api_read_the_replica(client, official_user, holiday,
                                                   replica_up):
    client.force_login(official_user)

    for url in (reverse("dashboard"), reverse("holiday_dashboard", args=[holiday.slug]),
                reverse("holiday_screen_state", args=[holiday.slug]),
                reverse("session_list"), "/api/v1/sessions/", "/api/v1/holidays/"):
        assert read_from(client.get(url)) == "replica; lag=0.4", url


def test_forms_and_the_admin_read_the_primary(client, staff_user, superuser, holiday,
                                               replica_up):
    session = SessionFactory()
    client.force_login(staff_user)

    for url in (reverse("session_create"), reverse("session_edit", args=[session.pk]),
                reverse("session_delete", args=[session.pk])):
        assert read_from(client.get(url)) == "primary", url
    client.force_login(superuser)
    assert read_from(client.get("/admin/")) == "primary"


def test_a_write_pins_its_author_to_the_primary_for_a_few_seconds(client, official_user,
                                                                   holiday, replica_up):
    client.force_login(official_user)

    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    assert response.cookies[PIN_COOKIE]["max-age"] >= 5 + 1  # longer than the tolerated lag
    assert read_from(client.get(reverse("session_list"))) == "primary"
    client.cookies.pop(PIN_COOKIE)
    assert read_from(client.get(reverse("session_list"))) == "replica; lag=0.4"


def test_an_api_write_pins_that_token_to_the_primary(staff_user, official_user, holiday,
                                                     replica_up):
    from tests.api.conftest import token_client

    writer, reader = token_client(staff_user), token_client(official_user)

    writer.delete("/api/v1/sessions/999999/")  # any write, even one that finds nothing

    assert read_from(writer.get("/api/v1/sessions/")) == "primary"
    assert read_from(reader.get("/api/v1/sessions/")) == "replica; lag=0.4"


def test_reads_stay_on_the_primary_when_the_replica_is_unusable(client, official_user,
                                                                holiday, monkeypatch):
    monkeypatch.setattr(db_router, "replica_state",
                        lambda: ReplicaState(False, 12.0, "12.0 s behind the primary"))
    client.force_login(official_user)

    with override_settings(REPLICA_READS=True):
        assert read_from(client.get(reverse("session_list"))) == "primary"


def test_a_page_read_from_a_lagging_replica_says_its_figures_may_be_old(client, official_user,
                                                                        holiday, monkeypatch):
    monkeypatch.setattr(db_router, "replica_state", lambda: ReplicaState(True, 2.3, "streaming"))
    client.force_login(official_user)

    with override_settings(REPLICA_READS=True):
        page = client.get(reverse("session_list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "These figures may be up to 3 seconds old." in page
    monkeypatch.setattr(db_router, "replica_state", lambda: ReplicaState(True, 0.2, "streaming"))
    with override_settings(REPLICA_READS=True):
        fresh = client.get(reverse("session_list"), HTTP_ACCEPT_LANGUAGE="en")
    assert b"data-replica-lag" not in fresh.content


def test_without_a_replica_nothing_is_said_about_where_reads_went(client, official_user):
    client.force_login(official_user)

    assert "X-Read-From" not in client.get(reverse("session_list"))


@pytest.mark.django_db(transaction=True)
def test_a_cache_filled_right_after_a_bump_reads_the_primary_then_the_replica(settings):
    from django.core.cache import caches

    from linfen_tracker import generations

    settings.REPLICA_PIN_SECONDS = 0.3
    read_by = []

    def build():
        read_by.append(db_router._read_alias.get())
        return len(read_by)

    with reads_from("replica"):
        generations.generation_bump(generations.RANKINGS)
        generations.cached(generations.RANKINGS, "probe", build)  # the replica may lag
        time.sleep(0.35)
        caches["local"].clear()
        generations.cached(generations.RANKINGS, "probe", build)  # it has the write by now

    assert read_by == ["default", "replica"]
