"""Reads of notifications: a user's own list and unread count, their channel choices."""

from django.conf import settings
from django.db.models import QuerySet

from .models import (
    DEFAULT_CHANNELS,
    Channel,
    Kind,
    Notification,
    NotificationPreference,
    NotificationProfile,
)


def notification_list(*, user, unread: bool | None = None) -> QuerySet:
    """The user's notifications shown in the site, newest first, with what their text needs."""
    qs = (Notification.objects.filter(user=user, in_site=True)
          .select_related("holiday", "official", "county",
                          "other_official"))
    if unread is True:
        qs = qs.filter(read_at__isnull=True)
    elif unread is False:
        qs = qs.filter(read_at__isnull=False)
    return qs.order_by("-id")


def unread_count(*, user) -> int:
    """How many of the user's in-site notifications are unread (the bell's number)."""
    return Notification.objects.filter(user=user, in_site=True, read_at__isnull=True).count()


def preferences_get(*, user) -> dict[tuple[str, str], bool]:
    """The user's channel per kind: their choice, else the default (DEFAULT_CHANNELS)."""
    chosen = {(p.kind, p.channel): p.enabled
              for p in NotificationPreference.objects.filter(user=user)}
    return {(kind.value, channel.value): chosen.get((kind.value, channel.value),
                                                    DEFAULT_CHANNELS[kind][channel])
            for kind in Kind for channel in Channel}


def email_language_get(*, user) -> str:
    profile = NotificationProfile.objects.filter(user=user).first()
    return profile.language if profile else settings.LANGUAGE_CODE
