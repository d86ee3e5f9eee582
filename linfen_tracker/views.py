"""Project-level views: the health check."""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from .celery_app import app as celery_app


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _broker_status() -> str:
    if celery_app.conf.task_always_eager:
        return "eager"  # no broker configured: tasks run in-process
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception:
        return "unavailable"


@never_cache
def healthz(request):
    """200 when the database answers and the broker (if any) is reachable, else 503."""
    database = "ok" if _database_ok() else "unavailable"
    broker = _broker_status()
    healthy = database == "ok" and broker in ("ok", "eager")
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "database": database, "broker": broker},
        status=200 if healthy else 503,
    )
