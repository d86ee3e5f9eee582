"""Celery tasks: thin wrappers that take ids and call the ranking services.

Both may run twice without harm: a recompute starts from scratch, and the sweep only sends
recomputes.
"""

import logging
import time

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction

from linfen_tracker.celery_app import app as celery_app
from sessions_app.flags import PEER_RULES, session_flags_refresh
from sessions_app.models import Holiday
from sessions_app.services import rankings_recompute_request

from . import services

logger = logging.getLogger(__name__)

# Sent by name: notifications reads rankings, so rankings never imports it.
NOTIFY_TASK = "notifications.tasks.snapshot_notify"


@shared_task(
    name="rankings.tasks.recompute_holiday_rankings",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def recompute_holiday_rankings(holiday_id: int) -> dict:
    """Recompute one holiday's rankings; send a follow-up if writes arrived meanwhile."""
    try:
        # Sent after a session write or by beat's sweep of ongoing holidays: with no write
        # since the latest snapshot there is nothing new to rank.
        result = services.holiday_rankings_recompute(holiday_id=holiday_id,
                                                     only_if_changed=True, background=True)
    except Holiday.DoesNotExist:
        # Deleted after the message was sent: nothing left to rank, nothing to retry.
        logger.info("Holiday %s no longer exists; nothing to recompute", holiday_id)
        return {"holiday_id": holiday_id, "snapshot_id": None}
    if result.skipped:
        logger.info("Holiday %s: another recompute is running; coalesced", holiday_id)
    elif result.unchanged:
        logger.info("Holiday %s: no change since snapshot %s; none made", holiday_id,
                    result.snapshot_id)
    else:
        logger.info(
            "Holiday %s: snapshot %s, %s sessions, %s entries in %.3f s",
            holiday_id, result.snapshot_id, result.sessions, result.entries, result.seconds,
        )
        _notifications_request(result.snapshot_id)
        flags_seconds = _flags_refresh(holiday_id)
        # Writes that committed after this run read its version, or that coalesced into it
        # while it held the lock, still need a pass: the same claim a session write makes,
        # which sends nothing unless the holiday is still stale. A long snapshot rests
        # before the next (`snapshot_rest_seconds`), for as long as the snapshot and the
        # flags refresh it brought took together: both are this holiday's share of the
        # worker (at 4,000,000 sessions the refresh takes longer than the snapshot).
        rankings_recompute_request(
            holiday_ids=[holiday_id],
            rest=services.snapshot_rest_seconds(result.seconds + flags_seconds))
    return {"holiday_id": holiday_id, "snapshot_id": result.snapshot_id}


def _flags_refresh(holiday_id: int) -> float:
    """Refresh the flags that read a session's peers (the platforms' medians move with every
    write) across the holiday; each write already refreshed the other rules for the
    officials it wrote. Returns the seconds it took. A failure is logged: the snapshot is
    committed, and the next recompute refreshes them again."""
    began = time.monotonic()
    try:
        with transaction.atomic():  # the refresh's own transaction, without parallel workers
            services.background_parallel_limit()
            session_flags_refresh(holiday_id=holiday_id, rules=PEER_RULES)
    except Exception:
        logger.exception("Could not refresh the flags of holiday %s", holiday_id)
    return time.monotonic() - began


def _notifications_request(snapshot_id: int) -> None:
    """Ask for the new snapshot's notifications once it is committed; if the broker is down,
    beat's notification sweep picks the snapshot up."""
    try:
        celery_app.tasks[NOTIFY_TASK].delay_on_commit(snapshot_id)
    except Exception:
        logger.exception("Could not enqueue the notifications of snapshot %s", snapshot_id)


@shared_task(name="rankings.tasks.recompute_due_holidays")
def recompute_due_holidays() -> list[int]:
    """Beat's sweep: recompute stale holidays (a trigger lost while the broker was down) and
    ongoing ones."""
    due = services.holidays_due_for_recompute()
    for holiday_id in due:
        recompute_holiday_rankings.delay(holiday_id)
    return due


@shared_task(name="rankings.tasks.reconcile_totals")
def reconcile_totals(holiday_ids: list[int] | None = None) -> dict:
    """Beat's nightly check: every holiday's incremental totals against a from-scratch
    aggregation, differences reported (logged) and repaired. Safe to run twice."""
    reports = services.totals_reconcile(holiday_ids=holiday_ids)
    differences = {r.holiday_id: len(r.differences) for r in reports if r.differences}
    if differences:
        logger.warning("Totals reconciled: differences repaired in holidays %s", differences)
    else:
        logger.info("Totals reconciled: %s holidays, no difference", len(reports))
    return {"holidays": len(reports), "differences": differences}
