"""The ranking rules of design.md, each with a case that fails if the rule breaks."""

from datetime import timedelta
from decimal import Decimal

import pytest

from rankings.metrics import metric_keys
from rankings.models import RankingEntry, RankingSnapshot
from rankings.selectors import leaderboard_get
from rankings.services import SNAPSHOTS_KEPT, holiday_rankings_recompute
from sessions_app.models import County

from ..factories import HolidayFactory, OfficialFactory, SessionFactory, beijing

pytestmark = pytest.mark.django_db


def board(holiday, metric="revenue", scope="official"):
    return leaderboard_get(holiday=holiday, metric=metric, scope=scope).entries


def ranked(holiday, metric="revenue", scope="official"):
    """[(name, rank, value)] as a reader sees the board."""
    subject = "official" if scope == "official" else "county"
    return [
        (getattr(e, subject).name, e.rank, e.value) for e in board(holiday, metric, scope)
    ]


def recompute(holiday):
    result = holiday_rankings_recompute(holiday_id=holiday.pk)
    assert not result.skipped
    return result


@pytest.mark.parametrize(
    ("moment", "counted"),
    [
        (beijing(2020, 5, 1, 0, 0), True),
        (beijing(2020, 5, 5, 23, 30), True),
        (beijing(2020, 4, 30, 23, 50), False),
        (beijing(2020, 5, 6, 0, 0), False),
        (beijing(2020, 5, 6, 0, 10), False),
    ],
)
def test_a_session_counts_by_its_beijing_start_date(holiday, moment, counted):
    SessionFactory(started_at=moment, revenue=Decimal("100.00"))
    recompute(holiday)
    assert len(board(holiday)) == (1 if counted else 0)


def test_utc_date_does_not_decide_membership(holiday):
    # 2020-05-05 23:30 in Beijing is 15:30 UTC the same day; 2020-05-01 07:00 Beijing is
    # 2020-04-30 23:00 UTC, yet it is in the holiday.
    SessionFactory(started_at=beijing(2020, 5, 1, 7, 0))
    recompute(holiday)
    assert len(board(holiday)) == 1


def test_standard_competition_ranking_with_ties_listed_by_name(holiday):
    for name, revenue in [("Dong", 9), ("Bai", 7), ("Ai", 7), ("Cao", 5)]:
        SessionFactory(official=OfficialFactory(name=name), revenue=Decimal(revenue))
    recompute(holiday)
    assert ranked(holiday) == [
        ("Dong", 1, Decimal("9.00")),
        ("Ai", 2, Decimal("7.00")),
        ("Bai", 2, Decimal("7.00")),
        ("Cao", 4, Decimal("5.00")),
    ]


def test_values_are_sums_over_the_holidays_sessions(holiday):
    official = OfficialFactory(name="Wang")
    for day, (aud, orders, rev) in enumerate([(100, 10, "10.10"), (200, 20, "20.20")]):
        SessionFactory(official=official, started_at=beijing(2020, 5, 2 + day, 9),
                       audience=aud, orders=orders, revenue=Decimal(rev))
    SessionFactory(official=official, started_at=beijing(2020, 5, 6, 9), audience=10_000)
    recompute(holiday)
    for metric, value in [("audience", 300), ("orders", 30), ("revenue", Decimal("30.30"))]:
        (entry,) = board(holiday, metric)
        assert (entry.value, entry.sessions, entry.rank) == (value, 2, 1)


def test_revenue_ties_are_exact_to_the_cent(holiday):
    a, b = OfficialFactory(name="A"), OfficialFactory(name="B")
    for cents in ("0.10", "0.20"):
        SessionFactory(official=a, revenue=Decimal(cents))
    SessionFactory(official=b, revenue=Decimal("0.30"))
    recompute(holiday)
    assert [e.rank for e in board(holiday)] == [1, 1]


def test_only_officials_with_a_session_are_ranked(holiday):
    OfficialFactory(name="Idle")
    SessionFactory(official=OfficialFactory(name="Busy"))
    recompute(holiday)
    assert [name for name, *_ in ranked(holiday)] == ["Busy"]


def test_every_county_is_ranked_and_those_with_nothing_share_the_last_rank(holiday):
    ji, yaodu = County.objects.get(slug="jixian"), County.objects.get(slug="yaodu")
    SessionFactory(official=OfficialFactory(county=ji), revenue=Decimal("500"))
    SessionFactory(official=OfficialFactory(county=yaodu), revenue=Decimal("900"))
    recompute(holiday)
    entries = board(holiday, scope="county")
    assert len(entries) == 17
    assert [(e.county.slug, e.rank) for e in entries[:2]] == [("yaodu", 1), ("jixian", 2)]
    idle = entries[2:]
    assert {e.rank for e in idle} == {3}
    assert {(e.value, e.sessions) for e in idle} == {(Decimal("0.00"), 0)}
    assert [e.county.name for e in idle] == sorted(e.county.name for e in idle)


def test_with_no_sessions_every_county_shares_rank_one(holiday):
    recompute(holiday)
    assert {e.rank for e in board(holiday, scope="county")} == {1}
    assert board(holiday) == []


def test_a_session_counts_for_the_county_it_was_held_in(holiday):
    ji, yaodu = County.objects.get(slug="jixian"), County.objects.get(slug="yaodu")
    official = OfficialFactory(county=ji)
    SessionFactory(official=official, county=ji, revenue=Decimal("100"))
    official.county = yaodu  # the official moves; the old session stays in Ji County
    official.save()
    SessionFactory(official=official, county=yaodu, revenue=Decimal("300"),
                   started_at=beijing(2020, 5, 3, 9))
    recompute(holiday)
    values = {e.county.slug: e.value for e in board(holiday, scope="county")}
    assert (values["jixian"], values["yaodu"]) == (Decimal("100.00"), Decimal("300.00"))


def test_a_session_held_away_from_its_officials_county_counts_where_it_was_held(
    holiday, sessions_held_away
):
    recompute(holiday)
    counties = {e.county.slug: (e.rank, e.value, e.sessions)
                for e in board(holiday, scope="county")}
    assert counties["jixian"] == (1, Decimal("300.00"), 1)
    assert counties["yaodu"] == (2, Decimal("100.00"), 1)
    officials = [(name, value) for name, _rank, value in ranked(holiday)]
    assert officials == [("Visitor from Yaodu", Decimal("300.00")),
                         ("Visitor from Ji", Decimal("100.00"))]


def test_each_holiday_is_ranked_on_its_own_sessions():
    labor = HolidayFactory()
    national = HolidayFactory(name="National Day", slug="national-2020",
                              start_date=beijing(2020, 10, 1).date(),
                              end_date=beijing(2020, 10, 8).date())
    SessionFactory(started_at=beijing(2020, 5, 2, 9), revenue=Decimal("1"))
    SessionFactory(started_at=beijing(2020, 10, 2, 9), revenue=Decimal("2"))
    SessionFactory(started_at=beijing(2020, 10, 3, 9), revenue=Decimal("3"))
    recompute(labor)
    recompute(national)
    assert [e.value for e in board(labor)] == [Decimal("1.00")]
    assert [e.value for e in board(national)] == [Decimal("3.00"), Decimal("2.00")]


def test_snapshot_records_what_it_covered(holiday):
    SessionFactory.create_batch(3)
    SessionFactory(started_at=beijing(2020, 6, 1, 9))
    holiday.refresh_from_db()
    result = recompute(holiday)
    snapshot = RankingSnapshot.objects.get(pk=result.snapshot_id)
    assert snapshot.complete
    assert snapshot.sessions == 3
    assert snapshot.data_version == holiday.data_version
    stored = RankingEntry.objects.filter(snapshot=snapshot).count()
    # 3 officials and 17 counties, on every registered metric
    assert result.entries == stored == (3 + 17) * len(metric_keys())


def test_recompute_is_idempotent(holiday):
    SessionFactory.create_batch(4)
    recompute(holiday)
    first = ranked(holiday)
    recompute(holiday)
    assert ranked(holiday) == first


def test_old_snapshots_are_pruned_but_the_latest_few_kept(holiday):
    SessionFactory()
    ids = [recompute(holiday).snapshot_id for _ in range(SNAPSHOTS_KEPT + 3)]
    kept = list(RankingSnapshot.objects.filter(holiday=holiday).values_list("id", flat=True))
    assert sorted(kept) == sorted(ids[-SNAPSHOTS_KEPT:])
    assert not RankingEntry.objects.filter(snapshot_id__in=ids[:3]).exists()


def test_readers_use_the_latest_complete_snapshot_only(holiday):
    SessionFactory(revenue=Decimal("10"))
    recompute(holiday)
    # An incomplete snapshot (as a crashed writer would leave) is never read.
    RankingSnapshot.objects.create(holiday=holiday, computed_at=beijing(2030, 1, 1, 0),
                                   data_version=99, complete=False)
    board_ = leaderboard_get(holiday=holiday, metric="revenue", scope="official")
    assert board_.snapshot.complete
    assert [e.value for e in board_.entries] == [Decimal("10.00")]


def test_a_holiday_without_sessions_ranks_every_county_at_zero_and_no_official(holiday):
    counties = leaderboard_get(holiday=holiday, metric="orders", scope="county")
    officials = leaderboard_get(holiday=holiday, metric="orders", scope="official")
    assert counties.status == "ready" and counties.snapshot is None
    assert len(counties.entries) == 17
    assert {(e.rank, e.value, e.sessions) for e in counties.entries} == {(1, 0, 0)}
    assert officials.entries == []


def test_long_sessions_count_on_their_start_day(holiday):
    # Both cross midnight into another day: the one that starts before the holiday is out,
    # the one that starts on its last evening is in.
    SessionFactory(official=OfficialFactory(name="Before"), revenue=Decimal("1"),
                   started_at=beijing(2020, 4, 30, 22, 0),
                   ended_at=beijing(2020, 4, 30, 22, 0) + timedelta(hours=5))
    SessionFactory(official=OfficialFactory(name="Last evening"), revenue=Decimal("2"),
                   started_at=beijing(2020, 5, 5, 22, 0),
                   ended_at=beijing(2020, 5, 5, 22, 0) + timedelta(hours=5))
    recompute(holiday)
    assert ranked(holiday) == [("Last evening", 1, Decimal("2.00"))]
