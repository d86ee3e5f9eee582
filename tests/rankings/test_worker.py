"""With a real Celery worker on the real Redis broker, saving a session produces a new
snapshot: the path production takes (commit -> message -> worker -> snapshot)."""

import os
import time
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from kombu import Connection

from rankings.models import RankingSnapshot
from rankings.selectors import leaderboard_get
from sessions_app import services

from ..conftest import celery_broker
from ..factories import HolidayFactory, OfficialFactory, beijing

BROKER = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/15"


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
        if os.environ.get("CI"):
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


@pytest.mark.worker
def test_saving_a_session_produces_a_new_snapshot_through_the_worker(celery_worker_on_redis):
    holiday = HolidayFactory()
    official = OfficialFactory()
    services.session_create(
        entered_by=None, official=official, platform="douyin", title="Millet",
        started_at=beijing(2020, 5, 2, 10), ended_at=beijing(2020, 5, 2, 12),
        audience=1000, orders=10, revenue=Decimal("123.45"),
    )
    assert wait_for(lambda: RankingSnapshot.objects.filter(holiday=holiday).exists())
    board = leaderboard_get(holiday=holiday, metric="revenue", scope="official")
    assert [(e.official_id, e.value) for e in board.entries] == [(official.pk, Decimal("123.45"))]
    holiday.refresh_from_db()
    assert not holiday.rankings_stale


@pytest.mark.worker
def test_edits_in_quick_succession_all_reach_the_rankings(celery_worker_on_redis):
    holiday = HolidayFactory()
    official = OfficialFactory()
    session = services.session_create(
        entered_by=None, official=official, platform="douyin", title="Millet",
        started_at=beijing(2020, 5, 2, 10), ended_at=beijing(2020, 5, 2, 12),
        audience=1000, orders=10, revenue=Decimal("1.00"),
    )
    for cents in range(2, 12):
        services.session_update(session=session, updated_by=None,
                                data={"revenue": Decimal(cents)})

    def caught_up():
        holiday.refresh_from_db()
        return not holiday.rankings_stale

    assert wait_for(caught_up)
    board = leaderboard_get(holiday=holiday, metric="revenue", scope="official")
    assert [e.value for e in board.entries] == [Decimal("11.00")]
