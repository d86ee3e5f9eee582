from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RankingsConfig(AppConfig):
    name = "rankings"
    verbose_name = _("Rankings")

    def ready(self) -> None:
        # Register the tasks in every process (web too), so that sessions_app can send
        # them by name, and in-process (eager) mode can run them.
        from . import tasks  # noqa: F401
        from .signals import connect_signals

        connect_signals()

        # Holidays' composite weights are checked against the metric registry.
        from sessions_app import validators

        from .metrics import metric_keys

        validators.metric_keys_provider = metric_keys

        # The incremental totals keep every base metric of the registry.
        from sessions_app import totals

        from .metrics import base_metrics

        totals.aggregates_provider = lambda: [
            totals.Aggregate(m.key, m.column, m.aggregate) for m in base_metrics()]
