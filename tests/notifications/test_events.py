"""The entry points that verification, rejection, flags (issue 11/12) and publication call by
task name: who is told, by their choices, and which webhooks get the event."""

import pytest

from linfen_tracker.celery_app import app as celery_app
from notifications.models import Notification, NotificationPreference, Webhook, WebhookDelivery

from ..factories import OfficialFactory, SessionFactory, UserFactory
from .conftest import snapshot_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    return Webhook.objects.create(name="ops", url="http://127.0.0.1:9/hook", secret="s",
                                  events=["session_rejected", "published"])


def test_a_rejected_session_tells_its_official_and_the_subscribed_webhooks(
        holiday, webhook, django_capture_on_commit_callbacks):
    user = UserFactory(username="host", email="host@example.org")
    session = SessionFactory(official=OfficialFactory(user=user), title="Walnuts")

    with django_capture_on_commit_callbacks():
        # How sessions_app calls it: by task name, never importing notifications.
        celery_app.tasks["notifications.tasks.session_event_notify"].delay(
            session_id=session.pk, kind="session_rejected", detail="No platform export")

    notification = Notification.objects.get()
    assert (notification.user, notification.kind, notification.session_id) == (
        user, "session_rejected", session.pk)
    assert notification.holiday == holiday
    assert notification.email_status == "pending"  # rejections are emailed by default
    assert notification.data["detail"] == "No platform export"
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "session_rejected"
    assert delivery.payload["data"]["detail"] == "No platform export"


def test_a_verified_session_respects_the_officials_choice(holiday):
    user = UserFactory(username="host")
    NotificationPreference.objects.create(user=user, kind="session_verified", channel="site",
                                          enabled=False)
    session = SessionFactory(official=OfficialFactory(user=user))

    made = celery_app.tasks["notifications.tasks.session_event_notify"].delay(
        session_id=session.pk, kind="session_verified").get()

    assert made == 0
    assert not Notification.objects.exists()


def test_an_unknown_session_event_is_refused(holiday):
    from notifications.services import notify_session_event

    with pytest.raises(ValueError):
        notify_session_event(session_id=1, kind="session_deleted")


def test_publication_tells_every_ranked_official_with_an_account(holiday, webhook):
    ranked = OfficialFactory(user=UserFactory(username="ranked"))
    unranked = OfficialFactory(user=UserFactory(username="unranked"))
    snapshot_make(holiday, {m: {ranked: 5} for m in ("audience", "orders", "revenue")})

    made = celery_app.tasks["notifications.tasks.holiday_published_notify"].delay(
        holiday_id=holiday.pk, revision=2, note="Corrected").get()

    assert made == 1
    assert list(Notification.objects.values_list("user__username", "kind")) == [
        ("ranked", "published")]
    assert unranked.user.notifications.count() == 0
    assert WebhookDelivery.objects.get().payload["data"]["revision"] == 2
