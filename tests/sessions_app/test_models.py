"""Every rule on a session is refused by the database itself and by model validation."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import translation

from sessions_app.models import Holiday, LivestreamSession
from sessions_app.validators import MAX_COUNT

from ..factories import HolidayFactory, OfficialFactory, SessionFactory, beijing

pytestmark = pytest.mark.django_db

BAD_VALUES = [
    ("audience", -1),
    ("orders", -1),
    ("revenue", Decimal("-0.01")),
]


def _row(**overrides) -> LivestreamSession:
    official = OfficialFactory()
    values = dict(
        official=official, county=official.county, platform="douyin", title="Millet live",
        started_at=beijing(2020, 5, 1, 10), ended_at=beijing(2020, 5, 1, 12),
        audience=1000, orders=10, revenue=Decimal("1000.00"),
    )
    values.update(overrides)
    return LivestreamSession(**values)


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_database_refuses_negative_figures(field, value):
    session = _row(**{field: value})
    with pytest.raises(IntegrityError), transaction.atomic():
        session.save()
    assert LivestreamSession.objects.count() == 0


@pytest.mark.parametrize(("field", "value"), BAD_VALUES)
def test_validation_names_the_negative_field(field, value):
    with pytest.raises(ValidationError) as caught:
        _row(**{field: value}).full_clean()
    assert list(caught.value.message_dict) == [field]


@pytest.mark.parametrize("minutes", [0, -30])
def test_database_refuses_a_session_that_does_not_end_after_it_starts(minutes):
    start = beijing(2020, 5, 1, 10)
    session = _row(started_at=start, ended_at=start + timedelta(minutes=minutes))
    with pytest.raises(IntegrityError), transaction.atomic():
        session.save()


def test_validation_puts_end_before_start_on_ended_at():
    start = beijing(2020, 5, 1, 10)
    with pytest.raises(ValidationError) as caught, translation.override("en"):
        _row(started_at=start, ended_at=start - timedelta(hours=1)).full_clean()
    with translation.override("en"):
        assert caught.value.message_dict == {"ended_at": ["A session must end after it starts."]}


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the overlap rule is an exclusion constraint on PostgreSQL; on SQLite, which "
           "serialises writers, the service's check in the write's transaction holds it",
)


@postgresql_only
def test_database_refuses_overlapping_sessions_of_an_official_on_one_platform():
    # An explicit start: the factory's start moves a minute with every session made before.
    first = SessionFactory(started_at=beijing(2020, 5, 2, 10), ended_at=beijing(2020, 5, 2, 12))
    twin = _row(official=first.official, started_at=first.started_at + timedelta(minutes=30),
                ended_at=first.ended_at + timedelta(hours=1), title="Again")
    with pytest.raises(IntegrityError, match="session_no_overlap_per_official_platform"), \
            transaction.atomic():
        twin.save()


@postgresql_only
def test_database_allows_a_simulcast_and_back_to_back_sessions():
    first = SessionFactory(platform="douyin", started_at=beijing(2020, 5, 2, 10),
                           ended_at=beijing(2020, 5, 2, 12))
    _row(official=first.official, platform="kuaishou", started_at=first.started_at,
         ended_at=first.ended_at).save()
    _row(official=first.official, platform="douyin", started_at=first.ended_at,
         ended_at=first.ended_at + timedelta(hours=1)).save()
    assert LivestreamSession.objects.count() == 3


def test_another_official_may_start_at_the_same_time():
    first = SessionFactory()
    _row(started_at=first.started_at, ended_at=first.ended_at).full_clean()


@pytest.mark.parametrize(("overrides", "constraint"), [
    ({"audience": MAX_COUNT + 1}, "session_counts_at_most_max"),
    ({"orders": MAX_COUNT + 1}, "session_counts_at_most_max"),
    ({"started_at": beijing(2020, 5, 1, 10), "ended_at": beijing(2020, 5, 2, 10, 0, 1)},
     "session_at_most_max_hours"),
    ({"started_at": beijing(1999, 12, 31, 23), "ended_at": beijing(2000, 1, 1, 1)},
     "session_starts_in_year_range"),
    ({"started_at": beijing(2100, 1, 1, 1), "ended_at": beijing(2100, 1, 1, 2)},
     "session_starts_in_year_range"),
])
def test_database_refuses_a_session_past_the_bounds(overrides, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        _row(**overrides).save()
    assert LivestreamSession._base_manager.count() == 0


@pytest.mark.parametrize(("start", "end", "constraint"), [
    (date(2020, 5, 1), date(2020, 7, 2), "holiday_at_most_max_days"),
    (date(1999, 12, 31), date(2000, 1, 3), "holiday_dates_in_year_range"),
    (date(2099, 12, 30), date(2100, 1, 2), "holiday_dates_in_year_range"),
])
def test_database_refuses_a_holiday_past_the_bounds(start, end, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        Holiday.objects.create(name="Long", slug="long", start_date=start, end_date=end)


def test_a_holiday_of_62_days_is_the_longest_allowed():
    holiday = Holiday(name="Summer", slug="summer", start_date=date(2020, 7, 1),
                      end_date=date(2020, 8, 31))
    holiday.full_clean()
    holiday.save()
    holiday.end_date = date(2020, 9, 1)
    with pytest.raises(ValidationError) as caught, translation.override("en"):
        holiday.full_clean()
    with translation.override("en"):
        assert caught.value.message_dict == {"end_date": ["A holiday lasts at most 62 days."]}


def test_revenue_keeps_exact_cents():
    session = SessionFactory(revenue=Decimal("0.10") + Decimal("0.20"))
    session.refresh_from_db()
    assert session.revenue == Decimal("0.30")
    assert isinstance(session.revenue, Decimal)


def test_validation_refuses_more_than_two_decimal_places():
    with pytest.raises(ValidationError) as caught:
        _row(revenue=Decimal("1.005")).full_clean()
    assert "revenue" in caught.value.message_dict


def test_database_refuses_a_holiday_ending_before_it_starts():
    holiday = HolidayFactory.build(start_date=beijing(2020, 5, 5).date(),
                                   end_date=beijing(2020, 5, 1).date())
    with pytest.raises(IntegrityError), transaction.atomic():
        holiday.save()
    with pytest.raises(ValidationError) as caught:
        holiday.full_clean()
    assert "end_date" in caught.value.message_dict
    assert Holiday.objects.count() == 0


def test_holiday_bounds_are_beijing_midnights():
    holiday = HolidayFactory.build()
    start, end = holiday.bounds
    assert start == beijing(2020, 5, 1, 0, 0)
    assert end == beijing(2020, 5, 6, 0, 0)


def test_in_holiday_uses_the_beijing_date_of_the_start():
    holiday = HolidayFactory()
    official = OfficialFactory()
    inside = [beijing(2020, 5, 1, 0, 0), beijing(2020, 5, 5, 23, 30)]
    outside = [beijing(2020, 4, 30, 23, 50), beijing(2020, 5, 6, 0, 0)]
    for moment in inside + outside:
        SessionFactory(official=official, started_at=moment)
    found = set(LivestreamSession.objects.in_holiday(holiday).values_list("started_at", flat=True))
    assert found == set(inside)
