"""The holiday summary's figures (sessions_app.selectors.holiday_summary) follow the rules of
design.md: a session counts for the county it was held in."""

from decimal import Decimal

import pytest

from sessions_app.selectors import holiday_summary

pytestmark = pytest.mark.django_db


def test_poverty_relief_revenue_counts_the_county_a_session_was_held_in(
    holiday, sessions_held_away
):
    summary = holiday_summary(holiday=holiday)

    assert summary["revenue"] == Decimal("400.00")
    assert summary["poverty_relief_revenue"] == Decimal("300.00")
    assert summary["poverty_relief_share"] == Decimal("0.75")


def test_the_summary_by_county_counts_the_county_a_session_was_held_in(
    holiday, sessions_held_away
):
    summary = holiday_summary(holiday=holiday)

    revenue = {row["slug"]: row["revenue"] for row in summary["by_county"]}
    assert (revenue["jixian"], revenue["yaodu"]) == (Decimal("300.00"), Decimal("100.00"))
    assert [row["slug"] for row in summary["by_county"][:2]] == ["jixian", "yaodu"]
