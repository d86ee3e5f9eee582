from datetime import datetime, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from sessions_app.models import County, Holiday, LivestreamSession, Official

BEIJING = timezone.get_default_timezone()


def beijing(*args) -> datetime:
    """An aware datetime in Beijing time: beijing(2020, 5, 5, 23, 30)."""
    return datetime(*args, tzinfo=BEIJING)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")

    @factory.post_generation
    def group(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class CountyFactory(factory.django.DjangoModelFactory):
    """Prefer the 17 real counties the migration loads; this makes extra ones."""

    class Meta:
        model = County
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"test-county-{n}")
    name = factory.Sequence(lambda n: f"Test County {n}")
    name_zh = factory.Sequence(lambda n: f"测试县{n}")
    kind = County.Kind.COUNTY


class OfficialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Official

    name = factory.Sequence(lambda n: f"Official {n:03d}")
    title = "County head"
    county = factory.LazyFunction(lambda: County.objects.get(slug="jixian"))


class HolidayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Holiday
        django_get_or_create = ("slug",)

    name = "Labor Day 2020"
    slug = "labor-day-2020"
    start_date = datetime(2020, 5, 1).date()
    end_date = datetime(2020, 5, 5).date()


class SessionFactory(factory.django.DjangoModelFactory):
    """A saved session, written straight to the table (no service, no recompute)."""

    class Meta:
        model = LivestreamSession

    official = factory.SubFactory(OfficialFactory)
    county = factory.LazyAttribute(lambda o: o.official.county)
    platform = "douyin"
    title = factory.Sequence(lambda n: f"Walnuts live {n}")
    products = "walnuts"
    # A minute apart and a minute long: factory sessions of one official never overlap on a
    # platform (PostgreSQL's exclusion constraint would refuse them). Tests that need a
    # realistic length give ended_at.
    started_at = factory.Sequence(lambda n: beijing(2020, 5, 2, 10) + timedelta(minutes=n))
    ended_at = factory.LazyAttribute(lambda o: o.started_at + timedelta(minutes=1))
    audience = 200_000
    orders = 2_000
    revenue = Decimal("230000.00")
