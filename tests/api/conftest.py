"""API fixtures: clients per role, and a small holiday with sessions and rankings."""

from decimal import Decimal

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from rankings.services import holiday_rankings_recompute
from tests.factories import OfficialFactory, SessionFactory, UserFactory, beijing


@pytest.fixture(autouse=True)
def fresh_throttle_counters():
    # Throttle counters live in the cache (Redis in CI), which outlives a test's transaction.
    cache.clear()
    yield
    cache.clear()


def english_client() -> APIClient:
    # Messages are asserted in English; the site's default language is Chinese.
    return APIClient(HTTP_ACCEPT_LANGUAGE="en")


def token_client(user) -> APIClient:
    client = english_client()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anon_api(db):
    return english_client()


@pytest.fixture
def staff_api(staff_user):
    return token_client(staff_user)


@pytest.fixture
def official_api(official_user):
    # Officials use the site: session authentication.
    client = english_client()
    client.force_login(official_user)
    return client


@pytest.fixture
def superuser_api(superuser):
    return token_client(superuser)


@pytest.fixture
def no_role_api(db):
    return token_client(UserFactory(username="no-role"))


@pytest.fixture
def official(db, county):
    return OfficialFactory(name="Zhang Wei", county=county)


@pytest.fixture
def ranked_holiday(holiday, official, other_county):
    """Labor Day 2020 with three sessions by two officials, rankings computed."""
    rival = OfficialFactory(name="Li Na", county=other_county)
    SessionFactory(official=official, started_at=beijing(2020, 5, 1, 10),
                   audience=100, orders=10, revenue=Decimal("1000.50"))
    SessionFactory(official=official, started_at=beijing(2020, 5, 2, 10),
                   audience=50, orders=5, revenue=Decimal("500.00"))
    SessionFactory(official=rival, started_at=beijing(2020, 5, 3, 20),
                   audience=400, orders=3, revenue=Decimal("900.00"))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    holiday.refresh_from_db()
    return holiday
