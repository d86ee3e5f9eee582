from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = _("Livestream sessions")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .signals import connect_signals
        from .totals import holiday_totals_fill_missing

        connect_signals()
        post_migrate.connect(holiday_totals_fill_missing, sender=self,
                             dispatch_uid="holiday_totals_fill_missing")
