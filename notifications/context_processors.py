"""The header's bell: the user's unread count, counted only if a template prints it."""

from django.utils.functional import SimpleLazyObject


def unread_notifications(request) -> dict:
    def count() -> int:
        from .selectors import unread_count

        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return 0
        return unread_count(user=user)

    return {"unread_notifications": SimpleLazyObject(count)}
