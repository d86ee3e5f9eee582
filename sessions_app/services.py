"""Writes to counties, officials, holidays and sessions.

Every entry path (form, API, admin, import, command) writes through these functions, so each
rule is written once. A write that changes what a holiday's rankings cover bumps the holiday's
`data_version` in the same transaction and, after commit, asks for a recompute by task name:
`sessions_app` never imports `rankings`.
"""

import logging
from collections.abc import Iterable
from datetime import date
from functools import partial
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from linfen_tracker.celery_app import app as celery_app
from linfen_tracker.generations import RANKINGS, generation_bump

from .models import County, Holiday, LivestreamSession, Official

logger = logging.getLogger(__name__)

RECOMPUTE_TASK = "rankings.tasks.recompute_holiday_rankings"

SESSION_EDITABLE_FIELDS = (
    "official",
    "county",
    "platform",
    "title",
    "products",
    "started_at",
    "ended_at",
    "audience",
    "orders",
    "revenue",
)


class SessionEditConflict(Exception):
    """Somebody else saved the session since this edit started from it."""

    def __init__(self, *, current_version: int):
        super().__init__(
            _("This session was changed by someone else; reload it and apply your change again.")
        )
        self.current_version = current_version


def local_date(moment) -> date:
    return timezone.localtime(moment).date()


def rankings_mark_stale(*, days: Iterable[date]) -> list[int]:
    """Mark the holidays covering any of `days` as needing a recompute; return their ids.

    Call it inside the transaction of the write: the version bump commits or rolls back with
    the data. The recompute is requested after commit, once per holiday for the whole write.
    """
    days = set(days)
    if not days:
        return []
    candidates = Holiday.objects.filter(start_date__lte=max(days), end_date__gte=min(days))
    ids = [
        h.id for h in candidates if any(h.start_date <= d <= h.end_date for d in days)
    ]
    if ids:
        Holiday.objects.filter(id__in=ids).update(data_version=F("data_version") + 1)
        generation_bump(RANKINGS)  # cached leaderboards now show status "pending"
        transaction.on_commit(partial(rankings_recompute_request, holiday_ids=ids))
    return ids


def rankings_recompute_request(*, holiday_ids: Iterable[int]) -> list[int]:
    """Send a recompute for each holiday that has none waiting; return the ids sent.

    A conditional UPDATE claims the holiday's `recompute_queued` flag, so a burst of writes
    sends one message per holiday until a recompute starts, and none once the rankings
    already cover the holiday's data_version (as after an in-process recompute). If the
    broker is down the save still succeeds: the flag is released and the stale mark waits for beat.
    """
    sent = []
    for holiday_id in holiday_ids:
        claimed = Holiday.objects.filter(
            pk=holiday_id, recompute_queued=False, ranked_version__lt=F("data_version")
        ).update(recompute_queued=True)
        if not claimed:
            continue
        try:
            celery_app.tasks[RECOMPUTE_TASK].delay(holiday_id)
        except Exception:
            # The broker is down or the in-process recompute failed: the write is committed
            # and the holiday stays stale, so the periodic sweep recomputes it later.
            logger.exception("Could not run or enqueue a recompute of holiday %s", holiday_id)
            Holiday.objects.filter(pk=holiday_id).update(recompute_queued=False)
            continue
        sent.append(holiday_id)
    return sent


def _integrity_error_to_validation(error: IntegrityError) -> ValidationError:
    if "one_session_per_official_start" in str(error) or "UNIQUE" in str(error):
        return ValidationError(
            {"started_at": _("This official already has a session starting at this time.")}
        )
    return ValidationError(_("The session breaks a rule of the database: %(error)s") % {
        "error": error
    })


def _session_save(*, session: LivestreamSession, user: AbstractBaseUser | None) -> None:
    session._history_user = user
    try:
        with transaction.atomic():
            session.save()
    except IntegrityError as error:
        # A concurrent write won the race past full_clean(); report it like a form error.
        raise _integrity_error_to_validation(error) from error


def session_create(
    *,
    entered_by: AbstractBaseUser | None,
    official: Official,
    platform: str,
    title: str,
    started_at,
    ended_at,
    audience: int,
    orders: int,
    revenue,
    county: County | None = None,
    products: str = "",
) -> LivestreamSession:
    """Create a session; its county defaults to the official's county at entry time.

    Raises ValidationError (field -> messages) for a bad row; nothing is saved then.
    """
    session = LivestreamSession(
        official=official,
        county=county or official.county,
        platform=platform,
        title=title,
        products=products,
        started_at=started_at,
        ended_at=ended_at,
        audience=audience,
        orders=orders,
        revenue=revenue,
        entered_by=entered_by,
    )
    session.full_clean()
    with transaction.atomic():
        _session_save(session=session, user=entered_by)
        rankings_mark_stale(days={local_date(session.started_at)})
    return session


def session_update(
    *,
    session: LivestreamSession,
    updated_by: AbstractBaseUser | None,
    data: dict[str, Any],
    expected_version: int | None = None,
) -> LivestreamSession:
    """Apply `data` (field -> value) to a session and save it.

    With `expected_version`, the edit is refused with SessionEditConflict when the stored
    version differs (someone saved in between). Recomputes are requested for the holidays of
    both the old and the new start date, since an edit can move a session between holidays.
    """
    unknown = set(data) - set(SESSION_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {sorted(unknown)}")
    with transaction.atomic():
        current = LivestreamSession.objects.select_for_update().get(pk=session.pk)
        if expected_version is not None and current.version != expected_version:
            raise SessionEditConflict(current_version=current.version)
        old_day = local_date(current.started_at)
        for field, value in data.items():
            setattr(session, field, value)
        session.full_clean()
        session.version = current.version + 1
        _session_save(session=session, user=updated_by)
        rankings_mark_stale(days={old_day, local_date(session.started_at)})
    return session


def session_delete(*, session: LivestreamSession, deleted_by: AbstractBaseUser | None) -> None:
    """Delete a session (its history keeps the last values) and mark its holiday stale."""
    with transaction.atomic():
        current = LivestreamSession.objects.select_for_update().get(pk=session.pk)
        current._history_user = deleted_by
        day = local_date(current.started_at)
        current.delete()
        rankings_mark_stale(days={day})


def holiday_save(*, holiday: Holiday, user: AbstractBaseUser | None) -> Holiday:
    """Create or update a holiday. Its dates decide which sessions it covers, so it is
    marked stale and recomputed."""
    holiday.full_clean()
    with transaction.atomic():
        holiday._history_user = user
        holiday.save()
        Holiday.objects.filter(pk=holiday.pk).update(data_version=F("data_version") + 1)
        transaction.on_commit(partial(rankings_recompute_request, holiday_ids=[holiday.pk]))
    holiday.refresh_from_db(fields=["data_version"])
    return holiday
