from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = _("Livestream sessions")

    def ready(self) -> None:
        from .signals import connect_signals

        connect_signals()
