"""Sessions through the API: writes go through the services, bad input is a 400 with the
field, nothing is half-saved, edits carry the version they started from."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from sessions_app.models import County, LivestreamSession
from tests.factories import OfficialFactory, SessionFactory, beijing

LIST = "/api/v1/sessions/"


def detail(session) -> str:
    return f"/api/v1/sessions/{session.pk}/"


@pytest.fixture
def payload(official):
    return {
        "official": official.pk,
        "platform": "douyin",
        "title": "吉县苹果直播",
        "products": "apples",
        "started_at": "2020-05-01T10:00:00+08:00",
        "ended_at": "2020-05-01T12:00:00+08:00",
        "audience": 120000,
        "orders": 3400,
        "revenue": "230000.50",
    }


def test_it_is_mounted_under_api_v1():
    assert reverse("api:session-list") == LIST


def test_creating_a_session_defaults_the_county_and_records_who_entered_it(
    staff_api, staff_user, payload, official, other_county
):
    response = staff_api.post(LIST, {**payload, "entered_by": 999}, format="json")

    assert response.status_code == 201, response.data
    session = LivestreamSession.objects.get()
    assert session.county == official.county
    assert session.entered_by == staff_user
    assert response.data["county"] == official.county_id
    assert response.data["entered_by"] == staff_user.pk
    assert response.data["revenue"] == "230000.50"
    assert response.data["version"] == 1
    assert session.history.get().history_user == staff_user


def test_a_session_may_name_another_county_than_the_officials(staff_api, payload, other_county):
    response = staff_api.post(LIST, {**payload, "county": other_county.pk}, format="json")

    assert response.status_code == 201
    assert LivestreamSession.objects.get().county == other_county


def test_creating_a_session_in_a_holiday_recomputes_its_rankings(
    staff_api, payload, holiday, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(LIST, payload, format="json")

    assert response.status_code == 201
    rankings = staff_api.get("/api/v1/rankings/", {"holiday": holiday.slug}).json()
    assert rankings["status"] == "ready"
    assert rankings["results"][0]["value"] == "230000.50"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"audience": -1}, "audience"),
        ({"orders": -5}, "orders"),
        ({"revenue": "-0.01"}, "revenue"),
        ({"revenue": "lots"}, "revenue"),
        ({"revenue": "12.345"}, "revenue"),
        ({"revenue": "NaN"}, "revenue"),
        ({"audience": "many"}, "audience"),
        ({"ended_at": "2020-05-01T09:00:00+08:00"}, "ended_at"),
        ({"ended_at": "2020-05-01T10:00:00+08:00"}, "ended_at"),
        ({"official": 999999}, "official"),
        ({"official": 10**30}, "official"),
        ({"official": "Zhang Wei"}, "official"),
        ({"county": 999999}, "county"),
        ({"started_at": "2020-13-01T10:00"}, "started_at"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"started_at": "0001-01-01T00:00:00+08:00"}, "started_at"),
        ({"ended_at": "9999-12-31T23:59:59"}, "ended_at"),
        ({"platform": "myspace"}, "platform"),
        ({"title": ""}, "title"),
        ({"title": "walnuts\x00"}, "title"),
    ],
)
def test_it_rejects_a_bad_session_with_the_field_and_saves_nothing(
    staff_api, payload, change, field
):
    response = staff_api.post(LIST, {**payload, **change}, format="json")

    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert response.json()[field]  # a reason, not just the name
    assert not LivestreamSession.objects.exists()


def test_it_rejects_a_second_session_of_an_official_at_the_same_start(
    staff_api, payload, official
):
    SessionFactory(official=official, started_at=beijing(2020, 5, 1, 10))

    response = staff_api.post(LIST, payload, format="json")

    assert response.status_code == 400
    assert "already has a session on this platform" in response.json()["started_at"][0]
    assert LivestreamSession.objects.count() == 1


@pytest.mark.parametrize("method", ["patch", "put"])
def test_an_update_without_a_version_is_428_and_changes_nothing(staff_api, payload, official,
                                                                method):
    session = SessionFactory(official=official, revenue=Decimal("10.00"))

    response = getattr(staff_api, method)(detail(session), {**payload, "revenue": "20.00"},
                                          format="json")

    assert response.status_code == 428
    assert "version" in response.json()["detail"]
    session.refresh_from_db()
    assert (session.revenue, session.version) == (Decimal("10.00"), 1)


def test_it_rejects_a_payload_that_is_not_an_object(staff_api):
    response = staff_api.post(LIST, ["not", "a", "session"], format="json")

    assert response.status_code == 400


def test_it_rejects_malformed_json(staff_api):
    response = staff_api.generic("POST", LIST, "{not json", content_type="application/json")

    assert response.status_code == 400


def test_partial_update_changes_the_field_and_bumps_the_version(staff_api, staff_user, official):
    session = SessionFactory(official=official, revenue=Decimal("10.00"))

    response = staff_api.patch(detail(session), {"revenue": "20.00", "version": 1},
                               format="json")

    assert response.status_code == 200, response.data
    assert response.data["revenue"] == "20.00"
    assert response.data["version"] == 2
    assert response["ETag"] == '"2"'
    session.refresh_from_db()
    assert session.revenue == Decimal("20.00")


def test_an_update_from_a_stale_version_is_refused_with_409(staff_api, official):
    session = SessionFactory(official=official, version=3, revenue=Decimal("10.00"))

    response = staff_api.patch(detail(session), {"revenue": "20.00", "version": 2},
                               format="json")

    assert response.status_code == 409
    assert response.json()["current_version"] == 3
    assert "changed by someone else" in response.json()["detail"]
    session.refresh_from_db()
    assert session.revenue == Decimal("10.00")


def test_an_update_from_a_stale_if_match_header_is_refused_with_409(staff_api, official):
    session = SessionFactory(official=official, version=3)

    response = staff_api.patch(detail(session), {"title": "new"}, format="json",
                               HTTP_IF_MATCH='"2"')

    assert response.status_code == 409
    session.refresh_from_db()
    assert session.title != "new"


def test_an_update_from_the_current_version_goes_through(staff_api, official):
    session = SessionFactory(official=official, version=3)
    etag = staff_api.get(detail(session))["ETag"]

    response = staff_api.patch(detail(session), {"title": "new"}, format="json",
                               HTTP_IF_MATCH=etag)

    assert response.status_code == 200
    assert response.data["version"] == 4
    session.refresh_from_db()
    assert (session.title, session.version) == ("new", 4)


def test_a_malformed_if_match_header_is_a_400(staff_api, official):
    session = SessionFactory(official=official)

    response = staff_api.patch(detail(session), {"title": "new"}, format="json",
                               HTTP_IF_MATCH="yesterday")

    assert response.status_code == 400
    assert "version" in response.json()


def test_a_full_update_rejects_end_before_start_and_keeps_the_row(staff_api, official):
    session = SessionFactory(official=official)
    body = {
        "official": official.pk, "platform": "kuaishou", "title": "t",
        "started_at": "2020-05-02T10:00:00+08:00", "ended_at": "2020-05-02T09:00:00+08:00",
        "audience": 1, "orders": 1, "revenue": "1.00", "version": 1,
    }

    response = staff_api.put(detail(session), body, format="json")

    assert response.status_code == 400
    assert "ended_at" in response.json()
    stored = LivestreamSession.objects.get(pk=session.pk)
    assert stored.platform == "douyin" and stored.version == 1


def test_moving_a_session_onto_another_of_the_officials_start_times_is_a_400(
    staff_api, official
):
    first = SessionFactory(official=official, started_at=beijing(2020, 5, 1, 10))
    second = SessionFactory(official=official, started_at=beijing(2020, 5, 1, 14))

    response = staff_api.patch(detail(second), {"started_at": first.started_at.isoformat(),
                                                 "version": 1}, format="json")

    assert response.status_code == 400
    assert "started_at" in response.json()
    stored = LivestreamSession.objects.get(pk=second.pk)
    assert (stored.started_at, stored.version) == (beijing(2020, 5, 1, 14), 1)


def test_delete_removes_the_session_and_keeps_its_history(staff_api, staff_user, official):
    session = SessionFactory(official=official)

    response = staff_api.delete(detail(session))

    assert response.status_code == 204
    assert not LivestreamSession.objects.filter(pk=session.pk).exists()
    history = staff_api.get(f"{detail(session)}history/").json()["results"]
    assert history[0]["history_type"] == "deleted"
    assert history[0]["history_user"] == staff_user.pk


def test_history_lists_who_changed_what_from_which_value(staff_api, staff_user, payload):
    created = staff_api.post(LIST, payload, format="json").json()
    url = f"{LIST}{created['id']}/"
    staff_api.patch(url, {"revenue": "1.00", "title": "更正", "version": 1}, format="json")

    response = staff_api.get(f"{url}history/")

    assert response.status_code == 200
    latest, first = response.json()["results"]
    assert latest["history_type"] == "changed"
    assert latest["history_user_name"] == "staff"
    assert latest["version"] == 2
    assert {c["field"]: (c["old"], c["new"]) for c in latest["changes"]} == {
        "revenue": ("230000.50", "1.00"),
        "title": ("吉县苹果直播", "更正"),
    }
    assert first["history_type"] == "created"
    assert {"field": "official", "old": None, "new": payload["official"]} in first["changes"]


def test_history_of_an_unknown_session_is_404(staff_api):
    assert staff_api.get(f"{LIST}424242/history/").status_code == 404


def test_an_overflowing_id_in_the_path_is_404_not_500(staff_api):
    assert staff_api.get(f"{LIST}{10**30}/").status_code == 404


@pytest.fixture
def filtered_sessions(holiday, official, other_county):
    elsewhere = OfficialFactory(name="Wang Fang", county=other_county)
    return {
        "in": SessionFactory(official=official, started_at=beijing(2020, 5, 5, 23, 30)),
        "after": SessionFactory(official=official, started_at=beijing(2020, 5, 6, 0, 0)),
        "kuaishou": SessionFactory(official=elsewhere, platform="kuaishou",
                                   started_at=beijing(2020, 5, 1, 0, 0)),
    }


def ids(response) -> set:
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("key", ["slug", "pk"])
def test_the_holiday_filter_takes_beijing_days_by_id_or_slug(
    staff_api, holiday, filtered_sessions, key
):
    response = staff_api.get(LIST, {"holiday": getattr(holiday, key)})

    assert ids(response) == {filtered_sessions["in"].pk, filtered_sessions["kuaishou"].pk}


def test_filters_by_county_official_platform_and_start(staff_api, official, other_county,
                                                       filtered_sessions):
    s = filtered_sessions
    assert ids(staff_api.get(LIST, {"county": other_county.slug})) == {s["kuaishou"].pk}
    assert ids(staff_api.get(LIST, {"county": other_county.pk})) == {s["kuaishou"].pk}
    assert ids(staff_api.get(LIST, {"official": official.pk})) == {s["in"].pk, s["after"].pk}
    assert ids(staff_api.get(LIST, {"platform": "kuaishou"})) == {s["kuaishou"].pk}
    assert ids(staff_api.get(LIST, {"started_after": "2020-05-06T00:00:00+08:00"})) == {
        s["after"].pk}
    assert ids(staff_api.get(LIST, {"started_before": "2020-05-01T00:00:01"})) == {
        s["kuaishou"].pk}


@pytest.mark.parametrize(
    "params, field",
    [
        ({"holiday": "no-such-holiday"}, "holiday"),
        ({"holiday": "999999"}, "holiday"),
        ({"holiday": "9" * 40}, "holiday"),
        ({"holiday": "劳动节"}, "holiday"),
        ({"county": "atlantis"}, "county"),
        ({"official": "999999"}, "official"),
        ({"official": "abc"}, "official"),
        ({"platform": "myspace"}, "platform"),
        ({"started_after": "last tuesday"}, "started_after"),
        ({"started_before": "2020-02-30T10:00"}, "started_before"),
        ({"started_before": "0001-01-01T00:00:00+08:00"}, "started_before"),
    ],
)
def test_an_unknown_filter_value_is_a_400_with_the_parameter(staff_api, params, field):
    response = staff_api.get(LIST, params)

    assert response.status_code == 400
    assert field in response.json()


def test_the_list_is_paginated_and_orderable(staff_api, official):
    for revenue in ("3.00", "1.00", "2.00"):
        SessionFactory(official=official, revenue=Decimal(revenue))

    body = staff_api.get(LIST, {"ordering": "revenue"}).json()

    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert [row["revenue"] for row in body["results"]] == ["1.00", "2.00", "3.00"]
    assert set(body["results"][0]) == {
        "id", "official", "county", "platform", "title", "products", "started_at",
        "ended_at", "audience", "orders", "revenue", "refunded_orders", "refunds",
        "net_revenue", "unique_viewers", "peak_viewers", "new_followers", "hosts", "items",
        "status", "verified_by", "verified_at", "rejection_reason",
        "evidence", "entered_by", "created_at", "updated_at", "version",
    }


def test_the_export_is_a_csv_excel_reads_as_utf8_with_every_filtered_row(
    staff_api, holiday, official
):
    SessionFactory(official=official, title="=HYPERLINK(\"x\")", started_at=beijing(2020, 5, 2))
    for i in range(60):  # more than a page
        SessionFactory(official=official, started_at=beijing(2020, 5, 3) + timedelta(minutes=i))
    SessionFactory(official=official, started_at=beijing(2020, 6, 1))

    response = staff_api.get(f"{LIST}export/", {"holiday": holiday.slug},
                             HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    raw = b"".join(response.streaming_content)
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 1 + 61
    assert "吉县" in rows[1]  # the county's Chinese name under Chinese
    assert "'=HYPERLINK(\"x\")" in [cell for row in rows for cell in row]


def test_the_county_default_is_the_officials_county_at_entry_time(
    staff_api, payload, official, other_county
):
    first = staff_api.post(LIST, payload, format="json").json()
    official.county = other_county
    official.save()

    second = staff_api.post(
        LIST, {**payload, "started_at": "2020-05-02T10:00:00+08:00",
               "ended_at": "2020-05-02T11:00:00+08:00"}, format="json").json()

    assert first["county"] == County.objects.get(slug="jixian").pk
    assert second["county"] == other_county.pk
