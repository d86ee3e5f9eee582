"""Email digests through a real SMTP server started in the test (aiosmtpd): one digest per
user per run with everything waiting, at most one per NOTIFY_EMAIL_MIN_MINUTES, in the
user's language, as plain text and HTML."""

import email
import email.policy
import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from notifications.models import Notification, NotificationProfile
from notifications.services import email_digests_send, snapshot_notify

from ..factories import OfficialFactory, UserFactory
from .conftest import snapshot_make

pytestmark = pytest.mark.django_db


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos,
                              email.message_from_bytes(envelope.content,
                                                       policy=email.policy.default)))
        return "250 Message accepted for delivery"


@pytest.fixture
def inbox(settings):
    handler = Inbox()
    # aiosmtpd 1.4's start() checks the server by connecting to the port it was given, so
    # port 0 fails that check: take a free port from the OS first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.NOTIFY_EMAIL_MIN_MINUTES = 30
    settings.SITE_URL = "https://rankings.linfen.example"
    yield handler
    controller.stop()


def _parts(message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def _overtake(holiday, victim, rival, before, after):
    snapshot_make(holiday, {"revenue": {victim: before[0], rival: before[1]}})
    new = snapshot_make(holiday, {"revenue": {victim: after[0], rival: after[1]}})
    snapshot_notify(snapshot_id=new.pk)
    return new


def test_one_digest_per_user_with_everything_waiting_in_text_and_html(holiday, inbox):
    user = UserFactory(username="li", email="li@example.org")
    me = OfficialFactory(name="Li Ming", user=user)
    rival = OfficialFactory(name="Wang Fang")
    NotificationProfile.objects.create(user=user, language="en")
    from rankings.models import Target

    Target.objects.create(holiday=holiday, official=me, metric="revenue", value=100)
    # Overtaken (emailed only by choice: on here) and a target reached, in one recompute.
    from notifications.models import NotificationPreference

    NotificationPreference.objects.create(user=user, kind="overtaken", channel="email",
                                          enabled=True)
    _overtake(holiday, me, rival, before=(90, 50), after=(120, 300))

    assert email_digests_send() == 1

    [(to, message)] = inbox.messages
    assert to == ["li@example.org"]
    assert message["Subject"] == "[Linfen rankings] 2 new notifications"
    text, html = _parts(message)
    assert "Wang Fang overtook you and is 180.00 yuan ahead" in text
    assert "you reached your target of 100.00 yuan" in text
    assert "https://rankings.linfen.example/notifications/settings/" in text
    assert "<li><a href=\"https://rankings.linfen.example/holidays/labor-day-2020/" in html
    assert set(Notification.objects.values_list("email_status", flat=True)) == {"sent"}


def test_the_digest_is_in_chinese_by_default(holiday, inbox):
    user = UserFactory(username="zhang", email="zhang@example.org")
    from notifications.services import notify_holiday_published

    me = OfficialFactory(user=user)
    snapshot_make(holiday, {"revenue": {me: 10}, "orders": {me: 1}, "audience": {me: 1}})
    notify_holiday_published(holiday_id=holiday.pk, revision=1)

    email_digests_send()

    [(_to, message)] = inbox.messages
    text, html = _parts(message)
    assert "排名" in message["Subject"]
    assert "Labor Day 2020" in text and "发布" in text
    assert 'lang="zh-hans"' in html


def test_at_most_one_email_per_interval_and_what_waits_is_coalesced(holiday, inbox, settings):
    user = UserFactory(username="li", email="li@example.org")
    me = OfficialFactory(user=user)
    snapshot_make(holiday, {"revenue": {me: 10}, "orders": {me: 1}, "audience": {me: 1}})
    from notifications.services import notify_holiday_published

    notify_holiday_published(holiday_id=holiday.pk, revision=1)
    assert email_digests_send() == 1
    notify_holiday_published(holiday_id=holiday.pk, revision=2)
    notify_holiday_published(holiday_id=holiday.pk, revision=3)

    assert email_digests_send() == 0  # within the interval: they wait
    assert Notification.objects.filter(email_status="pending").count() == 2

    NotificationProfile.objects.filter(user=user).update(
        last_email_at=timezone.now() - timedelta(minutes=31))
    assert email_digests_send() == 1

    assert len(inbox.messages) == 2
    assert "2" in inbox.messages[1][1]["Subject"]
    text, _html = _parts(inbox.messages[1][1])
    assert "revision 2" in text.lower() or "2" in text
    assert not Notification.objects.filter(email_status="pending").exists()


def test_a_failed_send_keeps_the_notifications_waiting(holiday, inbox, settings):
    user = UserFactory(username="li", email="li@example.org")
    me = OfficialFactory(user=user)
    snapshot_make(holiday, {"revenue": {me: 10}, "orders": {me: 1}, "audience": {me: 1}})
    from notifications.services import notify_holiday_published

    notify_holiday_published(holiday_id=holiday.pk, revision=1)
    settings.EMAIL_PORT = 1  # nothing listens there

    assert email_digests_send() == 0

    assert Notification.objects.get().email_status == "pending"
    assert NotificationProfile.objects.get(user=user).last_email_at is None
    assert inbox.messages == []
