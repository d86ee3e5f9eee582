"""Every rule on a session is refused by the database itself and by model validation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation

from sessions_app.models import Holiday, LivestreamSession

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


def test_database_refuses_a_second_session_of_an_official_at_the_same_start():
    first = SessionFactory()
    twin = _row(official=first.official, started_at=first.started_at,
                ended_at=first.ended_at, title="Again")
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()


def test_validation_reports_the_duplicate_start_on_started_at():
    first = SessionFactory()
    twin = _row(official=first.official, started_at=first.started_at, ended_at=first.ended_at)
    with pytest.raises(ValidationError) as caught:
        twin.full_clean()
    assert list(caught.value.message_dict) == ["started_at"]


def test_another_official_may_start_at_the_same_time():
    first = SessionFactory()
    _row(started_at=first.started_at, ended_at=first.ended_at).full_clean()


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
