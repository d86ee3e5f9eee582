"""Reads from a real PostgreSQL streaming replica of the test database: a second cluster made
with pg_basebackup from the primary of DATABASE_URL, on a free port, for this module.

Skipped when the tests run on SQLite, when pg_basebackup / pg_ctl are not installed or the
primary refuses replication connections (pg_hba.conf needs a `replication` line; .ci/run
adds one), except under CI, where that fails the run.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from linfen_tracker import db_router
from rankings.services import holiday_rankings_recompute
from sessions_app.models import LivestreamSession

from .api.conftest import token_client
from .conftest import under_ci
from .factories import HolidayFactory, OfficialFactory, SessionFactory, UserFactory, beijing

DB = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


def _unavailable(reason: str):
    if under_ci():
        pytest.fail(f"CI needs a streaming replica for these tests: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A hot standby made by pg_basebackup, run as the `postgres` user when we are root
    (PostgreSQL refuses to run as root)."""

    def __init__(self, *, bindir: Path, primary: dict, at_least: dict):
        # A standby refuses to start with less of these than its primary has.
        self.bindir, self.primary, self.at_least = bindir, primary, at_least
        self.port = _free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="linfen-replica-"))
        self.data = self.directory / "data"
        self.as_user = os.geteuid() == 0
        if self.as_user:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.directory, postgres.pw_uid, postgres.pw_gid)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        command = ["runuser", "-u", "postgres", "--", *args] if self.as_user else list(args)
        env = {**os.environ, "PGPASSWORD": self.primary.get("PASSWORD") or ""}
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)

    def make(self) -> str | None:
        """Copy the primary and start streaming from it; what went wrong, or None."""
        done = self.run(
            str(self.bindir / "pg_basebackup"), "-h", self.primary["HOST"] or "127.0.0.1",
            "-p", str(self.primary["PORT"] or 5432), "-U", self.primary["USER"] or "postgres",
            "-D", str(self.data), "-X", "stream", "-R", "--checkpoint=fast", "--no-sync", "-w",
        )
        if done.returncode:
            return f"pg_basebackup failed: {done.stderr.strip()}"
        # Debian keeps postgresql.conf and pg_hba.conf outside the data directory.
        for name, text in (("postgresql.conf", ""), ("pg_ident.conf", ""), (
                "pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n")):
            path = self.data / name
            if not path.exists() or name == "pg_hba.conf":
                self.run("sh", "-c", f"printf '{text}' > {path}")
        options = (f"-c port={self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.directory} -c hot_standby=on "
                   f"-c hba_file={self.data / 'pg_hba.conf'} "
                   f"-c ident_file={self.data / 'pg_ident.conf'} -c ssl=off -c fsync=off "
                   "-c shared_buffers=32MB -c logging_collector=off -c archive_mode=off "
                   + " ".join(f"-c {name}={value}" for name, value in self.at_least.items()))
        done = self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                        str(self.directory / "log"), "-o", options, "-w", "-t", "60", "start")
        if done.returncode:
            log = (self.directory / "log").read_text() if (self.directory / "log").exists() \
                else ""
            return f"the replica did not start: {done.stderr.strip()} {log[-500:]}"
        return None

    def remove(self) -> None:
        if self.data.exists():
            self.run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                     "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


def _bindir(version_num: int) -> Path | None:
    """The server programs of the primary's major version (the copy must be run by them)."""
    debian = Path(f"/usr/lib/postgresql/{version_num // 10000}/bin")
    if (debian / "pg_ctl").exists() and (debian / "pg_basebackup").exists():
        return debian
    found = shutil.which("pg_ctl")
    return Path(found).parent if found and shutil.which("pg_basebackup") else None


@pytest.fixture(scope="module")
def streaming_replica(django_db_setup, django_db_blocker):
    """The `replica` alias pointed at a streaming replica of the test database."""
    primary = connections["default"]
    if primary.vendor != "postgresql":
        pytest.skip("a streaming replica needs PostgreSQL (DATABASE_URL=postgres://...)")
    with django_db_blocker.unblock():
        bindir = _bindir(primary.pg_version)
        if bindir is None:
            _unavailable("pg_basebackup and pg_ctl are not installed (postgresql package)")
        if os.geteuid() == 0 and not shutil.which("runuser"):
            _unavailable("running as root without runuser to start PostgreSQL as postgres")
        with primary.cursor() as cursor:
            cursor.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('max_connections', "
                "'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions', "
                "'max_locks_per_transaction')")
            at_least = dict(cursor.fetchall())
        cluster = Cluster(bindir=bindir, primary=primary.settings_dict, at_least=at_least)
        problem = cluster.make()
        if problem:
            cluster.remove()
            _unavailable(problem)
        replica = connections["replica"]
        saved = dict(replica.settings_dict)
        replica.close()
        replica.settings_dict.update(HOST="127.0.0.1", PORT=str(cluster.port))
        try:
            yield cluster
        finally:
            replica.close()
            replica.settings_dict.clear()
            replica.settings_dict.update(saved)
            cluster.remove()


@pytest.fixture
def replica(streaming_replica):
    """Reads enabled, the replica measured on every request (no per-process memory), caught
    up with the primary, replaying."""
    db_router.replica_state_forget()
    with override_settings(REPLICA_READS=True, REPLICA_CHECK_SECONDS=0,
                           REPLICA_MAX_LAG_SECONDS=60, REPLICA_PIN_SECONDS=62):
        replay_resume()
        wait_replayed()
        yield streaming_replica
        replay_resume()
    db_router.replica_state_forget()


def replica_query(sql: str):
    with connections["replica"].cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()


def replay_pause() -> None:
    replica_query("SELECT pg_wal_replay_pause()")


def replay_resume() -> None:
    replica_query("SELECT pg_wal_replay_resume()")


def wait_replayed(seconds: float = 30) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        (lsn,) = cursor.fetchone()
    deadline = time.monotonic() + seconds
    while not replica_query(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn")[0]:
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.05)


def session_titles(response) -> set[str]:
    assert response.status_code == 200, response.content[:300]
    return {row["title"] for row in response.json()["results"]}


def new_session_body(official, day: int, title: str) -> dict:
    return {"official": official.pk, "platform": "douyin", "title": title,
            "started_at": beijing(2020, 5, day, 20).isoformat(),
            "ended_at": beijing(2020, 5, day, 21).isoformat(),
            "audience": 100, "orders": 10, "revenue": "123.45"}


@pytest.fixture
def people(replica):
    """A holiday with one session, a writer (city staff, token), a reader (official, token)
    and a logged-in official's browser, all on the replica before the test begins."""
    holiday = HolidayFactory()
    official = OfficialFactory(name="Zhang Wei")
    SessionFactory(official=official, title="Before", started_at=beijing(2020, 5, 1, 10))
    staff = UserFactory(username="staff", is_staff=True, group="city_staff")
    reader = UserFactory(username="reader", group="officials")
    browser = UserFactory(username="browser", group="officials")
    clients = {"writer": token_client(staff), "reader": token_client(reader)}
    from django.test import Client

    clients["browser"] = Client(HTTP_ACCEPT_LANGUAGE="en")
    clients["browser"].force_login(browser)
    holiday_rankings_recompute(holiday_id=holiday.pk)
    wait_replayed()
    return {"holiday": holiday, "official": official, **clients}


@DB
def test_pages_and_api_read_the_replica_and_writes_go_to_the_primary(people):
    # The first requests cache the token's user, built from the primary while the token is
    # new (generations.py); after that nothing of these reads touches the primary.
    people["reader"].get("/api/v1/sessions/")
    people["browser"].get("/sessions/")
    with CaptureQueriesContext(connections["default"]) as on_primary, \
            CaptureQueriesContext(connections["replica"]) as on_replica:
        api = people["reader"].get("/api/v1/sessions/")
        page = people["browser"].get("/sessions/")
    assert session_titles(api) == {"Before"}
    assert page.status_code == 200 and b"Before" in page.content
    assert api["X-Read-From"].startswith("replica") and page["X-Read-From"].startswith("replica")
    assert len(on_replica) > 0 and len(on_primary) == 0, [q["sql"] for q in on_primary]

    with CaptureQueriesContext(connections["replica"]) as on_replica:
        created = people["writer"].post(
            "/api/v1/sessions/", new_session_body(people["official"], 2, "Written"),
            format="json")
    assert created.status_code == 201, created.content
    assert not any("INSERT" in q["sql"] for q in on_replica)
    assert LivestreamSession.objects.using("default").filter(title="Written").exists()


@DB
def test_while_the_replica_lags_others_read_it_and_the_writer_sees_their_write(people):
    replay_pause()
    created = people["writer"].post(
        "/api/v1/sessions/", new_session_body(people["official"], 2, "Written while lagging"),
        format="json")
    assert created.status_code == 201, created.content

    # The writer is pinned to the primary: their list has what they just saved.
    mine = people["writer"].get("/api/v1/sessions/")
    assert session_titles(mine) == {"Before", "Written while lagging"}
    assert mine["X-Read-From"] == "primary"
    # Everyone else reads the replica, seconds behind but within the tolerated lag.
    theirs = people["reader"].get("/api/v1/sessions/")
    assert session_titles(theirs) == {"Before"}
    assert theirs["X-Read-From"].startswith("replica")
    page = people["browser"].get("/sessions/")
    assert b"Written while lagging" not in page.content

    # Beyond the tolerated lag, everyone reads the primary.
    time.sleep(1.2)
    with override_settings(REPLICA_MAX_LAG_SECONDS=1, REPLICA_PIN_SECONDS=3):
        theirs = people["reader"].get("/api/v1/sessions/")
        page = people["browser"].get("/sessions/")
    assert session_titles(theirs) == {"Before", "Written while lagging"}
    assert theirs["X-Read-From"] == "primary"
    assert b"Written while lagging" in page.content

    # Caught up, the replica serves them again, with the write.
    replay_resume()
    wait_replayed()
    theirs = people["reader"].get("/api/v1/sessions/")
    assert session_titles(theirs) == {"Before", "Written while lagging"}
    assert theirs["X-Read-From"].startswith("replica")


@DB
def test_a_page_writer_is_pinned_by_a_cookie(people):
    delete_me = SessionFactory(official=people["official"], title="To delete",
                               started_at=beijing(2020, 5, 3, 10))
    staff_browser = people["browser"].__class__(HTTP_ACCEPT_LANGUAGE="en")
    staff_browser.force_login(UserFactory(username="staff-browser", is_staff=True,
                                          group="city_staff"))
    wait_replayed()
    replay_pause()

    deleted = staff_browser.post(f"/sessions/{delete_me.pk}/delete/")

    assert deleted.status_code == 302
    assert b"deleted" in staff_browser.get("/sessions/").content  # the message, read once
    mine = staff_browser.get("/sessions/")
    assert mine["X-Read-From"] == "primary" and b"To delete" not in mine.content
    assert b"To delete" in people["browser"].get("/sessions/").content


@DB
def test_a_board_cached_right_after_a_write_is_built_from_the_primary(people):
    url = f"/api/v1/rankings/?holiday={people['holiday'].slug}&metric=revenue&scope=county"
    before = people["reader"].get(url).json()
    replay_pause()

    # With tasks in-process the write recomputes the rankings as it commits.
    created = people["writer"].post(
        "/api/v1/sessions/", new_session_body(people["official"], 4, "Counted"), format="json")
    assert created.status_code == 201

    assert "Counted" not in session_titles(people["reader"].get("/api/v1/sessions/"))
    board = people["reader"].get(url).json()
    total = sum(Decimal(row["value"]) for row in board["results"])
    assert total == sum(Decimal(row["value"]) for row in before["results"]) + Decimal("123.45")
    assert board["computed_at"] != before["computed_at"]


@DB
def test_reads_fall_back_to_the_primary_when_the_replica_is_down(people):
    replica = connections["replica"]
    port = replica.settings_dict["PORT"]
    replica.close()
    replica.settings_dict["PORT"] = str(_free_port())  # nothing listens there
    try:
        response = people["reader"].get("/api/v1/sessions/")
        page = people["browser"].get("/sessions/")
    finally:
        replica.close()
        replica.settings_dict["PORT"] = port
    assert session_titles(response) == {"Before"}
    assert response["X-Read-From"] == "primary"
    assert page.status_code == 200 and page["X-Read-From"] == "primary"


@DB
def test_a_read_that_fails_on_the_replica_is_retried_on_the_primary(people):
    replica = connections["replica"]
    port = replica.settings_dict["PORT"]
    with override_settings(REPLICA_CHECK_SECONDS=60):
        db_router.replica_state_forget()
        assert db_router.replica_state().usable  # measured up, and remembered
        replica.close()
        replica.settings_dict["PORT"] = str(_free_port())  # then it goes away
        try:
            response = people["reader"].get("/api/v1/sessions/")
        finally:
            replica.close()
            replica.settings_dict["PORT"] = port
    assert session_titles(response) == {"Before"}
    assert response["X-Read-From"] == "primary"
    assert not db_router.replica_state().usable  # and it is not asked again for a while
