"""The bell, the list, marking read, the settings page and the notifications API: a user
sees and changes only their own."""

import pytest
from django.utils import timezone

from notifications.models import Notification, NotificationPreference, NotificationProfile

from ..factories import UserFactory

pytestmark = pytest.mark.django_db


def _notify(user, n=1, **extra):
    return [Notification.objects.create(user=user, kind="published", created_at=timezone.now(),
                                        data={"revision": i + 1}, **extra) for i in range(n)]


@pytest.fixture
def reader():
    return UserFactory(username="reader", group="officials")


def test_the_bell_shows_the_unread_count(client, reader):
    other = UserFactory(username="other")
    _notify(reader, 3)
    _notify(other, 5)
    _notify(reader, 1, read_at=timezone.now())
    _notify(reader, 1, in_site=False)  # email only
    client.force_login(reader)

    page = client.get("/sessions/").content.decode()

    assert '<span class="count" data-unread>3</span>' in page


def test_opening_one_marks_it_read_and_mark_all_clears_the_bell(client, reader):
    first, _second = _notify(reader, 2)
    client.force_login(reader)

    opened = client.post(f"/notifications/{first.pk}/read/", {"next": "/notifications/"})
    assert opened.status_code == 302
    first.refresh_from_db()
    assert first.read_at is not None
    page = client.get("/notifications/").content.decode()
    assert '<span class="count" data-unread>1</span>' in page
    assert page.count('class="notification unread"') == 1

    client.post("/notifications/read-all/")
    page = client.get("/notifications/").content.decode()
    assert "data-unread" not in page


def test_nobody_marks_another_users_notification(client, reader):
    [theirs] = _notify(UserFactory(username="other"))
    client.force_login(reader)
    assert client.post(f"/notifications/{theirs.pk}/read/").status_code == 404
    assert client.post(f"/api/v1/notifications/{theirs.pk}/read/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_the_api_lists_only_the_users_own_and_marks_read(client, reader):
    mine = _notify(reader, 2)
    _notify(UserFactory(username="other"), 2)
    client.force_login(reader)

    listed = client.get("/api/v1/notifications/?unread=true").json()
    assert listed["count"] == 2
    assert {r["id"] for r in listed["results"]} == {n.pk for n in mine}
    assert "published" in listed["results"][0]["message"] or listed["results"][0]["message"]

    marked = client.post(f"/api/v1/notifications/{mine[0].pk}/read/").json()
    assert marked == {"marked": 1, "unread": 1}
    assert client.post("/api/v1/notifications/read-all/").json()["marked"] == 1
    assert client.get("/api/v1/notifications/?unread=true").json()["count"] == 0


def test_anonymous_clients_get_401(client):
    assert client.get("/api/v1/notifications/").status_code == 401


def test_the_settings_page_stores_kinds_channels_and_language(client, reader):
    client.force_login(reader)
    form = client.get("/notifications/settings/")
    assert form.status_code == 200
    # Everything on except overtakes by email and in the site; emails in English.
    data = {f"{k}__{c}": "on" for k in ("top10", "target_reached", "session_verified",
                                        "session_rejected", "session_flagged", "published")
            for c in ("site", "email")}
    data["language"] = "en"

    client.post("/notifications/settings/", data)

    chosen = dict(((p.kind, p.channel), p.enabled)
                  for p in NotificationPreference.objects.filter(user=reader))
    assert chosen[("overtaken", "site")] is False
    assert chosen[("overtaken", "email")] is False
    assert chosen[("session_verified", "email")] is True
    assert NotificationProfile.objects.get(user=reader).language == "en"


def test_preferences_through_the_api(client, reader):
    client.force_login(reader)
    answer = client.put("/api/v1/notifications/preferences/", {
        "language": "en", "preferences": [{"kind": "overtaken", "channel": "email",
                                           "enabled": True}]}, content_type="application/json")
    assert answer.status_code == 200
    rows = {(p["kind"], p["channel"]): p["enabled"] for p in answer.json()["preferences"]}
    assert rows[("overtaken", "email")] is True
    assert rows[("overtaken", "site")] is True  # the default
    bad = client.put("/api/v1/notifications/preferences/", {
        "preferences": [{"kind": "gossip", "channel": "email", "enabled": True}]},
        content_type="application/json")
    assert bad.status_code == 400
