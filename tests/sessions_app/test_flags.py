"""Anomaly flags (design.md, "Trust in the numbers"): each rule at its boundary, dismissal
and re-opening, the refresh after writes, and what the API, filters and pages show."""

import json
import re
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from rest_framework.test import APIClient

from notifications.models import Notification
from sessions_app import services
from sessions_app.flags import FLAG_CODES, session_flags_refresh
from sessions_app.models import LivestreamSession, SessionFlag
from sessions_app.selectors import holiday_flag_counts

from ..factories import OfficialFactory, SessionFactory, UserFactory, beijing

pytestmark = pytest.mark.django_db


def refresh(holiday) -> dict[int, set[str]]:
    """Refresh the holiday's flags; every session's open flag codes."""
    session_flags_refresh(holiday_id=holiday.pk, notify=False)
    found: dict[int, set[str]] = {}
    for flag in SessionFlag.objects.filter(dismissed_at__isnull=True):
        found.setdefault(flag.session_id, set()).add(flag.code)
    return found


def codes(holiday, session) -> set[str]:
    return refresh(holiday).get(session.pk, set())


def api_for(user) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(user)
    return client


@pytest.fixture
def reviewer(db):
    return UserFactory(username="reviewer", group="city_staff")


@pytest.fixture
def during_the_holiday():
    """Entries made on 3 May 2020, in the holiday (else every 2020 session is a late one)."""
    with mock.patch("django.utils.timezone.now", return_value=beijing(2020, 5, 3, 12)):
        yield


# --- orders_exceed_audience ---------------------------------------------------------------


def test_orders_above_the_audience_are_flagged_with_both_numbers(holiday):
    equal = SessionFactory(audience=640, orders=640)
    above = SessionFactory(audience=640, orders=641)

    found = refresh(holiday)

    assert "orders_exceed_audience" not in found.get(equal.pk, set())
    assert "orders_exceed_audience" in found[above.pk]
    flag = SessionFlag.objects.get(session=above, code="orders_exceed_audience")
    with translation.override("en"):
        assert flag.message == "orders 641 exceed audience 640"
    with translation.override("zh-hans"):
        assert "641" in flag.message and "640" in flag.message and "订单" in flag.message


# --- aov_outlier ---------------------------------------------------------------------------


def _peers(n: int, platform: str = "douyin") -> None:
    """n sessions with an average order of 100 yuan on a platform."""
    for _ in range(n):
        SessionFactory(platform=platform, orders=10, revenue=Decimal("1000.00"), audience=1000)


@pytest.mark.parametrize(("revenue", "flagged"), [
    (Decimal("5000.00"), False),   # exactly 5x the median: in
    (Decimal("5000.10"), True),    # just above: out
    (Decimal("200.00"), False),    # exactly 1/5: in
    (Decimal("199.90"), True),     # just below: out
])
def test_an_average_order_beyond_five_times_the_median_is_flagged(holiday, revenue, flagged):
    _peers(9)
    session = SessionFactory(platform="douyin", orders=10, revenue=revenue, audience=1000)

    assert ("aov_outlier" in codes(holiday, session)) is flagged


def test_the_median_needs_ten_sessions_with_orders_on_the_platform(holiday):
    _peers(8)
    SessionFactory(platform="douyin", orders=0, revenue=Decimal("0.00"))  # no orders: no peer
    _peers(3, platform="kuaishou")  # another platform: no peer
    outlier = SessionFactory(platform="douyin", orders=10, revenue=Decimal("90000.00"),
                             audience=1000)

    assert "aov_outlier" not in codes(holiday, outlier)  # 9 peers with orders

    _peers(1)
    assert "aov_outlier" in codes(holiday, outlier)  # 10
    flag = SessionFlag.objects.get(session=outlier, code="aov_outlier")
    with translation.override("en"):
        assert "9000" in flag.message and "100" in flag.message and "10 sessions" in flag.message


@pytest.mark.parametrize(("peers", "revenue", "flagged"), [
    # Ten with orders, the session among them: the mean of the 5th and 6th, (50 + 60) / 2.
    (9, Decimal("2750.00"), False),   # 275 a order: 5 x 55
    (9, Decimal("2750.10"), True),
    # Eleven: the 6th, 60.
    (10, Decimal("3000.00"), False),  # 300: 5 x 60
    (10, Decimal("3000.10"), True),
])
def test_the_median_is_the_middle_value_or_the_mean_of_the_two_middle_ones(
        holiday, peers, revenue, flagged):
    for n in range(1, peers + 1):  # average orders of 10, 20, ... yuan
        SessionFactory(platform="douyin", orders=10, revenue=Decimal(100 * n), audience=1000)
    session = SessionFactory(platform="douyin", orders=10, revenue=revenue, audience=1000)

    assert ("aov_outlier" in codes(holiday, session)) is flagged
    if flagged:
        flag = SessionFlag.objects.get(session=session, code="aov_outlier")
        assert flag.value_2 == (55 if peers == 9 else 60)


# --- overlap -------------------------------------------------------------------------------


def test_sessions_of_one_host_that_touch_are_not_flagged_but_overlapping_ones_are(holiday):
    official = OfficialFactory()
    first = SessionFactory(official=official, platform="douyin",
                           started_at=beijing(2020, 5, 2, 10), ended_at=beijing(2020, 5, 2, 12))
    touching = SessionFactory(official=official, platform="kuaishou",
                              started_at=beijing(2020, 5, 2, 12),
                              ended_at=beijing(2020, 5, 2, 13))
    other_host = SessionFactory(platform="jd", started_at=beijing(2020, 5, 2, 11),
                                ended_at=beijing(2020, 5, 2, 12))

    found = refresh(holiday)
    assert not any("overlap" in found.get(s.pk, set()) for s in (first, touching, other_host))

    simulcast = SessionFactory(official=official, platform="jd",
                               started_at=beijing(2020, 5, 2, 11, 59, 59),
                               ended_at=beijing(2020, 5, 2, 12, 30))
    found = refresh(holiday)
    assert {s.pk for s in (first, touching, simulcast)} == {
        pk for pk, flags in found.items() if "overlap" in flags}
    flag = SessionFlag.objects.get(session=simulcast, code="overlap")
    with translation.override("en"):
        # It overlaps both; the message names the next one by start.
        assert flag.message == (f"its time overlaps another session of the same host "
                                f"(#{touching.pk})")
    assert f"#{simulcast.pk}" in SessionFlag.objects.get(session=first, code="overlap").message
    # The last one overlaps no later one: it names the one before.
    assert f"#{simulcast.pk}" in SessionFlag.objects.get(session=touching,
                                                         code="overlap").message


def test_a_session_inside_a_long_one_of_the_same_host_is_flagged(holiday):
    official = OfficialFactory()
    long = SessionFactory(official=official, platform="douyin",
                          started_at=beijing(2020, 5, 2, 8), ended_at=beijing(2020, 5, 2, 20))
    first = SessionFactory(official=official, platform="kuaishou",
                           started_at=beijing(2020, 5, 2, 9), ended_at=beijing(2020, 5, 2, 10))
    nested = SessionFactory(official=official, platform="jd",
                            started_at=beijing(2020, 5, 2, 11),
                            ended_at=beijing(2020, 5, 2, 12))

    found = refresh(holiday)

    assert all("overlap" in found[s.pk] for s in (long, first, nested))
    # The one it overlaps is neither the next nor the previous one: not named.
    with translation.override("en"):
        assert SessionFlag.objects.get(session=nested, code="overlap").message.endswith("(#?)")


def test_a_co_host_whose_own_show_overlaps_flags_both_sessions(holiday, during_the_holiday):
    lead, guest = OfficialFactory(), OfficialFactory()
    guests_own = SessionFactory(official=guest, platform="douyin",
                                started_at=beijing(2020, 5, 2, 10),
                                ended_at=beijing(2020, 5, 2, 12))
    co_hosted = SessionFactory(official=lead, platform="kuaishou",
                               started_at=beijing(2020, 5, 2, 11),
                               ended_at=beijing(2020, 5, 2, 13))
    assert refresh(holiday) == {}  # different leads, no co-host yet

    co_hosted.hosts.set([guest])
    found = refresh(holiday)
    assert {pk for pk, flags in found.items() if "overlap" in flags} == {
        guests_own.pk, co_hosted.pk}
    # One flag a session, though the co-hosted one is on two hosts' timelines.
    assert SessionFlag.objects.filter(session=co_hosted, code="overlap").count() == 1


def test_a_save_refreshes_the_overlaps_of_its_co_hosts(
        staff_user, holiday, during_the_holiday, django_capture_on_commit_callbacks):
    lead, guest = OfficialFactory(), OfficialFactory()
    guests_own = SessionFactory(official=guest, platform="douyin",
                                started_at=beijing(2020, 5, 2, 10),
                                ended_at=beijing(2020, 5, 2, 12))
    with mock.patch("sessions_app.services.session_events_send"), \
            django_capture_on_commit_callbacks(execute=True):
        co_hosted = services.session_create(
            entered_by=staff_user, official=lead, hosts=[guest], platform="kuaishou",
            title="Together", started_at=beijing(2020, 5, 2, 11),
            ended_at=beijing(2020, 5, 2, 13), audience=100, orders=1,
            revenue=Decimal("10.00"))
    assert set(SessionFlag.objects.filter(code="overlap").values_list(
        "session_id", flat=True)) == {guests_own.pk, co_hosted.pk}

    # Moved after the guest's own show: both flags go, the guest's included.
    with mock.patch("sessions_app.services.session_events_send"), \
            django_capture_on_commit_callbacks(execute=True):
        services.session_update(session=co_hosted, updated_by=staff_user,
                                data={"started_at": beijing(2020, 5, 2, 12),
                                      "ended_at": beijing(2020, 5, 2, 13)},
                                expected_version=co_hosted.version)
    assert not SessionFlag.objects.filter(code="overlap").exists()


def test_a_session_across_the_holidays_end_overlaps_one_just_after_it(holiday):
    official = OfficialFactory()
    last_night = SessionFactory(official=official, platform="douyin",
                                started_at=beijing(2020, 5, 5, 23),
                                ended_at=beijing(2020, 5, 6, 1))
    SessionFactory(official=official, platform="kuaishou", started_at=beijing(2020, 5, 6, 0),
                   ended_at=beijing(2020, 5, 6, 2))

    assert "overlap" in codes(holiday, last_night)


# --- high_refund_rate ----------------------------------------------------------------------


@pytest.mark.parametrize(("refunds", "flagged"), [
    (Decimal("300.00"), False),  # 30 %: in
    (Decimal("300.01"), True),   # above: out
])
def test_refunds_above_thirty_percent_of_revenue_are_flagged(holiday, refunds, flagged):
    session = SessionFactory(revenue=Decimal("1000.00"), refunds=refunds, refunded_orders=1)
    assert ("high_refund_rate" in codes(holiday, session)) is flagged


# --- late_entry ----------------------------------------------------------------------------


@pytest.mark.parametrize(("created", "flagged"), [
    (beijing(2020, 5, 12, 23, 59, 59), False),  # 7 days after May 5
    (beijing(2020, 5, 13, 0, 0), True),         # the 8th day
])
def test_a_session_entered_more_than_seven_days_after_the_holiday_is_flagged(
        holiday, created, flagged):
    session = SessionFactory()
    LivestreamSession.objects.filter(pk=session.pk).update(created_at=created)

    assert ("late_entry" in codes(holiday, session)) is flagged
    if flagged:
        with translation.override("en"):
            assert SessionFlag.objects.get(session=session).message.startswith("entered 8 days")


def test_sessions_outside_the_holiday_are_not_looked_at(holiday):
    SessionFactory(audience=1, orders=5, started_at=beijing(2020, 5, 6, 10))
    assert refresh(holiday) == {}


# --- Dismissal and re-opening --------------------------------------------------------------


def _entered_with_flag(user):
    return services.session_create(
        entered_by=user, official=OfficialFactory(user=UserFactory()), platform="douyin",
        title="Padded", started_at=beijing(2020, 5, 2, 10), ended_at=beijing(2020, 5, 2, 12),
        audience=640, orders=812, revenue=Decimal("8120.00"))


def _flagged_notices(user) -> list[str]:
    return [n.data["detail"] for n in
            Notification.objects.filter(user=user, kind="session_flagged").order_by("pk")]


def test_a_write_refreshes_the_flags_after_commit_and_tells_the_official(
        staff_user, holiday, during_the_holiday, django_capture_on_commit_callbacks):
    host = UserFactory(username="host")
    with django_capture_on_commit_callbacks(execute=True):
        session = services.session_create(
            entered_by=staff_user, official=OfficialFactory(user=host), platform="douyin",
            title="Padded", started_at=beijing(2020, 5, 2, 10), ended_at=beijing(2020, 5, 2, 12),
            audience=640, orders=812, revenue=Decimal("8120.00"))

    assert set(session.flags.values_list("code", flat=True)) == {"orders_exceed_audience"}
    notices = _flagged_notices(host)  # told by the worker (eager here), in one message
    assert len(notices) == 1 and "812" in notices[0]

    with django_capture_on_commit_callbacks(execute=True):
        services.session_update(session=session, updated_by=staff_user,
                                data={"orders": 600}, expected_version=session.version)
    assert not session.flags.exists()
    assert len(_flagged_notices(host)) == 1  # nothing raised: nobody told again


def test_the_flags_one_write_raises_go_to_the_worker_in_one_message(
        staff_user, holiday, during_the_holiday, django_capture_on_commit_callbacks):
    host = UserFactory(username="host")
    official = OfficialFactory(user=host)
    rows = [dict(official=official, platform="douyin", title=f"Padded {i}",
                 started_at=beijing(2020, 5, 2, 8 + 2 * i),
                 ended_at=beijing(2020, 5, 2, 9 + 2 * i),
                 audience=640, orders=812 + i, revenue=Decimal("8120.00"))
            for i in range(3)]
    sent = []
    real_delay = services.celery_app.tasks[services.SESSION_EVENTS_TASK].delay
    with mock.patch.object(services.celery_app.tasks[services.SESSION_EVENTS_TASK], "delay",
                           side_effect=lambda **kw: sent.append(kw) or real_delay(**kw)), \
            django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():  # one write batch: one refresh after it
            for row in rows:
                services.session_create(entered_by=staff_user, **row)

    assert len(sent) == 1 and len(sent[0]["events"]) == 3
    assert sorted(_flagged_notices(host)) == sorted(
        e["detail"] for e in sent[0]["events"])
    assert all(str(812 + i) in " ".join(_flagged_notices(host)) for i in range(3))


def test_a_dismissed_flag_stays_shown_and_reopens_when_its_figures_change(
        staff_user, reviewer, holiday, during_the_holiday, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        session = _entered_with_flag(staff_user)

    with pytest.raises(ValidationError):
        services.session_flag_dismiss(session=session, code="orders_exceed_audience",
                                      user=reviewer, note="  ")
    with pytest.raises(PermissionDenied):  # four eyes
        services.session_flag_dismiss(session=session, code="orders_exceed_audience",
                                      user=staff_user, note="fine")
    services.session_flag_dismiss(session=session, code="orders_exceed_audience",
                                  user=reviewer, note="Orders include phone orders")

    flag = SessionFlag.objects.get(session=session)
    assert flag.dismissed and flag.dismissed_by == reviewer
    assert flag.dismissal_note == "Orders include phone orders"
    assert refresh(holiday) == {}  # unchanged figures: stays dismissed
    assert SessionFlag.objects.get(session=session).dismissed

    with django_capture_on_commit_callbacks(execute=True):
        services.session_update(session=session, updated_by=staff_user,
                                data={"orders": 900}, expected_version=session.version)
    flag = SessionFlag.objects.get(session=session)
    assert not flag.dismissed and flag.dismissal_note == ""
    assert "900" in flag.message
    assert any("900" in notice for notice in _flagged_notices(session.official.user))


def test_a_change_of_a_title_does_not_reopen_a_dismissed_flag(
        staff_user, reviewer, holiday, during_the_holiday, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        session = _entered_with_flag(staff_user)
    services.session_flag_dismiss(session=session, code="orders_exceed_audience",
                                  user=reviewer, note="checked")
    with django_capture_on_commit_callbacks(execute=True):
        services.session_update(session=session, updated_by=staff_user,
                                data={"title": "Renamed"}, expected_version=session.version)
    assert SessionFlag.objects.get(session=session).dismissed


# --- API, filters, dashboard -------------------------------------------------------------


def test_the_api_lists_flags_filters_them_and_dismisses_with_a_note(
        staff_user, reviewer, holiday, during_the_holiday, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        flagged = _entered_with_flag(staff_user)
    clean = SessionFactory(audience=1000, orders=10)
    client = api_for(reviewer)

    body = client.get(f"/api/v1/sessions/{flagged.pk}/").json()
    assert body["flags"] == [{"code": "orders_exceed_audience",
                              "message": "orders 812 exceed audience 640",
                              "dismissed": False, "dismissal": None}]
    listed = client.get("/api/v1/sessions/?flagged=true").json()
    assert [s["id"] for s in listed["results"]] == [flagged.pk]
    assert client.get("/api/v1/sessions/?flagged=false").json()["count"] == 1
    assert client.get("/api/v1/sessions/?flag=overlap").json()["count"] == 0
    assert client.get("/api/v1/sessions/?flag=orders_exceed_audience").json()["count"] == 1
    bad = client.get("/api/v1/sessions/?flag=nonsense")
    assert bad.status_code == 400 and "flag" in bad.json()

    url = f"/api/v1/sessions/{flagged.pk}/flags/orders_exceed_audience/dismiss/"
    assert client.post(url, {"note": ""}, format="json").status_code == 400
    assert client.post(f"/api/v1/sessions/{clean.pk}/flags/overlap/dismiss/",
                       {"note": "x"}, format="json").status_code == 404
    response = client.post(url, {"note": "phone orders"}, format="json")
    assert response.status_code == 200
    assert response.json()["flags"][0]["dismissed"] is True
    assert response.json()["flags"][0]["dismissal"]["note"] == "phone orders"
    # A dismissed flag no longer makes the session "flagged".
    assert client.get("/api/v1/sessions/?flagged=true").json()["count"] == 0


def test_the_dashboard_counts_flagged_sessions_and_their_revenue(
        staff_user, holiday, during_the_holiday, django_capture_on_commit_callbacks, client):
    with django_capture_on_commit_callbacks(execute=True):
        _entered_with_flag(staff_user)
    SessionFactory(audience=1000, orders=10)

    counts = holiday_flag_counts(holiday=holiday)
    assert (counts["sessions"], counts["revenue"]) == (1, Decimal("8120.00"))
    client.force_login(staff_user)
    page = client.get(f"/holidays/{holiday.slug}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "data-flagged-sessions=\"1\"" in page


def test_the_flagged_count_is_cached_until_a_flag_or_a_session_changes(
        staff_user, reviewer, holiday, during_the_holiday, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        session = _entered_with_flag(staff_user)
    holiday.refresh_from_db()
    assert holiday_flag_counts(holiday=holiday)["sessions"] == 1
    with CaptureQueriesContext(connection) as q:  # built once: read again from the cache
        assert holiday_flag_counts(holiday=holiday)["sessions"] == 1
    assert [x["sql"] for x in q.captured_queries] == []

    # A dismissal changes no session: the flags' bump makes it count again
    services.session_flag_dismiss(session=session, code="orders_exceed_audience",
                                  user=reviewer, note="phone orders")
    assert holiday_flag_counts(holiday=holiday)["sessions"] == 0

    # A write that raises a flag again (its figures changed) shows at once
    with django_capture_on_commit_callbacks(execute=True):
        services.session_update(session=session, updated_by=staff_user,
                                data={"orders": 900}, expected_version=session.version)
    holiday.refresh_from_db()
    counts = holiday_flag_counts(holiday=holiday)
    assert (counts["sessions"], counts["revenue"]) == (1, Decimal("8120.00"))

    # A flag raised by a refresh alone (the worker's, after a snapshot: no session written)
    SessionFactory(audience=1, orders=5, revenue=Decimal("50.00"))  # past the services
    assert holiday_flag_counts(holiday=holiday)["sessions"] == 1
    session_flags_refresh(holiday_id=holiday.pk, notify=False)
    assert holiday_flag_counts(holiday=holiday)["sessions"] == 2


def test_every_rule_has_a_label_and_a_message_in_both_languages():
    from sessions_app.flags import FLAG_RULES

    assert len(FLAG_CODES) == len(set(FLAG_CODES)) == 5
    for rule in FLAG_RULES:
        with translation.override("en"):
            english = (str(rule.label), str(rule.message))
        with translation.override("zh-hans"):
            chinese = (str(rule.label), str(rule.message))
        assert english[0] != chinese[0] and english[1] != chinese[1], rule.code
        # The same numbers in both.
        assert sorted(re.findall(r"%\(\w+\)s", english[1])) == sorted(
            re.findall(r"%\(\w+\)s", chinese[1]))


def test_flags_refresh_is_timed_and_counts(holiday, during_the_holiday):
    SessionFactory(audience=1, orders=5)
    result = session_flags_refresh(holiday_id=holiday.pk, notify=False)
    assert result.changed == 1 and len(result.raised) == 1
    again = session_flags_refresh(holiday_id=holiday.pk, notify=False)
    assert again.raised == [] and again.changed == 0
    assert SessionFlag.objects.get().raised_at == timezone.now()


def flags_table_rows_known() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                       [SessionFlag._meta.db_table])
        return int(cursor.fetchone()[0])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner statistics")
def test_a_refresh_that_changed_many_flags_tells_the_planner_how_many_there_are(
        holiday, during_the_holiday, monkeypatch):
    # Given a holiday with three sessions to flag, and the planner's figure of the flags
    for _ in range(3):
        SessionFactory(audience=1, orders=5)
    before = flags_table_rows_known()
    assert before != 3

    # When a holiday-wide refresh changes fewer flags than the threshold, it is left alone
    monkeypatch.setattr("sessions_app.flags.FLAGS_ANALYZE_CHANGED", 4)
    assert session_flags_refresh(holiday_id=holiday.pk, notify=False).changed == 3
    assert flags_table_rows_known() == before

    # And when one changes as many, the table is analysed before the refresh returns
    SessionFlag.objects.all().delete()
    monkeypatch.setattr("sessions_app.flags.FLAGS_ANALYZE_CHANGED", 3)
    assert session_flags_refresh(holiday_id=holiday.pk, notify=False).changed == 3
    assert flags_table_rows_known() == 3


# --- The refresh: what it compares and what it leaves alone ------------------------------


@pytest.fixture
def october(db):
    from ..factories import HolidayFactory

    return HolidayFactory(name="National Day 2020", slug="national-day-2020",
                          start_date=beijing(2020, 10, 1).date(),
                          end_date=beijing(2020, 10, 7).date())


def _stored_flags(sessions=None) -> set[tuple]:
    """The stored flags as (session, code, their five numbers), of `sessions` (ids) or all."""
    flags = SessionFlag.objects.all()
    if sessions is not None:
        flags = flags.filter(session_id__in=sessions)
    return set(flags.values_list("session_id", "code", "figure_1", "figure_2", "value_1",
                                 "value_2", "value_3"))


def test_a_holiday_refresh_drops_its_stale_flags_and_keeps_another_holidays(
        holiday, october, during_the_holiday):
    may = SessionFactory(audience=1, orders=5)
    autumn = SessionFactory(audience=1, orders=5, started_at=beijing(2020, 10, 2, 10),
                            ended_at=beijing(2020, 10, 2, 11))
    session_flags_refresh(holiday_id=holiday.pk, notify=False)
    session_flags_refresh(holiday_id=october.pk, notify=False)
    assert set(SessionFlag.objects.values_list("session_id", flat=True)) == {may.pk, autumn.pk}

    # Put right in the database, past the services: the next refresh of May drops its flag,
    # and only that one (October's flag matches no finding of May's, but is not May's).
    LivestreamSession.objects.filter(pk=may.pk).update(audience=100)
    result = session_flags_refresh(holiday_id=holiday.pk, notify=False)

    assert result.changed == 1
    assert list(SessionFlag.objects.values_list("session_id", flat=True)) == [autumn.pk]


def test_a_refresh_after_a_write_finds_what_the_holiday_refresh_finds_for_its_officials(
        holiday, during_the_holiday):
    """The refresh after a write reads only the written officials' sessions (and their
    co-hosts' timelines): for those sessions it must store exactly what a refresh of the
    whole holiday stores, numbers included, and leave every other session's flags alone."""
    from sessions_app.flags import PEER_RULES

    written, guest, lead, other = (OfficialFactory() for _ in range(4))
    day = (2020, 5, 3)
    padded = SessionFactory(official=written, audience=10, orders=11)
    refunded = SessionFactory(official=written, revenue=Decimal("100.00"),
                              refunds=Decimal("40.00"), refunded_orders=1)
    simulcast = [SessionFactory(official=written, platform=platform,
                                started_at=beijing(*day, hour), ended_at=beijing(*day, hour + 2))
                 for platform, hour in (("douyin", 9), ("kuaishou", 10))]
    # The written official is a co-host of the lead's show, which overlaps the guest's own
    # (the guest co-hosts it too): the lead's show is flagged on the guest's timeline only.
    guests_own = SessionFactory(official=guest, started_at=beijing(*day, 14),
                                ended_at=beijing(*day, 16))
    shared = SessionFactory(official=lead, platform="jd", started_at=beijing(*day, 15),
                            ended_at=beijing(*day, 17))
    shared.hosts.set([written, guest])
    leads_next = SessionFactory(official=lead, platform="kuaishou",
                                started_at=beijing(*day, 16), ended_at=beijing(*day, 18))
    untouched = SessionFactory(official=other, audience=1, orders=2)

    session_flags_refresh(holiday_id=holiday.pk, notify=False)
    everything = _stored_flags()
    in_scope = [padded.pk, refunded.pk, *(s.pk for s in simulcast), shared.pk]
    expected = {flag for flag in everything if flag[0] in in_scope
                and flag[1] not in {rule.code for rule in PEER_RULES}}
    assert {(flag[0], flag[1]) for flag in expected} == {
        (padded.pk, "orders_exceed_audience"), (refunded.pk, "high_refund_rate"),
        (simulcast[0].pk, "overlap"), (simulcast[1].pk, "overlap"), (shared.pk, "overlap")}
    assert {flag[:2] for flag in everything} >= {(guests_own.pk, "overlap"),
                                                 (leads_next.pk, "overlap"),
                                                 (untouched.pk, "orders_exceed_audience")}

    SessionFlag.objects.filter(session_id__in=in_scope).delete()
    SessionFlag.objects.filter(session=untouched).update(value_1=0)  # not to be looked at
    result = session_flags_refresh(holiday_id=holiday.pk, official_ids=[written.pk],
                                   notify=False)

    assert _stored_flags(in_scope) == expected
    assert len(result.raised) == len(expected)
    assert SessionFlag.objects.get(session=untouched).value_1 == 0
    assert _stored_flags() - _stored_flags(in_scope) == {
        flag if flag[0] != untouched.pk else (*flag[:4], 0, *flag[5:])
        for flag in everything if flag[0] not in in_scope}


@pytest.mark.parametrize("to_october", [True, False])
def test_a_session_moved_to_another_holiday_takes_its_flags_there_and_keeps_a_dismissal(
        staff_user, reviewer, holiday, october, during_the_holiday,
        django_capture_on_commit_callbacks, to_october):
    """May is refreshed before October (lower id): moved to October, May lets the flags go
    and October takes them; moved to May, May takes them from October first."""
    official = OfficialFactory()
    day, other_day = ((2020, 5, 2), (2020, 10, 2)) if to_october else ((2020, 10, 2),
                                                                       (2020, 5, 2))
    moved = SessionFactory(official=official, audience=10, orders=11,
                           started_at=beijing(*day, 10), ended_at=beijing(*day, 12))
    partner = SessionFactory(official=official, platform="kuaishou",
                             started_at=beijing(*day, 11), ended_at=beijing(*day, 13))
    for h in (holiday, october):
        session_flags_refresh(holiday_id=h.pk, notify=False)
    services.session_flag_dismiss(session=moved, code="orders_exceed_audience",
                                  user=reviewer, note="phone orders")
    assert set(SessionFlag.objects.values_list("session_id", "code")) == {
        (moved.pk, "orders_exceed_audience"), (moved.pk, "overlap"), (partner.pk, "overlap")}

    with mock.patch("sessions_app.services.session_events_send") as sent, \
            django_capture_on_commit_callbacks(execute=True):
        services.session_update(session=moved, updated_by=staff_user,
                                data={"started_at": beijing(*other_day, 10),
                                      "ended_at": beijing(*other_day, 12)},
                                expected_version=moved.version)

    # The overlap held only where it was; the padded orders stand, still dismissed.
    flag = SessionFlag.objects.get()
    assert (flag.session_id, flag.code) == (moved.pk, "orders_exceed_audience")
    assert flag.holiday == (october if to_october else holiday)
    assert flag.dismissed and flag.dismissal_note == "phone orders"
    assert not [event for call in sent.call_args_list for event in call.kwargs["events"]
                if event["kind"] == "session_flagged"]
    for h in (holiday, october):  # nothing left to do
        assert session_flags_refresh(holiday_id=h.pk, notify=False).changed == 0


def test_a_flag_another_holiday_holds_passes_to_the_holiday_that_finds_it(
        reviewer, holiday, october, during_the_holiday):
    """As after a repair in the database: May's refresh finds a flag October holds. It
    takes it over, dismissal kept (the same figures), nothing raised; changed figures
    re-open it."""
    session = SessionFactory(audience=10, orders=11)
    session_flags_refresh(holiday_id=holiday.pk, notify=False)
    services.session_flag_dismiss(session=session, code="orders_exceed_audience",
                                  user=reviewer, note="checked")
    SessionFlag.objects.update(holiday=october)

    result = session_flags_refresh(holiday_id=holiday.pk, notify=False)
    flag = SessionFlag.objects.get()
    assert (flag.holiday, flag.dismissed, result.raised) == (holiday, True, [])
    assert session_flags_refresh(holiday_id=october.pk, notify=False).changed == 0

    SessionFlag.objects.update(holiday=october)
    LivestreamSession.objects.filter(pk=session.pk).update(orders=12)
    result = session_flags_refresh(holiday_id=holiday.pk, notify=False)
    flag = SessionFlag.objects.get()
    assert (flag.holiday, flag.dismissed, result.raised) == (holiday, False, [flag.pk])


def test_a_session_moved_out_of_every_holiday_loses_its_flags(
        staff_user, holiday, october, during_the_holiday, django_capture_on_commit_callbacks):
    session = SessionFactory(audience=10, orders=11)
    session_flags_refresh(holiday_id=holiday.pk, notify=False)
    assert session.flags.exists()

    with django_capture_on_commit_callbacks(execute=True):
        services.session_update(session=session, updated_by=staff_user,
                                data={"started_at": beijing(2020, 6, 2, 10),
                                      "ended_at": beijing(2020, 6, 2, 12)},
                                expected_version=session.version)

    assert not SessionFlag.objects.exists()


def test_a_rule_that_reads_its_peers_is_not_refreshed_for_some_officials_alone(holiday):
    from sessions_app.flags import PEER_RULES, flags_select_sql

    with pytest.raises(ValueError):
        flags_select_sql(officials=[1], hosts=[1], rules=PEER_RULES)


def test_the_refresh_after_a_write_is_a_fixed_few_statements(
        holiday, during_the_holiday, django_assert_max_num_queries):
    from django.db import connection

    official = OfficialFactory()
    for hour in range(10, 16):
        SessionFactory(official=official, audience=1, orders=2,
                       started_at=beijing(2020, 5, 2, hour),
                       ended_at=beijing(2020, 5, 2, hour, 30))
    # PostgreSQL: the holiday, the hosts, the refresh (and the savepoint around them in a
    # test); SQLite writes the differences into a temporary table first.
    most = 5 if connection.vendor == "postgresql" else 14
    with django_assert_max_num_queries(most):
        result = session_flags_refresh(holiday_id=holiday.pk, official_ids=[official.pk],
                                       notify=False)
    assert len(result.raised) == 6
    with django_assert_max_num_queries(most):
        assert session_flags_refresh(holiday_id=holiday.pk, official_ids=[official.pk],
                                     notify=False).changed == 0


def test_the_migration_to_numbers_reads_the_flags_stored_as_text():
    """0015 keeps the flags (and their dismissals): the numbers come from the old text."""
    import importlib

    from sessions_app.flags import flag_message
    migration = importlib.import_module("sessions_app.migrations.0015_flag_numbers")

    stored = {  # as PostgreSQL wrote them before 0015
        "aov_outlier": ('{"aov": "14.10", "median": "2.48", "peers": "60000", "factor": "5"}',
                        "26194.18/1858", [26194.18, 1858, 14.10, 2.48, 60000]),
        "late_entry": ('{"days": "2035", "limit": "7"}', "1619798401.000000",
                       [1619798401, 0, 2035, 0, 0]),
        "overlap": ('{"other": "?"}', "1619798401.000000/1619805601.000000",
                    [1619798401, 1619805601, 0, 0, 0]),
        "high_refund_rate": ('{"refunds": "400.00", "revenue": "1000.00", "rate": "40.0", '
                             '"limit": "30"}', "400.00/1000.00", [400, 1000, 400, 1000, 40]),
        "orders_exceed_audience": ('{"orders": "641", "audience": "640"}', "641/640",
                                   [641, 640, 641, 640, 0]),
    }
    with translation.override("en"):
        for code, (params, figures, numbers) in stored.items():
            converted = migration._numbers(code, figures, params)
            assert converted == numbers, code
            flag = SessionFlag(code=code, **dict(zip(migration.NUMBERS, converted, strict=True)))
            assert flag.message == flag_message(code=code, params=json.loads(params)), code


def test_the_migration_to_holidays_gives_each_stored_flag_its_sessions_holiday(
        holiday, october, during_the_holiday):
    """0016: each flag to the holiday its session starts in (none for a session in none)."""
    import importlib

    from django.apps import apps
    migration = importlib.import_module("sessions_app.migrations.0016_flag_holiday")
    may = SessionFactory(audience=1, orders=2, started_at=beijing(2020, 5, 5, 23, 59))
    autumn = SessionFactory(audience=1, orders=2, started_at=beijing(2020, 10, 1, 0, 0))
    june = SessionFactory(audience=1, orders=2, started_at=beijing(2020, 5, 6, 0, 0))
    for h in (holiday, october):
        session_flags_refresh(holiday_id=h.pk, notify=False)
    SessionFlag.objects.bulk_create([SessionFlag(session=june, code="orders_exceed_audience",
                                                 raised_at=timezone.now())])
    SessionFlag.objects.update(holiday=None)

    migration.flags_to_holidays(apps, None)

    assert dict(SessionFlag.objects.values_list("session_id", "holiday_id")) == {
        may.pk: holiday.pk, autumn.pk: october.pk, june.pk: None}
