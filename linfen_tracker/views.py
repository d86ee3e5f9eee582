"""Project-level views: the health check and the error pages (403, 404, 500)."""

import logging
import threading
import time

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from .celery_app import app as celery_app

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _broker_ping() -> str:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception:
        return "unavailable"


# Load balancers may probe many times a second, and opening a broker connection costs
# several times the rest of the check (bench/api.py: 1.5 ms against 0.2 ms per request):
# each process asks the broker at most once per HEALTHZ_BROKER_CHECK_SECONDS and repeats
# its last answer (for the same broker URL) in between. The database is asked every time.
_broker_answer: tuple[str, float, str] | None = None  # (broker URL, good until, status)
_broker_lock = threading.Lock()


def _broker_status() -> str:
    global _broker_answer
    if celery_app.conf.task_always_eager:
        return "eager"  # no broker configured: tasks run in-process
    url = celery_app.conf.broker_url
    found = _broker_answer
    if found is not None and found[0] == url and time.monotonic() < found[1]:
        return found[2]
    with _broker_lock:  # one ping at a time per process; the others wait for its answer
        found = _broker_answer
        if found is not None and found[0] == url and time.monotonic() < found[1]:
            return found[2]
        status = _broker_ping()
        _broker_answer = (url, time.monotonic() + settings.HEALTHZ_BROKER_CHECK_SECONDS,
                          status)
        return status


@never_cache
def healthz(request):
    """200 when the database answers and the broker (if any) is reachable, else 503. The
    database is checked on every request, the broker at most once a second per process."""
    database = "ok" if _database_ok() else "unavailable"
    broker = _broker_status()
    healthy = database == "ok" and broker in ("ok", "eager")
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "database": database, "broker": broker},
        status=200 if healthy else 503,
    )


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def _previous_page(request) -> str | None:
    """The page the visitor came from, if it is one of ours and not this one: the error
    pages link back to it."""
    referer = request.META.get("HTTP_REFERER", "")
    try:
        ours = url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    except DisallowedHost:
        return None
    return referer if ours and referer != request.build_absolute_uri() else None


def permission_denied(request, exception):
    """handler403: a logged-in user without the permission (anonymous visitors are sent to
    the login page first)."""
    if _is_api(request):
        return JsonResponse({"detail": _("You do not have permission to perform this action.")},
                            status=403)
    return render(request, "403.html", {"previous_page": _previous_page(request)}, status=403)


def page_not_found(request, exception):
    """handler404: no such page, or no such holiday, session or official."""
    if _is_api(request):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return render(request, "404.html", {"previous_page": _previous_page(request)}, status=404)


def server_error(request):
    """handler500. Whatever failed (the database, the session, a template) may fail again, so
    the page is rendered without the request: no user, no context processors, no query."""
    if _is_api(request):
        return JsonResponse({"detail": _("A server error occurred.")}, status=500)
    try:
        body = loader.get_template("500.html").render({})
    except Exception:
        logger.exception("The 500 page could not be rendered")
        body = "<!doctype html><title>500</title><h1>Server error (500)</h1><a href=\"/\">/</a>"
    return HttpResponseServerError(body)
