"""Shared fixtures. Log users in with `client.force_login(user)`: django-axes needs the request
for a password login, and the test client's login() has none."""

import pytest

from sessions_app.models import County

from .factories import HolidayFactory, UserFactory


@pytest.fixture
def staff_user(db):
    return UserFactory(username="staff", is_staff=True, group="city_staff")


@pytest.fixture
def official_user(db):
    return UserFactory(username="official-reader", group="officials")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def holiday(db):
    return HolidayFactory()


@pytest.fixture
def county(db):
    return County.objects.get(slug="jixian")


@pytest.fixture
def other_county(db):
    return County.objects.get(slug="yaodu")
