"""A holiday's summary is cached for every process, exactly: a session write, a renamed
county or a changed poverty-relief flag shows on the next read, and a write to one holiday
leaves another holiday's summary cached. Run on PostgreSQL + Redis too (REDIS_URL: the
cache is then the shared Redis)."""

from datetime import date
from decimal import Decimal

import pytest

from sessions_app.models import Holiday
from sessions_app.selectors import holiday_summary
from sessions_app.services import session_create, session_delete
from tests.factories import HolidayFactory, OfficialFactory, SessionFactory, beijing

pytestmark = pytest.mark.django_db


@pytest.fixture
def official(county):
    return OfficialFactory(name="Zhang Wei", county=county)


def summary_of(holiday: Holiday) -> dict:
    # As a request would: the holiday read afresh, with its current data_version.
    return holiday_summary(holiday=Holiday.objects.get(pk=holiday.pk))


def new_session(official, *, day: int = 2, revenue: str = "1000.00", month: int = 5):
    return session_create(
        entered_by=None, official=official, platform="douyin", title="Walnuts live",
        started_at=beijing(2020, month, day, 10), ended_at=beijing(2020, month, day, 12),
        audience=100, orders=10, revenue=Decimal(revenue),
    )


def county_row(summary: dict, slug: str) -> dict:
    return next(row for row in summary["by_county"] if row["slug"] == slug)


def test_a_repeated_summary_is_read_from_the_cache(holiday, official,
                                                   django_assert_num_queries):
    new_session(official)
    holiday = Holiday.objects.get(pk=holiday.pk)
    first = holiday_summary(holiday=holiday)

    with django_assert_num_queries(0):
        again = holiday_summary(holiday=holiday)

    assert again == first


def test_the_summary_changes_after_a_session_write(holiday, official):
    session = new_session(official, revenue="1000.00")
    before = summary_of(holiday)

    new_session(official, day=3, revenue="500.00")
    after_create = summary_of(holiday)
    session_delete(session=session, deleted_by=None)
    after_delete = summary_of(holiday)

    assert (before["sessions"], before["revenue"]) == (1, Decimal("1000.00"))
    assert (after_create["sessions"], after_create["revenue"]) == (2, Decimal("1500.00"))
    assert (after_delete["sessions"], after_delete["revenue"]) == (1, Decimal("500.00"))


def test_a_write_to_one_holiday_leaves_another_holidays_summary_cached(
    holiday, official, django_assert_num_queries
):
    october = HolidayFactory(slug="national-day-2020", name="National Day 2020",
                             start_date=date(2020, 10, 1), end_date=date(2020, 10, 7))
    new_session(official, month=10)
    summary_of(october)

    new_session(official)  # in May's holiday
    october = Holiday.objects.get(pk=october.pk)
    with django_assert_num_queries(0):
        cached = holiday_summary(holiday=october)

    assert cached["sessions"] == 1
    assert summary_of(holiday)["sessions"] == 1


def test_a_renamed_county_shows_in_the_summary_at_once(holiday, official, county):
    new_session(official)
    assert county_row(summary_of(holiday), "jixian")["name"] == "Ji County"

    county.name, county.name_zh = "Jixian", "吉县新名"
    county.save()

    row = county_row(summary_of(holiday), "jixian")
    assert (row["name"], row["name_zh"]) == ("Jixian", "吉县新名")


def test_a_changed_poverty_relief_flag_shows_in_the_summary_at_once(
    holiday, official, county, other_county
):
    # Ji County is a key county, Yaodu District is not (the migration's data).
    new_session(official, revenue="1000.00")
    new_session(OfficialFactory(county=other_county), revenue="300.00")
    before = summary_of(holiday)

    other_county.poverty_relief_key = True
    other_county.save()
    after = summary_of(holiday)

    assert before["poverty_relief_revenue"] == Decimal("1000.00")
    assert after["poverty_relief_revenue"] == Decimal("1300.00")
    assert county_row(after, "yaodu")["poverty_relief_key"] is True


def test_a_session_written_straight_to_the_table_counts_once_its_holiday_is_marked(
    holiday, official
):
    # Writes outside the services (a shell, a data fix) must bump data_version, as the
    # services do; the summary follows the version, not the clock.
    summary_of(holiday)
    SessionFactory(official=official)
    assert summary_of(holiday)["sessions"] == 0  # cached: nothing said the data changed

    Holiday.objects.filter(pk=holiday.pk).update(data_version=holiday.data_version + 1)

    assert summary_of(holiday)["sessions"] == 1


def test_revenue_by_hour_counts_each_session_in_its_beijing_start_hour(holiday):
    from sessions_app.selectors import holiday_revenue_by_hour, holiday_screen_day

    official = OfficialFactory()
    SessionFactory(official=official, started_at=beijing(2020, 5, 3, 20, 30),
                   revenue=Decimal("100.00"))
    SessionFactory(official=official, started_at=beijing(2020, 5, 3, 20, 59),
                   revenue=Decimal("50.00"))
    SessionFactory(official=official, started_at=beijing(2020, 5, 3, 0, 10),
                   revenue=Decimal("7.00"))  # 16:10 UTC the day before: still May 3
    SessionFactory(official=official, started_at=beijing(2020, 5, 4, 20, 0),
                   revenue=Decimal("999.00"))  # another day
    SessionFactory(official=official, started_at=beijing(2020, 5, 3, 9, 0),
                   revenue=Decimal("1.00"), status="rejected", rejection_reason="padded")

    hours = holiday_revenue_by_hour(holiday=holiday, day=date(2020, 5, 3))
    assert [h["hour"] for h in hours] == list(range(24))
    assert (hours[20]["revenue"], hours[20]["sessions"]) == (Decimal("150.00"), 2)
    assert hours[0]["revenue"] == Decimal("7.00")
    assert hours[9]["revenue"] == 0  # rejected sessions never count

    summary = holiday_summary(holiday=holiday)
    # Long after the holiday: its last day with sessions; during it: today.
    assert holiday_screen_day(holiday=holiday, summary=summary,
                              today=date(2026, 1, 1)) == date(2020, 5, 4)
    assert holiday_screen_day(holiday=holiday, summary=summary,
                              today=date(2020, 5, 2)) == date(2020, 5, 2)
