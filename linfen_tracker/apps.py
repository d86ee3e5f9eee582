from django.apps import AppConfig


class LinfenTrackerConfig(AppConfig):
    """The project package as an app: it has no models, only signal receivers."""

    name = "linfen_tracker"

    def ready(self) -> None:
        from .signals import connect_signals

        connect_signals()
