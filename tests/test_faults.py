"""Faults on the real services: nothing entered is lost, readers keep a complete snapshot,
and a lost database is a clean 503.

PostgreSQL and Redis as in CI (.ci/run); skipped on SQLite, where these faults don't exist
in the same form.
"""

import os
import re
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.core.signals import request_started
from django.db import connection
from kombu import Connection

from rankings.models import RankingSnapshot
from rankings.selectors import leaderboard_entries
from rankings.services import holiday_rankings_recompute
from rankings.tasks import recompute_due_holidays
from sessions_app.models import Holiday, LivestreamSession

from .conftest import BROKER, celery_broker, wait_for
from .factories import OfficialFactory, SessionFactory, beijing

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]


def revenues(holiday):
    """The revenue board of the latest complete snapshot (what the recompute makes; live
    boards read the totals, which the saves keep whatever the broker does)."""
    snapshot = RankingSnapshot.objects.latest_for(holiday.pk)
    if snapshot is None:
        return []
    return [e.value for e in leaderboard_entries(snapshot=snapshot, metric="revenue",
                                                 scope="official")]


def raw_connection() -> psycopg.Connection:
    """A connection of our own, outside Django's, to the test database."""
    s = connection.settings_dict
    return psycopg.connect(host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432,
                           user=s["USER"] or "postgres", password=s["PASSWORD"] or None,
                           dbname=s["NAME"], autocommit=True)


def session_payload(official, hour=10):
    return {"official": official.pk, "platform": "douyin", "title": "Millet",
            "started_at": f"2020-05-02T{hour:02d}:00:00+08:00",
            "ended_at": f"2020-05-02T{hour + 1:02d}:00:00+08:00",
            "audience": 10, "orders": 1, "revenue": "12.50"}


# --- PostgreSQL connection dropped during a request -----------------------------------------

@pytest.fixture
def drop_connection_on_insert():
    """Make PostgreSQL end the connection of whoever inserts a session, mid-transaction."""
    with raw_connection() as admin:
        admin.execute("""
            CREATE OR REPLACE FUNCTION linfen_test_drop_connection() RETURNS trigger AS $$
            BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END
            $$ LANGUAGE plpgsql""")
        admin.execute("""
            CREATE TRIGGER linfen_test_drop_connection BEFORE INSERT
            ON sessions_app_livestreamsession FOR EACH ROW
            EXECUTE FUNCTION linfen_test_drop_connection()""")
        try:
            yield
        finally:
            admin.execute("DROP TRIGGER linfen_test_drop_connection "
                          "ON sessions_app_livestreamsession")
            admin.execute("DROP FUNCTION linfen_test_drop_connection()")


def test_a_dropped_database_connection_is_a_clean_503_with_nothing_saved(
        client, staff_user, holiday, drop_connection_on_insert):
    official = OfficialFactory()
    client.force_login(staff_user)
    versions_before = Holiday.objects.get(pk=holiday.pk).data_version

    response = client.post("/api/v1/sessions/", session_payload(official),
                           content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 503
    assert "nothing was saved" in response.json()["detail"]
    assert response["Retry-After"]
    connection.close()  # the dead one; Django opens a new one on next use
    assert not LivestreamSession.objects.exists()
    assert Holiday.objects.get(pk=holiday.pk).data_version == versions_before


def test_a_dropped_connection_on_a_page_is_a_503_page_saying_nothing_was_saved(
        client, staff_user, holiday, drop_connection_on_insert):
    official = OfficialFactory()
    client.force_login(staff_user)
    response = client.post("/sessions/new/", {
        "official": official.pk, "platform": "douyin", "title": "Millet", "products": "",
        "started_at": "2020-05-02 10:00", "ended_at": "2020-05-02 11:00",
        "audience": 10, "orders": 1, "revenue": "12.50"})  # in Chinese, the default
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"]
    alert = re.search(r'role="alert">\s*<h1>(.*?)</h1>\s*<p>(.*?)</p>',
                      response.content.decode(), re.S)
    assert alert, response.content.decode()[:2000]
    assert alert.groups() == ("暂时无法访问",
                              "数据库暂时无法访问，没有保存任何数据。请过一分钟再试。")
    connection.close()
    assert not LivestreamSession.objects.exists()


def test_after_the_database_drops_the_connection_the_next_request_reconnects(holiday):
    """A persistent connection (CONN_MAX_AGE) that PostgreSQL ended, e.g. on a restart, is
    noticed when the next request starts (CONN_HEALTH_CHECKS) and replaced, not used."""
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    assert connection.settings_dict["CONN_MAX_AGE"] > 0
    connection.ensure_connection()
    with raw_connection() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)",
                      [connection.connection.info.backend_pid])
    request_started.send(sender=None)  # what every WSGI request does first
    assert Holiday.objects.filter(pk=holiday.pk).exists()


# --- Broker down while staff save -----------------------------------------------------------

@pytest.mark.worker
def test_saves_succeed_while_the_broker_is_down_and_rankings_catch_up_after(
        client, staff_user, holiday):
    official = OfficialFactory()
    client.force_login(staff_user)
    # How long a save takes with the broker down is measured by bench/rankings.py.
    with celery_broker("redis://127.0.0.1:1/0"):  # the broker is down: nothing listens
        created = [client.post("/api/v1/sessions/", session_payload(official, hour),
                               content_type="application/json") for hour in (9, 11, 13)]
    assert [r.status_code for r in created] == [201, 201, 201]
    holiday.refresh_from_db()
    assert holiday.rankings_stale and not holiday.recompute_queued
    live = client.get("/api/v1/rankings/", {"holiday": holiday.slug, "metric": "revenue",
                                            "scope": "official"}).json()
    # The live board shows the three saves at once: the totals commit with them.
    assert live["status"] == "ready" and live["results"][0]["sessions"] == 3
    assert revenues(holiday) == []  # no snapshot until the broker is back

    # The broker is back: beat's sweep finds the stale holiday and a worker recomputes it.
    with celery_broker(BROKER) as app:
        from celery.contrib.testing.worker import start_worker

        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            recompute_due_holidays.delay()

            def caught_up():
                holiday.refresh_from_db()
                return not holiday.rankings_stale

            assert wait_for(caught_up)
    assert revenues(holiday) == [Decimal("37.50")]


# --- A worker killed in the middle of a recompute -------------------------------------------

def _start_worker_process() -> subprocess.Popen:
    s = connection.settings_dict
    env = {**os.environ,
           "DJANGO_SETTINGS_MODULE": "linfen_tracker.settings",
           "DATABASE_URL": f"postgres://{s['USER'] or 'postgres'}@{s['HOST'] or '127.0.0.1'}:"
                           f"{s['PORT'] or 5432}/{s['NAME']}",
           "CELERY_BROKER_URL": BROKER}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "linfen_tracker", "worker", "-l", "warning",
         "--concurrency", "1", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _blocked_snapshot_writer(admin) -> int | None:
    row = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE 'INSERT INTO \"rankings_rankingsnapshot\"%%'").fetchone()
    return row[0] if row else None


@pytest.mark.worker
def test_a_worker_killed_mid_recompute_leaves_the_previous_snapshot_and_the_next_succeeds(
        holiday, celery_broker_flushed):
    official = OfficialFactory()
    SessionFactory(official=official, revenue=Decimal("10"))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    SessionFactory(official=official, revenue=Decimal("5"), started_at=beijing(2020, 5, 3, 9))
    Holiday.objects.filter(pk=holiday.pk).update(data_version=5)  # the new row is unranked

    with raw_connection() as pause, raw_connection() as admin:
        # Hold the recompute right where it writes its snapshot; readers are not blocked.
        pause.autocommit = False
        pause.execute("LOCK TABLE rankings_rankingsnapshot IN EXCLUSIVE MODE")
        worker = _start_worker_process()
        try:
            with celery_broker(BROKER) as app:
                app.tasks["rankings.tasks.recompute_holiday_rankings"].delay(holiday.pk)
            assert wait_for(lambda: _blocked_snapshot_writer(admin), seconds=30)
            writer_pid = _blocked_snapshot_writer(admin)
            os.killpg(worker.pid, signal.SIGKILL)  # the worker dies mid-recompute
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
        assert revenues(holiday) == [Decimal("10.00")]  # readers keep the old snapshot
        pause.rollback()  # let the orphaned database session go on; it cannot commit
        assert wait_for(lambda: admin.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [writer_pid]).fetchone() is None,
            seconds=30)

    assert revenues(holiday) == [Decimal("10.00")]
    assert RankingSnapshot.objects.filter(holiday=holiday).count() == 1
    assert Holiday.objects.get(pk=holiday.pk).rankings_stale
    # Nothing is left locked: the next recompute (beat's sweep, or the redelivered task)
    # succeeds.
    assert recompute_due_holidays() == [holiday.pk]
    assert revenues(holiday) == [Decimal("15.00")]
    assert not Holiday.objects.get(pk=holiday.pk).rankings_stale


@pytest.fixture
def celery_broker_flushed():
    with Connection(BROKER) as conn:
        conn.default_channel.client.flushdb()
    yield
    with Connection(BROKER) as conn:
        conn.default_channel.client.flushdb()
