"""Turn a lost database into a clean 503 instead of a 500 page."""

import logging

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    """A request whose database connection fails (server down, connection dropped) gets
    HTTP 503 with a plain message. Its transaction died with the connection, so nothing it
    was writing is saved; the message says so. Django drops the broken connection at the end
    of the request and the next request opens a new one."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.error("Database unavailable during %s %s: %s", request.method, request.path,
                     exception)
        message = _("The database is unavailable right now, so nothing was saved. "
                    "Please try again in a minute.")
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": message}, status=503)
        else:
            response = TemplateResponse(request, "503.html", {"message": message}, status=503)
        response["Retry-After"] = "30"
        return response
