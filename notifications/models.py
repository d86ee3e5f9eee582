"""Notifications to officials (in the site and by email) and deliveries to group-chat robots.

A `Notification` tells one user about one change of a new snapshot (overtaken, entered or
left the top 10, a target reached: written set-based by `services.snapshot_notify`, with
what changed in its own columns) or about one event (a session verified, rejected or
flagged, a holiday published). A `WebhookDelivery` carries one event to one webhook.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from rankings.models import Target
from sessions_app.models import County, Holiday, LivestreamSession, Official


class Kind(models.TextChoices):
    """What a user can be told about (and choose channels for)."""

    OVERTAKEN = "overtaken", _("Overtaken on a board")
    TOP10 = "top10", _("Entered or left the top 10")
    TARGET_REACHED = "target_reached", _("Target reached")
    SESSION_VERIFIED = "session_verified", _("Session verified")
    SESSION_REJECTED = "session_rejected", _("Session rejected")
    SESSION_FLAGGED = "session_flagged", _("Session flagged")
    PUBLISHED = "published", _("Rankings published")


class Channel(models.TextChoices):
    SITE = "site", _("In the site")
    EMAIL = "email", _("By email")


# Every kind shows in the site unless switched off; email is on for what an official acts on
# or wants to hear of at once, off for what every recompute may bring (overtakes) and good news
# that needs nothing done (a verified session).
DEFAULT_CHANNELS = {
    Kind.OVERTAKEN: {Channel.SITE: True, Channel.EMAIL: False},
    Kind.TOP10: {Channel.SITE: True, Channel.EMAIL: True},
    Kind.TARGET_REACHED: {Channel.SITE: True, Channel.EMAIL: True},
    Kind.SESSION_VERIFIED: {Channel.SITE: True, Channel.EMAIL: False},
    Kind.SESSION_REJECTED: {Channel.SITE: True, Channel.EMAIL: True},
    Kind.SESSION_FLAGGED: {Channel.SITE: True, Channel.EMAIL: True},
    Kind.PUBLISHED: {Channel.SITE: True, Channel.EMAIL: True},
}


class ChangeKind(models.TextChoices):
    """What exactly happened on a board (a notification's `event`)."""

    OVERTAKEN = "overtaken", _("Overtaken")
    TOP10_ENTERED = "top10_entered", _("Entered the top 10")
    TOP10_LEFT = "top10_left", _("Left the top 10")
    TARGET_REACHED = "target_reached", _("Target reached")


class NotificationRun(models.Model):
    """A snapshot's notifications were made: the claim that keeps a second run (a message
    delivered twice, or the sweep) from making them again, and a log of what was made."""

    snapshot_id = models.BigIntegerField(_("snapshot"), unique=True)
    holiday = models.ForeignKey(Holiday, on_delete=models.CASCADE, related_name="+",
                                verbose_name=_("holiday"))
    previous_snapshot_id = models.BigIntegerField(_("compared with snapshot"), null=True)
    created_at = models.DateTimeField(_("made at"), auto_now_add=True)
    notifications = models.PositiveIntegerField(_("notifications"), default=0)
    deliveries = models.PositiveIntegerField(_("webhook deliveries"), default=0)
    duration_ms = models.PositiveIntegerField(_("time (ms)"), default=0)

    class Meta:
        verbose_name = _("notification run")
        verbose_name_plural = _("notification runs")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"snapshot {self.snapshot_id}"


class EmailStatus(models.TextChoices):
    NONE = "none", _("Not emailed")
    PENDING = "pending", _("Waiting for the next digest")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Sending failed")


class Notification(models.Model):
    # Written tens of thousands at a time by one INSERT ... SELECT per kind
    # (services.snapshot_notify, bench/notifications.py): what changed is in the row itself
    # (no second table to write and join), no database foreign keys (a trigger check per row
    # and key) and few indexes. Django still cascades deletes and clears deleted sessions.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="notifications", verbose_name=_("user"),
                             db_constraint=False, db_index=False)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # Board changes: exactly what happened (top 10 entered or left), on which snapshot.
    event = models.CharField(_("event"), max_length=20, blank=True)
    holiday = models.ForeignKey(Holiday, on_delete=models.CASCADE, null=True, blank=True,
                                related_name="+", verbose_name=_("holiday"),
                                db_constraint=False, db_index=False)
    snapshot_id = models.BigIntegerField(_("snapshot"), null=True, blank=True)
    scope = models.CharField(max_length=10, blank=True)
    metric = models.CharField(_("metric"), max_length=20, blank=True)
    official = models.ForeignKey(Official, on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="+", db_constraint=False, db_index=False)
    county = models.ForeignKey(County, on_delete=models.CASCADE, null=True, blank=True,
                               related_name="+", db_constraint=False, db_index=False)
    rank = models.PositiveIntegerField(null=True, blank=True)  # null: no longer ranked
    previous_rank = models.PositiveIntegerField(null=True, blank=True)
    value = models.DecimalField(max_digits=38, decimal_places=2, null=True, blank=True)
    # overtaken: who passed, and their value now; target_reached: the target's value.
    other_official = models.ForeignKey(Official, on_delete=models.CASCADE, null=True,
                                       blank=True, related_name="+", db_constraint=False,
                                       db_index=False)
    other_value = models.DecimalField(max_digits=38, decimal_places=2, null=True, blank=True)
    target = models.ForeignKey(Target, on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+", db_constraint=False, db_index=False)
    session = models.ForeignKey(LivestreamSession, on_delete=models.SET_NULL, null=True,
                                blank=True, related_name="+", verbose_name=_("session"),
                                db_constraint=False, db_index=False)
    # Session events and publications: what the event said (reason, flag, revision).
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"))
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    in_site = models.BooleanField(_("shown in the site"), default=True)
    email_status = models.CharField(_("email"), max_length=10, choices=EmailStatus.choices,
                                    default=EmailStatus.NONE)
    emailed_at = models.DateTimeField(_("emailed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-id"]
        indexes = [
            # A user's list, newest first, and their unread count.
            models.Index(fields=["user", "-id"], name="notification_user_idx"),
            # The digest sweep reads only what waits to be emailed.
            models.Index(fields=["user"], condition=Q(email_status="pending"),
                         name="notification_email_pending_idx"),
            # Deleting a session clears its notifications' link; ranking notifications
            # have none and cost this index nothing.
            models.Index(fields=["session"], condition=Q(session__isnull=False),
                         name="notification_session_idx"),
            models.Index(fields=["target"], condition=Q(target__isnull=False),
                         name="notification_target_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.user}"

    @property
    def unread(self) -> bool:
        return self.read_at is None


class NotificationPreference(models.Model):
    """A user's choice for one kind on one channel; without a row, DEFAULT_CHANNELS holds."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="notification_preferences")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    enabled = models.BooleanField()

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [models.UniqueConstraint(fields=["user", "kind", "channel"],
                                               name="notification_preference_unique")]

    def __str__(self) -> str:
        return f"{self.user} {self.kind}/{self.channel}: {self.enabled}"


class NotificationProfile(models.Model):
    """Per user: the language of their emails and when the last digest went out (at most one
    per NOTIFY_EMAIL_MIN_MINUTES)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="notification_profile")
    language = models.CharField(_("email language"), max_length=10,
                                choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE)
    last_email_at = models.DateTimeField(_("last digest sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification profile")
        verbose_name_plural = _("notification profiles")

    def __str__(self) -> str:
        return str(self.user)


# --- Webhooks ---------------------------------------------------------------------------------


class WebhookEvent(models.TextChoices):
    OVERTAKEN = "overtaken", _("Overtaken")
    TOP10 = "top10", _("Top 10 changes")
    TARGET_REACHED = "target_reached", _("Targets reached")
    SESSION_VERIFIED = "session_verified", _("Session verified")
    SESSION_REJECTED = "session_rejected", _("Session rejected")
    SESSION_FLAGGED = "session_flagged", _("Session flagged")
    PUBLISHED = "published", _("Rankings published")
    SNAPSHOT_READY = "snapshot_ready", _("New rankings computed")


class WebhookFormat(models.TextChoices):
    GENERIC = "generic", _("Generic JSON (signed)")
    DINGTALK = "dingtalk", _("DingTalk group robot")
    WECOM = "wecom", _("WeCom group robot")


class Webhook(models.Model):
    name = models.CharField(_("name"), max_length=80)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(
        _("secret"), max_length=200, blank=True,
        help_text=_("Generic: the HMAC-SHA256 signing key (required). DingTalk: the robot's "
                    "signing secret (SEC...), if it uses signed URLs. WeCom: not used."),
    )
    events = models.JSONField(_("events"), default=list)
    format = models.CharField(_("format"), max_length=10, choices=WebhookFormat.choices,
                              default=WebhookFormat.GENERIC)
    language = models.CharField(_("language"), max_length=10, choices=settings.LANGUAGES,
                                default=settings.LANGUAGE_CODE)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RETRYING = "retrying", _("Retrying")
    SUCCEEDED = "succeeded", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one webhook: the delivery log."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries",
                                verbose_name=_("webhook"))
    event = models.CharField(_("event"), max_length=20)
    holiday = models.ForeignKey(Holiday, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+", verbose_name=_("holiday"))
    payload = models.JSONField(_("payload"))
    test = models.BooleanField(_("test message"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    response_code = models.PositiveIntegerField(_("response code"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook}"
