"""Who may call what: every role x every endpoint x every method, by status code and by
what is stored afterwards.

Anonymous: 401 everywhere but auth/token/. Officials: read. City staff and superusers:
everything. An authenticated user without a role reads nothing (403) but the schema.
A refused request (and any read) leaves every stored row as it was, history included; an
allowed write changes the table it names.
"""

from dataclasses import dataclass

import pytest
from django.apps import apps

from rankings.services import holiday_rankings_recompute
from sessions_app.models import County, Holiday, LivestreamSession, Official
from tests.factories import CountyFactory, OfficialFactory, SessionFactory


@dataclass
class World:
    county: object
    spare_county: object
    official: object
    spare_official: object
    holiday: object
    session: object


@pytest.fixture
def world(holiday, official, county):
    session = SessionFactory(official=official)
    holiday_rankings_recompute(holiday_id=holiday.pk)
    return World(
        county=county,
        spare_county=CountyFactory(),
        official=official,
        spare_official=OfficialFactory(name="Nobody", county=county),
        holiday=holiday,
        session=session,
    )


def session_body(w):
    return {"official": w.official.pk, "platform": "jd", "title": "Millet",
            "started_at": "2020-05-03T09:00:00+08:00", "ended_at": "2020-05-03T10:00:00+08:00",
            "audience": 1, "orders": 1, "revenue": "1.00", "version": 1}


def county_body(w):
    return {"slug": "new-county", "name": "New County", "name_zh": "新县", "kind": "county"}


def official_body(w):
    return {"name": "Zhao Lei", "title": "Deputy mayor", "county": w.county.pk}


def holiday_body(w):
    return {"name": "National Day 2020", "slug": "national-day-2020",
            "start_date": "2020-10-01", "end_date": "2020-10-08"}


READ, WRITE, AUDIT, SCHEMA = "read", "write", "audit", "schema"

# (name, method, url(world), body(world) or None, kind, status for staff and superusers)
ENDPOINTS = [
    ("counties-list", "get", lambda w: "/api/v1/counties/", None, READ, 200),
    ("counties-create", "post", lambda w: "/api/v1/counties/", county_body, WRITE, 201),
    ("counties-retrieve", "get", lambda w: f"/api/v1/counties/{w.county.pk}/", None, READ, 200),
    ("counties-update", "put", lambda w: f"/api/v1/counties/{w.spare_county.pk}/",
     county_body, WRITE, 200),
    ("counties-partial", "patch", lambda w: f"/api/v1/counties/{w.county.pk}/",
     lambda w: {"poverty_relief_key": False}, WRITE, 200),
    ("counties-delete", "delete", lambda w: f"/api/v1/counties/{w.spare_county.pk}/", None,
     WRITE, 204),
    ("officials-list", "get", lambda w: "/api/v1/officials/", None, READ, 200),
    ("officials-create", "post", lambda w: "/api/v1/officials/", official_body, WRITE, 201),
    ("officials-retrieve", "get", lambda w: f"/api/v1/officials/{w.official.pk}/", None,
     READ, 200),
    ("officials-update", "put", lambda w: f"/api/v1/officials/{w.spare_official.pk}/",
     official_body, WRITE, 200),
    ("officials-partial", "patch", lambda w: f"/api/v1/officials/{w.official.pk}/",
     lambda w: {"active": False}, WRITE, 200),
    ("officials-delete", "delete", lambda w: f"/api/v1/officials/{w.spare_official.pk}/",
     None, WRITE, 204),
    ("holidays-list", "get", lambda w: "/api/v1/holidays/", None, READ, 200),
    ("holidays-create", "post", lambda w: "/api/v1/holidays/", holiday_body, WRITE, 201),
    ("holidays-retrieve", "get", lambda w: f"/api/v1/holidays/{w.holiday.slug}/", None,
     READ, 200),
    ("holidays-update", "put", lambda w: f"/api/v1/holidays/{w.holiday.pk}/", holiday_body,
     WRITE, 200),
    ("holidays-partial", "patch", lambda w: f"/api/v1/holidays/{w.holiday.slug}/",
     lambda w: {"name": "劳动节"}, WRITE, 200),
    ("holidays-delete", "delete", lambda w: f"/api/v1/holidays/{w.holiday.pk}/", None,
     WRITE, 204),
    ("holidays-summary", "get", lambda w: f"/api/v1/holidays/{w.holiday.slug}/summary/",
     None, READ, 200),
    ("sessions-list", "get", lambda w: "/api/v1/sessions/", None, READ, 200),
    ("sessions-create", "post", lambda w: "/api/v1/sessions/", session_body, WRITE, 201),
    ("sessions-retrieve", "get", lambda w: f"/api/v1/sessions/{w.session.pk}/", None,
     READ, 200),
    ("sessions-update", "put", lambda w: f"/api/v1/sessions/{w.session.pk}/", session_body,
     WRITE, 200),
    ("sessions-partial", "patch", lambda w: f"/api/v1/sessions/{w.session.pk}/",
     lambda w: {"orders": 7, "version": 1}, WRITE, 200),
    ("sessions-delete", "delete", lambda w: f"/api/v1/sessions/{w.session.pk}/", None,
     WRITE, 204),
    ("sessions-history", "get", lambda w: f"/api/v1/sessions/{w.session.pk}/history/", None,
     AUDIT, 200),
    ("sessions-export", "get", lambda w: "/api/v1/sessions/export/", None, READ, 200),
    ("rankings", "get", lambda w: f"/api/v1/rankings/?holiday={w.holiday.slug}", None,
     READ, 200),
    ("rankings-export", "get", lambda w: f"/api/v1/rankings/export/?holiday={w.holiday.pk}",
     None, READ, 200),
    ("schema", "get", lambda w: "/api/v1/schema/", None, SCHEMA, 200),
    ("docs", "get", lambda w: "/api/v1/docs/", None, SCHEMA, 200),
]


def expected(role: str, kind: str, staff_status: int) -> int:
    if role == "anon":
        return 401
    if role in ("staff", "superuser"):
        return staff_status
    if kind == SCHEMA:
        return 200
    if role == "no_role":
        return 403
    return 200 if kind == READ else 403  # officials read, nothing more


# The table each resource's writes change.
TABLES = {"counties": County, "officials": Official, "holidays": Holiday,
          "sessions": LivestreamSession}


def stored_rows() -> dict[str, list[dict]]:
    """Every row of every table of our apps (history, rankings and imports included), by
    model label: what a refused request must leave exactly as it was."""
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values())
        for app in ("sessions_app", "rankings")
        for model in apps.get_app_config(app).get_models()
    }


def changed_tables(before: dict, after: dict) -> list[str]:
    return [label for label in before if before[label] != after[label]]


ROLES = ["anon", "no_role", "official", "staff", "superuser"]
CASES = [
    pytest.param(role, *endpoint, id=f"{role}-{endpoint[0]}")
    for role in ROLES
    for endpoint in ENDPOINTS
]


@pytest.mark.parametrize("role, name, method, url, body, kind, staff_status", CASES)
def test_role_gets_the_status_its_permissions_allow_and_a_refusal_saves_nothing(
    request, world, role, name, method, url, body, kind, staff_status
):
    client = request.getfixturevalue(f"{role}_api")
    data = body(world) if body else None
    status = expected(role, kind, staff_status)
    before = stored_rows()

    response = getattr(client, method)(url(world), data, format="json")

    assert response.status_code == status, getattr(response, "data", response)
    changed = changed_tables(before, stored_rows())
    if method == "get" or status >= 400:
        assert changed == []
    else:
        assert TABLES[name.split("-")[0]]._meta.label in changed


def test_anonymous_is_challenged_for_a_token(anon_api):
    response = anon_api.get("/api/v1/sessions/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_token_endpoint_is_open_to_anonymous(anon_api, staff_user):
    response = anon_api.post("/api/v1/auth/token/",
                             {"username": "staff", "password": "pw-for-tests-1"}, format="json")

    assert response.status_code == 200


def test_officials_cannot_write_even_with_a_valid_payload(official_api, world):
    response = official_api.post("/api/v1/sessions/", session_body(world), format="json")

    assert response.status_code == 403
    assert list(LivestreamSession.objects.values_list("pk", flat=True)) == [world.session.pk]
    assert not LivestreamSession.history.filter(title="Millet").exists()


def test_a_county_with_officials_cannot_be_deleted(staff_api, world):
    before = stored_rows()

    response = staff_api.delete(f"/api/v1/counties/{world.county.pk}/")

    assert response.status_code == 409
    assert response.json()["detail"]
    assert changed_tables(before, stored_rows()) == []


def test_an_official_with_sessions_cannot_be_deleted(staff_api, world):
    before = stored_rows()

    response = staff_api.delete(f"/api/v1/officials/{world.official.pk}/")

    assert response.status_code == 409
    assert changed_tables(before, stored_rows()) == []
