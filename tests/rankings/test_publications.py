"""Publication (design.md, "Trust in the numbers"): who publishes, refused while stale, a
revision that never changes and is never pruned, the difference between revisions, the
baseline of movement arrows, and the official report's workbook."""

import io
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from rankings.models import Publication, RankingSnapshot
from rankings.selectors import leaderboard_get, publication_diff
from rankings.services import (
    SNAPSHOTS_KEPT,
    RankingsNotCurrent,
    holiday_publish,
    holiday_rankings_recompute,
)
from sessions_app.models import Holiday

from ..factories import OfficialFactory, SessionFactory, UserFactory, session_resave

pytestmark = pytest.mark.django_db


def api_for(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(user)
    return client


def recompute(holiday):
    result = holiday_rankings_recompute(holiday_id=holiday.pk)
    holiday.refresh_from_db()
    return result


def make_stale(holiday):
    Holiday.objects.filter(pk=holiday.pk).update(data_version=holiday.data_version + 1)
    holiday.refresh_from_db()


def board(holiday, **kwargs):
    values = {"metric": "revenue", "scope": "official", **kwargs}
    return [(e.official.name, e.rank, e.value, e.previous_rank)
            for e in leaderboard_get(holiday=holiday, **values).entries]


@pytest.fixture
def two_officials(holiday):
    a, b = OfficialFactory(name="A"), OfficialFactory(name="B")
    sessions = {"a": SessionFactory(official=a, revenue=Decimal("200.00")),
                "b": SessionFactory(official=b, revenue=Decimal("100.00"))}
    recompute(holiday)
    return sessions


# --- Who publishes, and when ----------------------------------------------------------------


def test_city_leads_and_superusers_publish_and_others_may_not(
        holiday, two_officials, city_lead, superuser, staff_user, official_user):
    url = f"/api/v1/holidays/{holiday.slug}/publish/"
    assert api_for(staff_user).post(url, {"note": "x"}, format="json").status_code == 403
    assert api_for(official_user).post(url, {}, format="json").status_code == 403

    first = api_for(city_lead).post(url, {"note": "Final figures"}, format="json")
    second = api_for(superuser).post(f"/api/v1/holidays/{holiday.pk}/publish/", {},
                                     format="json")

    assert first.status_code == 201 and second.status_code == 201
    assert (first.json()["revision"], first.json()["note"],
            first.json()["published_by"]) == (1, "Final figures", "lead")
    assert second.json()["revision"] == 2
    listed = api_for(official_user).get(f"/api/v1/holidays/{holiday.slug}/publications/")
    assert [p["revision"] for p in listed.json()["results"]] == [2, 1]


def test_publishing_is_refused_with_409_while_the_rankings_are_being_updated(
        holiday, two_officials, city_lead):
    make_stale(holiday)

    response = api_for(city_lead).post(f"/api/v1/holidays/{holiday.slug}/publish/",
                                       {"note": "now"}, format="json")

    assert response.status_code == 409
    assert "being updated" in response.json()["detail"]
    assert not Publication.objects.exists()


def test_publishing_a_holiday_never_computed_is_refused(holiday, city_lead):
    with pytest.raises(RankingsNotCurrent):
        holiday_publish(holiday=holiday, user=city_lead)


def test_publishing_tells_the_officials_after_commit(
        holiday, two_officials, city_lead, django_capture_on_commit_callbacks):
    from linfen_tracker.celery_app import app

    task = app.tasks["notifications.tasks.holiday_published_notify"]
    with mock.patch.object(task, "delay") as delay, \
            django_capture_on_commit_callbacks(execute=True):
        holiday_publish(holiday=holiday, user=city_lead, note="Final")
        delay.assert_not_called()  # not before the commit
    delay.assert_called_once_with(holiday_id=holiday.pk, revision=1, note="Final")


# --- A revision never changes ----------------------------------------------------------------


def test_a_revision_stays_as_published_after_later_edits_and_recomputes(
        holiday, two_officials, city_lead, official_user):
    holiday_publish(holiday=holiday, user=city_lead, note="r1")
    two_officials["b"].revenue = Decimal("900.00")
    session_resave(two_officials["b"])
    for _ in range(SNAPSHOTS_KEPT + 2):
        recompute(holiday)

    client = api_for(official_user)
    published = client.get("/api/v1/rankings/", {"holiday": holiday.slug, "revision": 1})
    latest = client.get("/api/v1/rankings/", {"holiday": holiday.slug, "revision": "latest"})
    provisional = client.get("/api/v1/rankings/", {"holiday": holiday.slug})

    assert published.json()["revision"] == 1 == latest.json()["revision"]
    assert [(r["official"]["name"], r["value"]) for r in published.json()["results"]] == [
        ("A", "200.00"), ("B", "100.00")]
    assert provisional.json()["revision"] is None
    assert provisional.json()["publication"]["revision"] == 1
    assert [r["official"]["name"] for r in provisional.json()["results"]] == ["B", "A"]
    # Its snapshot survived the pruning.
    assert RankingSnapshot.objects.filter(pk=Publication.objects.get().snapshot_id).exists()
    assert RankingSnapshot.objects.filter(holiday=holiday).count() == SNAPSHOTS_KEPT + 1


def test_an_unknown_revision_is_a_400_that_lists_the_published_ones(
        holiday, two_officials, city_lead, official_user):
    client = api_for(official_user)
    none_yet = client.get("/api/v1/rankings/", {"holiday": holiday.slug, "revision": 1})
    assert none_yet.status_code == 400 and "no published revision" in none_yet.json()[
        "revision"][0]
    holiday_publish(holiday=holiday, user=city_lead)
    response = client.get("/api/v1/rankings/", {"holiday": holiday.slug, "revision": 3})
    assert response.status_code == 400
    assert response.json()["revision"] == ["No revision 3 of this holiday: use latest or 1."]
    bad = client.get("/api/v1/rankings/", {"holiday": holiday.slug, "revision": "first"})
    assert bad.status_code == 400 and "revision" in bad.json()


# --- The difference between revisions --------------------------------------------------------


def test_the_diff_lists_rank_and_value_changes_and_entries_added_and_removed(
        holiday, two_officials, city_lead, official_user):
    holiday_publish(holiday=holiday, user=city_lead)
    two_officials["b"].revenue = Decimal("300.00")
    session_resave(two_officials["b"])
    two_officials["a"].delete()
    c = OfficialFactory(name="C")
    SessionFactory(official=c, revenue=Decimal("50.00"))
    recompute(holiday)
    holiday_publish(holiday=holiday, user=city_lead, note="correction")

    diff = publication_diff(holiday=holiday, revision=2)
    revenue = [(ch.kind, ch.subject.name, ch.rank_before, ch.rank_after, ch.value_before,
                ch.value_after) for ch in diff.changes
               if ch.scope == "official" and ch.metric == "revenue"]
    assert revenue == [
        ("changed", "B", 2, 1, Decimal("100.00"), Decimal("300.00")),
        ("added", "C", None, 2, None, Decimal("50.00")),
        ("removed", "A", 1, None, Decimal("200.00"), None),
    ]
    body = api_for(official_user).get(
        f"/api/v1/holidays/{holiday.slug}/publications/2/diff/").json()
    assert body["previous_revision"] == 1
    assert {"kind": "removed", "official": "A"} in [
        {"kind": c["kind"], "official": c["official"]["name"]} for c in body["changes"]
        if c["scope"] == "official" and c["metric"] == "revenue"]
    first = api_for(official_user).get(f"/api/v1/holidays/{holiday.slug}/publications/1/diff/")
    assert first.json()["previous_revision"] is None
    assert {c["kind"] for c in first.json()["changes"]} == {"added"}
    assert api_for(official_user).get(
        f"/api/v1/holidays/{holiday.slug}/publications/9/diff/").status_code == 404


def test_the_diff_page_shows_the_changes(holiday, two_officials, city_lead, client):
    holiday_publish(holiday=holiday, user=city_lead)
    two_officials["b"].revenue = Decimal("300.00")
    session_resave(two_officials["b"])
    recompute(holiday)
    holiday_publish(holiday=holiday, user=city_lead)
    client.force_login(city_lead)

    page = client.get(f"/holidays/{holiday.slug}/publications/2/",
                      HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert 'data-change="changed"' in page and "300" in page


# --- The baseline of movement arrows ----------------------------------------------------------


def test_without_a_publication_arrows_compare_with_the_previous_days_last_snapshot(holiday):
    a, b = OfficialFactory(name="A"), OfficialFactory(name="B")
    SessionFactory(official=a, revenue=Decimal("200.00"))
    low = SessionFactory(official=b, revenue=Decimal("100.00"))
    yesterday = recompute(holiday)
    RankingSnapshot.objects.filter(pk=yesterday.snapshot_id).update(
        computed_at=timezone.now() - timedelta(days=1))
    low.revenue = Decimal("300.00")
    session_resave(low)
    recompute(holiday)
    # Two saves today: compared with the snapshot just before, B would show no move.
    recompute(holiday)

    assert board(holiday) == [("B", 1, Decimal("300.00"), 2), ("A", 2, Decimal("200.00"), 1)]
    assert leaderboard_get(holiday=holiday, metric="revenue",
                           scope="official").baseline.kind == "previous_day"


def test_with_a_publication_arrows_compare_with_the_last_published_revision(
        holiday, two_officials, city_lead, client):
    holiday_publish(holiday=holiday, user=city_lead)
    two_officials["b"].revenue = Decimal("300.00")
    session_resave(two_officials["b"])
    recompute(holiday)
    recompute(holiday)

    assert board(holiday) == [("B", 1, Decimal("300.00"), 2), ("A", 2, Decimal("200.00"), 1)]
    client.force_login(city_lead)
    page = client.get(f"/holidays/{holiday.slug}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-baseline="published"' in page
    assert "compared with published revision 1" in page
    assert "Provisional" in page


def test_a_revision_page_says_who_published_it_and_when(holiday, two_officials, city_lead,
                                                         client):
    holiday_publish(holiday=holiday, user=city_lead, note="Final")
    client.force_login(city_lead)

    page = client.get(f"/holidays/{holiday.slug}/?revision=1",
                      HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Published revision 1" in page and "by lead" in page


# --- The publish page ---------------------------------------------------------------------------


def test_the_publish_page_shows_what_is_unverified_and_flagged_before_confirming(
        holiday, two_officials, city_lead, client):
    client.force_login(city_lead)
    url = f"/holidays/{holiday.slug}/publish/"

    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-unverified="2"' in page and 'data-flagged="0"' in page

    response = client.post(url, {"note": "Final"})
    assert response.status_code == 302
    assert Publication.objects.get().note == "Final"

    make_stale(holiday)
    refused = client.post(url, {"note": "again"}, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 409
    assert Publication.objects.count() == 1


def test_officials_cannot_open_the_publish_page(holiday, two_officials, official_user, client):
    client.force_login(official_user)
    assert client.get(f"/holidays/{holiday.slug}/publish/").status_code == 403


def test_the_city_leads_group_is_made_by_a_migration():
    from django.contrib.auth.models import Group

    lead = UserFactory(username="lead2", group="city_leads")
    assert lead.has_perm("rankings.add_publication")
    assert lead.has_perm("sessions_app.view_livestreamsession")
    assert not lead.has_perm("sessions_app.change_livestreamsession")
    assert Group.objects.filter(name="city_leads").exists()


# --- The report -------------------------------------------------------------------------------


def test_the_report_workbook_has_every_board_totals_and_counted_sessions(
        holiday, county, other_county, city_lead, official_user):
    a = OfficialFactory(name="A", county=county)  # a key poverty-relief county
    b = OfficialFactory(name="B", county=other_county)
    SessionFactory(official=a, revenue=Decimal("300.00"), audience=1000, orders=30)
    first_b = SessionFactory(official=b, revenue=Decimal("100.00"), audience=5000, orders=10)
    recompute(holiday)
    holiday_publish(holiday=holiday, user=city_lead, note="r1")
    first_b.revenue = Decimal("900.00")  # after publication: revision 1 does not change
    session_resave(first_b)
    recompute(holiday)

    response = api_for(official_user).get(
        f"/api/v1/holidays/{holiday.slug}/report.xlsx", {"revision": 1})

    assert response.status_code == 200
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == ["干部榜", "县区榜", "合计", "计入的场次"]
    officials = workbook["干部榜"]
    assert "第 1 版" in officials["A2"].value
    headers = [c.value for c in officials[3]]
    assert headers[:4] == ["干部", "职务", "县区", "直播场次"]
    assert "销售额" in headers and "销售额排名" in headers
    revenue_col = headers.index("销售额") + 1
    assert officials.cell(row=4, column=1).value == "A"
    assert officials.cell(row=4, column=revenue_col).value == 300  # a number, not text
    assert officials.cell(row=4, column=revenue_col).number_format == "#,##0.00"
    assert officials.cell(row=5, column=revenue_col).value == 100
    assert officials.freeze_panes == "A4"
    assert officials.column_dimensions["A"].width == 14
    counties = workbook["县区榜"]
    assert counties.max_row == 3 + 17
    totals = {row[0].value: row[1].value for row in workbook["合计"].iter_rows(min_row=4)}
    assert totals["销售额"] == 400 and totals["直播场次"] == 2
    assert totals["扶贫重点县销售额占比"] == pytest.approx(0.75)
    sessions = workbook["计入的场次"]
    assert sessions.max_row == 3 + 2
    assert sorted(sessions.cell(row=r, column=10).value for r in (4, 5)) == [100, 300]


def test_the_report_page_states_the_revision_basis_and_time(holiday, two_officials,
                                                             city_lead, client):
    holiday_publish(holiday=holiday, user=city_lead)
    client.force_login(city_lead)

    page = client.get(f"/holidays/{holiday.slug}/report/?revision=1").content.decode()
    provisional = client.get(f"/holidays/{holiday.slug}/report/").content.decode()

    assert 'lang="zh-hans"' in page
    assert "第 1 版" in page and "临汾市" in page and "size: A4 portrait" in page
    assert "临时" in provisional
