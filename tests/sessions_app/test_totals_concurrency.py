"""Concurrent writers of one county keep exact totals: no lost update, no deadlock.

PostgreSQL only (as in CI): SQLite serialises writers, so there is nothing to race there.
"""

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections

from sessions_app import services
from sessions_app.models import County, HolidayTotal, LivestreamSession
from sessions_app.totals import holiday_totals_differences

from ..factories import HolidayFactory, OfficialFactory, beijing

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]

WRITERS = 8
ROUNDS = 12


def run_together(workers) -> list[BaseException]:
    """Start every worker at once, each on its own connection; the errors they raised."""
    barrier = threading.Barrier(len(workers))
    errors = []

    def run(work):
        try:
            barrier.wait()
            work()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer is still waiting (deadlock?)"
    return errors


def test_writers_of_one_county_lose_no_update_and_never_deadlock(monkeypatch):
    # Snapshots are not what is tested: no recompute after each commit.
    monkeypatch.setattr(services, "rankings_recompute_request", lambda **kwargs: [])
    labor = HolidayFactory(slug="labor", start_date=date(2020, 5, 1), end_date=date(2020, 5, 5))
    after = HolidayFactory(slug="after", name="After", start_date=date(2020, 5, 6),
                           end_date=date(2020, 5, 10))
    county = County.objects.get(slug="jixian")
    officials = [OfficialFactory(name=f"Writer {n}", county=county) for n in range(WRITERS)]

    def writer(official, n):
        def work():
            kept = None
            for i in range(ROUNDS):
                # Each writer moves its sessions between the two holidays in turn, in
                # opposite directions for odd and even writers: the lock order is tested.
                day = 2 + (i + n) % 2 * 5
                start = beijing(2020, 5, day, 8) + timedelta(minutes=i)
                session = services.session_create(
                    entered_by=None, official=official, platform="douyin", title="Millet",
                    started_at=start, ended_at=start + timedelta(seconds=30), audience=10,
                    orders=1, revenue=Decimal("1.50"))
                moved = start + timedelta(days=5 if day == 2 else -5)
                session = services.session_update(
                    session=session, updated_by=None, expected_version=session.version,
                    data={"started_at": moved, "ended_at": moved + timedelta(seconds=30),
                          "revenue": Decimal("2.25")})
                if kept is not None and i % 3 == 0:
                    services.session_delete(session=kept, deleted_by=None)
                kept = session
        return work

    errors = run_together([writer(o, n) for n, o in enumerate(officials)])

    assert errors == []
    for holiday in (labor, after):
        assert holiday_totals_differences(holiday=holiday) == []
    sessions = LivestreamSession.objects.filter(county=county).count()
    county_rows = HolidayTotal.objects.filter(scope="county", subject_id=county.pk,
                                              metric="revenue")
    assert sum(row.sessions for row in county_rows) == sessions
    assert sum(row.value for row in county_rows) == Decimal("2.25") * sessions
