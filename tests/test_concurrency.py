"""Many writers at once: every edit is kept, the rankings end consistent, and two staff
editing one session cannot silently overwrite each other. PostgreSQL, as in CI."""

import threading
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection, connections

from rankings.metrics import metric_keys
from rankings.models import RankingEntry, RankingSnapshot
from rankings.services import holiday_rankings_recompute
from sessions_app import services
from sessions_app.models import LivestreamSession

from .factories import OfficialFactory, SessionFactory, UserFactory, beijing

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]


def run_together(jobs):
    """Start every job in its own thread (own database connection) at the same moment;
    return their results or exceptions, in order."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(i, job):
        try:
            barrier.wait(timeout=30)
            results[i] = job()
        except BaseException as error:
            results[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer is stuck"
    return results


def board_rows(snapshot_id):
    """Every entry of a snapshot, but the ids of the snapshot and the entries."""
    return sorted(
        RankingEntry.objects.filter(snapshot_id=snapshot_id).values_list(
            "scope", "metric", "official_id", "county_id", "value", "rank", "sessions"))


def test_twenty_editors_and_two_racing_recomputes_end_consistent(holiday):
    staff = UserFactory(username="editor", group="city_staff")
    sessions = [
        SessionFactory(official=OfficialFactory(name=f"Official {i:02d}"),
                       started_at=beijing(2020, 5, 1 + i % 5, 8 + i % 10),
                       revenue=Decimal(100 + i))
        for i in range(20)
    ]
    holiday_rankings_recompute(holiday_id=holiday.pk)

    def edit(session, i):
        def job():
            close_old_connections()
            fresh = LivestreamSession.objects.get(pk=session.pk)
            return services.session_update(
                session=fresh, updated_by=staff, expected_version=fresh.version,
                data={"revenue": Decimal(1000 + i * 7), "orders": 50 + i})
        return job

    def recompute():
        return holiday_rankings_recompute(holiday_id=holiday.pk)

    jobs = [edit(s, i) for i, s in enumerate(sessions)] + [recompute, recompute]
    results = run_together(jobs)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []

    # Every edit is saved, exactly once, with its history.
    for i, s in enumerate(sessions):
        s.refresh_from_db()
        assert (s.revenue, s.orders, s.version) == (Decimal(1000 + i * 7), 50 + i, 2)
        assert s.history.count() == 2
    # The racing recomputes did not interleave: each snapshot that exists is whole.
    for snap in RankingSnapshot.objects.filter(holiday=holiday):
        assert snap.complete
        assert RankingEntry.objects.filter(snapshot=snap).count() == (20 + 17) * len(
            metric_keys())

    # Catch up (beat's sweep would), then the latest snapshot equals one from scratch.
    holiday.refresh_from_db()
    if holiday.rankings_stale:
        holiday_rankings_recompute(holiday_id=holiday.pk)
    latest = RankingSnapshot.objects.latest_for(holiday.pk)
    from_scratch = holiday_rankings_recompute(holiday_id=holiday.pk).snapshot_id
    assert board_rows(latest.pk) == board_rows(from_scratch)
    top = RankingEntry.objects.get(snapshot_id=from_scratch, scope="official",
                                   metric="revenue", rank=1)
    assert top.official_id == sessions[19].official_id and top.value == Decimal(1000 + 19 * 7)


def test_two_staff_editing_one_session_cannot_overwrite_each_other():
    session = SessionFactory(orders=10)
    alice = UserFactory(username="alice", group="city_staff")
    bob = UserFactory(username="bob", group="city_staff")
    loaded_at = session.version  # both opened the edit form at this version

    def save(user, orders):
        def job():
            copy = LivestreamSession.objects.get(pk=session.pk)
            return services.session_update(session=copy, updated_by=user,
                                           data={"orders": orders}, expected_version=loaded_at)
        return job

    results = run_together([save(alice, 11), save(bob, 22)])
    conflicts = [r for r in results if isinstance(r, services.SessionEditConflict)]
    saved = [r for r in results if isinstance(r, LivestreamSession)]
    assert len(conflicts) == 1 and len(saved) == 1
    session.refresh_from_db()
    assert session.orders == saved[0].orders and session.version == loaded_at + 1
    assert session.history.count() == 2  # the loser wrote nothing
