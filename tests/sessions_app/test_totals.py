"""The incremental totals equal a from-scratch aggregation after any mix of writes (every
registered metric, co-hosts included), and the reconciliation reports and repairs a
difference."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from rankings.metrics import metric_keys
from rankings.models import Scope
from rankings.selectors import leaderboard_entries, leaderboard_get
from rankings.services import holiday_rankings_recompute
from sessions_app import services
from sessions_app.models import (
    County,
    Holiday,
    HolidayTotal,
    LivestreamSession,
    RankingBasis,
    SessionEvidence,
)
from sessions_app.totals import holiday_totals_differences

from ..factories import HolidayFactory, OfficialFactory, SessionFactory, UserFactory, beijing

pytestmark = pytest.mark.django_db

# Two holidays side by side with different bases, and days on both sides of them.
DAYS = [date(2020, 4, 30) + timedelta(days=n) for n in range(12)]  # Apr 30 .. May 11


def board_rows(board_entries, scope):
    return [(e.rank, e.official_id if scope == Scope.OFFICIAL else e.county_id, e.value,
             e.sessions) for e in board_entries]


def assert_incremental_equals_from_scratch(holidays):
    """The kept totals equal a from-scratch aggregation, and every live board equals the
    board of a snapshot recomputed from scratch."""
    for holiday in holidays:
        holiday.refresh_from_db()
        assert holiday_totals_differences(holiday=holiday) == []
        snapshot = holiday_rankings_recompute(holiday_id=holiday.pk).snapshot_id
        for metric in metric_keys():
            for scope in Scope.values:
                live = leaderboard_get(holiday=holiday, metric=metric, scope=scope).entries
                scratch = leaderboard_entries(snapshot=snapshot, metric=metric, scope=scope)
                assert board_rows(live, scope) == board_rows(scratch, scope), (metric, scope)


# Optional viewer figures: none, or peak <= unique (<= audience, 3 x orders + 1,000).
viewers = st.one_of(st.none(), st.tuples(st.integers(0, 500), st.integers(0, 500)))
cohosts = st.sets(st.integers(0, 3), max_size=2)
create = st.tuples(st.just("create"), st.integers(0, 3), st.integers(0, 1),
                   st.sampled_from(DAYS), st.integers(0, 23),
                   st.decimals(min_value=0, max_value=10_000, places=2),
                   st.integers(0, 1_000), st.booleans(), viewers, cohosts)
edit = st.tuples(st.just("edit"), st.integers(0, 50), st.integers(0, 3),
                 st.sampled_from(DAYS), st.integers(0, 23),
                 st.decimals(min_value=0, max_value=10_000, places=2), viewers, cohosts)
delete = st.tuples(st.just("delete"), st.integers(0, 50))
review = st.tuples(st.sampled_from(["verify", "reject"]), st.integers(0, 50))
basis = st.tuples(st.just("basis"), st.integers(0, 1), st.sampled_from(RankingBasis.values))
operations = st.lists(st.one_of(create, create, edit, edit, delete, review, basis),
                      min_size=1, max_size=25)


class World:
    def __init__(self):
        self.holidays = [
            HolidayFactory(slug="labor", start_date=date(2020, 5, 1), end_date=date(2020, 5, 5)),
            HolidayFactory(slug="after", name="After", start_date=date(2020, 5, 6),
                           end_date=date(2020, 5, 10), ranking_basis=RankingBasis.VERIFIED_ONLY),
        ]
        counties = list(County.objects.order_by("id")[:2])
        # Two officials of one county, one of another, one who moved: sessions held away.
        self.officials = [OfficialFactory(name=name, county=counties[i % 2])
                          for i, name in enumerate(["Ann", "Bo", "Cy", "Di"])]
        self.counties = counties
        self.clerk = UserFactory(username="clerk", group="city_staff")
        self.reviewer = UserFactory(username="checker", group="city_staff")
        self.minute = 0

    def start(self, day, hour):
        # A different minute each time: sessions of one official never overlap by accident.
        self.minute = (self.minute + 1) % 60
        return beijing(day.year, day.month, day.day, hour, self.minute)

    @staticmethod
    def viewers(seen) -> dict:
        if seen is None:
            return {"unique_viewers": None, "peak_viewers": None, "new_followers": None}
        unique, peak = max(seen), min(seen)
        return {"unique_viewers": unique, "peak_viewers": peak, "new_followers": peak // 3}

    def cohosts(self, hosts, *, lead):
        return [self.officials[n] for n in sorted(hosts) if n != lead]

    def session(self, index):
        sessions = list(LivestreamSession.objects.order_by("id"))
        return sessions[index % len(sessions)] if sessions else None

    def run(self, op):
        kind = op[0]
        if kind == "create":
            _, who, county, day, hour, revenue, orders, refund, seen, hosts = op
            start = self.start(day, hour)
            services.session_create(
                entered_by=self.clerk, official=self.officials[who], platform="douyin",
                title="Walnuts", started_at=start, ended_at=start + timedelta(seconds=30),
                audience=orders * 3 + 1000, orders=orders, revenue=revenue,
                county=self.counties[county],
                refunds=(revenue / 2).quantize(Decimal("0.01")) if refund else Decimal(0),
                **self.viewers(seen), hosts=self.cohosts(hosts, lead=who))
        elif kind == "edit":
            _, index, who, day, hour, revenue, seen, hosts = op
            session = self.session(index)
            if session is None:
                return
            start = self.start(day, hour)
            services.session_update(
                session=session, updated_by=self.clerk, expected_version=session.version,
                data={"official": self.officials[who], "started_at": start,
                      "ended_at": start + timedelta(seconds=30), "revenue": revenue,
                      "refunds": min(session.refunds, revenue), **self.viewers(seen),
                      "hosts": self.cohosts(hosts, lead=who)})
        elif kind == "delete":
            session = self.session(op[1])
            if session is not None:
                services.session_delete(session=session, deleted_by=self.clerk)
        elif kind == "verify":
            session = self.session(op[1])
            if session is not None:
                SessionEvidence.objects.get_or_create(
                    session=session, sha256="0" * 64, defaults={
                        "kind": "screenshot", "file": "evidence/x.png",
                        "original_filename": "x.png", "content_type": "image/png",
                        "size": 1})
                services.session_verify(session=session, reviewer=self.reviewer)
        elif kind == "reject":
            session = self.session(op[1])
            if session is not None:
                services.session_reject(session=session, reviewer=self.reviewer,
                                        reason="orders cancelled")
        elif kind == "basis":
            holiday = Holiday.objects.get(pk=self.holidays[op[1]].pk)
            holiday.ranking_basis = op[2]
            services.holiday_save(holiday=holiday, user=None)


@hypothesis_settings(max_examples=int(getattr(settings, "HYPOTHESIS_EXAMPLES", 40)),
                     deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])
@given(ops=operations)
def test_after_any_mix_of_writes_the_incremental_boards_equal_the_from_scratch_ones(ops):
    # Each example in a transaction of its own, rolled back: examples share the test's.
    with transaction.atomic():
        world = World()
        for op in ops:
            try:
                with transaction.atomic():
                    world.run(op)
            except ValidationError:
                pass  # refused (an overlap, an official made inactive...): nothing saved
        assert_incremental_equals_from_scratch(world.holidays)
        transaction.set_rollback(True)


def test_moving_a_session_to_another_holiday_moves_its_figures(holiday):
    later = HolidayFactory(slug="later", name="Later", start_date=date(2020, 10, 1),
                           end_date=date(2020, 10, 8))
    official = OfficialFactory()
    session = services.session_create(
        entered_by=None, official=official, platform="douyin", title="Millet",
        started_at=beijing(2020, 5, 2, 10), ended_at=beijing(2020, 5, 2, 11),
        audience=10, orders=2, revenue=Decimal("99.50"))

    services.session_update(session=session, updated_by=None,
                            expected_version=session.version,
                            data={"started_at": beijing(2020, 10, 2, 10),
                                  "ended_at": beijing(2020, 10, 2, 11)})

    kept = {(t.holiday_id, t.scope, t.metric): (t.value, t.sessions)
            for t in HolidayTotal.objects.filter(metric="revenue")}
    assert kept[(holiday.pk, "official", "revenue")] == (Decimal("0.00"), 0)
    assert kept[(later.pk, "official", "revenue")] == (Decimal("99.50"), 1)
    assert kept[(later.pk, "county", "revenue")] == (Decimal("99.50"), 1)
    assert leaderboard_get(holiday=holiday, metric="revenue", scope="official").entries == []


def test_a_refused_write_leaves_the_totals_as_they_were(holiday):
    session = SessionFactory(revenue=Decimal("10.00"))
    before = list(HolidayTotal.objects.order_by("id").values_list("value", "sessions"))
    with pytest.raises(ValidationError):
        services.session_update(session=session, updated_by=None,
                                expected_version=session.version,
                                data={"revenue": Decimal("-5")})
    assert list(HolidayTotal.objects.order_by("id").values_list("value", "sessions")) == before


def test_a_change_of_basis_rebuilds_the_totals_from_scratch(holiday):
    reviewer = UserFactory(username="checker", group="city_staff")
    counted, unchecked = SessionFactory(revenue=Decimal("70")), SessionFactory(revenue=Decimal("5"))
    SessionEvidence.objects.create(session=counted, sha256="1" * 64, kind="screenshot",
                                   file="evidence/y.png", original_filename="y.png",
                                   content_type="image/png", size=1)
    services.session_verify(session=counted, reviewer=reviewer)
    assert sum(e.value for e in leaderboard_get(
        holiday=holiday, metric="revenue", scope="official").entries) == Decimal("75")

    holiday.ranking_basis = RankingBasis.VERIFIED_ONLY
    services.holiday_save(holiday=holiday, user=None)

    board = leaderboard_get(holiday=holiday, metric="revenue", scope="official")
    assert [(e.official_id, e.value) for e in board.entries] == [
        (counted.official_id, Decimal("70.00"))]
    assert unchecked.official_id not in [e.official_id for e in board.entries]
    assert holiday_totals_differences(holiday=holiday) == []


def test_reconciliation_reports_a_corrupted_total_and_repairs_it(holiday, capsys):
    official = OfficialFactory(name="Corrupted")
    SessionFactory(official=official, revenue=Decimal("120.00"))
    SessionFactory(official=official, revenue=Decimal("30.00"))
    HolidayTotal.objects.filter(holiday=holiday, scope="official", subject_id=official.pk,
                                metric="revenue").update(value=Decimal("999.00"))
    HolidayTotal.objects.filter(holiday=holiday, scope="county", metric="orders").delete()

    with pytest.raises(SystemExit) as exit_status:
        call_command("reconcile_totals", "--holiday", holiday.slug)

    assert exit_status.value.code == 1
    out = capsys.readouterr().out
    assert f"{holiday.slug}: 2 differences, repaired" in out
    assert (f"official {official.pk} revenue: kept 999.00 (2 sessions), from scratch 150.00 "
            f"(2 sessions)") in out
    assert f"county {official.county_id} orders: kept 0.00 (0 sessions), from scratch " in out
    assert leaderboard_get(holiday=holiday, metric="revenue",
                           scope="official").entries[0].value == Decimal("150.00")
    call_command("reconcile_totals", "--holiday", holiday.slug)  # clean now: no SystemExit
    assert "totals equal to a from-scratch aggregation" in capsys.readouterr().out


def test_check_only_reports_without_repairing(holiday):
    official = OfficialFactory()
    SessionFactory(official=official, orders=7)
    HolidayTotal.objects.filter(scope="official", metric="orders").update(value=1)
    with pytest.raises(SystemExit):
        call_command("reconcile_totals", "--check-only")
    assert HolidayTotal.objects.get(scope="official", metric="orders").value == 1


def test_beat_reconciles_the_totals_every_night():
    entry = settings.CELERY_BEAT_SCHEDULE["reconcile-holiday-totals"]
    assert entry["task"] == "rankings.tasks.reconcile_totals"
    assert entry["schedule"].hour == {3}


def test_the_reconcile_task_repairs_and_reports(holiday):
    from rankings.tasks import reconcile_totals

    SessionFactory(audience=40)
    HolidayTotal.objects.filter(scope="county", metric="audience", sessions=1).update(value=0)
    assert reconcile_totals.delay().get() == {"holidays": 1,
                                              "differences": {holiday.pk: 1}}
    assert reconcile_totals.delay().get() == {"holidays": 1, "differences": {}}


def test_a_migration_run_builds_the_totals_of_holidays_that_have_none(holiday):
    # Given a holiday with sessions whose totals were never built (as after an upgrade from
    # before totals were kept), and one with no session
    SessionFactory(started_at=beijing(2020, 5, 2, 10), revenue=Decimal("120.50"))
    SessionFactory(started_at=beijing(2020, 5, 3, 10), revenue=Decimal("80.00"))
    empty = HolidayFactory(name="Labor Day 2021", slug="labor-day-2021",
                           start_date=date(2021, 5, 1), end_date=date(2021, 5, 5))
    HolidayTotal.objects.all().delete()
    assert holiday_totals_differences(holiday=holiday) != []

    # When the migrations run (nothing left to apply: post_migrate still fires)
    call_command("migrate", verbosity=0)

    # Then that holiday's totals are built from its sessions, and nothing else is touched
    assert holiday_totals_differences(holiday=holiday) == []
    assert HolidayTotal.objects.filter(holiday=holiday).exists()
    assert not HolidayTotal.objects.filter(holiday=empty).exists()
    assert_incremental_equals_from_scratch([holiday])
