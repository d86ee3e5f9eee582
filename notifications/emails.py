"""The email digest: one message with everything a user has waiting, in their language, as
plain text and HTML."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import ngettext

from .messages import notification_link, notification_text
from .models import Notification, NotificationProfile


def digest_message(*, user_id: int, notification_ids: list[int]) -> EmailMultiAlternatives:
    """The digest of the given notifications for the user, in the language of their profile
    (the site's default, Simplified Chinese, if they never chose)."""
    user = get_user_model().objects.get(pk=user_id)
    profile = NotificationProfile.objects.filter(user_id=user_id).first()
    language = profile.language if profile else settings.LANGUAGE_CODE
    notifications = list(
        Notification.objects.filter(id__in=notification_ids)
        .select_related("holiday", "official", "county",
                        "other_official")
        .order_by("holiday_id", "created_at", "id"))
    site = settings.SITE_URL.rstrip("/")
    with translation.override(language):
        items = [{"holiday": n.holiday.name if n.holiday_id else "",
                  "text": notification_text(n), "url": site + notification_link(n)}
                 for n in notifications]
        context = {"user": user, "items": items, "site": site,
                   "list_url": f"{site}/notifications/",
                   "settings_url": f"{site}/notifications/settings/"}
        subject = ngettext("[Linfen rankings] %(n)s new notification",
                           "[Linfen rankings] %(n)s new notifications", len(items)) % {
            "n": len(items)}
        text = render_to_string("notifications/email/digest.txt", context)
        html = render_to_string("notifications/email/digest.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text,
                                     from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email])
    message.attach_alternative(html, "text/html")
    return message
