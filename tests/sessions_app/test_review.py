"""Trust in the numbers, part 1: refunds and net revenue, rejection under the four-eyes rule,
edits sending a checked session back to `entered`, and the holiday's ranking basis."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation
from rest_framework.test import APIClient

from sessions_app import services
from sessions_app.models import LivestreamSession, RankingBasis, SessionStatus
from sessions_app.selectors import holiday_summary

from ..factories import OfficialFactory, UserFactory, beijing

pytestmark = pytest.mark.django_db


def enter(user, official=None, **overrides) -> LivestreamSession:
    values = dict(
        entered_by=user, official=official or OfficialFactory(), platform="douyin",
        title="Walnuts", started_at=beijing(2020, 5, 2, 10), ended_at=beijing(2020, 5, 2, 12),
        audience=1000, orders=10, revenue=Decimal("1000.00"),
    )
    values.update(overrides)
    return services.session_create(**values)


@pytest.fixture
def reviewer(db):
    return UserFactory(username="reviewer", group="city_staff")


def api_for(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(user)
    return client


# --- Refunds -----------------------------------------------------------------------------


def test_net_revenue_is_revenue_less_refunds_in_the_api_and_the_summary(
        staff_user, holiday):
    session = enter(staff_user, refunded_orders=2, refunds=Decimal("150.50"))
    enter(staff_user, started_at=beijing(2020, 5, 3, 10), ended_at=beijing(2020, 5, 3, 11),
          revenue=Decimal("500.00"))

    body = api_for(staff_user).get(f"/api/v1/sessions/{session.pk}/").json()
    summary = holiday_summary(holiday=holiday)

    assert (body["refunded_orders"], body["refunds"], body["net_revenue"]) == (
        2, "150.50", "849.50")
    assert (summary["revenue"], summary["refunds"], summary["net_revenue"]) == (
        Decimal("1500.00"), Decimal("150.50"), Decimal("1349.50"))
    assert summary["refunded_orders"] == 2
    assert round(summary["refund_rate"], 4) == Decimal("0.1003")


@pytest.mark.parametrize(("refunds", "field"), [
    ({"refunded_orders": 11}, "refunded_orders"),
    ({"refunds": Decimal("1000.01")}, "refunds"),
    ({"refunds": Decimal("-1.00")}, "refunds"),
])
def test_refunds_above_the_sales_are_refused_and_nothing_is_saved(staff_user, refunds, field):
    with pytest.raises(ValidationError) as caught:
        enter(staff_user, **refunds)
    assert list(caught.value.message_dict) == [field]
    assert not LivestreamSession.objects.exists()


def test_an_edit_that_cuts_revenue_below_the_refunds_is_refused(staff_user):
    session = enter(staff_user, refunds=Decimal("300.00"))
    with pytest.raises(ValidationError) as caught:
        services.session_update(session=session, updated_by=staff_user,
                                data={"revenue": Decimal("200.00")},
                                expected_version=session.version)
    assert list(caught.value.message_dict) == ["refunds"]
    assert LivestreamSession.objects.get().revenue == Decimal("1000.00")


# --- Rejection and the four-eyes rule ----------------------------------------------------


def test_whoever_entered_a_session_cannot_reject_it(staff_user):
    session = enter(staff_user)

    response = api_for(staff_user).post(f"/api/v1/sessions/{session.pk}/reject/",
                                        {"reason": "looks padded"}, format="json")

    assert response.status_code == 403
    assert "four-eyes" in response.json()["detail"]
    assert LivestreamSession.objects.get().status == SessionStatus.ENTERED


def test_whoever_last_changed_the_figures_cannot_reject_it(staff_user, reviewer):
    session = enter(staff_user)
    services.session_update(session=session, updated_by=reviewer, data={"orders": 9},
                            expected_version=session.version)

    response = api_for(reviewer).post(f"/api/v1/sessions/{session.pk}/reject/",
                                      {"reason": "orders cancelled"}, format="json")

    assert response.status_code == 403
    assert LivestreamSession.objects.get().status == SessionStatus.ENTERED


def test_an_official_cannot_reject(staff_user, official_user):
    session = enter(staff_user)
    response = api_for(official_user).post(f"/api/v1/sessions/{session.pk}/reject/",
                                           {"reason": "x"}, format="json")
    assert response.status_code == 403
    assert LivestreamSession.objects.get().status == SessionStatus.ENTERED


def test_rejecting_needs_a_reason(staff_user, reviewer):
    session = enter(staff_user)
    response = api_for(reviewer).post(f"/api/v1/sessions/{session.pk}/reject/",
                                      {"reason": "  "}, format="json")
    assert response.status_code == 400
    assert response.json() == {"reason": ["This field is required."]}
    assert LivestreamSession.objects.get().status == SessionStatus.ENTERED


def test_another_reviewer_rejects_and_the_session_stops_counting(
        staff_user, reviewer, holiday, django_capture_on_commit_callbacks):
    session = enter(staff_user)
    kept = enter(staff_user, started_at=beijing(2020, 5, 3, 10),
                 ended_at=beijing(2020, 5, 3, 11), revenue=Decimal("20.00"))

    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(reviewer).post(f"/api/v1/sessions/{session.pk}/reject/",
                                          {"reason": "Orders cancelled after the show"},
                                          format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["rejection_reason"]) == (
        "rejected", "Orders cancelled after the show")
    summary = holiday_summary(holiday=holiday)
    assert (summary["sessions"], summary["revenue"]) == (1, kept.revenue)
    assert summary["verification"]["rejected"] == 1
    board = api_for(reviewer).get(f"/api/v1/rankings/?holiday={holiday.slug}").json()
    assert [row["value"] for row in board["results"]] == ["20.00"]
    record = LivestreamSession.history.filter(id=session.pk).latest("history_date")
    assert (record.status, record.history_user) == ("rejected", reviewer)


def test_a_stale_version_is_not_rejected(staff_user, reviewer):
    session = enter(staff_user)
    response = api_for(reviewer).post(f"/api/v1/sessions/{session.pk}/reject/",
                                      {"reason": "padded", "version": 99}, format="json")
    assert response.status_code == 409
    assert LivestreamSession.objects.get().status == SessionStatus.ENTERED


def test_the_page_rejects_with_a_reason_and_refuses_the_author(client, staff_user, reviewer):
    session = enter(staff_user)
    url = reverse("session_reject", args=[session.pk])
    client.force_login(staff_user)
    assert client.post(url, {"reason": "mine", "version": 1}).status_code == 403
    edit = client.get(reverse("session_edit", args=[session.pk]),
                      HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "data-review-refused" in edit

    client.force_login(reviewer)
    empty = client.post(url, {"reason": "", "version": 1}, HTTP_ACCEPT_LANGUAGE="en")
    assert empty.status_code == 400
    assert LivestreamSession.objects.get().status == SessionStatus.ENTERED
    done = client.post(url, {"reason": "Audience padded", "version": 1})
    assert done.status_code == 302
    assert LivestreamSession.objects.get().rejection_reason == "Audience padded"


# --- Edits send a checked session back to `entered` --------------------------------------


def _rejected(staff_user, reviewer) -> LivestreamSession:
    session = enter(staff_user)
    return services.session_reject(session=session, reviewer=reviewer, reason="padded")


def test_changing_a_figure_of_a_checked_session_returns_it_to_entered(staff_user, reviewer):
    session = _rejected(staff_user, reviewer)

    services.session_update(session=session, updated_by=staff_user,
                            data={"audience": 900}, expected_version=session.version)

    session.refresh_from_db()
    assert (session.status, session.rejection_reason, session.verified_by) == (
        "entered", "", None)
    assert session.last_changed_by == staff_user


def test_changing_only_the_title_keeps_the_status(staff_user, reviewer):
    session = _rejected(staff_user, reviewer)

    services.session_update(session=session, updated_by=staff_user,
                            data={"title": "Walnuts (typo fixed)"},
                            expected_version=session.version)

    session.refresh_from_db()
    assert session.status == "rejected"


def test_the_edit_page_says_a_save_sends_a_checked_session_back(client, staff_user, reviewer):
    session = _rejected(staff_user, reviewer)
    client.force_login(staff_user)
    with translation.override("en"):
        page = client.get(reverse("session_edit", args=[session.pk]),
                          HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "data-status-reset" in page and "padded" in page


def test_an_official_sees_the_status_and_reason_of_their_sessions(
        client, staff_user, reviewer, official_user):
    session = _rejected(staff_user, reviewer)
    client.force_login(official_user)
    page = client.get(f"/officials/{session.official_id}/").content.decode()
    assert f'data-session-status="{session.pk}"' in page and "padded" in page


# --- The ranking basis -------------------------------------------------------------------


def test_verified_only_counts_verified_sessions_and_says_so(
        client, staff_user, reviewer, holiday):
    enter(staff_user)
    holiday.ranking_basis = RankingBasis.VERIFIED_ONLY
    services.holiday_save(holiday=holiday, user=staff_user)

    summary = holiday_summary(holiday=holiday)

    assert summary["sessions"] == 0
    assert summary["verification"]["counted"] == 0
    assert summary["verification"]["in_holiday"] == 1
    assert summary["verification"]["unverified_revenue"] == Decimal("1000.00")
    client.force_login(staff_user)
    page = client.get(f"/holidays/{holiday.slug}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Counting verified sessions only: 0 of 1." in page


# --- Verification: four eyes and evidence ------------------------------------------------


def _with_evidence(session, user) -> LivestreamSession:
    from django.core.files.base import ContentFile

    services.evidence_add(session=session, uploaded_by=user,
                          file=ContentFile(b"\xef\xbb\xbftitle,orders\r\nWalnuts,10\r\n",
                                           name=f"export-{session.pk}.csv"))
    return session


def test_verifying_needs_an_evidence_file(staff_user, reviewer):
    session = enter(staff_user)

    response = api_for(reviewer).post(f"/api/v1/sessions/{session.pk}/verify/", {},
                                      format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["evidence"]
    assert LivestreamSession.objects.get().status == SessionStatus.ENTERED


def test_the_author_cannot_verify_and_another_reviewer_can(
        staff_user, reviewer, holiday, django_capture_on_commit_callbacks):
    session = _with_evidence(enter(staff_user), staff_user)
    holiday.ranking_basis = RankingBasis.VERIFIED_ONLY
    services.holiday_save(holiday=holiday, user=staff_user)

    refused = api_for(staff_user).post(f"/api/v1/sessions/{session.pk}/verify/", {},
                                       format="json")
    with django_capture_on_commit_callbacks(execute=True):
        done = api_for(reviewer).post(f"/api/v1/sessions/{session.pk}/verify/",
                                      {"version": 1}, format="json")

    assert refused.status_code == 403
    assert done.status_code == 200, done.content
    body = done.json()
    assert (body["status"], body["verified_by"]) == ("verified", reviewer.pk)
    assert [e["filename"] for e in body["evidence"]] == [f"export-{session.pk}.csv"]
    assert holiday_summary(holiday=holiday)["sessions"] == 1  # verified_only counts it now
    board = api_for(reviewer).get(f"/api/v1/rankings/?holiday={holiday.slug}").json()
    assert [row["value"] for row in board["results"]] == ["1000.00"]


def test_deleting_the_last_evidence_of_a_verified_session_sends_it_back(
        staff_user, reviewer):
    session = _with_evidence(enter(staff_user), staff_user)
    services.session_verify(session=session, reviewer=reviewer)

    services.evidence_delete(evidence=session.evidence.get(), deleted_by=staff_user)

    session.refresh_from_db()
    assert (session.status, session.verified_by) == ("entered", None)


def test_the_page_verifies_next_to_the_evidence(client, staff_user, reviewer):
    session = _with_evidence(enter(staff_user), staff_user)
    client.force_login(reviewer)
    page = client.get(reverse("session_edit", args=[session.pk])).content.decode()
    assert "data-verify" in page and "evidence" in page

    response = client.post(reverse("session_verify", args=[session.pk]), {"version": 1})

    assert response.status_code == 302
    assert LivestreamSession.objects.get().status == "verified"


def test_the_lists_bulk_review_verifies_what_it_may_and_names_what_it_may_not(
        client, staff_user, reviewer):
    mine = _with_evidence(enter(reviewer, title="Entered by the reviewer"), reviewer)
    theirs = _with_evidence(enter(staff_user, started_at=beijing(2020, 5, 3, 10),
                                  ended_at=beijing(2020, 5, 3, 11)), staff_user)
    bare = enter(staff_user, started_at=beijing(2020, 5, 4, 10), ended_at=beijing(2020, 5, 4, 11))
    client.force_login(reviewer)

    response = client.post(reverse("session_review_bulk"), {
        "action": "verify", "sessions": [mine.pk, theirs.pk, bare.pk]},
        HTTP_ACCEPT_LANGUAGE="en", follow=True)

    states = dict(LivestreamSession.objects.values_list("pk", "status"))
    assert states == {mine.pk: "entered", theirs.pk: "verified", bare.pk: "entered"}
    text = response.content.decode()
    assert "1 sessions verified." in text and "four-eyes" in text and "evidence file" in text


def test_a_bulk_rejection_needs_a_reason(client, staff_user, reviewer):
    session = enter(staff_user)
    client.force_login(reviewer)
    client.post(reverse("session_review_bulk"), {"action": "reject", "sessions": [session.pk]})
    assert LivestreamSession.objects.get().status == "entered"
    client.post(reverse("session_review_bulk"), {"action": "reject", "sessions": [session.pk],
                                                 "reason": "padded"})
    assert LivestreamSession.objects.get().status == "rejected"


def test_the_admin_actions_keep_the_four_eyes_rule(client, staff_user, superuser):
    own = _with_evidence(enter(superuser, title="Own"), superuser)
    other = _with_evidence(enter(staff_user, started_at=beijing(2020, 5, 3, 10),
                                 ended_at=beijing(2020, 5, 3, 11)), staff_user)
    client.force_login(superuser)
    url = reverse("admin:sessions_app_livestreamsession_changelist")

    client.post(url, {"action": "verify_sessions", "_selected_action": [own.pk, other.pk]})
    asked = client.post(url, {"action": "reject_sessions", "_selected_action": [own.pk]})
    client.post(url, {"action": "reject_sessions", "_selected_action": [other.pk],
                      "reason": "figures padded"})

    assert asked.status_code == 200 and b'name="reason"' in asked.content
    states = dict(LivestreamSession.objects.values_list("title", "status"))
    assert states == {"Own": "entered", "Walnuts": "rejected"}


def test_the_basis_switches_the_order_of_the_board(
        client, staff_user, reviewer, holiday, django_capture_on_commit_callbacks):
    # Given a bigger unverified session and a smaller verified one
    big = OfficialFactory(name="Unverified star")
    small = OfficialFactory(name="Checked host")
    with django_capture_on_commit_callbacks(execute=True):
        enter(staff_user, official=big, revenue=Decimal("2000.00"))
        checked = _with_evidence(enter(staff_user, official=small,
                                       revenue=Decimal("1000.00")), staff_user)
        services.session_verify(session=checked, reviewer=reviewer)
    api = api_for(reviewer)

    def board():
        body = api.get(f"/api/v1/rankings/?holiday={holiday.slug}").json()
        return [(row["official"]["name"], row["value"]) for row in body["results"]]

    # Then all but rejected ranks the unverified star first
    assert board() == [("Unverified star", "2000.00"), ("Checked host", "1000.00")]

    # When the holiday counts verified sessions only
    holiday.ranking_basis = RankingBasis.VERIFIED_ONLY
    with django_capture_on_commit_callbacks(execute=True):
        services.holiday_save(holiday=holiday, user=staff_user)

    # Then only the checked host is ranked, and the board and summary say so
    assert board() == [("Checked host", "1000.00")]
    assert holiday_summary(holiday=holiday)["revenue"] == Decimal("1000.00")
    client.force_login(staff_user)
    page = client.get(f"/holidays/{holiday.slug}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Counting verified sessions only." in page
    record = LivestreamSession.history.filter(id=checked.pk).latest("history_date")
    assert (record.status, record.history_user) == ("verified", reviewer)


def test_the_official_is_told_of_a_verification_and_a_rejection(
        staff_user, reviewer, official_user, django_capture_on_commit_callbacks):
    from notifications.models import Notification

    official = OfficialFactory(user=official_user)
    session = _with_evidence(enter(staff_user, official=official), staff_user)

    with django_capture_on_commit_callbacks(execute=True):
        services.session_verify(session=session, reviewer=reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        services.session_reject(session=session, reviewer=reviewer, reason="Orders cancelled")

    told = list(Notification.objects.filter(user=official_user).order_by("id")
                .values_list("kind", flat=True))
    assert told == ["session_verified", "session_rejected"]
    assert "Orders cancelled" in str(Notification.objects.filter(
        kind="session_rejected").values_list("data", flat=True).get())
