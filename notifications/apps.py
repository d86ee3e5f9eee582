from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        # Registered in every process, so that rankings and sessions_app can send the tasks
        # by name (they never import this app) and eager mode can run them.
        from . import tasks  # noqa: F401
