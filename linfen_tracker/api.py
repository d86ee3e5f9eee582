"""What both apps' APIs share: the exception handler, described serializers and pagination,
field descriptions for the schema, and the CSV response's schema.

DRF's defaults (settings.REST_FRAMEWORK) name the real classes: token then session
authentication, model-role permissions, the described pagination and `exception_handler`
below, so views declare only what differs from them.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from sessions_app.services import EvidenceStorageUnavailable, SessionEditConflict

from .choices import ChoiceField


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request conflicts with the stored data.")
    default_code = "conflict"


class PreconditionRequired(APIException):
    """RFC 6585: the server requires the request to be conditional. An edit must say which
    version it started from, or it could overwrite a change it never saw."""

    status_code = 428
    default_detail = _("Send the version you read: the version field or an If-Match header.")
    default_code = "precondition_required"


def validation_error_detail(error: DjangoValidationError) -> dict:
    """A Django ValidationError as DRF's 400 body: field -> messages, with the form-wide
    errors under DRF's non_field_errors key."""
    if hasattr(error, "error_dict"):
        return {
            (api_settings.NON_FIELD_ERRORS_KEY if field == "__all__" else field): messages
            for field, messages in error.message_dict.items()
        }
    return {api_settings.NON_FIELD_ERRORS_KEY: error.messages}


def exception_handler(exc, context):
    """DRF's handler, plus the errors services raise: a rule broken (Django's
    ValidationError) is a 400 naming the fields, an edit from a stale version a 409 with the
    current version, a delete of something still referred to a 409."""
    if isinstance(exc, DjangoValidationError):
        exc = serializers.ValidationError(validation_error_detail(exc))
    elif isinstance(exc, SessionEditConflict):
        return Response({"detail": str(exc), "current_version": exc.current_version},
                        status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, EvidenceStorageUnavailable):
        return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": "30"})
    elif isinstance(exc, ProtectedError):
        exc = Conflict(gettext("It cannot be deleted while livestream sessions or officials "
                               "refer to it."))
    return drf_exception_handler(exc, context)


# What each data name means, for fields whose model field has no help text: the schema
# describes every field, and one table keeps the wording the same everywhere.
FIELD_HELP = {
    "id": _("Identifier."),
    "slug": _("Short name used in URLs and filters."),
    "name": _("Name (for counties: English)."),
    "name_zh": _("Chinese name."),
    "kind": _("district, county-level city or county."),
    "poverty_relief_key": _("Whether the city reports it as a key poverty-relief county."),
    "title": _("Title: of an official, e.g. County head; of a session, what it was called."),
    "active": _("Whether the official still hosts sessions."),
    "platform": _("Livestream platform."),
    "products": _("What was sold."),
    "orders": _("Orders placed during the session."),
    "created_at": _("When the session was entered."),
    "updated_at": _("When the session was last changed."),
    "start_date": _("First day, Beijing time."),
    "end_date": _("Last day (inclusive), Beijing time."),
    "holiday": _("The holiday."),
    "metric": _("What is summed: audience, orders or revenue."),
    "scope": _("Who is ranked: officials or counties."),
    "results": _("The entries."),
    "history_id": _("Identifier of the history record."),
    "history_type": _("What happened: created, changed or deleted."),
    "history_user_name": _("Username of who made the change."),
    "version": _("Edit counter of the session after this change."),
    "count": _("Number of items in all pages."),
    "next": _("URL of the next page, or null."),
    "previous": _("URL of the previous page, or null."),
}


class DescribedFieldsMixin:
    """Gives every field without help text its description from FIELD_HELP."""

    def get_fields(self):
        fields = super().get_fields()
        for name, field in fields.items():
            if not field.help_text and name in FIELD_HELP:
                field.help_text = FIELD_HELP[name]
        return fields


class DescribedSerializer(DescribedFieldsMixin, serializers.Serializer):
    pass


class DescribedModelSerializer(DescribedFieldsMixin, serializers.ModelSerializer):
    serializer_choice_field = ChoiceField  # a refused choice names the valid ones


class DescribedPageNumberPagination(PageNumberPagination):
    """Page-number pagination (PAGE_SIZE a page), with its fields described in the schema."""

    def get_paginated_response_schema(self, schema: dict) -> dict:
        paginated = super().get_paginated_response_schema(schema)
        for name in ("count", "next", "previous", "results"):
            paginated["properties"][name]["description"] = str(FIELD_HELP[name])
        return paginated


CSV_RESPONSE = {
    (200, "text/csv"): OpenApiResponse(
        response=OpenApiTypes.STR,
        description=_("CSV in UTF-8 with a byte-order mark (opens in Excel with Chinese text)."),
    )
}
