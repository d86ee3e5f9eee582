"""`manage.py recompute_rankings`: one holiday that cannot be recomputed (rows written before
today's rules) is reported, and never keeps the others from being recomputed."""

import logging
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from rankings.models import RankingSnapshot
from sessions_app.models import Holiday

from ..factories import HolidayFactory, OfficialFactory, SessionFactory, beijing

pytestmark = pytest.mark.django_db

BIGINT_MAX = 2**63 - 1


@pytest.fixture(autouse=True)
def _check_constraints_back_on():
    # SQLite's PRAGMA is per connection and outlives the test's transaction: restore it.
    yield
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")


def _rules_suspended(cursor, table: str, constraints: list[str]) -> None:
    """Let the test write rows that today's constraints refuse, as a database written before
    them holds (inside the test's transaction, which undoes this)."""
    if connection.vendor == "sqlite":
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        return
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for name in constraints:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")


def holiday_insert_raw(*, slug: str, start: str, end: str) -> Holiday:
    """A holiday row as an older version or a hand-written SQL fix could have left it: no
    model validation in the way."""
    with connection.cursor() as cursor:
        _rules_suspended(cursor, "sessions_app_holiday",
                         ["holiday_at_most_max_days", "holiday_dates_in_year_range"])
        cursor.execute(
            "INSERT INTO sessions_app_holiday (name, slug, start_date, end_date, data_version, "
            "recompute_queued, ranked_version) VALUES (%s, %s, %s, %s, 1, false, 0)",
            [slug, slug, start, end],
        )
    return Holiday.objects.get(slug=slug)


def sessions_insert_raw(*, official, starts, audience: int) -> None:
    """Sessions with an audience no rule of today would accept, written straight to the table."""
    with connection.cursor() as cursor:
        _rules_suspended(cursor, "sessions_app_livestreamsession",
                         ["session_counts_at_most_max"])
        for started_at in starts:
            cursor.execute(
                "INSERT INTO sessions_app_livestreamsession (official_id, county_id, platform, "
                "title, products, started_at, ended_at, audience, orders, revenue, created_at, "
                "updated_at, version) VALUES (%s, %s, 'douyin', 'Old row', '', %s, %s, %s, 1, "
                "1, %s, %s, 1)",
                [official.pk, official.county_id,
                 connection.ops.adapt_datetimefield_value(started_at),
                 connection.ops.adapt_datetimefield_value(started_at.replace(hour=12)),
                 audience,
                 connection.ops.adapt_datetimefield_value(started_at),
                 connection.ops.adapt_datetimefield_value(started_at)],
            )


def holiday_with_an_unknown_basis() -> Holiday:
    # A ranking basis that names nothing (written by hand-made SQL): which sessions count
    # cannot be known, so its recompute fails (its page shows zeros and the failure).
    holiday = holiday_insert_raw(slug="bad-basis", start="2020-06-01", end="2020-06-03")
    Holiday.objects.filter(pk=holiday.pk).update(ranking_basis="everything")
    return Holiday.objects.get(pk=holiday.pk)


def holiday_whose_sums_overflow() -> Holiday:
    # Two sessions at the largest 64-bit audience: their sum overflows SQLite's integers.
    # (PostgreSQL sums into numeric and the entries hold 38 digits: nothing fails there.)
    if connection.vendor != "sqlite":
        pytest.skip("only SQLite's 64-bit SUM overflows; PostgreSQL sums into numeric(38)")
    bad = HolidayFactory(name="Dragon Boat 2020", slug="dragon-boat-2020",
                         start_date=date(2020, 6, 25), end_date=date(2020, 6, 27))
    sessions_insert_raw(official=OfficialFactory(), audience=BIGINT_MAX,
                        starts=[beijing(2020, 6, 25, 10), beijing(2020, 6, 26, 10)])
    return bad


@pytest.mark.parametrize("make_bad_holiday",
                         [holiday_with_an_unknown_basis, holiday_whose_sums_overflow])
def test_all_recomputes_every_other_holiday_when_one_fails(make_bad_holiday, capsys, caplog):
    # Given a good holiday before and after (by start date) a holiday that cannot be recomputed
    before = HolidayFactory()  # Labor Day 2020
    after = HolidayFactory(name="National Day 2020", slug="national-day-2020",
                           start_date=date(2020, 10, 1), end_date=date(2020, 10, 8))
    SessionFactory(started_at=beijing(2020, 5, 2, 10))
    SessionFactory(started_at=beijing(2020, 10, 2, 10))
    bad = make_bad_holiday()

    # When every holiday is recomputed
    with caplog.at_level(logging.ERROR), pytest.raises(CommandError) as failure:
        call_command("recompute_rankings", "--all")

    # Then the good ones have their snapshot, the bad one none, and the failure is reported
    # on stderr and in the log, naming the holiday, and ends the command with status 1
    assert RankingSnapshot.objects.filter(holiday=before).count() == 1
    assert RankingSnapshot.objects.filter(holiday=after).count() == 1
    assert not RankingSnapshot.objects.filter(holiday=bad).exists()
    output = capsys.readouterr()
    assert f"{before.slug}: snapshot" in output.out and f"{after.slug}: snapshot" in output.out
    assert f"{bad.slug}: failed: " in output.err
    assert str(failure.value) == f"1 of 3 holidays failed: {bad.slug}"
    assert failure.value.returncode == 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        f"Recompute of holiday {bad.slug} (id {bad.pk}) failed"
    ]


def test_one_failing_holiday_by_slug_is_reported_with_status_1(capsys):
    bad = holiday_with_an_unknown_basis()
    with pytest.raises(CommandError, match=f"1 of 1 holidays failed: {bad.slug}"):
        call_command("recompute_rankings", "--holiday", bad.slug)
    assert f"{bad.slug}: failed: " in capsys.readouterr().err


def test_a_failed_recompute_is_recorded_on_the_holiday_and_shown_to_staff(
        client, staff_user, official_user):
    bad = holiday_with_an_unknown_basis()

    with pytest.raises(CommandError):
        call_command("recompute_rankings", "--holiday", bad.slug)

    bad.refresh_from_db()
    assert bad.rankings_error.startswith("ValueError: Holiday bad-basis has an unknown ranking")
    assert bad.rankings_failed_at
    client.force_login(staff_user)
    page = client.get(f"/holidays/{bad.slug}/").content.decode()
    assert "data-rankings-error" in page
    client.force_login(official_user)  # officials see the board, not the operators' note
    assert "data-rankings-error" not in client.get(f"/holidays/{bad.slug}/").content.decode()


def test_a_successful_recompute_clears_the_recorded_failure(holiday):
    Holiday.objects.filter(pk=holiday.pk).update(rankings_error="OperationalError: gone away")

    call_command("recompute_rankings", "--holiday", holiday.slug)

    holiday.refresh_from_db()
    assert (holiday.rankings_error, holiday.rankings_failed_at) == ("", None)


def test_a_holiday_stored_with_dates_out_of_range_is_recomputed_and_shown(client, staff_user):
    # Year 1 to 9999, as the form once accepted: it covers every session there can be.
    wide = holiday_insert_raw(slug="year-one-to-9999", start="0001-01-01", end="9999-12-31")
    SessionFactory(started_at=beijing(2020, 5, 2, 10))

    call_command("recompute_rankings", "--holiday", wide.slug)

    assert RankingSnapshot.objects.get(holiday=wide).sessions == 1
    client.force_login(staff_user)
    assert client.get(f"/holidays/{wide.slug}/").status_code == 200
