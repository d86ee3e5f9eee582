"""REST API v1 of rankings: a holiday's leaderboard from its latest complete snapshot.

Read-only views over `rankings.selectors.leaderboard_get`. The response shape is design.md's:
`{"holiday", "metric", "scope", "computed_at", "status", "results": [{"rank",
"previous_rank", "value", "sessions", "official" | "county": {...}}]}`. A holiday without a
snapshot yet is an empty list with status `not_computed`, not an error.
"""

import hashlib

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from linfen_tracker import generations
from linfen_tracker.api import CSV_RESPONSE, DescribedModelSerializer, DescribedSerializer
from linfen_tracker.choices import ChoiceField, ChoiceFilter
from linfen_tracker.exports import csv_response
from linfen_tracker.permissions import CanViewSessions
from sessions_app.api import HolidayRefSerializer
from sessions_app.filters import IdOrSlugField, IdOrSlugFilter
from sessions_app.models import County, Holiday, Official
from sessions_app.selectors import holiday_current_or_latest

from .metrics import (
    COMPOSITE,
    metric_label,
    metric_registry_description,
    metric_value_to_api,
    ranked_metric_choices,
)
from .models import RankingEntry, Scope, Target
from .selectors import Leaderboard, leaderboard_get
from .targets import target_delete, target_metrics, target_save, targets_progress

MAX_LIMIT = 1000


class RankingQuerySerializer(DescribedSerializer):
    holiday = serializers.CharField(
        required=False,
        max_length=60,
        help_text=_("Holiday id or slug; by default the current holiday, else the latest."),
    )
    metric = ChoiceField(
        choices=ranked_metric_choices(), default="revenue",
        help_text=_("What is ranked: a registered metric or the composite score."),
    )
    scope = ChoiceField(
        choices=Scope.choices, default=Scope.OFFICIAL, help_text=_("Who is ranked.")
    )
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_LIMIT,
        help_text=_("Only the first entries (by rank); all of them by default."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read the registry at each use: a metric registered later is a choice too.
        self.fields["metric"].choices = ranked_metric_choices()
        self.fields["metric"].help_text = metric_registry_description()

    def validate_holiday(self, value: str) -> Holiday:
        field = IdOrSlugField(queryset=Holiday.objects.all(), slug_field="slug")
        try:
            return field.clean(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(gettext("No such holiday: %(value)s") % {
                "value": value[:60]
            }) from error

    def validate(self, attrs: dict) -> dict:
        if attrs.get("holiday") is None:
            attrs["holiday"] = holiday_current_or_latest()
            if attrs["holiday"] is None:
                raise serializers.ValidationError(
                    {"holiday": [gettext("There is no holiday yet.")]}
                )
        return attrs


class CountyRefSerializer(DescribedSerializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField(help_text=_("English name."))
    name_zh = serializers.CharField(help_text=_("Chinese name."))
    poverty_relief_key = serializers.BooleanField()


class OfficialRefSerializer(DescribedSerializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    title = serializers.CharField()
    county = CountyRefSerializer(help_text=_("The official's current county."))


@extend_schema_field({
    "oneOf": [{"type": "integer"}, {"type": "string", "format": "decimal"}],
    "nullable": True,
    "description": "The metric's value over the holiday: an integer for counts, a decimal "
                   "string with 2 places for money, ratios and the composite score; null "
                   "for a ratio with a zero denominator or a figure nobody reported (ranked "
                   "last).",
})
class RankingValueField(serializers.Field):
    def to_representation(self, value):
        return value


class RankingEntrySerializer(DescribedSerializer):
    rank = serializers.IntegerField(help_text=_("Standard competition rank (1, 2, 2, 4)."))
    previous_rank = serializers.IntegerField(
        allow_null=True, help_text=_("Rank in the previous snapshot; null if unranked then.")
    )
    value = RankingValueField()
    sessions = serializers.IntegerField(help_text=_("Sessions counted."))
    official = OfficialRefSerializer(required=False, help_text=_("With scope=official."))
    county = CountyRefSerializer(required=False, help_text=_("With scope=county."))
    components = serializers.DictField(
        child=serializers.DecimalField(max_digits=8, decimal_places=4), required=False,
        help_text=_("With metric=composite: each weighted metric's value divided by the best "
                    "in the scope (0 to 1)."),
    )


class LeaderboardSerializer(DescribedSerializer):
    holiday = HolidayRefSerializer()
    metric = serializers.ChoiceField(choices=ranked_metric_choices())
    composite_weights = serializers.DictField(
        child=serializers.FloatField(), required=False,
        help_text=_("With metric=composite: the weights the score was computed with."),
    )

    scope = serializers.ChoiceField(choices=Scope.choices)
    computed_at = serializers.DateTimeField(
        allow_null=True, help_text=_("When the snapshot was computed; null if never.")
    )
    status = serializers.ChoiceField(
        choices=[("ready", "ready"), ("pending", "pending"), ("not_computed", "not_computed")],
        help_text=_("ready; pending (sessions changed since, a recompute is due); "
                    "not_computed (no snapshot yet: results is empty)."),
    )
    results = RankingEntrySerializer(many=True)


RANKING_QUERY_NAMES = tuple(RankingQuerySerializer().fields)


def _county(county) -> dict:
    return {"id": county.id, "slug": county.slug, "name": county.name,
            "name_zh": county.name_zh, "poverty_relief_key": county.poverty_relief_key}


def _value(entry: RankingEntry, metric: str):
    # Stored as a decimal for all metrics; counts are whole numbers, null ranked last.
    return metric_value_to_api(metric, entry.value)


_DATETIME = serializers.DateTimeField()


def leaderboard_data(board: Leaderboard) -> dict:
    """The design.md shape of a leaderboard, built directly (this is the hot read)."""
    h = board.holiday
    results = []
    for entry in board.entries:
        row = {"rank": entry.rank, "previous_rank": entry.previous_rank,
               "value": _value(entry, board.metric), "sessions": entry.sessions}
        if board.scope == Scope.OFFICIAL:
            o = entry.official
            row["official"] = {"id": o.id, "name": o.name, "title": o.title,
                               "county": _county(o.county)}
        else:
            row["county"] = _county(entry.county)
        if board.metric == COMPOSITE:
            row["components"] = {key: f"{share:.4f}"
                                 for key, share in (entry.components or {}).items()}
        results.append(row)
    extra = {}
    if board.metric == COMPOSITE:
        extra["composite_weights"] = board.snapshot.composite_weights if board.snapshot else {}
    return {
        "holiday": {"id": h.id, "slug": h.slug, "name": h.name,
                    "start_date": h.start_date.isoformat(), "end_date": h.end_date.isoformat()},
        "metric": board.metric,
        "scope": board.scope,
        "computed_at": _DATETIME.to_representation(board.computed_at)
        if board.computed_at else None,
        "status": board.status,
        **extra,
        "results": results,
    }


class _RankingView(APIView):
    permission_classes = [CanViewSessions]

    def leaderboard(self, request) -> Leaderboard:
        query = RankingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return leaderboard_get(**query.validated_data)


class RankingsView(_RankingView):
    @extend_schema(
        parameters=[RankingQuerySerializer],
        responses=LeaderboardSerializer,
        description=_("A holiday's leaderboard of officials or counties by audience, orders "
                      "or revenue, from its latest complete ranking snapshot."),
    )
    def get(self, request):
        # The hot read of REST clients: the whole payload is cached in each process under the
        # `rankings` generation, which every session write, recompute and rename bumps. The
        # key is the raw query (and today, which picks the default holiday); a query that
        # fails validation raises inside the build and is never cached.
        query = [(name, request.query_params.getlist(name)) for name in RANKING_QUERY_NAMES]
        key = hashlib.sha256(repr((query, timezone.localdate().isoformat())).encode())
        return Response(generations.cached(
            generations.RANKINGS, f"board:{key.hexdigest()}",
            lambda: leaderboard_data(self.leaderboard(request)), request=request,
        ))


class RankingsExportView(_RankingView):
    @extend_schema(
        parameters=[RankingQuerySerializer],
        responses=CSV_RESPONSE,
        description=_("The same leaderboard as a CSV download."),
    )
    def get(self, request):
        board = self.leaderboard(request)
        subject = _("official") if board.scope == Scope.OFFICIAL else _("county")
        header = [_("rank"), _("previous rank"), subject, _("id"), _("title"), _("county"),
                  metric_label(board.metric), _("sessions")]

        def rows():
            for entry in board.entries:
                if board.scope == Scope.OFFICIAL:
                    o = entry.official
                    who = [o.name, o.id, o.title, o.county.display_name]
                else:
                    who = [entry.county.display_name, entry.county.id, "", ""]
                yield [entry.rank, entry.previous_rank, *who, _value(entry, board.metric),
                       entry.sessions]

        filename = f"rankings-{board.holiday.slug}-{board.scope}-{board.metric}.csv"
        return csv_response(header=header, rows=rows(), filename=filename)


# --- Targets ----------------------------------------------------------------------------------


_TARGET_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description=_("Target id."))


class TargetFilter(django_filters.FilterSet):
    holiday = IdOrSlugFilter(queryset=Holiday.objects.all(), slug_field="slug",
                             help_text=_("Holiday id or slug."))
    metric = ChoiceFilter(choices=[(m, m) for m in target_metrics()], help_text=_("Metric."))
    official = django_filters.ModelChoiceFilter(queryset=Official.objects.all(),
                                                help_text=_("Official id."))
    county = django_filters.ModelChoiceFilter(queryset=County.objects.all(),
                                              help_text=_("County id."))

    class Meta:
        model = Target
        fields = ["holiday", "official", "county", "metric"]


class TargetProgressSerializer(DescribedSerializer):
    current = serializers.DecimalField(max_digits=38, decimal_places=2, help_text=_(
        "The subject's value in the latest complete snapshot (0 if not ranked yet)."))
    percent = serializers.IntegerField(help_text=_("Whole percent reached, at most 100."))
    remaining = serializers.DecimalField(max_digits=38, decimal_places=2,
                                         help_text=_("What is still to go (0 when reached)."))
    reached = serializers.BooleanField(help_text=_("Whether the target is reached."))
    snapshot = serializers.IntegerField(allow_null=True, source="snapshot_id",
                                        help_text=_("The snapshot read; null if none yet."))


class TargetSerializer(DescribedModelSerializer):
    holiday = serializers.PrimaryKeyRelatedField(queryset=Holiday.objects.all(),
                                                 help_text=_("Holiday id."))
    official = serializers.PrimaryKeyRelatedField(
        queryset=Official.objects.all(), allow_null=True, required=False,
        help_text=_("Official id (or give county)."))
    county = serializers.PrimaryKeyRelatedField(
        queryset=County.objects.all(), allow_null=True, required=False,
        help_text=_("County id (or give official)."))
    metric = ChoiceField(choices=[(m, m) for m in target_metrics()],
                         help_text=_("The metric the target is set on."))
    value = serializers.DecimalField(max_digits=20, decimal_places=2,
                                     help_text=_("The sum to reach over the holiday."))
    progress = TargetProgressSerializer(read_only=True, help_text=_(
        "Progress in the latest complete snapshot."))

    class Meta:
        model = Target
        fields = ["id", "holiday", "official", "county", "metric", "value", "progress",
                  "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]
        # The subject and metric rules are the model's (target_save): one error per field.
        validators = []


@extend_schema_view(
    list=extend_schema(description=_("Targets set per holiday for officials and counties, "
                                     "with their progress in the latest snapshot.")),
    retrieve=extend_schema(description=_("One target with its progress."),
                           parameters=[_TARGET_ID]),
    create=extend_schema(description=_("Set a target (city staff).")),
    update=extend_schema(description=_("Change a target (city staff)."),
                         parameters=[_TARGET_ID]),
    partial_update=extend_schema(description=_("Change some of a target's fields "
                                               "(city staff)."), parameters=[_TARGET_ID]),
    destroy=extend_schema(description=_("Delete a target (city staff)."),
                          parameters=[_TARGET_ID]),
)
class TargetViewSet(viewsets.ModelViewSet):
    queryset = Target.objects.select_related("holiday").order_by("holiday_id", "metric", "id")
    serializer_class = TargetSerializer
    filterset_class = TargetFilter
    lookup_value_regex = "[0-9]{1,18}"
    ordering_fields = ["id", "value"]

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        return targets_progress(list(page)) if page is not None else None

    def get_object(self):
        return targets_progress([super().get_object()])[0]

    def perform_create(self, serializer) -> None:
        serializer.instance = targets_progress([target_save(
            target=Target(), data=dict(serializer.validated_data), user=self.request.user)])[0]

    def perform_update(self, serializer) -> None:
        targets_progress([target_save(target=serializer.instance,
                                      data=dict(serializer.validated_data))])

    def perform_destroy(self, instance) -> None:
        target_delete(target=instance)
