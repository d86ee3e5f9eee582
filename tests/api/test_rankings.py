"""Rankings and holiday summaries through the API: design.md's shapes, read from the latest
complete snapshot; a holiday without one is an empty list with a status, not an error."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from rankings.services import holiday_rankings_recompute
from sessions_app.models import County
from tests.factories import HolidayFactory, SessionFactory, beijing

URL = "/api/v1/rankings/"


def test_official_revenue_board_has_the_design_shape(staff_api, ranked_holiday, official):
    response = staff_api.get(URL, {"holiday": ranked_holiday.slug, "metric": "revenue",
                                   "scope": "official"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"holiday", "metric", "scope", "revision", "publication", "baseline",
                         "computed_at", "status", "results"}
    assert (body["revision"], body["publication"]) == (None, None)
    assert body["baseline"] == {"kind": "none", "revision": None, "computed_at": None}
    assert body["holiday"] == {"id": ranked_holiday.pk, "slug": "labor-day-2020",
                               "name": "Labor Day 2020", "start_date": "2020-05-01",
                               "end_date": "2020-05-05"}
    assert (body["metric"], body["scope"], body["status"]) == ("revenue", "official", "ready")
    assert body["computed_at"] is not None
    first, second = body["results"]
    assert first == {
        "rank": 1, "previous_rank": None, "value": "1500.50", "sessions": 2,
        "official": {
            "id": official.pk, "name": "Zhang Wei", "title": "County head",
            "county": {"id": official.county_id, "slug": "jixian", "name": "Ji County",
                       "name_zh": "吉县", "poverty_relief_key": True},
        },
    }
    assert (second["rank"], second["value"], second["official"]["name"]) == (2, "900.00",
                                                                            "Li Na")


def test_counts_are_integers_and_the_holiday_may_be_named_by_id(staff_api, ranked_holiday):
    body = staff_api.get(URL, {"holiday": ranked_holiday.pk, "metric": "audience"}).json()

    assert [(r["rank"], r["value"]) for r in body["results"]] == [(1, 400), (2, 150)]


def test_county_board_lists_every_county_and_the_empty_ones_share_the_last_rank(
    staff_api, ranked_holiday
):
    body = staff_api.get(URL, {"holiday": ranked_holiday.slug, "metric": "orders",
                               "scope": "county"}).json()

    results = body["results"]
    assert len(results) == County.objects.count() == 17
    assert results[0]["county"]["slug"] == "jixian" and results[0]["value"] == 15
    assert "official" not in results[0]
    assert {r["rank"] for r in results[2:]} == {3}


def test_limit_cuts_the_board(staff_api, ranked_holiday):
    body = staff_api.get(URL, {"holiday": ranked_holiday.slug, "scope": "county",
                               "limit": 5}).json()

    assert len(body["results"]) == 5


def test_without_a_holiday_it_shows_the_current_or_latest_one(staff_api, ranked_holiday):
    HolidayFactory(name="National Day 2019", slug="national-day-2019",
                   start_date=date(2019, 10, 1), end_date=date(2019, 10, 7))

    body = staff_api.get(URL).json()

    assert body["holiday"]["slug"] == "labor-day-2020"
    assert (body["metric"], body["scope"]) == ("revenue", "official")


def test_a_holiday_without_sessions_is_an_empty_board_ready_at_once(staff_api, holiday):
    response = staff_api.get(URL, {"holiday": holiday.slug})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["results"] == [] and body["computed_at"] is not None


def test_a_write_shows_at_once_and_movement_is_measured_from_the_stated_baseline(
    staff_api, ranked_holiday, official
):
    SessionFactory(official=official, started_at=beijing(2020, 5, 4, 9),
                   revenue=Decimal("5000.00"))
    ranked_holiday.data_version += 1  # what a service write does
    ranked_holiday.save()

    live = staff_api.get(URL, {"holiday": ranked_holiday.slug}).json()
    holiday_rankings_recompute(holiday_id=ranked_holiday.pk)
    snapshotted = staff_api.get(URL, {"holiday": ranked_holiday.slug}).json()

    assert live["status"] == "ready"
    assert live["results"][0]["value"] == "6500.50"
    assert snapshotted["results"][0]["value"] == "6500.50"
    # Every snapshot is today's and nothing is published: no baseline to move against.
    assert live["results"][0]["previous_rank"] is None
    assert live["baseline"]["kind"] == "none"


@pytest.mark.parametrize(
    "params, field",
    [
        ({"metric": "likes"}, "metric"),
        ({"scope": "village"}, "scope"),
        ({"holiday": "spring-festival-1999"}, "holiday"),
        ({"holiday": "9" * 40}, "holiday"),
        ({"limit": "0"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_unknown_metric_scope_or_holiday_is_a_400_with_the_parameter(
    staff_api, ranked_holiday, params, field
):
    response = staff_api.get(URL, {"holiday": ranked_holiday.slug, **params})

    assert response.status_code == 400
    assert field in response.json()


def test_with_no_holiday_at_all_it_says_so(staff_api):
    response = staff_api.get(URL)

    assert response.status_code == 400
    assert "holiday" in response.json()


def test_rankings_export_is_a_utf8_csv_with_bom(staff_api, ranked_holiday):
    response = staff_api.get(f"{URL}export/", {"holiday": ranked_holiday.slug,
                                               "scope": "county"},
                             HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 1 + 17
    assert rows[1][:3] == ["1", "", "吉县"]
    assert rows[1][6] == "1500.50"


# --- Summary ---------------------------------------------------------------------------------


def test_summary_has_totals_poverty_relief_revenue_and_breakdowns(staff_api, ranked_holiday):
    response = staff_api.get(f"/api/v1/holidays/{ranked_holiday.slug}/summary/")

    assert response.status_code == 200
    body = response.json()
    assert body["holiday"]["id"] == ranked_holiday.pk
    assert (body["sessions"], body["audience"], body["orders"], body["revenue"]) == (
        3, 550, 18, "2400.50")
    # Zhang Wei's sessions are in Ji County (a national key county); Li Na's in Yaodu.
    assert body["poverty_relief_revenue"] == "1500.50"
    assert body["poverty_relief_share"] == "0.6251"
    assert [d["date"] for d in body["by_day"]] == [f"2020-05-0{i}" for i in range(1, 6)]
    assert [d["sessions"] for d in body["by_day"]] == [1, 1, 1, 0, 0]
    assert body["by_county"][0]["slug"] == "jixian"
    assert body["by_county"][0]["revenue"] == "1500.50"
    assert len(body["by_county"]) == 17
    assert body["by_platform"] == [{"platform": "douyin", "sessions": 3, "audience": 550,
                                    "orders": 18, "revenue": "2400.50", "refunded_orders": 0,
                                    "refunds": "0.00", "net_revenue": "2400.50"}]


def test_summary_counts_a_session_by_its_beijing_date(staff_api, holiday, official):
    # 23:30 on May 5 in Beijing is 15:30 UTC: inside. 00:00 on May 6 is outside.
    SessionFactory(official=official, started_at=beijing(2020, 5, 5, 23, 30))
    SessionFactory(official=official, started_at=beijing(2020, 5, 6, 0, 0))

    body = staff_api.get(f"/api/v1/holidays/{holiday.pk}/summary/").json()

    assert body["sessions"] == 1
    assert body["by_day"][-1]["sessions"] == 1
    assert body["poverty_relief_share"] == "1.0000"


def test_summary_counts_poverty_relief_revenue_where_the_session_was_held(
    staff_api, holiday, sessions_held_away
):
    body = staff_api.get(f"/api/v1/holidays/{holiday.slug}/summary/").json()

    assert (body["revenue"], body["poverty_relief_revenue"]) == ("400.00", "300.00")
    assert body["poverty_relief_share"] == "0.7500"
    revenue = {row["slug"]: row["revenue"] for row in body["by_county"]}
    assert (revenue["jixian"], revenue["yaodu"]) == ("300.00", "100.00")


def test_county_board_counts_a_session_where_it_was_held(staff_api, holiday,
                                                         sessions_held_away):
    holiday_rankings_recompute(holiday_id=holiday.pk)

    body = staff_api.get(URL, {"holiday": holiday.slug, "metric": "revenue",
                               "scope": "county"}).json()

    head = [(r["rank"], r["county"]["slug"], r["county"]["poverty_relief_key"], r["value"])
            for r in body["results"][:2]]
    assert head == [(1, "jixian", True, "300.00"), (2, "yaodu", False, "100.00")]


def test_summary_of_an_empty_holiday_is_zeros(staff_api, holiday):
    body = staff_api.get(f"/api/v1/holidays/{holiday.slug}/summary/").json()

    assert (body["sessions"], body["revenue"], body["poverty_relief_share"]) == (
        0, "0.00", None)


def test_summary_of_an_unknown_holiday_is_404(staff_api):
    assert staff_api.get("/api/v1/holidays/no-such/summary/").status_code == 404
    assert staff_api.get(f"/api/v1/holidays/{'9' * 30}/summary/").status_code == 404


@pytest.mark.parametrize("scope", ["official", "county"])
def test_every_limit_gives_the_head_of_the_whole_board_ties_by_name(
    staff_api, ranked_holiday, scope
):
    # 15 counties without sessions share the last rank: most limits cut into that tie.
    whole = staff_api.get(URL, {"holiday": ranked_holiday.slug, "scope": scope}).json()
    results = whole["results"]

    for limit in range(1, len(results) + 2):
        head = staff_api.get(URL, {"holiday": ranked_holiday.slug, "scope": scope,
                                   "limit": limit}).json()["results"]
        assert head == results[:limit], limit
