"""The review queue page: who may open it and what it lists (the keyboard is in
tests/browser/test_review_queue_browser.py)."""

from decimal import Decimal

import pytest

from sessions_app.flags import session_flags_refresh
from sessions_app.models import LivestreamSession, SessionStatus

from ..factories import HolidayFactory, SessionFactory, UserFactory, beijing

pytestmark = pytest.mark.django_db


def test_officials_may_not_open_the_queue(client, official_user):
    client.force_login(official_user)
    assert client.get("/sessions/queue/").status_code == 403


def test_it_lists_unverified_and_flagged_sessions_by_revenue_and_not_the_rest(
        client, staff_user, holiday):
    reviewer = UserFactory(username="reviewer", group="city_staff")
    small = SessionFactory(revenue=Decimal("10.00"))
    large = SessionFactory(revenue=Decimal("900.00"))
    verified_clean = SessionFactory(revenue=Decimal("500.00"))
    verified_flagged = SessionFactory(revenue=Decimal("400.00"), audience=1, orders=2)
    rejected = SessionFactory(revenue=Decimal("800.00"))
    elsewhere = SessionFactory(revenue=Decimal("700.00"), started_at=beijing(2020, 10, 2, 9))
    LivestreamSession.objects.update(created_at=beijing(2020, 5, 3))
    LivestreamSession.objects.filter(pk__in=[verified_clean.pk, verified_flagged.pk]).update(
        status=SessionStatus.VERIFIED, verified_by=staff_user, verified_at=beijing(2020, 5, 4))
    LivestreamSession.objects.filter(pk=rejected.pk).update(status=SessionStatus.REJECTED,
                                                            rejection_reason="no")
    session_flags_refresh(holiday_id=holiday.pk, notify=False)
    client.force_login(reviewer)

    page = client.get(f"/sessions/queue/?holiday={holiday.slug}",
                      HTTP_ACCEPT_LANGUAGE="en").content.decode()

    order = [s.pk for s in (large, verified_flagged, small)]
    positions = [page.index(f'data-session="{pk}"') for pk in order]
    assert positions == sorted(positions)
    for absent in (verified_clean, rejected, elsewhere):
        assert f'data-session="{absent.pk}"' not in page
    assert 'data-queue-total="3"' in page


def test_without_a_holiday_chosen_it_shows_the_current_or_latest(client, holiday):
    HolidayFactory(slug="national-day-2019", name="National Day 2019",
                   start_date=beijing(2019, 10, 1).date(), end_date=beijing(2019, 10, 7).date())
    reviewer = UserFactory(username="reviewer", group="city_staff")
    SessionFactory(revenue=Decimal("10.00"))
    client.force_login(reviewer)

    page = client.get("/sessions/queue/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Labor Day 2020" in page and 'data-queue-total="1"' in page


def test_a_holiday_with_publications_can_still_be_deleted(holiday, city_lead):
    from rankings.models import Publication, RankingSnapshot
    from rankings.services import holiday_publish, holiday_rankings_recompute

    SessionFactory()
    holiday_rankings_recompute(holiday_id=holiday.pk)
    holiday_publish(holiday=holiday, user=city_lead)

    holiday.delete()

    assert not Publication.objects.exists() and not RankingSnapshot.objects.exists()
