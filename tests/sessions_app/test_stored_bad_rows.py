"""Rows written before the rules existed (or past them, by SQL) cannot break a page, and the
largest rows the rules allow cannot overflow a sum.

Before the rules, the form stored a session in year 1: its UTC time is BC, which the
database driver cannot read back, so every query returning it failed (the list, the API,
the admin, an official's page, the export). `session_rules_check` lists such rows.
"""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from rankings.services import holiday_rankings_recompute
from sessions_app.models import LivestreamSession
from sessions_app.validators import MAX_COUNT

from ..factories import OfficialFactory, SessionFactory, beijing

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite stores times as text and reads year 1 back; the driver's failure is "
           "PostgreSQL's",
)


def _drop_constraint(name: str) -> None:
    with connection.cursor() as cursor:
        # The test's earlier inserts leave deferred foreign-key checks, which forbid an ALTER.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE sessions_app_livestreamsession DROP CONSTRAINT {name}")


def _insert_year_one_session(official) -> int:
    """What the form stored before the rules: the constraint is dropped (inside the test's
    transaction), as on a database written before migration 0006."""
    _drop_constraint("session_starts_in_year_range")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO sessions_app_livestreamsession (official_id, county_id, platform, "
            "title, products, started_at, ended_at, audience, orders, revenue, created_at, "
            "updated_at, version) VALUES (%s, %s, 'douyin', 'Year one', '', "
            "'0001-01-01 05:00+08', '0001-01-01 06:00+08', 1, 1, 1, now(), now(), 1) "
            "RETURNING id",
            [official.pk, official.county_id],
        )
        return cursor.fetchone()[0]


@postgresql_only
def test_a_year_one_session_breaks_no_page_and_is_listed_for_mending(
        client, staff_user, superuser, holiday):
    official = OfficialFactory(name="Typo host")
    good = SessionFactory(official=official, title="Readable show")
    bad_id = _insert_year_one_session(official)
    client.force_login(superuser)
    api = APIClient()
    api.force_authenticate(superuser)

    pages = [
        "/sessions/", "/sessions/?page=last", f"/officials/{official.pk}/",
        reverse("admin:sessions_app_livestreamsession_changelist"),
        reverse("admin:sessions_app_livestreamsession_changelist") + "?o=5",
        f"/holidays/{holiday.slug}/",
    ]
    for url in pages:
        assert client.get(url).status_code == 200, url
    listed = api.get("/api/v1/sessions/?ordering=started_at").json()
    assert [row["title"] for row in listed["results"]] == ["Readable show"]
    export = b"".join(api.get("/api/v1/sessions/export/").streaming_content).decode("utf-8-sig")
    assert "Readable show" in export and "Year one" not in export
    assert api.get(f"/api/v1/sessions/{bad_id}/").status_code == 404
    assert api.get(f"/api/v1/sessions/{bad_id}/history/").status_code == 404
    assert api.get(f"/api/v1/sessions/{good.pk}/history/").status_code == 200
    assert holiday_rankings_recompute(holiday_id=holiday.pk).sessions == 1

    with pytest.raises(CommandError, match="Mend or delete"):
        call_command("session_rules_check")


def test_session_rules_check_lists_rows_breaking_a_rule_and_passes_when_none_do(capsys):
    SessionFactory(title="Fine")
    call_command("session_rules_check")
    assert "Every stored row keeps the rules." in capsys.readouterr().out

    official = OfficialFactory()
    SessionFactory(official=official, title="Overlap A", started_at=beijing(2020, 5, 1, 10),
                   ended_at=beijing(2020, 5, 1, 12))
    if connection.vendor == "postgresql":
        _drop_constraint("session_no_overlap_per_official_platform")
    SessionFactory(official=official, title="Overlap B", started_at=beijing(2020, 5, 1, 11),
                   ended_at=beijing(2020, 5, 1, 13))
    with pytest.raises(CommandError):
        call_command("session_rules_check")
    out = capsys.readouterr().out
    assert "session_no_overlap_per_official_platform: 2 row(s)" in out
    assert "Overlap A" in out and "Overlap B" in out and "Fine" not in out


def test_the_largest_rows_the_rules_allow_sum_without_overflow(client, staff_user, holiday):
    official = OfficialFactory()
    biggest = Decimal("999999999999.99")
    for hour in (8, 10, 12):
        SessionFactory(official=official, started_at=beijing(2020, 5, 2, hour),
                       audience=MAX_COUNT, orders=MAX_COUNT, revenue=biggest)
    api = APIClient()
    api.force_authenticate(staff_user)

    summary = api.get(f"/api/v1/holidays/{holiday.slug}/summary/")

    assert summary.status_code == 200
    assert summary.json()["revenue"] == str(biggest * 3)
    assert summary.json()["audience"] == MAX_COUNT * 3
    holiday_rankings_recompute(holiday_id=holiday.pk)
    board = api.get(f"/api/v1/rankings/?holiday={holiday.slug}&metric=revenue").json()
    assert board["results"][0]["value"] == str(biggest * 3)
    client.force_login(staff_user)
    assert client.get(f"/holidays/{holiday.slug}/").status_code == 200
    assert client.get(f"/officials/{official.pk}/").status_code == 200
    assert LivestreamSession.objects.count() == 3
