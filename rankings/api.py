"""REST API v1 of rankings: a holiday's leaderboard from its latest complete snapshot.

Read-only views over `rankings.selectors.leaderboard_get`. The response shape is design.md's:
`{"holiday", "metric", "scope", "computed_at", "status", "results": [{"rank",
"previous_rank", "value", "sessions", "official" | "county": {...}}]}`. A holiday without a
snapshot yet is an empty list with status `not_computed`, not an error.
"""

import hashlib
import json

import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
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
from sessions_app.selectors import holiday_current_or_latest, holiday_get

from .metrics import (
    COMPOSITE,
    metric_label,
    metric_registry_description,
    metric_value_to_api,
    ranked_metric_choices,
)
from .models import RankingEntry, Scope, Target
from .report import report_get, report_xlsx
from .selectors import (
    Leaderboard,
    UnknownRevision,
    leaderboard_get,
    publication_diff,
    publication_list,
)
from .services import RankingsNotCurrent, holiday_publish
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
    revision = serializers.RegexField(
        r"^(latest|[0-9]{1,9})$", required=False,
        error_messages={"invalid": _('A revision is a number or "latest".')},
        help_text=_('A published revision (a number, or "latest"); by default the latest '
                    "snapshot, which is provisional."),
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


class PublicationRefSerializer(DescribedSerializer):
    revision = serializers.IntegerField(help_text=_("Revision number, from 1."))
    published_at = serializers.DateTimeField(help_text=_("When it was published."))
    published_by = serializers.CharField(allow_null=True, help_text=_("Who published it."))
    note = serializers.CharField(help_text=_("The note published with it."))
    snapshot = serializers.IntegerField(help_text=_("The ranking snapshot it made official."))
    computed_at = serializers.DateTimeField(help_text=_("When that snapshot was computed."))


class BaselineSerializer(DescribedSerializer):
    kind = serializers.ChoiceField(
        choices=[("published", "published"), ("previous_day", "previous_day"),
                 ("none", "none")],
        help_text=_("What previous_rank compares with: the last published revision (for a "
                    "revision, the one before it), else the last snapshot of the previous "
                    "day (Beijing time), else nothing."))
    revision = serializers.IntegerField(allow_null=True, help_text=_("With published."))
    computed_at = serializers.DateTimeField(allow_null=True, help_text=_(
        "When the baseline's snapshot was computed."))


class LeaderboardSerializer(DescribedSerializer):
    holiday = HolidayRefSerializer()
    revision = serializers.IntegerField(allow_null=True, help_text=_(
        "The published revision shown; null: the latest snapshot (provisional)."))
    publication = PublicationRefSerializer(allow_null=True, help_text=_(
        "The revision shown, else the latest published one (null if none)."))
    baseline = BaselineSerializer(help_text=_("What the movement (previous_rank) compares "
                                              "with."))
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


def publication_data(publication) -> dict | None:
    if publication is None:
        return None
    user = publication.published_by
    return {
        "revision": publication.revision,
        "published_at": _DATETIME.to_representation(publication.published_at),
        "published_by": user.get_username() if user else None,
        "note": publication.note,
        "snapshot": publication.snapshot_id,
        "computed_at": _DATETIME.to_representation(publication.snapshot.computed_at),
    }


def _baseline_data(board: Leaderboard) -> dict:
    baseline = board.baseline
    return {
        "kind": baseline.kind,
        "revision": baseline.publication.revision if baseline.publication else None,
        "computed_at": _DATETIME.to_representation(baseline.snapshot.computed_at)
        if baseline.snapshot else None,
    }


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
        "revision": board.revision,
        "publication": publication_data(board.latest_publication),
        "baseline": _baseline_data(board),
        "computed_at": _DATETIME.to_representation(board.computed_at)
        if board.computed_at else None,
        "status": board.status,
        **extra,
        "results": results,
    }


_JSON = JSONRenderer()


class _RankingView(APIView):
    permission_classes = [CanViewSessions]

    def leaderboard(self, request) -> Leaderboard:
        query = RankingQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            return leaderboard_get(**query.validated_data)
        except UnknownRevision as unknown:
            raise serializers.ValidationError(
                {"revision": [unknown_revision_message(unknown)]}) from None


def unknown_revision_message(unknown: UnknownRevision) -> str:
    if not unknown.published:
        return gettext("This holiday has no published revision yet.")
    return gettext("No revision %(revision)s of this holiday: use latest or %(choices)s.") % {
        "revision": str(unknown.revision)[:12],
        "choices": ", ".join(str(n) for n in unknown.published)}


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
        #
        # What is cached is the JSON body itself, so that a hit is served as it is: decoding
        # and encoding 50 entries again was a tenth of the request (bench/api.py).
        query = [(name, request.query_params.getlist(name)) for name in RANKING_QUERY_NAMES]
        key = hashlib.sha256(repr((query, timezone.localdate().isoformat())).encode())
        body = generations.cached(
            generations.RANKINGS, f"board:{key.hexdigest()}",
            lambda: _JSON.render(leaderboard_data(self.leaderboard(request))), request=request,
        )
        if isinstance(request.accepted_renderer, JSONRenderer):
            return HttpResponse(body, content_type=request.accepted_renderer.media_type)
        return Response(json.loads(body))  # the browsable API renders the data itself


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


# --- Publication, revisions, their difference and the report ------------------------------------


class CanPublish(BasePermission):
    """City leadership (`city_leads`) and superusers: `rankings.add_publication`."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(PUBLISH))


PUBLISH = "rankings.add_publication"

_HOLIDAY_KEY = OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH,
                                description=_("Holiday id or slug."),
                                pattern=r"^[-a-zA-Z0-9_]+$")
_REVISION = OpenApiParameter("revision", OpenApiTypes.INT, OpenApiParameter.PATH,
                             description=_("Revision number."))


def _holiday(key: str) -> Holiday:
    holiday = None if len(key) > 18 and key.isdigit() else holiday_get(key=key)
    if holiday is None:
        raise NotFound(gettext("No such holiday."))
    return holiday


class PublishSerializer(DescribedSerializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000,
                                 help_text=_("What this revision is (e.g. a correction of "
                                             "two sessions' refunds)."))


class PublicationSerializer(PublicationRefSerializer):
    holiday = HolidayRefSerializer()
    ranking_basis = serializers.CharField(help_text=_("What it counted."))


class PublicationListSerializer(DescribedSerializer):
    holiday = HolidayRefSerializer()
    results = PublicationSerializer(many=True, help_text=_("Newest first."))


def _holiday_ref(h: Holiday) -> dict:
    return {"id": h.id, "slug": h.slug, "name": h.name,
            "start_date": h.start_date.isoformat(), "end_date": h.end_date.isoformat()}


def _publication_full(publication) -> dict:
    return {**publication_data(publication), "holiday": _holiday_ref(publication.holiday),
            "ranking_basis": publication.ranking_basis}


class HolidayPublishView(APIView):
    permission_classes = [CanPublish]

    @extend_schema(
        request=PublishSerializer,
        responses={201: PublicationSerializer,
                   409: OpenApiResponse(description=_("The rankings are being updated (or "
                                                      "were never computed): try again "
                                                      "when they are current."))},
        parameters=[_HOLIDAY_KEY],
        description=_("Publish the holiday's latest complete snapshot as its next revision "
                      "(city leadership). A published revision never changes."),
    )
    def post(self, request, key: str):
        holiday = _holiday(key)
        body = PublishSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            publication = holiday_publish(holiday=holiday, user=request.user,
                                          note=body.validated_data.get("note", ""))
        except RankingsNotCurrent as stale:
            return Response({"detail": str(stale)}, status=status.HTTP_409_CONFLICT)
        return Response(_publication_full(publication), status=status.HTTP_201_CREATED)


class HolidayPublicationsView(APIView):
    permission_classes = [CanViewSessions]

    @extend_schema(responses=PublicationListSerializer, parameters=[_HOLIDAY_KEY],
                   description=_("The holiday's published revisions, newest first."))
    def get(self, request, key: str):
        holiday = _holiday(key)
        return Response({"holiday": _holiday_ref(holiday),
                         "results": [_publication_full(p)
                                     for p in publication_list(holiday=holiday)]})


class RevisionChangeSerializer(DescribedSerializer):
    scope = serializers.ChoiceField(choices=Scope.choices)
    metric = serializers.ChoiceField(choices=ranked_metric_choices())
    kind = serializers.ChoiceField(
        choices=[("changed", "changed"), ("added", "added"), ("removed", "removed")],
        help_text=_("changed (rank or value), added (ranked now, not before) or removed."))
    official = OfficialRefSerializer(required=False, help_text=_("With scope=official."))
    county = CountyRefSerializer(required=False, help_text=_("With scope=county."))
    rank_before = serializers.IntegerField(allow_null=True, help_text=_(
        "Rank in revision n - 1; null if the entry was added."))
    rank_after = serializers.IntegerField(allow_null=True, help_text=_(
        "Rank in revision n; null if the entry was removed."))
    value_before = serializers.CharField(allow_null=True, help_text=_("Decimal string."))
    value_after = serializers.CharField(allow_null=True, help_text=_("Decimal string."))


class RevisionDiffSerializer(DescribedSerializer):
    holiday = HolidayRefSerializer()
    revision = serializers.IntegerField(help_text=_("The revision compared (n)."))
    previous_revision = serializers.IntegerField(allow_null=True, help_text=_(
        "The revision compared with (n - 1); null for revision 1, whose entries are all "
        "added."))
    changes = RevisionChangeSerializer(many=True, help_text=_(
        "Every entry whose rank or value changed, and those added or removed, board by "
        "board."))


def revision_change_data(change) -> dict:
    row = {"scope": change.scope, "metric": change.metric, "kind": change.kind,
           "rank_before": change.rank_before, "rank_after": change.rank_after,
           "value_before": None if change.value_before is None else str(change.value_before),
           "value_after": None if change.value_after is None else str(change.value_after)}
    subject = change.subject
    if subject is None:
        return row
    if change.scope == Scope.OFFICIAL:
        row["official"] = {"id": subject.id, "name": subject.name, "title": subject.title,
                           "county": _county(subject.county)}
    else:
        row["county"] = _county(subject)
    return row


class PublicationDiffView(APIView):
    permission_classes = [CanViewSessions]

    @extend_schema(responses=RevisionDiffSerializer, parameters=[_HOLIDAY_KEY, _REVISION],
                   description=_("What changed from revision n - 1 to revision n: ranks and "
                                 "values that changed, entries added or removed."))
    def get(self, request, key: str, revision: int):
        holiday = _holiday(key)
        try:
            diff = publication_diff(holiday=holiday, revision=int(revision))
        except UnknownRevision as unknown:
            raise NotFound(unknown_revision_message(unknown)) from None
        return Response({
            "holiday": _holiday_ref(holiday), "revision": diff.publication.revision,
            "previous_revision": diff.previous.revision if diff.previous else None,
            "changes": [revision_change_data(c) for c in diff.changes],
        })


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReportQuerySerializer(DescribedSerializer):
    revision = serializers.RegexField(
        r"^(latest|[0-9]{1,9})$", required=False,
        error_messages={"invalid": _('A revision is a number or "latest".')},
        help_text=_('A published revision (a number or "latest"); without one, the '
                    "provisional board."))


class HolidayReportXlsxView(APIView):
    permission_classes = [CanViewSessions]

    @extend_schema(
        parameters=[_HOLIDAY_KEY, ReportQuerySerializer],
        responses={(200, XLSX_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description=_(
            "The workbook: official and county boards across every metric, totals, counted "
            "sessions."))},
        description=_("The official report of a revision (or the provisional board) as an "
                      "XLSX workbook, in Chinese."),
    )
    def get(self, request, key: str):
        holiday = _holiday(key)
        query = ReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        revision = query.validated_data.get("revision")
        with translation.override(settings.LANGUAGE_CODE):
            try:
                report = report_get(holiday=holiday, revision=revision)
            except UnknownRevision as unknown:
                raise serializers.ValidationError(
                    {"revision": [unknown_revision_message(unknown)]}) from None
            content = report_xlsx(report)
        which = f"r{report.publication.revision}" if report.publication else "provisional"
        name = f"report-{holiday.slug}-{which}.xlsx"
        return HttpResponse(content, content_type=XLSX_TYPE, headers={
            "Content-Disposition": f'attachment; filename="{name}"'})
