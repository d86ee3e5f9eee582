"""Shared fixtures. Log users in with `client.force_login(user)`: django-axes needs the request
for a password login, and the test client's login() has none."""

import contextlib
import importlib
import os
import shutil
import time
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from kombu import Connection

from sessions_app.models import County

from .factories import HolidayFactory, OfficialFactory, SessionFactory, UserFactory, beijing


@pytest.fixture
def staff_user(db):
    return UserFactory(username="staff", is_staff=True, group="city_staff")


@pytest.fixture
def official_user(db):
    return UserFactory(username="official-reader", group="officials")


@pytest.fixture
def city_lead(db):
    return UserFactory(username="lead", group="city_leads")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def holiday(db):
    return HolidayFactory()


@pytest.fixture
def county(db):
    return County.objects.get(slug="jixian")


@pytest.fixture
def other_county(db):
    return County.objects.get(slug="yaodu")


@pytest.fixture
def sessions_held_away(holiday, county, other_county):
    """Two Labor Day 2020 sessions, each held away from its official's county: 300.00 by a
    Yaodu official in Ji County (a key poverty-relief county) and 100.00 by a Ji County
    official in Yaodu (not one). By the session's county, as the rules say, Ji County has
    300.00 and key poverty-relief revenue is 300.00; by the official's it would be 100.00."""
    assert county.poverty_relief_key and not other_county.poverty_relief_key
    from_yaodu = OfficialFactory(name="Visitor from Yaodu", county=other_county)
    from_ji = OfficialFactory(name="Visitor from Ji", county=county)
    return [
        SessionFactory(official=from_yaodu, county=county, revenue=Decimal("300.00"),
                       started_at=beijing(2020, 5, 2, 10)),
        SessionFactory(official=from_ji, county=other_county, revenue=Decimal("100.00"),
                       started_at=beijing(2020, 5, 3, 10)),
    ]


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Give transactional tests (live server, worker, concurrency) the rows the migrations
    load. Such tests empty every table when they end, counties and groups included, and
    pytest-django runs them after the others, so each one restores what it needs first."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or (
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    from django.apps import apps
    from django.contrib.auth.models import Group

    if not County.objects.exists():
        importlib.import_module("sessions_app.migrations.0002_load_linfen_divisions").load(
            apps, None
        )
    if not Group.objects.exists():
        # Permissions come back by themselves: the flush re-runs post_migrate.
        for migration in ("0003_role_groups", "0008_reviewers"):
            importlib.import_module(f"sessions_app.migrations.{migration}").assign_permissions(
                apps
            )
        importlib.import_module("rankings.migrations.0006_target_permissions").assign_permissions(
            apps
        )
        importlib.import_module("rankings.migrations.0010_city_leads").assign_permissions(apps)


@contextlib.contextmanager
def celery_broker(url: str):
    """Send tasks to a real broker at `url` (not in-process) inside the block.

    The app caches its connection pools, built for the broker of the moment they were
    first used; drop them on the way in and out so the messages go where `url` says."""
    from linfen_tracker.celery_app import app

    def drop_pools():
        app._pool = None
        app.amqp._producer_pool = None

    saved = {k: app.conf[k] for k in ("task_always_eager", "broker_url")}
    # Celery reads CELERY_BROKER_URL from the environment before its configuration (CI sets
    # it), so both must say `url`.
    saved_env = os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = url
    app.conf.update(task_always_eager=False, broker_url=url)
    drop_pools()
    try:
        yield app
    finally:
        app.conf.update(saved)
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        drop_pools()


BROKER = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/15"


def under_ci(environ=os.environ) -> bool:
    """Whether the tests run in CI (.ci/run sets CI=true), where a missing service or browser
    must fail the run rather than skip its tests."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _broker_reachable() -> bool:
    try:
        with Connection(BROKER, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


@pytest.fixture
def celery_worker_on_redis(transactional_db):
    if not BROKER.startswith("redis://") or not _broker_reachable():
        if under_ci():
            pytest.fail(f"CI needs the Redis broker at {BROKER}")
        pytest.skip(f"no Redis broker at {BROKER}")
    with celery_broker(BROKER) as app, Connection(BROKER) as conn:
        conn.default_channel.client.flushdb()  # no messages left over from other runs
        with start_worker(app, pool="solo", perform_ping_check=False,
                          shutdown_timeout=30) as worker:
            yield worker


def wait_for(predicate, seconds=15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="session", autouse=True)
def _media_root_removed_at_the_end():
    """Evidence files the tests store go to the run's own MEDIA_ROOT (test_settings)."""
    from django.conf import settings

    yield
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Ids repeat across tests (rolled back), so cached boards and summaries must not."""
    from django.core.cache import caches

    for alias in ("default", "local"):
        caches[alias].clear()
    yield
    for alias in ("default", "local"):
        caches[alias].clear()
