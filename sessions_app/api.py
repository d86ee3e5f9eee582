"""REST API v1 of counties, officials, holidays and sessions (design.md, "HTTP").

Serializers only parse a payload into values (the messages of validators.PARSE_MESSAGES);
the rules live on the model and in `services`, whose ValidationError becomes a 400 with the
same field names and messages as on the pages and in the import (linfen_tracker.api's
exception handler). Reads of summaries go through `selectors`.
"""

import re
from decimal import Decimal

from django.urls import reverse
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
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.validators import UniqueValidator

from linfen_tracker.api import (
    CSV_RESPONSE,
    DescribedModelSerializer,
    DescribedSerializer,
    PreconditionRequired,
)
from linfen_tracker.permissions import (
    CanAuditSessions,
    CanReviewSessions,
    CanUseEvidence,
    CanViewSessions,
)

from . import selectors, services
from .evidence.content import XLSX_TYPE
from .evidence.http import evidence_file_response, evidence_upload_limit_install
from .exports import sessions_csv_response
from .filters import LivestreamSessionFilter, OfficialFilter
from .flags import FLAG_CODES
from .models import (
    County,
    Holiday,
    ItemUnit,
    LivestreamSession,
    Official,
    Platform,
    RankingBasis,
    SessionEvidence,
    SessionItem,
    SessionStatus,
)
from .validators import PARSE_MESSAGES, year_range_message

# Ids are 64-bit; a larger number would overflow the database integer instead of naming
# nothing, so it is refused as a value before any query.
MAX_ID = 2**63 - 1


def _id_field() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID)


# --- Counties and officials -----------------------------------------------------------------


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
class CountyViewSet(viewsets.ModelViewSet):
    # Deleting a county that sessions or officials refer to is a 409 (exception handler).
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
        fields = ["id", "name", "title", "title_en", "county", "user", "active"]


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
class ServiceSavedViewSet(viewsets.ModelViewSet):
    """Creates and updates go through the model's save service (`service_save`), as on
    every other path, never through the serializer's own save."""

    def service_save(self, instance):
        raise NotImplementedError

    def perform_create(self, serializer) -> None:
        serializer.instance = self.service_save(
            serializer.Meta.model(**serializer.validated_data))

    def perform_update(self, serializer) -> None:
        instance = serializer.instance
        for field, value in serializer.validated_data.items():
            setattr(instance, field, value)
        self.service_save(instance)


class OfficialViewSet(ServiceSavedViewSet):
    queryset = Official.objects.all()
    serializer_class = OfficialSerializer
    filterset_class = OfficialFilter
    lookup_value_regex = "[0-9]{1,18}"
    ordering_fields = ["name", "id"]
    ordering = ["name", "id"]

    def service_save(self, instance: Official) -> Official:
        return services.official_save(official=instance, user=self.request.user)


# --- Holidays and their summary -------------------------------------------------------------


class HolidaySerializer(DescribedModelSerializer):
    rankings_stale = serializers.BooleanField(
        read_only=True,
        help_text=_("True while sessions changed since the rankings were last computed."),
    )

    class Meta:
        model = Holiday
        fields = ["id", "name", "name_zh", "slug", "start_date", "end_date", "ranking_basis",
                  "tie_style", "composite_weights",
                  "rankings_stale", "rankings_error", "rankings_failed_at"]
        extra_kwargs = {
            "tie_style": {"help_text": _("competition (1, 2, 2, 4; default) or dense "
                                         "(1, 2, 2, 3).")},
            "composite_weights": {"help_text": _(
                'Metric -> weight > 0 for the composite score, e.g. {"revenue": 0.5, '
                '"audience": 0.3, "orders": 0.2}; {}: none.')},
            "rankings_error": {"help_text": _("Why the last recompute failed (empty when the "
                                              "latest one succeeded); the rankings stay at "
                                              "the previous snapshot meanwhile.")},
            "rankings_failed_at": {"help_text": _("When it failed; null when it did not.")},
        }

    def validate_slug(self, value):
        return _slug_not_only_digits(value)


def _slug_not_only_digits(value: str) -> str:
    # Holidays and counties are named by id or slug in URLs and filters; digits mean an id.
    if value.isdigit():
        raise serializers.ValidationError(
            gettext("A slug must not be only digits: digits name an id.")
        )
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
        max_digits=38, decimal_places=2, help_text=_("Sum of revenue (gross), yuan.")
    )
    refunded_orders = serializers.IntegerField(help_text=_("Sum of refunded orders."))
    refunds = serializers.DecimalField(
        max_digits=38, decimal_places=2, help_text=_("Sum of refunds, yuan.")
    )
    net_revenue = serializers.DecimalField(
        max_digits=38, decimal_places=2, help_text=_("Revenue less refunds, yuan.")
    )


class VerificationSerializer(DescribedSerializer):
    basis = serializers.ChoiceField(choices=RankingBasis.choices,
                                    help_text=_("The holiday's ranking basis."))
    counted = serializers.IntegerField(help_text=_("Sessions the rankings and totals count."))
    in_holiday = serializers.IntegerField(help_text=_("All sessions in the holiday's days."))
    entered = serializers.IntegerField(help_text=_("Sessions not yet verified."))
    verified = serializers.IntegerField(help_text=_("Verified sessions."))
    rejected = serializers.IntegerField(help_text=_("Rejected sessions (never counted)."))
    unverified_revenue = serializers.DecimalField(
        max_digits=38, decimal_places=2, help_text=_("Revenue of the sessions not yet verified.")
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


class ProductFiguresSerializer(DescribedSerializer):
    name = serializers.CharField()
    revenue = serializers.DecimalField(max_digits=38, decimal_places=2,
                                       help_text=_("Sum of its lines' revenue, yuan."))
    lines = serializers.IntegerField(help_text=_("Item lines naming it."))
    certified = serializers.BooleanField(
        help_text=_("Some line of it is a certified poverty-alleviation product."))


class HolidaySummarySerializer(FiguresSerializer):
    holiday = HolidayRefSerializer()
    refund_rate = serializers.DecimalField(
        max_digits=5, decimal_places=4, allow_null=True,
        help_text=_("refunds / revenue; null when there is no revenue."),
    )
    verification = VerificationSerializer(help_text=_("How solid the figures are."))
    poverty_relief_revenue = serializers.DecimalField(
        max_digits=38, decimal_places=2,
        help_text=_("Revenue of sessions held for key poverty-relief counties, yuan."),
    )
    poverty_relief_share = serializers.DecimalField(
        max_digits=5, decimal_places=4, allow_null=True,
        help_text=_("poverty_relief_revenue / revenue; null when there is no revenue."),
    )
    by_product = ProductFiguresSerializer(
        many=True, help_text=_("The 10 products with the most revenue, from the item lines."))
    itemised_revenue = serializers.DecimalField(
        max_digits=38, decimal_places=2,
        help_text=_("Revenue of all item lines, yuan (at most the revenue)."))
    certified_revenue = serializers.DecimalField(
        max_digits=38, decimal_places=2,
        help_text=_("Revenue of item lines of certified poverty-alleviation products, yuan."))
    certified_share = serializers.DecimalField(
        max_digits=5, decimal_places=4, allow_null=True,
        help_text=_("certified_revenue / revenue; null when there is no revenue."))
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
class HolidayViewSet(ServiceSavedViewSet):
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

    def service_save(self, instance: Holiday) -> Holiday:
        return services.holiday_save(holiday=instance, user=self.request.user)

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
        summary = selectors.holiday_summary(holiday=holiday, request=request)
        return Response(HolidaySummarySerializer({**summary, "holiday": holiday}).data)


# --- Sessions -------------------------------------------------------------------------------


def _parse_errors(invalid: str | None = None) -> dict:
    """Error messages of a serializer field that only parses: the rules are the model's."""
    messages = {key: PARSE_MESSAGES["required"] for key in ("required", "null", "blank")}
    if invalid:
        messages.update({key: PARSE_MESSAGES[invalid] for key in (
            "invalid", "max_string_length", "date", "make_aware", "overflow"
        )})
    return messages


class EmptyIsMissingMixin:
    """An empty string is a missing value ("This field is required."), as in a form or a
    spreadsheet cell, not a malformed number or time."""

    def validate_empty_values(self, data):
        if isinstance(data, str) and not data.strip():
            self.fail("required")
        return super().validate_empty_values(data)


class WholeNumberField(EmptyIsMissingMixin, serializers.IntegerField):
    pass


class AmountField(EmptyIsMissingMixin, serializers.DecimalField):
    pass


class MomentField(EmptyIsMissingMixin, serializers.DateTimeField):
    def enforce_timezone(self, value):
        try:
            return super().enforce_timezone(value)
        except OverflowError:
            # Year 1 or 9999 cannot be converted to UTC: the same refusal as the model's.
            raise serializers.ValidationError(year_range_message(), code="year_range") from None


class KnownRelatedField(serializers.PrimaryKeyRelatedField):
    """An official or county by id, refused with the message every entry path uses."""

    def __init__(self, *, unknown: str, **kwargs):
        self.unknown = unknown
        super().__init__(pk_field=_id_field(), **kwargs)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            raise serializers.ValidationError(
                PARSE_MESSAGES[self.unknown] % {"value": str(data)[:40]}, code="unknown"
            ) from None


class PlatformField(serializers.ChoiceField):
    """A platform code (the schema lists them), refused with the model's message."""

    def __init__(self, **kwargs):
        super().__init__(choices=Platform.choices, error_messages=_parse_errors(), **kwargs)

    def to_internal_value(self, data):
        if data == "":
            self.fail("required")
        if isinstance(data, str) and data in self.choice_strings_to_values:
            return self.choice_strings_to_values[data]
        raise serializers.ValidationError(
            PARSE_MESSAGES["platform_unknown"] % {"value": str(data)[:40]}, code="invalid_choice"
        )


class SessionEvidenceSerializer(DescribedModelSerializer):
    filename = serializers.CharField(
        source="original_filename", read_only=True,
        help_text=_("The file name it was uploaded with (the download offers it)."),
    )
    url = serializers.SerializerMethodField(help_text=_("Where to fetch the file (GET)."))

    class Meta:
        model = SessionEvidence
        fields = ["id", "kind", "filename", "content_type", "size", "sha256", "uploaded_by",
                  "uploaded_at", "url"]
        read_only_fields = fields
        extra_kwargs = {
            "kind": {"help_text": _("platform_export, screenshot or other.")},
            "content_type": {"help_text": _("Detected from the content, not the name.")},
            "size": {"help_text": _("Size in bytes.")},
            "sha256": {"help_text": _("SHA-256 of the content, hex.")},
            "uploaded_by": {"help_text": _("Id of the user who uploaded it.")},
            "uploaded_at": {"help_text": _("When it was uploaded.")},
        }

    def get_url(self, evidence) -> str:
        path = reverse("api:session-evidence-file",
                       kwargs={"pk": evidence.session_id, "evidence_id": evidence.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class SessionItemSerializer(DescribedModelSerializer):
    name = serializers.CharField(max_length=100, error_messages=_parse_errors(),
                                 help_text=_("The product, e.g. 吉县苹果."))
    quantity = AmountField(
        max_digits=None, decimal_places=None, error_messages=_parse_errors("number"),
        help_text=_("How much was sold, a decimal > 0 (at most 3 places)."),
    )
    unit = serializers.CharField(
        error_messages=_parse_errors(),
        help_text=_("jin, kg, box, bag, bottle, piece, ticket or other."),
    )
    revenue = AmountField(
        max_digits=None, decimal_places=None, error_messages=_parse_errors("amount"),
        help_text=_("The line's revenue in yuan, >= 0; the lines add up to at most the "
                    "session's revenue."),
    )
    poverty_relief_product = serializers.BooleanField(
        required=False, default=False,
        help_text=_("A certified poverty-alleviation product."),
    )

    class Meta:
        model = SessionItem
        fields = ["name", "quantity", "unit", "revenue", "poverty_relief_product"]

    def validate_unit(self, value: str) -> str:
        if value not in ItemUnit.values:
            raise serializers.ValidationError(
                PARSE_MESSAGES["unit_unknown"] % {"value": str(value)[:40]}, code="invalid_choice")
        return value
_FLAG_DATETIME = serializers.DateTimeField()


class FlagDismissalSerializer(DescribedSerializer):
    by = serializers.IntegerField(allow_null=True, help_text=_("Id of the user who "
                                                               "dismissed it."))
    by_name = serializers.CharField(allow_null=True, help_text=_("Their user name."))
    at = serializers.DateTimeField(help_text=_("When it was dismissed."))
    note = serializers.CharField(help_text=_("Why it was dismissed."))


class SessionFlagSerializer(DescribedSerializer):
    code = serializers.ChoiceField(choices=[(c, c) for c in FLAG_CODES],
                                   help_text=_("The rule that raised it."))
    message = serializers.CharField(help_text=_("What was found, with the numbers, in the "
                                                "request's language."))
    dismissed = serializers.BooleanField(help_text=_("Dismissed by a reviewer (until the "
                                                     "figures that raised it change)."))
    dismissal = FlagDismissalSerializer(allow_null=True, help_text=_(
        "Who dismissed it, when and why; null while it is open."))

    def to_representation(self, flag):
        user = flag.dismissed_by
        return {
            "code": flag.code, "message": flag.message, "dismissed": flag.dismissed,
            "dismissal": {
                "by": flag.dismissed_by_id, "by_name": user.get_username() if user else None,
                "at": _FLAG_DATETIME.to_representation(flag.dismissed_at),
                "note": flag.dismissal_note,
            } if flag.dismissed else None,
        }


class FlagDismissSerializer(DescribedSerializer):
    note = serializers.CharField(allow_blank=True, error_messages=_parse_errors(),
                                 help_text=_("Why the flag is not a problem (kept and "
                                             "shown with it)."))


class LivestreamSessionSerializer(DescribedModelSerializer):
    official = KnownRelatedField(
        queryset=Official.objects.all(), unknown="official_unknown",
        error_messages=_parse_errors(), help_text=_("Official id."),
    )
    county = KnownRelatedField(
        queryset=County.objects.all(), unknown="county_unknown",
        required=False, error_messages=_parse_errors(),
        help_text=_("County id; defaults to the official's county when the session is "
                    "entered, and is then kept when the official moves."),
    )
    platform = PlatformField(help_text=_("Livestream platform."))
    title = serializers.CharField(error_messages=_parse_errors(),
                                  help_text=_("What the session was called."))
    products = serializers.CharField(required=False, allow_blank=True,
                                     error_messages=_parse_errors(), help_text=_("What was sold."))
    started_at = MomentField(
        error_messages=_parse_errors("moment"),
        help_text=_("ISO 8601; without an offset, Beijing time."),
    )
    ended_at = MomentField(
        error_messages=_parse_errors("moment"),
        help_text=_("ISO 8601; must be after started_at, at most 24 hours later."),
    )
    audience = WholeNumberField(
        error_messages=_parse_errors("whole_number"),
        help_text=_("Viewer count reported by the platform."),
    )
    orders = WholeNumberField(error_messages=_parse_errors("whole_number"))
    revenue = AmountField(
        max_digits=None, decimal_places=None, error_messages=_parse_errors("amount"),
        help_text=_("Revenue in yuan, a decimal string with at most 2 decimal places."),
    )
    refunded_orders = WholeNumberField(
        required=False, error_messages=_parse_errors("whole_number"),
        help_text=_("Orders refunded after the show; 0 when not given, at most orders."),
    )
    refunds = AmountField(
        max_digits=None, decimal_places=None, required=False,
        error_messages=_parse_errors("amount"),
        help_text=_("Money refunded in yuan; 0 when not given, at most revenue."),
    )
    net_revenue = serializers.DecimalField(
        max_digits=14, decimal_places=2, read_only=True,
        help_text=_("Revenue less refunds, yuan."),
    )
    unique_viewers = WholeNumberField(
        required=False, allow_null=True, error_messages=_parse_errors("whole_number"),
        help_text=_("Distinct viewers, optional (null: not reported); at most audience."),
    )
    peak_viewers = WholeNumberField(
        required=False, allow_null=True, error_messages=_parse_errors("whole_number"),
        help_text=_("Peak concurrent viewers, optional; at most unique_viewers and audience."),
    )
    new_followers = WholeNumberField(
        required=False, allow_null=True, error_messages=_parse_errors("whole_number"),
        help_text=_("Followers gained during the show, optional."),
    )
    hosts = serializers.ManyRelatedField(
        child_relation=KnownRelatedField(queryset=Official.objects.all(),
                                         unknown="official_unknown"),
        required=False,
        help_text=_("Ids of the co-hosts: other officials who hosted with the lead official "
                    "(not the lead, each once). Each is credited with the session's full "
                    "figures on the officials' boards; counties count the session once."),
    )
    items = SessionItemSerializer(
        many=True, required=False,
        help_text=_("Item lines sold; sending the list replaces the stored lines."),
    )
    status = serializers.ChoiceField(
        choices=SessionStatus.choices, read_only=True,
        help_text=_("entered, verified or rejected: set by the verify and reject actions; an "
                    "edit of a figure, time, official or county sends it back to entered."),
    )
    verified_by = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True,
        help_text=_("Id of the user who verified or rejected it; null until then."))
    verified_at = serializers.DateTimeField(
        read_only=True, allow_null=True,
        help_text=_("When it was verified or rejected; null until then."))
    rejection_reason = serializers.CharField(
        read_only=True, help_text=_("Why it was rejected (empty unless rejected)."))
    evidence = SessionEvidenceSerializer(
        many=True, read_only=True,
        help_text=_("The files behind the figures; verifying needs at least one."))
    flags = SessionFlagSerializer(
        many=True, read_only=True,
        help_text=_("Anomaly flags of the figures: open ones and dismissed ones."))
    version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False,
        help_text=_("Edit counter. An update must send the version it read (this field or "
                    "an If-Match header): 428 without one, 409 if someone saved in between."),
    )

    class Meta:
        model = LivestreamSession
        fields = [
            "id", "official", "county", "platform", "title", "products", "started_at",
            "ended_at", "audience", "orders", "revenue", "refunded_orders", "refunds",
            "net_revenue", "unique_viewers", "peak_viewers", "new_followers", "hosts", "items",
            "status", "verified_by", "verified_at", "rejection_reason",
            "evidence", "flags", "entered_by", "created_at", "updated_at", "version",
        ]
        read_only_fields = ["entered_by", "created_at", "updated_at"]
        extra_kwargs = {
            "entered_by": {"help_text": _("Id of the user who entered the session; set from "
                                          "the request, never from the payload.")},
        }


class ReviewSerializer(DescribedSerializer):
    version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False,
        help_text=_("The version reviewed (or an If-Match header): 409 if saved since."),
    )


class RejectionSerializer(ReviewSerializer):
    reason = serializers.CharField(
        allow_blank=True, error_messages=_parse_errors(),
        help_text=_("Why the figures are not accepted (shown to the official)."),
    )


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
            ] + ([{"field": "hosts", "old": entry.hosts_change[0], "new": entry.hosts_change[1]}]
                 if entry.hosts_change and record.history_type != "-" else []),
        })
    return entries


# --- Evidence files -------------------------------------------------------------------------


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class EvidenceAddedSerializer(SessionEvidenceSerializer):
    same_file_sessions = serializers.ListField(
        child=serializers.IntegerField(), read_only=True,
        help_text=_("Ids of other sessions that already have the same file (allowed, but "
                    "worth a look)."),
    )
    warnings = serializers.ListField(
        child=serializers.CharField(), read_only=True,
        help_text=_("What the uploader should know, e.g. the same file on another session."),
    )

    class Meta(SessionEvidenceSerializer.Meta):
        fields = [*SessionEvidenceSerializer.Meta.fields, "same_file_sessions", "warnings"]
        read_only_fields = fields


class EvidenceUploadSerializer(DescribedSerializer):
    file = serializers.FileField(
        allow_empty_file=True, use_url=False,
        help_text=_("PNG, JPEG, PDF, XLSX or CSV, at most 10 MB; checked by content."),
    )
    kind = serializers.ChoiceField(
        choices=SessionEvidence.Kind.choices, required=False,
        help_text=_("platform_export, screenshot or other; by default from the content (an "
                    "image is a screenshot, a spreadsheet a platform export)."),
    )


_EVIDENCE_ID = OpenApiParameter("evidence_id", OpenApiTypes.INT, OpenApiParameter.PATH,
                                description=_("Evidence file id."))
_EVIDENCE_FILE_RESPONSE = {
    (200, content_type): OpenApiResponse(
        OpenApiTypes.BINARY,
        description=_("The file, with its detected content type; Content-Disposition "
                      "carries the original file name."),
    )
    for content_type in ("image/png", "image/jpeg", "application/pdf", XLSX_TYPE, "text/csv")
}


_IF_MATCH = re.compile(r'^\s*(?:W/)?"?([0-9]{1,10})"?\s*$')


_IF_MATCH_HEADER = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description=_("Version the edit started from (alternative to the version field)."),
)
_EDIT_RESPONSES = {
    200: LivestreamSessionSerializer,
    409: OpenApiResponse(description=_("Someone saved the session since that version.")),
    428: OpenApiResponse(description=_("The update did not say which version it started "
                                       "from.")),
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
class LivestreamSessionViewSet(viewsets.ModelViewSet):
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
        response = super().update(request, *args, **kwargs)
        response["ETag"] = f'"{response.data["version"]}"'
        return response

    def perform_create(self, serializer) -> None:
        data = dict(serializer.validated_data)
        data.pop("version", None)
        serializer.instance = services.session_create(entered_by=self.request.user, **data)

    def perform_update(self, serializer) -> None:
        data = dict(serializer.validated_data)
        expected = self._expected_version(data.pop("version", None))
        # A stale version raises SessionEditConflict: 409 (linfen_tracker.api).
        services.session_update(
            session=serializer.instance, updated_by=self.request.user, data=data,
            expected_version=expected,
        )

    def _expected_version(self, from_payload: int | None) -> int:
        header = self.request.headers.get("If-Match")
        if header is None or header.strip() == "*":
            if from_payload is None:
                raise PreconditionRequired()
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
        description=_("Verify the session: its figures match the evidence (reviewers; never "
                      "a session you entered or last changed: 403; at least one evidence "
                      "file: 400)."),
        request=ReviewSerializer,
        responses={200: LivestreamSessionSerializer,
                   400: OpenApiResponse(description=_("No evidence file yet.")),
                   403: OpenApiResponse(description=_("Not a reviewer, or the four-eyes "
                                                      "rule: you entered or last changed it.")),
                   409: OpenApiResponse(description=_("Saved since that version."))},
        parameters=[_SESSION_ID, _IF_MATCH_HEADER],
        filters=False,
    )
    @action(detail=True, methods=["post"], permission_classes=[CanReviewSessions],
            filter_backends=[])
    def verify(self, request, pk=None):
        session = self.get_object()
        body = ReviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        verified = services.session_verify(
            session=session, reviewer=request.user,
            expected_version=self._optional_version(body.validated_data.get("version")),
        )
        return Response(LivestreamSessionSerializer(verified, context={"request": request}).data)

    @extend_schema(
        description=_("Reject the session with a reason (reviewers; never a session you "
                      "entered or last changed: 403). It stops counting in rankings and "
                      "summaries until its figures are corrected and it is verified."),
        request=RejectionSerializer,
        responses={200: LivestreamSessionSerializer,
                   400: OpenApiResponse(description=_("No reason given.")),
                   403: OpenApiResponse(description=_("Not a reviewer, or the four-eyes "
                                                      "rule: you entered or last changed it.")),
                   409: OpenApiResponse(description=_("Saved since that version."))},
        parameters=[_SESSION_ID, _IF_MATCH_HEADER],
        filters=False,
    )
    @action(detail=True, methods=["post"], permission_classes=[CanReviewSessions],
            filter_backends=[])
    def reject(self, request, pk=None):
        session = self.get_object()
        body = RejectionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rejected = services.session_reject(
            session=session, reviewer=request.user, reason=body.validated_data["reason"],
            expected_version=self._optional_version(body.validated_data.get("version")),
        )
        return Response(LivestreamSessionSerializer(rejected, context={"request": request}).data)

    @extend_schema(
        description=_("Dismiss an anomaly flag of the session with a note (reviewers; never "
                      "a session you entered or last changed: 403). It stays listed as "
                      "dismissed, with who, when and the note, until the figures that "
                      "raised it change."),
        request=FlagDismissSerializer,
        responses={200: LivestreamSessionSerializer,
                   400: OpenApiResponse(description=_("No note given.")),
                   403: OpenApiResponse(description=_("Not a reviewer, or the four-eyes "
                                                      "rule.")),
                   404: OpenApiResponse(description=_("The session has no such flag."))},
        parameters=[_SESSION_ID, OpenApiParameter(
            "code", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(FLAG_CODES),
            description=_("The flag's code."))],
        filters=False,
    )
    @action(detail=True, methods=["post"], permission_classes=[CanReviewSessions],
            url_path=r"flags/(?P<code>[a-z_]{1,40})/dismiss", url_name="flag-dismiss",
            filter_backends=[])
    def dismiss_flag(self, request, pk=None, code=None):
        session = self.get_object()
        body = FlagDismissSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            services.session_flag_dismiss(session=session, code=code, user=request.user,
                                          note=body.validated_data["note"])
        except services.FlagNotFound:
            raise NotFound(gettext("This session has no such flag.")) from None
        fresh = selectors.session_list().get(pk=session.pk)
        return Response(LivestreamSessionSerializer(fresh, context={"request": request}).data)

    def _optional_version(self, from_payload: int | None) -> int | None:
        """A review may name the version it looked at (field or If-Match); a stale one is a
        409, as for an edit. Without one, it reviews the figures as stored."""
        if from_payload is None and self.request.headers.get("If-Match") is None:
            return None
        return self._expected_version(from_payload)

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
        return sessions_csv_response(sessions=self.filter_queryset(self.get_queryset()))

    # --- Evidence files (sessions/<id>/evidence/ and sessions/<id>/evidence/<eid>/) ----------

    def initialize_request(self, request, *args, **kwargs):
        drf_request = super().initialize_request(request, *args, **kwargs)
        if self.action == "evidence" and request.method == "POST":
            # Before anything (the CSRF check of session auth) parses the body.
            evidence_upload_limit_install(request)
        return drf_request

    def perform_content_negotiation(self, request, force=False):
        # A file is what it is: a client asking for application/pdf gets the file, not 406.
        return super().perform_content_negotiation(
            request, force=force or self.action == "evidence_file"
        )

    @extend_schema(
        methods=["GET"],
        description=_("The session's evidence files (anyone who may view sessions)."),
        parameters=[_SESSION_ID],
        responses=SessionEvidenceSerializer(many=True),
        filters=False,
    )
    @extend_schema(
        methods=["POST"],
        description=_("Attach a file to the session as evidence (city staff): multipart "
                      "`file` and `kind`. The content decides the type (PNG, JPEG, PDF, "
                      "XLSX, CSV; anything else is a 400 naming what it is); at most 10 MB "
                      "(413); the same file twice on one session is a 400, the same file on "
                      "another session is accepted with a warning."),
        parameters=[_SESSION_ID],
        request=EvidenceUploadSerializer,
        responses={
            201: EvidenceAddedSerializer,
            413: OpenApiResponse(description=_("The file is larger than 10 MB.")),
        },
        filters=False,
    )
    @action(detail=True, methods=["get", "post"], permission_classes=[CanUseEvidence],
            parser_classes=[MultiPartParser], filter_backends=[], pagination_class=None)
    def evidence(self, request, pk=None):
        session = self.get_object()
        if request.method == "GET":
            items = selectors.session_evidence_list(session_id=session.pk)
            return Response(SessionEvidenceSerializer(
                items, many=True, context=self.get_serializer_context()).data)
        upload = EvidenceUploadSerializer(data=request.data)
        if getattr(request, "evidence_too_large", False):
            raise PayloadTooLarge({"file": [services.evidence_too_large_message()]})
        upload.is_valid(raise_exception=True)
        try:
            added = services.evidence_add(
                session=session, uploaded_by=request.user,
                file=upload.validated_data["file"], kind=upload.validated_data.get("kind"),
            )
        except services.EvidenceTooLarge as error:
            raise PayloadTooLarge(error.message_dict) from None
        evidence = added.evidence
        evidence.same_file_sessions = [s.pk for s in added.same_file_sessions]
        evidence.warnings = ([services.evidence_same_file_warning(added.same_file_sessions)]
                             if added.same_file_sessions else [])
        return Response(
            EvidenceAddedSerializer(evidence, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        methods=["GET"],
        description=_("Download one evidence file (anyone who may view sessions), streamed "
                      "with its detected content type, its original name and nosniff."),
        parameters=[_SESSION_ID, _EVIDENCE_ID],
        responses=_EVIDENCE_FILE_RESPONSE,
        filters=False,
    )
    @extend_schema(
        methods=["DELETE"],
        description=_("Remove an evidence file from the session (city staff). The history "
                      "records who deleted which file and when."),
        parameters=[_SESSION_ID, _EVIDENCE_ID],
        responses={204: None},
        filters=False,
    )
    @action(detail=True, methods=["get", "delete"], permission_classes=[CanUseEvidence],
            url_path=r"evidence/(?P<evidence_id>[0-9]{1,18})", url_name="evidence-file",
            filter_backends=[], pagination_class=None)
    def evidence_file(self, request, pk=None, evidence_id=None):
        session = self.get_object()
        evidence = selectors.evidence_get(session_id=session.pk, evidence_id=int(evidence_id))
        if evidence is None:
            raise NotFound(gettext("No such evidence file."))
        if request.method == "DELETE":
            services.evidence_delete(evidence=evidence, deleted_by=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        return evidence_file_response(evidence=evidence)
