"""Celery tasks of notifications: thin wrappers that take ids and call the services; each
may run twice without harm (a snapshot's run is claimed once, a delivered webhook is not sent
again, a digest waits for its interval).

Sent by name from other apps, which never import this one:
- `notifications.tasks.snapshot_notify(snapshot_id)`: by rankings after every recompute.
- `notifications.tasks.session_event_notify(session_id=, kind=, detail="")`: kind is
  `session_verified`, `session_rejected` or `session_flagged`.
- `notifications.tasks.session_events_notify(events=[{"session_id":, "kind":, "detail":}])`:
  several at once (the flags one write raised: one message, not one per flag).
- `notifications.tasks.holiday_published_notify(holiday_id=, revision=, note="")`.
"""

import logging

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from . import services, webhooks

logger = logging.getLogger(__name__)


@shared_task(name="notifications.tasks.snapshot_notify", acks_late=True)
def snapshot_notify(snapshot_id: int) -> dict:
    result = services.snapshot_notify(snapshot_id=snapshot_id)
    if result.done:
        logger.info("Snapshot %s: %s notifications, %s deliveries in %.3f s",
                    snapshot_id, result.notifications, result.deliveries, result.seconds)
    return {"snapshot_id": snapshot_id, "done": result.done,
            "notifications": result.notifications}


@shared_task(name="notifications.tasks.session_event_notify", acks_late=True)
def session_event_notify(session_id: int, kind: str, detail: str = "") -> int:
    return services.notify_session_event(session_id=session_id, kind=kind, detail=detail)


@shared_task(name="notifications.tasks.session_events_notify", acks_late=True)
def session_events_notify(events: list[dict]) -> int:
    """Each event as `session_event_notify`; returns the notifications made in all."""
    return sum(services.notify_session_event(session_id=event["session_id"],
                                             kind=event["kind"],
                                             detail=event.get("detail", ""))
               for event in events)


@shared_task(name="notifications.tasks.holiday_published_notify", acks_late=True)
def holiday_published_notify(holiday_id: int, revision: int, note: str = "") -> int:
    return services.notify_holiday_published(holiday_id=holiday_id, revision=revision,
                                             note=note)


@shared_task(name="notifications.tasks.email_digests_send", acks_late=True)
def email_digests_send() -> int:
    return services.email_digests_send()


@shared_task(name="notifications.tasks.notifications_sweep")
def notifications_sweep() -> dict:
    """Beat's sweep: snapshots whose notification message was lost, and digests that waited
    for their interval."""
    snapshots = services.snapshots_due_for_notification()
    for snapshot_id in snapshots:
        services.snapshot_notify(snapshot_id=snapshot_id)
    return {"snapshots": snapshots, "digests": services.email_digests_send()}


@shared_task(name="notifications.tasks.webhook_deliver", bind=True, acks_late=True,
             max_retries=None)
def webhook_deliver(self, delivery_id: int) -> str:
    """One attempt to deliver; on a failure that may pass (a network error, 5xx, 408, 429, a
    robot's error code), another after an exponential backoff (WEBHOOK_RETRY_BASE_SECONDS
    doubled per attempt, at most WEBHOOK_RETRY_MAX_SECONDS, which stays below the broker's
    visibility timeout), up to WEBHOOK_MAX_ATTEMPTS attempts in all. In-process (eager) mode
    makes one attempt only: a retry there would block the request that sent it."""
    delivery = services.delivery_attempt_start(delivery_id=delivery_id)
    if delivery is None:
        return "skipped"
    request = services.delivery_request(delivery=delivery)
    response = webhooks.post(url=request.url, body=request.body, headers=request.headers,
                             robot=request.robot)
    final = (response.ok or not response.retry or self.request.is_eager
             or delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS)
    services.delivery_attempt_record(delivery_id=delivery_id, ok=response.ok,
                                     status_code=response.status_code, error=response.error,
                                     final=final)
    if response.ok:
        return "succeeded"
    logger.warning("Webhook delivery %s attempt %s failed: %s", delivery_id, delivery.attempts,
                   response.error)
    if final:
        return "failed"
    countdown = get_exponential_backoff_interval(
        factor=settings.WEBHOOK_RETRY_BASE_SECONDS, retries=delivery.attempts - 1,
        maximum=settings.WEBHOOK_RETRY_MAX_SECONDS)
    raise self.retry(countdown=countdown)
