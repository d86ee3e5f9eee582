"""REST API v1 of counties, officials, holidays and sessions (design.md, "HTTP").

Serializers check the shape of a payload; the rules (end after start, one session per
official and start time, the county default) live in `services`, and their ValidationError
becomes a 400 with the same field names. Reads of summaries go through `selectors`.
"""

import csv
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.validators import UniqueValidator

from linfen_tracker.permissions import (
    API_AUTHENTICATION,
    CanAuditSessions,
    CanViewSessions,
    ModelRolePermissions,
)

from . import selectors, services
from .filters import (
    LivestreamSessionFilter,
    OfficialFilter,
    date_range_message,
    year_in_range,
)
from .models import County, Holiday, LivestreamSession, Official, Platform

# Ids are 64-bit; a larger number would overflow the database integer instead of naming
# nothing, so it is refused as a value before any query.
MAX_ID = 2**63 - 1
# Far above any real livestream, and low enough that a holiday's sums fit the ranking table.
MAX_COUNT = 10**12 - 1


def _id_field() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The request conflicts with the stored data.")
    default_code = "conflict"


@contextmanager
def service_errors() -> Iterator[None]:
    """Turn a service's ValidationError (field -> messages) into DRF's 400, same fields."""
    try:
        yield
    except DjangoValidationError as error:
        if hasattr(error, "error_dict"):
            detail = {
                (api_settings.NON_FIELD_ERRORS_KEY if field == "__all__" else field): messages
                for field, messages in error.message_dict.items()
            }
        else:
            detail = {api_settings.NON_FIELD_ERRORS_KEY: error.messages}
        raise serializers.ValidationError(detail) from error


# --- Descriptions in the schema ----------------------------------------------------------

# What each data name means, for fields whose model field has no help text: the schema
# describes every field (issue 4), and one table keeps the wording the same everywhere.
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
    pass


class DescribedPageNumberPagination(PageNumberPagination):
    """The settings' page-number pagination, with its fields described in the schema."""

    def get_paginated_response_schema(self, schema: dict) -> dict:
        paginated = super().get_paginated_response_schema(schema)
        for name in ("count", "next", "previous", "results"):
            paginated["properties"][name]["description"] = str(FIELD_HELP[name])
        return paginated


# --- CSV export ------------------------------------------------------------------------------

# A cell starting with one of these is a formula to Excel; a quote makes it plain text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(*, header: list, rows: Iterable[list], filename: str) -> StreamingHttpResponse:
    """A streamed CSV download in UTF-8 with a byte-order mark, which is what makes Excel
    read Chinese text as UTF-8 rather than the system code page."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield "\ufeff" + writer.writerow([str(h) for h in header])
        for row in rows:
            yield writer.writerow([_csv_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


CSV_RESPONSE = {
    (200, "text/csv"): OpenApiResponse(
        response=OpenApiTypes.STR,
        description=_("CSV in UTF-8 with a byte-order mark (opens in Excel with Chinese text)."),
    )
}


# --- Counties and officials -----------------------------------------------------------------


class ProtectedDeleteMixin:
    """A county or official that sessions point to cannot be deleted: 409, not 500."""

    def perform_destroy(self, instance) -> None:
        try:
            instance.delete()
        except ProtectedError as error:
            raise Conflict(
                gettext("It cannot be deleted while livestream sessions or officials refer "
                        "to it.")
            ) from error


def _id_param(description) -> OpenApiParameter:
    return OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH,
                            description=description)


_COUNTY_ID = _id_param(_("County id."))
_OFFICIAL_ID = _id_param(_("Official id."))
_SESSION_ID = _id_param(_("Session id."))


class CountySerializer(DescribedModelSerializer):
    class Meta:
        model = County
        fields = ["id", "slug", "name", "name_zh", "kind", "poverty_relief_key"]

    def validate_slug(self, value):
        return _slug_not_only_digits(value)


class ApiViewSetMixin:
    authentication_classes = API_AUTHENTICATION
    permission_classes = [ModelRolePermissions]
    pagination_class = DescribedPageNumberPagination


@extend_schema_view(
    list=extend_schema(description=_("The 17 county-level divisions of Linfen.")),
    retrieve=extend_schema(description=_("One county."), parameters=[_COUNTY_ID]),
    create=extend_schema(description=_("Add a county (city staff).")),
    update=extend_schema(description=_("Replace a county's fields (city staff)."),
                         parameters=[_COUNTY_ID]),
    partial_update=extend_schema(
        description=_("Change some of a county's fields, e.g. poverty_relief_key (city "
                      "staff)."),
        parameters=[_COUNTY_ID],
    ),
    destroy=extend_schema(
        description=_("Delete a county nobody refers to (city staff); 409 if officials or "
                      "sessions refer to it."),
        parameters=[_COUNTY_ID],
    ),
)
class CountyViewSet(ApiViewSetMixin, ProtectedDeleteMixin, viewsets.ModelViewSet):
    queryset = County.objects.all()
    serializer_class = CountySerializer
    lookup_value_regex = "[0-9]{1,18}"
    ordering_fields = ["name", "slug", "id"]
    ordering = ["name"]


class OfficialSerializer(DescribedModelSerializer):
    county = serializers.PrimaryKeyRelatedField(
        queryset=County.objects.all(), pk_field=_id_field(), help_text=_("County id.")
    )
    user = serializers.PrimaryKeyRelatedField(
        queryset=selectors.official_linkable_users(),
        pk_field=serializers.IntegerField(min_value=1, max_value=2**31 - 1),
        allow_null=True,
        required=False,
        validators=[UniqueValidator(queryset=Official.objects.all(), message=_(
            "This account is already linked to another official."))],
        error_messages={"does_not_exist": _(
            "Account {pk_value} cannot be linked: there is no such account, or it is staff "
            "or an administrator.")},
        # An id box: the browsable API would otherwise list every account's username.
        style={"base_template": "input.html"},
        help_text=_("Id of the user account of the official, if any: neither staff nor a "
                    "superuser, and linked to no other official."),
    )

    class Meta:
        model = Official
        fields = ["id", "name", "title", "county", "user", "active"]


@extend_schema_view(
    list=extend_schema(description=_("Officials who host livestreams.")),
    retrieve=extend_schema(description=_("One official."), parameters=[_OFFICIAL_ID]),
    create=extend_schema(description=_("Add an official (city staff).")),
    update=extend_schema(description=_("Replace an official's fields (city staff)."),
                         parameters=[_OFFICIAL_ID]),
    partial_update=extend_schema(
        description=_("Change some of an official's fields (city staff)."),
        parameters=[_OFFICIAL_ID],
    ),
    destroy=extend_schema(
        description=_("Delete an official without sessions (city staff); 409 otherwise: "
                      "deactivate them instead."),
        parameters=[_OFFICIAL_ID],
    ),
)
class OfficialViewSet(ApiViewSetMixin, ProtectedDeleteMixin, viewsets.ModelViewSet):
    queryset = Official.objects.all()
    serializer_class = OfficialSerializer
    filterset_class = OfficialFilter
    lookup_value_regex = "[0-9]{1,18}"
    ordering_fields = ["name", "id"]
    ordering = ["name", "id"]


# --- Holidays and their summary -------------------------------------------------------------


class HolidaySerializer(DescribedModelSerializer):
    rankings_stale = serializers.BooleanField(
        read_only=True,
        help_text=_("True while sessions changed since the rankings were last computed."),
    )

    class Meta:
        model = Holiday
        fields = ["id", "name", "slug", "start_date", "end_date", "rankings_stale"]

    def validate_slug(self, value):
        return _slug_not_only_digits(value)

    def validate_start_date(self, value):
        return _in_year_range(value)

    def validate_end_date(self, value):
        return _in_year_range(value)


def _slug_not_only_digits(value: str) -> str:
    # Holidays and counties are named by id or slug in URLs and filters; digits mean an id.
    if value.isdigit():
        raise serializers.ValidationError(
            gettext("A slug must not be only digits: digits name an id.")
        )
    return value


def _in_year_range(value):
    if not year_in_range(value):
        raise serializers.ValidationError(date_range_message())
    return value


class HolidayRefSerializer(DescribedSerializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()


class FiguresSerializer(DescribedSerializer):
    sessions = serializers.IntegerField(help_text=_("Number of sessions."))
    audience = serializers.IntegerField(help_text=_("Sum of audiences."))
    orders = serializers.IntegerField(help_text=_("Sum of orders."))
    revenue = serializers.DecimalField(
        max_digits=18, decimal_places=2, help_text=_("Sum of revenue, yuan.")
    )


class DayFiguresSerializer(FiguresSerializer):
    date = serializers.DateField(help_text=_("A day of the holiday, Beijing time."))


class CountyFiguresSerializer(FiguresSerializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    name_zh = serializers.CharField()
    poverty_relief_key = serializers.BooleanField()


class PlatformFiguresSerializer(FiguresSerializer):
    platform = serializers.ChoiceField(choices=Platform.choices)


class HolidaySummarySerializer(FiguresSerializer):
    holiday = HolidayRefSerializer()
    poverty_relief_revenue = serializers.DecimalField(
        max_digits=18, decimal_places=2,
        help_text=_("Revenue of sessions held for key poverty-relief counties, yuan."),
    )
    poverty_relief_share = serializers.DecimalField(
        max_digits=5, decimal_places=4, allow_null=True,
        help_text=_("poverty_relief_revenue / revenue; null when there is no revenue."),
    )
    by_day = DayFiguresSerializer(many=True, help_text=_("Every day of the holiday."))
    by_county = CountyFiguresSerializer(
        many=True, help_text=_("Every county, by revenue descending then name.")
    )
    by_platform = PlatformFiguresSerializer(
        many=True, help_text=_("Platforms with sessions, by revenue descending.")
    )


_HOLIDAY_KEY = OpenApiParameter(
    "id", OpenApiTypes.STR, OpenApiParameter.PATH,
    description=_("Holiday id or slug."), pattern=r"^[-a-zA-Z0-9_]+$",
)


@extend_schema_view(
    list=extend_schema(description=_("Holidays, latest first.")),
    retrieve=extend_schema(description=_("One holiday."), parameters=[_HOLIDAY_KEY]),
    create=extend_schema(description=_("Add a holiday (city staff). Its rankings are "
                                       "computed at once.")),
    update=extend_schema(description=_("Replace a holiday's fields (city staff); new dates "
                                       "trigger a recompute of its rankings."),
                         parameters=[_HOLIDAY_KEY]),
    partial_update=extend_schema(description=_("Change some of a holiday's fields "
                                               "(city staff)."), parameters=[_HOLIDAY_KEY]),
    destroy=extend_schema(description=_("Delete a holiday and its rankings (city staff); "
                                        "its sessions stay."), parameters=[_HOLIDAY_KEY]),
)
class HolidayViewSet(ApiViewSetMixin, viewsets.ModelViewSet):
    queryset = Holiday.objects.all()
    serializer_class = HolidaySerializer
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    ordering_fields = ["start_date", "name", "id"]
    ordering = ["-start_date"]

    def get_object(self) -> Holiday:
        key = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        # Digits name an id (holiday_get's rule); beyond 18 of them nothing can match.
        holiday = None if len(key) > 18 and key.isdigit() else selectors.holiday_get(key=key)
        if holiday is None:
            raise NotFound(gettext("No such holiday."))
        self.check_object_permissions(self.request, holiday)
        return holiday

    def perform_create(self, serializer) -> None:
        with service_errors():
            serializer.instance = services.holiday_save(
                holiday=Holiday(**serializer.validated_data), user=self.request.user
            )

    def perform_update(self, serializer) -> None:
        holiday = serializer.instance
        for field, value in serializer.validated_data.items():
            setattr(holiday, field, value)
        with service_errors():
            services.holiday_save(holiday=holiday, user=self.request.user)

    @extend_schema(
        description=_("Totals of the holiday's sessions (those that started on one of its "
                      "days, Beijing time): sessions, audience, orders, revenue, revenue of "
                      "key poverty-relief counties, and breakdowns by day, county and "
                      "platform."),
        parameters=[_HOLIDAY_KEY],
        responses=HolidaySummarySerializer,
        filters=False,
    )
    @action(detail=True, methods=["get"], permission_classes=[CanViewSessions],
            pagination_class=None, filter_backends=[])
    def summary(self, request, pk=None):
        holiday = self.get_object()
        summary = selectors.holiday_summary(holiday=holiday)
        return Response(HolidaySummarySerializer({**summary, "holiday": holiday}).data)


# --- Sessions -------------------------------------------------------------------------------


class LivestreamSessionSerializer(DescribedModelSerializer):
    official = serializers.PrimaryKeyRelatedField(
        queryset=Official.objects.all(), pk_field=_id_field(), help_text=_("Official id.")
    )
    county = serializers.PrimaryKeyRelatedField(
        queryset=County.objects.all(),
        pk_field=_id_field(),
        required=False,
        help_text=_("County id; defaults to the official's county when the session is "
                    "entered, and is then kept when the official moves."),
    )
    audience = serializers.IntegerField(
        min_value=0, max_value=MAX_COUNT,
        help_text=_("Viewer count reported by the platform."),
    )
    orders = serializers.IntegerField(min_value=0, max_value=MAX_COUNT)
    revenue = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0"),
        help_text=_("Revenue in yuan, a decimal string with at most 2 decimal places."),
    )
    version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False,
        help_text=_("Edit counter. Send the version you read with an update (or an If-Match "
                    "header); if someone saved in between, the update gets 409."),
    )

    class Meta:
        model = LivestreamSession
        fields = [
            "id", "official", "county", "platform", "title", "products", "started_at",
            "ended_at", "audience", "orders", "revenue", "entered_by", "created_at",
            "updated_at", "version",
        ]
        read_only_fields = ["entered_by", "created_at", "updated_at"]
        extra_kwargs = {
            "entered_by": {"help_text": _("Id of the user who entered the session; set from "
                                          "the request, never from the payload.")},
            "started_at": {"help_text": _("ISO 8601; without an offset, Beijing time.")},
            "ended_at": {"help_text": _("ISO 8601; must be after started_at.")},
        }
        # The uniqueness of (official, started_at) is the service's rule: it reports it on
        # started_at, as the forms do.
        validators = []

    def validate_started_at(self, value):
        return _in_year_range(value)

    def validate_ended_at(self, value):
        return _in_year_range(value)


class FieldChangeSerializer(DescribedSerializer):
    field = serializers.CharField(help_text=_("Field name."))
    old = serializers.JSONField(allow_null=True, help_text=_("Value before; null on creation."))
    new = serializers.JSONField(allow_null=True, help_text=_("Value after."))


class SessionHistorySerializer(DescribedSerializer):
    history_id = serializers.IntegerField()
    history_date = serializers.DateTimeField(help_text=_("When the change was saved."))
    history_type = serializers.ChoiceField(
        choices=[("created", "created"), ("changed", "changed"), ("deleted", "deleted")]
    )
    history_user = serializers.IntegerField(
        allow_null=True, help_text=_("Id of the user who made the change.")
    )
    history_user_name = serializers.CharField(allow_null=True)
    version = serializers.IntegerField()
    changes = FieldChangeSerializer(many=True, help_text=_("Fields whose value changed."))


class SessionHistoryPageSerializer(DescribedSerializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SessionHistorySerializer(many=True)


_HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}
_DATETIME = serializers.DateTimeField()


def _history_value(value):
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return _DATETIME.to_representation(value) if hasattr(value, "hour") else value.isoformat()
    return value


def session_history_entries(*, session_id: int) -> list[dict]:
    """The audit trail of one session, newest first: who, when, and old -> new per changed
    field (a creation lists every field with old null)."""
    entries = []
    for entry in selectors.session_history(session_id=session_id):
        record, previous = entry.record, entry.previous
        user = record.history_user
        entries.append({
            "history_id": record.history_id,
            "history_date": record.history_date,
            "history_type": _HISTORY_TYPES.get(record.history_type, record.history_type),
            "history_user": user.pk if user else None,
            "history_user_name": user.get_username() if user else None,
            "version": record.version,
            "changes": [] if record.history_type == "-" else [
                {"field": field.name,
                 "old": _history_value(
                     getattr(previous, field.attname) if previous is not None else None),
                 "new": _history_value(getattr(record, field.attname))}
                for field in entry.changed_fields
            ],
        })
    return entries


_IF_MATCH = re.compile(r'^\s*(?:W/)?"?([0-9]{1,10})"?\s*$')


_IF_MATCH_HEADER = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description=_("Version the edit started from (alternative to the version field)."),
)
_EDIT_RESPONSES = {
    200: LivestreamSessionSerializer,
    409: OpenApiResponse(description=_("Someone saved the session since that version.")),
}


@extend_schema_view(
    list=extend_schema(description=_("Livestream sessions, newest first; filter by holiday, "
                                     "county, official, platform and start time.")),
    retrieve=extend_schema(description=_("One session. Its ETag header is its version."),
                           parameters=[_SESSION_ID]),
    create=extend_schema(description=_("Enter a session (city staff). county defaults to the "
                                       "official's county; entered_by is the requesting "
                                       "user.")),
    update=extend_schema(
        description=_("Replace a session's fields (city staff). Send the version you read "
                      "(field or If-Match header): a stale one gets 409."),
        parameters=[_SESSION_ID, _IF_MATCH_HEADER],
        responses=_EDIT_RESPONSES,
    ),
    partial_update=extend_schema(
        description=_("Change some of a session's fields (city staff); version as for "
                      "update."),
        parameters=[_SESSION_ID, _IF_MATCH_HEADER],
        responses=_EDIT_RESPONSES,
    ),
    destroy=extend_schema(description=_("Delete a session (city staff); its audit history "
                                        "stays."), parameters=[_SESSION_ID]),
)
class LivestreamSessionViewSet(ApiViewSetMixin, viewsets.ModelViewSet):
    serializer_class = LivestreamSessionSerializer
    filterset_class = LivestreamSessionFilter
    lookup_value_regex = "[0-9]{1,18}"
    ordering_fields = ["started_at", "ended_at", "audience", "orders", "revenue", "id"]
    ordering = ["-started_at", "id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LivestreamSession.objects.none()
        return selectors.session_list()

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        response["ETag"] = f'"{response.data["version"]}"'
        return response

    def update(self, request, *args, **kwargs):
        try:
            response = super().update(request, *args, **kwargs)
        except services.SessionEditConflict as conflict:
            return Response(
                {"detail": str(conflict), "current_version": conflict.current_version},
                status=status.HTTP_409_CONFLICT,
            )
        response["ETag"] = f'"{response.data["version"]}"'
        return response

    def perform_create(self, serializer) -> None:
        data = dict(serializer.validated_data)
        data.pop("version", None)
        with service_errors():
            serializer.instance = services.session_create(entered_by=self.request.user, **data)

    def perform_update(self, serializer) -> None:
        data = dict(serializer.validated_data)
        expected = self._expected_version(data.pop("version", None))
        # A SessionEditConflict goes up to update(), which answers 409.
        with service_errors():
            services.session_update(
                session=serializer.instance, updated_by=self.request.user, data=data,
                expected_version=expected,
            )

    def _expected_version(self, from_payload: int | None) -> int | None:
        header = self.request.headers.get("If-Match")
        if header is None or header.strip() == "*":
            return from_payload
        match = _IF_MATCH.match(header)
        if match is None:
            raise serializers.ValidationError(
                {"version": [gettext('If-Match must be the version, e.g. "3".')]}
            )
        from_header = int(match.group(1))
        if from_payload is not None and from_payload != from_header:
            raise serializers.ValidationError(
                {"version": [gettext("The version field and the If-Match header differ.")]}
            )
        return from_header

    def perform_destroy(self, instance) -> None:
        services.session_delete(session=instance, deleted_by=self.request.user)

    @extend_schema(
        description=_("Audit history of a session, newest first, also after it was deleted "
                      "(city staff only)."),
        responses=SessionHistoryPageSerializer,
        parameters=[_SESSION_ID],
        filters=False,
    )
    @action(detail=True, methods=["get"], permission_classes=[CanAuditSessions],
            filter_backends=[])
    def history(self, request, pk=None):
        entries = session_history_entries(session_id=int(pk))
        if not entries:
            raise NotFound(gettext("No such session."))
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(SessionHistorySerializer(page, many=True).data)

    @extend_schema(
        description=_("The filtered sessions as a CSV download (all of them, not one page)."),
        responses=CSV_RESPONSE,
        filters=True,
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def export(self, request):
        sessions = self.filter_queryset(self.get_queryset())
        header = [
            LivestreamSession._meta.get_field(name).verbose_name
            for name in ("id", "official")
        ] + [_("official id"), _("title (of the official)"), _("county"), _("county id")] + [
            LivestreamSession._meta.get_field(name).verbose_name
            for name in ("platform", "title", "products", "started_at", "ended_at",
                         "audience", "orders", "revenue", "entered_by")
        ]
        platforms = dict(Platform.choices)

        def rows():
            for s in sessions.iterator(chunk_size=2000):
                yield [
                    s.id, s.official.name, s.official_id, s.official.title,
                    s.county.display_name, s.county_id, str(platforms.get(s.platform, s.platform)),
                    s.title, s.products,
                    timezone.localtime(s.started_at).strftime("%Y-%m-%d %H:%M"),
                    timezone.localtime(s.ended_at).strftime("%Y-%m-%d %H:%M"),
                    s.audience, s.orders, s.revenue,
                    s.entered_by.get_username() if s.entered_by else "",
                ]

        return csv_response(header=header, rows=rows(), filename="sessions.csv")
