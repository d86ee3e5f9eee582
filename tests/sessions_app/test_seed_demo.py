import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count, Sum

from sessions_app.models import Holiday, LivestreamSession, Official

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    return Holiday.objects.get(slug="labor-day-2020")


def test_demo_holiday_has_the_reported_figures(seeded):
    # Under its default basis (every session but rejected ones); the revenue is gross.
    sessions = LivestreamSession.objects.counted_in(seeded)
    assert sessions.count() == 61
    assert sessions.aggregate(r=Sum("revenue"))["r"] == Decimal("14200000.00")
    key = sessions.filter(county__poverty_relief_key=True).aggregate(r=Sum("revenue"))["r"]
    assert key == Decimal("10000000.00")


def test_demo_has_sessions_outside_the_holiday(seeded):
    assert LivestreamSession.objects.count() > 61


def test_demo_figures_look_like_county_livestreams(seeded):
    for s in LivestreamSession.objects.in_holiday(seeded):
        hours = (s.ended_at - s.started_at).total_seconds() / 3600
        assert 1 <= hours <= 5
        assert 5_000 <= s.audience <= 1_000_000
        assert 300 <= s.orders <= 30_000
        assert Decimal("20000") <= s.revenue <= Decimal("7500000")
        assert 30 <= s.revenue / s.orders <= 250


def test_demo_has_repeat_hosts_and_idle_counties(seeded):
    counts = Official.objects.annotate(n=Count("sessions")).values_list("n", flat=True)
    assert sum(1 for n in counts if n > 1) >= 3
    hosting = set(LivestreamSession.objects.values_list("county", flat=True))
    assert len(hosting) < 17


def test_seed_demo_twice_duplicates_nothing(seeded):
    before = (LivestreamSession.objects.count(), Official.objects.count(),
              Holiday.objects.count())
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    after = (LivestreamSession.objects.count(), Official.objects.count(),
             Holiday.objects.count())
    assert before == after


def test_seed_demo_prints_logins_that_work(capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out
    # "  <username> <password> <group or superuser>" after the heading.
    printed = re.findall(r"^  (\S+) +(\S+) +(\S+)$",
                         out.split("Demo logins", 1)[1], re.M)
    assert [(username, role) for username, _password, role in printed] == [
        ("admin", "superuser"), ("staff", "city_staff"), ("reviewer", "city_staff"),
        ("official", "officials")]
    users = get_user_model().objects
    for username, password, _role in printed:
        assert users.get(username=username).check_password(password), username


def test_demo_users_have_their_role_and_only_admin_is_a_superuser(seeded):
    users = {u.username: u for u in get_user_model().objects.all()}
    assert (users["admin"].is_superuser, users["staff"].is_superuser,
            users["official"].is_superuser) == (True, False, False)
    assert users["staff"].is_staff and not users["official"].is_staff
    assert users["staff"].has_perm("sessions_app.add_livestreamsession")
    assert not users["official"].has_perm("sessions_app.add_livestreamsession")


def test_demo_shows_every_state_of_a_check(seeded):
    in_holiday = LivestreamSession.objects.in_holiday(seeded)
    states = dict(in_holiday.values_list("status").annotate(n=Count("id")))
    assert states["rejected"] == 1 and states["entered"] >= 3
    assert states["verified"] > states["entered"]
    rejected = in_holiday.get(status="rejected")
    assert rejected.rejection_reason and rejected.verified_by.username == "reviewer"
    verified = in_holiday.filter(status="verified")
    assert all(s.evidence.exists() and s.verified_by.username == "reviewer" for s in verified)
    assert in_holiday.filter(refunds__gt=0).count() >= 10
