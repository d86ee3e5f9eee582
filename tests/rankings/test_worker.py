"""With a real Celery worker on the real Redis broker, saving a session produces a new
snapshot: the path production takes (commit -> message -> worker -> snapshot)."""

from decimal import Decimal

import pytest

from rankings.models import RankingSnapshot
from rankings.selectors import leaderboard_get
from sessions_app import services

from ..conftest import wait_for
from ..factories import HolidayFactory, OfficialFactory, beijing


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
                                data={"revenue": Decimal(cents)},
                                expected_version=session.version)

    def caught_up():
        holiday.refresh_from_db()
        return not holiday.rankings_stale

    assert wait_for(caught_up)
    board = leaderboard_get(holiday=holiday, metric="revenue", scope="official")
    assert [e.value for e in board.entries] == [Decimal("11.00")]
