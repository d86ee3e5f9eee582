"""Session writes bring rankings up to date: after commit, once per holiday, never lost."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import F
from kombu import Connection

from rankings.models import RankingSnapshot
from rankings.selectors import leaderboard_get
from rankings.services import snapshot_rest_seconds
from rankings.tasks import recompute_due_holidays
from sessions_app import services
from sessions_app.models import Holiday, LivestreamSession

from ..conftest import BROKER, _broker_reachable, celery_broker, under_ci
from ..factories import HolidayFactory, OfficialFactory, beijing

pytestmark = pytest.mark.django_db


def new_session(official, start, revenue="100.00", user=None):
    return services.session_create(
        entered_by=user, official=official, platform="douyin", title="Walnuts",
        started_at=start, ended_at=start.replace(hour=start.hour + 1), audience=1000,
        orders=10, revenue=Decimal(revenue),
    )


def values(holiday):
    return [e.value for e in leaderboard_get(holiday=holiday, metric="revenue",
                                             scope="official").entries]


def snapshots(holiday):
    return RankingSnapshot.objects.filter(holiday=holiday).count()


def test_creating_a_session_recomputes_its_holiday_after_commit(
        holiday, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        new_session(OfficialFactory(), beijing(2020, 5, 2, 10))
    assert snapshots(holiday) == 0  # nothing runs before the commit
    for callback in callbacks:
        callback()
    assert values(holiday) == [Decimal("100.00")]
    holiday.refresh_from_db()
    assert not holiday.rankings_stale and not holiday.recompute_queued


def test_a_rolled_back_write_requests_nothing(holiday, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            new_session(OfficialFactory(), beijing(2020, 5, 2, 10))
            raise RuntimeError("abort")
    assert callbacks == []
    holiday.refresh_from_db()
    assert holiday.data_version == 0


def test_editing_a_session_into_another_holiday_recomputes_both(
        holiday, django_capture_on_commit_callbacks):
    national = HolidayFactory(name="National Day", slug="national-2020",
                              start_date=beijing(2020, 10, 1).date(),
                              end_date=beijing(2020, 10, 8).date())
    with django_capture_on_commit_callbacks(execute=True):
        session = new_session(OfficialFactory(), beijing(2020, 5, 2, 10))
    assert values(holiday) == [Decimal("100.00")]
    with django_capture_on_commit_callbacks(execute=True):
        services.session_update(session=session, updated_by=None, data={
            "started_at": beijing(2020, 10, 2, 10), "ended_at": beijing(2020, 10, 2, 12)},
            expected_version=session.version)
    assert values(holiday) == []
    assert values(national) == [Decimal("100.00")]


def test_deleting_a_session_removes_it_from_the_rankings(
        holiday, django_capture_on_commit_callbacks):
    official = OfficialFactory()
    with django_capture_on_commit_callbacks(execute=True):
        keep = new_session(official, beijing(2020, 5, 2, 10), "50.00")
        gone = new_session(official, beijing(2020, 5, 3, 10), "70.00")
    assert values(holiday) == [Decimal("120.00")]
    with django_capture_on_commit_callbacks(execute=True):
        services.session_delete(session=gone, deleted_by=None)
    # The deleted session is gone, the other one of the same official stays and counts.
    assert list(LivestreamSession.objects.values_list("pk", flat=True)) == [keep.pk]
    assert values(holiday) == [Decimal("50.00")]


def test_a_burst_in_one_transaction_recomputes_each_holiday_once(
        holiday, django_capture_on_commit_callbacks):
    official = OfficialFactory()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            for day in range(1, 6):
                for hour in range(8, 18):
                    new_session(official, beijing(2020, 5, day, hour))
    assert snapshots(holiday) == 1
    assert values(holiday) == [Decimal("5000.00")]


def test_a_write_outside_every_holiday_recomputes_nothing(
        holiday, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        new_session(OfficialFactory(), beijing(2020, 6, 2, 10))
    assert snapshots(holiday) == 0
    holiday.refresh_from_db()
    assert holiday.data_version == 0


def test_a_queued_recompute_absorbs_later_writes(holiday, django_capture_on_commit_callbacks):
    # A recompute is already waiting on the broker: more writes send nothing more.
    Holiday.objects.filter(pk=holiday.pk).update(recompute_queued=True)
    with django_capture_on_commit_callbacks(execute=True):
        new_session(OfficialFactory(), beijing(2020, 5, 2, 10))
        new_session(OfficialFactory(), beijing(2020, 5, 2, 11))
    assert snapshots(holiday) == 0
    holiday.refresh_from_db()
    assert holiday.rankings_stale


def test_the_sweep_recomputes_a_holiday_whose_trigger_was_lost(holiday):
    # A write committed but its message never arrived (broker down, message dropped).
    with transaction.atomic():
        new_session(OfficialFactory(), beijing(2020, 5, 2, 10))
    Holiday.objects.filter(pk=holiday.pk).update(recompute_queued=True)
    assert snapshots(holiday) == 0
    assert recompute_due_holidays() == [holiday.pk]
    holiday.refresh_from_db()
    assert values(holiday) == [Decimal("100.00")] and not holiday.rankings_stale


def test_changing_a_holidays_dates_recomputes_it(holiday, django_capture_on_commit_callbacks):
    day_after = beijing(2020, 5, 6, 10)
    with django_capture_on_commit_callbacks(execute=True):
        new_session(OfficialFactory(), day_after)
    assert values(holiday) == []
    holiday.end_date = day_after.date()
    with django_capture_on_commit_callbacks(execute=True):
        services.holiday_save(holiday=holiday, user=None)
    assert values(holiday) == [Decimal("100.00")]


def test_recompute_rankings_command_reports_what_it_did(holiday, capsys):
    new_session(OfficialFactory(), beijing(2020, 5, 2, 10))
    call_command("recompute_rankings", "--holiday", holiday.slug)
    out = capsys.readouterr().out
    assert f"{holiday.slug}: snapshot" in out and "1 sessions" in out
    call_command("recompute_rankings", "--all")
    assert snapshots(holiday) == 2


def test_recompute_rankings_command_refuses_an_unknown_holiday(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No holiday"):
        call_command("recompute_rankings", "--holiday", "nope")


def test_a_recompute_of_a_deleted_holiday_does_nothing_and_does_not_fail(holiday):
    from rankings.tasks import recompute_holiday_rankings

    holiday_id = holiday.pk
    holiday.delete()
    assert recompute_holiday_rankings(holiday_id) == {"holiday_id": holiday_id,
                                                      "snapshot_id": None}


def test_a_recompute_task_with_no_change_since_the_latest_snapshot_makes_none(
        holiday, staff_user, django_capture_on_commit_callbacks):
    """Beat sends ongoing holidays every RANKINGS_BEAT_SECONDS: an identical snapshot each
    time would reset every movement arrow to "-" and prune the snapshots worth keeping."""
    from rankings.services import holidays_due_for_recompute
    from rankings.tasks import recompute_holiday_rankings

    official = OfficialFactory()
    with django_capture_on_commit_callbacks(execute=True):
        new_session(official, beijing(2020, 5, 2, 10), user=staff_user)
    first = RankingSnapshot.objects.latest_for(holiday.pk)
    assert first is not None

    # The holiday is under way: beat's sweep sends it although nothing changed.
    assert holidays_due_for_recompute(today=date(2020, 5, 3)) == [holiday.pk]
    assert recompute_holiday_rankings(holiday.pk)["snapshot_id"] == first.pk
    assert snapshots(holiday) == 1

    with django_capture_on_commit_callbacks(execute=True):  # a real change makes one
        new_session(official, beijing(2020, 5, 3, 10), user=staff_user)
    assert RankingSnapshot.objects.latest_for(holiday.pk).pk != first.pk
    assert snapshots(holiday) == 2


# --- A long snapshot rests before the next --------------------------------------------------


def test_a_snapshot_takes_at_most_its_share_of_a_worker(settings):
    settings.RANKINGS_SNAPSHOT_MAX_SHARE = 0.25
    assert snapshot_rest_seconds(22.0) == pytest.approx(66.0)  # 22 s of every 88 s
    assert snapshot_rest_seconds(1.0) == pytest.approx(3.0)
    settings.RANKINGS_SNAPSHOT_MAX_SHARE = 1
    assert snapshot_rest_seconds(22.0) == 0


def test_the_follow_up_recompute_waits_in_the_broker_for_its_rest(holiday, settings):
    """On the real broker, with no worker: the message sent carries its ETA."""
    if not BROKER.startswith("redis://") or not _broker_reachable():
        if under_ci():
            pytest.fail(f"CI needs the Redis broker at {BROKER}")
        pytest.skip(f"no Redis broker at {BROKER}")
    settings.RANKINGS_SNAPSHOT_DELAY_SECONDS = 10
    Holiday.objects.filter(pk=holiday.pk).update(data_version=F("data_version") + 1)
    with celery_broker(BROKER), Connection(BROKER) as conn:
        redis = conn.default_channel.client
        redis.flushdb()
        sent_at = datetime.now(UTC)
        assert services.rankings_recompute_request(holiday_ids=[holiday.pk], rest=66) == [
            holiday.pk]
        queued = [json.loads(raw) for raw in redis.lrange("celery", 0, -1)]
        redis.flushdb()  # no worker of another test runs it later
    assert [m["headers"]["task"] for m in queued] == ["rankings.tasks.recompute_holiday_rankings"]
    eta = datetime.fromisoformat(queued[0]["headers"]["eta"])
    assert 60 < (eta - sent_at).total_seconds() <= 67  # the rest, not the 10 s delay
