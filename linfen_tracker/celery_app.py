"""The Celery app: configured from Django settings (the CELERY_ prefix), tasks autodiscovered."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "linfen_tracker.settings")

app = Celery("linfen_tracker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
