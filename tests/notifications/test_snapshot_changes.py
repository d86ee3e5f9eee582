"""Each kind of ranking change, from a constructed pair of snapshots, and who is told."""

from decimal import Decimal

import pytest

from notifications.messages import notification_text
from notifications.models import (
    EmailStatus,
    Notification,
    NotificationPreference,
    NotificationRun,
)
from notifications.services import snapshot_notify
from rankings.models import Target

from ..factories import OfficialFactory
from .conftest import snapshot_make

pytestmark = pytest.mark.django_db


def _changes(snapshot, event):
    """The notifications of one event made for a snapshot, by the subject (official name or
    county slug); a county's change is told to several users, all alike."""
    return {(n.official.name if n.official_id else n.county.slug): n
            for n in Notification.objects.filter(snapshot_id=snapshot.pk, event=event)}


def test_it_names_the_nearest_official_who_overtook_and_the_gap(holiday, officials):
    a, b, c, d = (officials[x] for x in "ABCD")
    snapshot_make(holiday, {"revenue": {a: 400, b: 300, c: 200, d: 100}})
    # C passes both B and A; D passes nobody (still last).
    new = snapshot_make(holiday, {"revenue": {c: 500, a: 450, b: 310, d: 120}})

    snapshot_notify(snapshot_id=new.pk)

    found = _changes(new, "overtaken")
    assert set(found) == {"Official A", "Official B"}
    assert found["Official A"].other_official == c
    assert (found["Official A"].rank, found["Official A"].previous_rank) == (2, 1)
    assert found["Official A"].other_value - found["Official A"].value == Decimal("50")
    # B was passed by C (now 1st) and pushed to 3rd; A is ahead of B but was before too.
    assert found["Official B"].other_official == c


def test_an_official_passed_by_a_newcomer_is_overtaken(holiday, officials):
    a, b, n = officials["A"], officials["B"], officials["C"]
    snapshot_make(holiday, {"revenue": {a: 400, b: 300}})
    new = snapshot_make(holiday, {"revenue": {n: 900, a: 400, b: 300}})

    snapshot_notify(snapshot_id=new.pk)

    found = _changes(new, "overtaken")
    assert {name: ch.other_official for name, ch in found.items()} == {
        "Official A": n, "Official B": n}


def test_climbing_or_holding_a_rank_is_not_overtaken(holiday, officials):
    a, b = officials["A"], officials["B"]
    snapshot_make(holiday, {"revenue": {a: 400, b: 300}})
    new = snapshot_make(holiday, {"revenue": {a: 500, b: 450}})

    snapshot_notify(snapshot_id=new.pk)

    assert not _changes(new, "overtaken")


def test_entering_and_leaving_the_top_10(holiday, officials):
    letters = "ABCDEFGHIJKL"
    before = {officials[x]: 1000 - i * 10 for i, x in enumerate(letters)}  # A 1st ... L 12th
    snapshot_make(holiday, {"orders": before})
    after = dict(before)
    after[officials["K"]] = 2000  # 11th -> 1st: J (10th) falls to 11th
    del after[officials["I"]]  # 9th, no longer ranked at all
    after[officials["L"]] = 1500  # 12th -> 2nd
    new = snapshot_make(holiday, {"orders": after})

    snapshot_notify(snapshot_id=new.pk)

    entered = _changes(new, "top10_entered")
    left = _changes(new, "top10_left")
    assert {k: (c.rank, c.previous_rank) for k, c in entered.items()} == {
        "Official K": (1, 11), "Official L": (2, 12)}
    assert {k: (c.rank, c.previous_rank) for k, c in left.items()} == {
        "Official J": (11, 10), "Official I": (None, 9)}


def test_a_first_snapshot_reports_no_movement_but_targets(holiday, officials):
    a = officials["A"]
    Target.objects.create(holiday=holiday, official=a, metric="revenue", value=100)
    first = snapshot_make(holiday, {"revenue": {a: 150, officials["B"]: 90}})

    snapshot_notify(snapshot_id=first.pk)

    assert set(Notification.objects.filter(snapshot_id=first.pk)
               .values_list("event", flat=True)) == {"target_reached"}


def test_a_target_is_reached_once_when_the_value_crosses_it(holiday, officials, county):
    a, b = officials["A"], officials["B"]
    Target.objects.create(holiday=holiday, official=a, metric="revenue", value=300)
    Target.objects.create(holiday=holiday, official=b, metric="revenue", value=100)
    Target.objects.create(holiday=holiday, county=county, metric="audience", value=1000)
    snapshot_make(holiday, {"revenue": {a: 250, b: 150}}, counties={"audience": {county: 900}})
    crossing = snapshot_make(holiday, {"revenue": {a: 300, b: 160}},
                             counties={"audience": {county: 1200}})
    snapshot_notify(snapshot_id=crossing.pk)
    later = snapshot_make(holiday, {"revenue": {a: 320, b: 170}},
                          counties={"audience": {county: 1300}})
    snapshot_notify(snapshot_id=later.pk)

    reached = _changes(crossing, "target_reached")
    # B was above its target already; a value equal to the target reaches it.
    assert set(reached) == {"Official A", county.slug}
    assert reached["Official A"].other_value == Decimal("300")
    assert not _changes(later, "target_reached")


def test_a_board_whose_moves_are_not_told_still_reaches_targets(holiday, officials):
    """Net revenue is not one of the boards whose movements are told, so passing someone
    on it tells nobody; a target on it is still reached."""
    a, b = officials["A"], officials["B"]
    Target.objects.create(holiday=holiday, official=b, metric="net_revenue", value=300)
    snapshot_make(holiday, {"net_revenue": {a: 400, b: 200}})
    new = snapshot_make(holiday, {"net_revenue": {b: 500, a: 400}})

    snapshot_notify(snapshot_id=new.pk)

    assert not _changes(new, "overtaken")
    assert set(_changes(new, "target_reached")) == {"Official B"}


def test_county_targets_tell_the_county_officials_with_accounts(holiday, officials, county):
    Target.objects.create(holiday=holiday, county=county, metric="orders", value=10)
    elsewhere = OfficialFactory(county__slug="yaodu", user=None)
    new = snapshot_make(holiday, {"orders": {officials["A"]: 5, elsewhere: 1}},
                        counties={"orders": {county: 50}})

    snapshot_notify(snapshot_id=new.pk)

    told = set(Notification.objects.filter(kind="target_reached")
               .values_list("user__username", flat=True))
    # Every official of the fixture is in the default county (jixian) with an account.
    assert told == {f"official-{x.lower()}" for x in "ABCDEFGHIJKL"}


def test_notifications_follow_each_users_choice_of_channels(holiday, officials):
    a, b, c = officials["A"], officials["B"], officials["C"]
    snapshot_make(holiday, {"revenue": {a: 400, b: 300, c: 100}})
    new = snapshot_make(holiday, {"revenue": {c: 500, a: 450, b: 310}})
    # A: nothing about overtakes; B: overtakes by email too (default: site only).
    NotificationPreference.objects.create(user=a.user, kind="overtaken", channel="site",
                                          enabled=False)
    NotificationPreference.objects.create(user=b.user, kind="overtaken", channel="email",
                                          enabled=True)

    snapshot_notify(snapshot_id=new.pk)

    rows = {n.user.username: n for n in Notification.objects.filter(kind="overtaken")}
    assert set(rows) == {"official-b"}
    assert rows["official-b"].in_site
    assert rows["official-b"].email_status == EmailStatus.PENDING


def test_email_waits_only_for_users_with_an_address(holiday, officials):
    a, b = officials["A"], officials["B"]
    a.user.email = ""
    a.user.save()
    for official in (a, b):
        NotificationPreference.objects.create(user=official.user, kind="top10",
                                              channel="email", enabled=True)
    snapshot_make(holiday, {"revenue": {officials[x]: 100 - i for i, x in
                                        enumerate("CDEFGHIJKL")}})
    new = snapshot_make(holiday, {"revenue": {a: 500, b: 400}})

    snapshot_notify(snapshot_id=new.pk)

    status = dict(Notification.objects.filter(kind="top10")
                  .values_list("user__username", "email_status"))
    assert status["official-a"] == "none"
    assert status["official-b"] == "pending"


def test_officials_without_accounts_and_inactive_users_are_not_told(holiday, officials):
    a, b = officials["A"], officials["B"]
    nobody = OfficialFactory(user=None)
    b.user.is_active = False
    b.user.save()
    snapshot_make(holiday, {"revenue": {a: 400, b: 300, nobody: 200}})
    new = snapshot_make(holiday, {"revenue": {nobody: 900, a: 400, b: 300}})

    snapshot_notify(snapshot_id=new.pk)

    assert list(Notification.objects.values_list("user__username", flat=True)) == [
        "official-a"]


def test_a_snapshot_is_notified_once(holiday, officials):
    a, b = officials["A"], officials["B"]
    snapshot_make(holiday, {"revenue": {a: 400, b: 300}})
    new = snapshot_make(holiday, {"revenue": {b: 500, a: 400}})

    first = snapshot_notify(snapshot_id=new.pk)
    second = snapshot_notify(snapshot_id=new.pk)

    assert first.done and not second.done
    assert Notification.objects.count() == 1
    run = NotificationRun.objects.get(snapshot_id=new.pk)
    assert run.notifications == 1


def test_the_message_says_who_and_by_how_much(holiday, officials, settings):
    from django.utils import translation

    a, c = officials["A"], officials["C"]
    snapshot_make(holiday, {"revenue": {a: 400, c: 100}})
    new = snapshot_make(holiday, {"revenue": {c: "1450.50", a: 400}})
    snapshot_notify(snapshot_id=new.pk)
    notification = Notification.objects.get(user=a.user)

    with translation.override("en"):
        english = notification_text(notification)
    with translation.override("zh-hans"):
        chinese = notification_text(notification)

    assert english == ("Revenue: Official C overtook you and is 1,050.50 yuan ahead; you are "
                       "now No. 2 (was No. 1).")
    assert "Official C" in chinese and "1,050.50" in chinese and "超过" in chinese


def test_subscribed_webhooks_get_the_facts_of_every_official(holiday, officials, settings):
    from notifications.models import Webhook, WebhookDelivery

    settings.WEBHOOK_ALLOW_PRIVATE = True
    Webhook.objects.create(name="group", url="http://127.0.0.1:9/", secret="k",
                           events=["overtaken", "snapshot_ready", "top10"])
    a = officials["A"]
    nobody = OfficialFactory(name="No Account", user=None)
    snapshot_make(holiday, {"revenue": {nobody: 400, a: 300}})
    new = snapshot_make(holiday, {"revenue": {a: 500, nobody: 450}})

    snapshot_notify(snapshot_id=new.pk)

    payloads = {d.event: d.payload for d in WebhookDelivery.objects.all()}
    assert set(payloads) == {"overtaken", "snapshot_ready"}  # nobody entered or left the top 10
    overtaken = payloads["overtaken"]["data"]
    assert overtaken["total"] == 1
    [item] = overtaken["items"]
    assert (item["official"]["name"], item["by"]["name"], item["gap"]) == (
        "No Account", "Official A", "50.00")
    assert payloads["snapshot_ready"]["data"]["snapshot"]["id"] == new.pk
    assert payloads["overtaken"]["holiday"]["slug"] == holiday.slug


def test_an_official_tied_before_and_ahead_now_has_overtaken(holiday, officials):
    a, b, c = officials["A"], officials["B"], officials["C"]
    snapshot_make(holiday, {"revenue": {a: 400, b: 300, c: 300}})  # 1, 2, 2
    new = snapshot_make(holiday, {"revenue": {b: 500, a: 400, c: 300}})  # 1, 2, 3

    snapshot_notify(snapshot_id=new.pk)

    found = _changes(new, "overtaken")
    # C is now just below A, who was ahead before too: B, tied with C before, passed C.
    assert {name: n.other_official for name, n in found.items()} == {
        "Official A": b, "Official C": b}
