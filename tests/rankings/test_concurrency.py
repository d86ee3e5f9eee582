"""A snapshot appears all at once, and two recomputes of one holiday never interleave.

These need two database connections at once: PostgreSQL (as in CI). SQLite's test database
is an in-memory shared cache that locks whole tables instead.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from rankings.entries import entries_table_attach, entries_table_begin
from rankings.models import RankingSnapshot
from rankings.selectors import leaderboard_entries, leaderboard_get
from rankings.services import (
    ADVISORY_LOCK_NAMESPACE,
    holiday_rankings_recompute,
    recompute_prepare,
    recompute_sql_for,
    recompute_statement_params,
)

from ..factories import HolidayFactory, OfficialFactory, SessionFactory, beijing

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
]


def in_other_connection(fn):
    """Run fn in another thread, hence on another database connection; return its result."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as error:  # surfaced in the test thread
            out["error"] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the other connection is still waiting (blocked)"
    if "error" in out:
        raise out["error"]
    return out["value"]


def revenues(holiday):
    """The revenue board of the latest complete snapshot (live boards read the totals)."""
    snapshot = RankingSnapshot.objects.latest_for(holiday.pk)
    if snapshot is None:
        return []
    return [e.value for e in leaderboard_entries(snapshot=snapshot, metric="revenue",
                                                 scope="official")]


def test_a_reader_during_a_recompute_sees_the_previous_complete_snapshot():
    holiday = HolidayFactory()
    official = OfficialFactory()
    SessionFactory(official=official, revenue=Decimal("10"))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    SessionFactory(official=official, revenue=Decimal("5"), started_at=beijing(2020, 5, 3, 9))

    with transaction.atomic():
        # The new snapshot is fully written but not committed yet.
        holiday_rankings_recompute(holiday_id=holiday.pk)
        assert revenues(holiday) == [Decimal("15.00")]  # the writer sees its own work
        assert in_other_connection(lambda: revenues(holiday)) == [Decimal("10.00")]
    assert in_other_connection(lambda: revenues(holiday)) == [Decimal("15.00")]


def test_a_recompute_coalesces_while_another_of_the_same_holiday_holds_the_lock():
    holiday = HolidayFactory()
    SessionFactory()
    with transaction.atomic(), connection.cursor() as cursor:
        # What a running recompute holds until it commits.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)",
                       [ADVISORY_LOCK_NAMESPACE, holiday.pk])
        second = in_other_connection(lambda: holiday_rankings_recompute(holiday_id=holiday.pk))
    assert second.skipped
    assert leaderboard_get(holiday=holiday, metric="orders", scope="official").snapshot is None
    third = holiday_rankings_recompute(holiday_id=holiday.pk)  # the lock is free again
    assert not third.skipped


def test_recomputes_of_different_holidays_run_side_by_side():
    # Given a recompute of one holiday in the middle of its work: its aggregates taken, its
    # snapshot's entries written, its transaction open
    labor = HolidayFactory()
    national = HolidayFactory(name="National Day", slug="national-2020",
                              start_date=beijing(2020, 10, 1).date(),
                              end_date=beijing(2020, 10, 8).date())
    SessionFactory(revenue=Decimal("10"))
    with transaction.atomic():
        snapshot = RankingSnapshot.objects.create(
            holiday=labor, computed_at=timezone.now(), data_version=labor.data_version)
        params = recompute_statement_params(holiday=labor, snapshot_id=snapshot.pk)
        with connection.cursor() as cursor:
            recompute_prepare(cursor, params)
            table = entries_table_begin(cursor, snapshot.pk)
            cursor.execute(recompute_sql_for(labor, table=table), params)
            assert cursor.rowcount > 0

            # When another holiday is recomputed meanwhile
            second = in_other_connection(
                lambda: holiday_rankings_recompute(holiday_id=national.pk))

            # Then it is neither skipped nor kept waiting (only attaching a snapshot's
            # partition waits for another attached one's commit: rankings/entries.py)
            assert not second.skipped
            entries_table_attach(cursor, snapshot.pk)
    first = holiday_rankings_recompute(holiday_id=labor.pk)
    assert not first.skipped
