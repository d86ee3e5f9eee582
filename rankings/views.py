"""Pages over the rankings: the holiday dashboard, the big screen and an official's page.

Thin views: they parse the holiday, metric and scope, call selectors, build the chart
figures (`charts.py`) and render. Reading needs a login; every role may read.
"""

import dataclasses
import math
from collections import Counter

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import get_language, gettext, gettext_lazy, ngettext
from django.views.decorators.cache import never_cache

from linfen_tracker import generations
from linfen_tracker.i18n import localised
from sessions_app.imports.spreadsheets import SpreadsheetRejected, spreadsheet_read
from sessions_app.models import Holiday
from sessions_app.selectors import (
    holiday_calendar,
    holiday_current_or_latest,
    holiday_flag_counts,
    holiday_get,
    holiday_list,
    holiday_revenue_by_hour,
    holiday_screen_day,
    holiday_summary,
    official_get,
    official_sessions,
    official_totals,
)

from . import charts, metrics
from .models import RankingSnapshot, Scope
from .report import (
    CITY_NAME,
    report_basis_label,
    report_get,
    report_metrics,
    report_status_line,
)
from .selectors import (
    Leaderboard,
    UnknownRevision,
    leaderboard_get,
    leaderboard_length,
    official_rankings,
    officials_scatter,
    publication_diff,
    publication_list,
    publication_readiness,
)
from .services import RankingsNotCurrent, holiday_publish
from .targets import (
    TARGET_IMPORT_COLUMNS,
    TOP_N,
    board_own_entry,
    board_own_entry_stored,
    board_position,
    entry_positions,
    metric_label,
    target_metrics,
    targets_for_holiday,
    targets_import,
    targets_progress,
)

TOP_OFFICIALS_CHARTED = 10
# The dashboard's board shows this many rows a page (`?page=`): at 10,000 officials the
# whole board was a 5 MB page that took seconds to render (bench/api.py).
DASHBOARD_BOARD_LENGTH = 100
SCREEN_BOARD_LENGTH = 10
SCREEN_POLL_SECONDS = 5
# TV mode: each view of the rotation (a page of a board) shows this long (`?rotate=`), and
# the metrics it goes through, each board of officials page by page, then the counties'.
SCREEN_ROTATE_SECONDS = 12
TV_METRICS = ("revenue", "orders", "audience")
DEFAULT_METRIC = "revenue"


def _board_params(request) -> tuple[str, str]:
    """Metric and scope from the query string; anything unknown falls back to the default."""
    metric = request.GET.get("metric", DEFAULT_METRIC)
    scope = request.GET.get("scope", Scope.OFFICIAL)
    return (
        metric if metric in metrics.ranked_metric_keys() else DEFAULT_METRIC,
        scope if scope in Scope.values else Scope.OFFICIAL,
    )


def _metric_tabs(*, holiday: Holiday, snapshot: RankingSnapshot | None) -> list[tuple]:
    """The board's tabs: every registered metric, and the composite score when the holiday
    (or the snapshot shown) has weights."""
    tabs = [(key, metrics.metric_label(key)) for key in metrics.metric_keys()]
    if holiday.composite_weights or (snapshot is not None and snapshot.composite_weights):
        tabs.append((metrics.COMPOSITE, metrics.metric_label(metrics.COMPOSITE)))
    return tabs


def _composite_formula(weights: dict) -> str:
    """"100 × (0.5 × Revenue + 0.3 × Audience + 0.2 × Orders) / 1.0, each value ÷ the best"."""
    if not weights:
        return ""
    total = sum(weights.values())
    parts = " + ".join(f"{w:g} × {metrics.metric_label(k)}" for k, w in weights.items())
    return str(gettext_lazy(
        "Score = 100 × ({parts}) ÷ {total}, each metric's value divided by the best in the "
        "board")).format(parts=parts, total=f"{total:g}")


def _holiday_or_404(slug: str) -> Holiday:
    holiday = holiday_get(key=slug)
    if holiday is None:
        raise Http404
    return holiday


def _entry_name(entry) -> str:
    return entry.official.name if entry.official_id else entry.county.display_name


CHART_ELEMENTS = ("chart-top-officials", "chart-by-day", "chart-by-county", "chart-by-platform",
                  "chart-by-product", "chart-conversion")


def _holiday_charts(*, holiday: Holiday, snapshot: RankingSnapshot | None, metric: str,
                    summary: dict, only: tuple[str, ...] = CHART_ELEMENTS,
                    request=None, day=None) -> dict[str, str]:
    """The dashboard's charts of a holiday as Plotly JSON, keyed by the id of the element
    each fills; `only` names the ones wanted (the big screen shows two).

    Building a figure costs tens of milliseconds, most of a page's time, so each is cached
    for all processes (generations.shared_cached) in the request's language, under the
    `reference` generation (names, poverty-relief flags) and what it is drawn from: the
    holiday's data_version (the live board's totals and the summary), and for the top
    officials also `snapshot` (the latest)."""
    language = get_language() or ""
    builders = {
        "chart-top-officials": (
            f"{metric}", (holiday.data_version, snapshot.pk if snapshot else None),
            lambda: charts.top_officials_bar(
                rows=_top_official_rows(holiday=holiday, metric=metric), metric=metric),
        ),
        "chart-by-day": (
            "", holiday.data_version,
            lambda: charts.revenue_by_day(days=summary["by_day"]),
        ),
        "chart-by-county": (
            "", holiday.data_version,
            lambda: charts.revenue_by_county(counties=[
                {"label": localised(english=c["name"], chinese=c["name_zh"]),
                 "revenue": c["revenue"], "poverty_relief_key": c["poverty_relief_key"]}
                for c in summary["by_county"]
            ]),
        ),
        "chart-by-platform": (
            "", holiday.data_version,
            lambda: charts.platform_split(platforms=summary["by_platform"]),
        ),
        "chart-by-product": (
            "", holiday.data_version,
            lambda: charts.revenue_by_product(products=summary.get("by_product", [])),
        ),
        "chart-conversion": (
            "", snapshot.pk if snapshot else None,
            lambda: charts.conversion_against_audience(
                officials=officials_scatter(snapshot=snapshot)),
        ),
        # The big screen's: the revenue of `day` by hour.
        "chart-by-hour": (
            f"{day}", holiday.data_version,
            lambda: charts.revenue_by_hour(
                hours=holiday_revenue_by_hour(holiday=holiday, day=day, request=request),
                day=day),
        ),
    }
    return {
        element: generations.shared_cached(
            generations.REFERENCE, f"chart:{holiday.pk}:{element}:{variant}:{language}",
            lambda build=build: charts.figure_json(build()), version=version, request=request,
        )
        for element, (variant, version, build) in builders.items()
        if element in only
    }


def _top_official_rows(*, holiday: Holiday, metric: str) -> list[dict]:
    board = leaderboard_get(
        holiday=holiday, metric=metric, scope=Scope.OFFICIAL, limit=TOP_OFFICIALS_CHARTED
    )
    return [{"name": _entry_name(e), "rank": e.rank, "value": e.value} for e in board.entries]


def _components(entry, weights: dict) -> list[dict]:
    """An entry's composite breakdown: per weighted metric, its label, weight and share."""
    return [{"metric": key, "label": metrics.metric_label(key), "weight": weight,
             "share": (entry.components or {}).get(key)}
            for key, weight in weights.items()]


def _board_context(*, board: Leaderboard, shown: Leaderboard | None = None) -> dict:
    """What the board's template needs; `shown` is the page of `board` that is shown."""
    ranks = Counter(entry.rank for entry in board.entries)
    weights = board.snapshot.composite_weights if board.snapshot else {}
    if board.metric == metrics.COMPOSITE:
        for entry in board.entries:
            entry.breakdown = _components(entry, weights)
    tie_style = board.snapshot.tie_style if board.snapshot else board.holiday.tie_style
    return {
        "board": shown or board,
        "metrics": _metric_tabs(holiday=board.holiday, snapshot=board.snapshot),
        "scopes": Scope.choices,
        "metric_label": metrics.metric_label(board.metric),
        "is_money": metrics.metric_is_money(board.metric),
        "value_format": metrics.metric_format(board.metric),
        "metric_description": (metrics.metric_get(board.metric).description
                               if board.metric in metrics.METRICS else ""),
        "composite_formula": _composite_formula(weights)
        if board.metric == metrics.COMPOSITE else "",
        "dense_ties": tie_style == "dense",
        # Ranks shared by several entries, so the table can say "tied" rather than look odd.
        "tied_ranks": {rank for rank, n in ranks.items() if n > 1},
        # On a holiday's first snapshot nobody has a previous rank: "new" everywhere is noise.
        "show_movement": any(entry.previous_rank is not None for entry in board.entries),
    }


def _revision_param(request) -> str | None:
    value = request.GET.get("revision", "")
    return value if value == "latest" or (value.isdigit() and len(value) < 10) else None


def _board_or_404(*, holiday: Holiday, metric: str, scope: str, revision: str | None,
                  limit: int | None = None) -> Leaderboard:
    try:
        return leaderboard_get(holiday=holiday, metric=metric, scope=scope, revision=revision,
                               limit=limit)
    except UnknownRevision:
        raise Http404 from None


@login_required
def dashboard(request, slug: str | None = None):
    """`/` shows the holiday under way (else the latest); `/holidays/<slug>/` a given one;
    `?revision=<n>|latest` a published revision of its rankings instead of the provisional
    board."""
    holiday = _holiday_or_404(slug) if slug else holiday_current_or_latest()
    if holiday is None:
        return render(request, "rankings/no_holiday.html")
    metric, scope = _board_params(request)
    board, shown, page, pages = _board_page(holiday=holiday, metric=metric, scope=scope,
                                            revision=_revision_param(request),
                                            page=_page_param(request))
    summary = holiday_summary(holiday=holiday, request=request)
    own_position = _own_position(board=board, user=request.user)
    if page > 1:
        own_position["my_position"] = None  # the row under the top of the board: page 1
    context = {
        "holiday": holiday,
        "holidays": holiday_list(),
        "summary": summary,
        "flag_counts": holiday_flag_counts(holiday=holiday, request=request),
        "figures": _holiday_charts(holiday=holiday, snapshot=board.snapshot, metric=metric,
                                   summary=summary, request=request)
        if summary["sessions"] else {},
        **_board_context(board=board, shown=shown),
        "board_page": page,
        "board_pages": pages,
        **own_position,
        "targets": targets_for_holiday(holiday_id=holiday.pk, official_id=_own_official_id(
            request.user), counties=True),
    }
    return render(request, "rankings/dashboard.html", context)


def _board_page(*, holiday: Holiday, metric: str, scope: str, revision: str | None, page: int
                ) -> tuple[Leaderboard, Leaderboard, int, int]:
    """The board read up to page `page` (and one row more, to tell a tie that goes on), the
    page of it that is shown, the page (at most the last) and the number of pages. Reading
    only up to the page keeps the first pages cheap on a board of 10,000 officials."""
    def read(upto: int) -> Leaderboard:
        return _board_or_404(holiday=holiday, metric=metric, scope=scope, revision=revision,
                             limit=upto * DASHBOARD_BOARD_LENGTH + 1)

    board = read(page)
    pages = max(1, math.ceil(leaderboard_length(board=board) / DASHBOARD_BOARD_LENGTH))
    if page > pages:
        page = pages
        board = read(page)
    shown = dataclasses.replace(
        board,
        entries=board.entries[(page - 1) * DASHBOARD_BOARD_LENGTH:page * DASHBOARD_BOARD_LENGTH],
    )
    return board, shown, page, pages


def _own_official_id(user) -> int | None:
    official = getattr(user, "official", None) if user.is_authenticated else None
    return official.pk if official else None


def _own_position(*, board: Leaderboard, user) -> dict:
    """The viewer's own row (their official's, or on a county board their county's), and
    when it is below the first TOP_N rows, their position for the row shown under them.
    The board may have been read only up to the page shown: a row not among those is found
    on the whole live board (cached under the rankings generation), or for a board read
    from a snapshot, among its stored entries."""
    own = board_own_entry(entries=board.entries, scope=board.scope, user=user)
    position = None
    if own is not None:
        if board.entries.index(own) >= TOP_N:
            position = board_position(entries=board.entries, entry=own)
    elif _own_official_id(user) is not None and board.live:
        whole = leaderboard_get(holiday=board.holiday, metric=board.metric, scope=board.scope)
        own = board_own_entry(entries=whole.entries, scope=board.scope, user=user)
        if own is not None:
            position = board_position(entries=whole.entries, entry=own)
    elif board.snapshot is not None:
        own = board_own_entry_stored(snapshot=board.snapshot, metric=board.metric,
                                     scope=board.scope, user=user)
        if own is not None:
            position = entry_positions([own]).get(own.pk)
    if own is None:
        return {"own_entry": None, "my_position": None, "top_n": TOP_N}
    return {"own_entry": own, "my_entry": own, "my_position": position, "top_n": TOP_N}


@login_required
def screen(request, slug: str):
    """Big-screen mode for a hall display: the board, the counties' revenue and today's
    revenue by hour, refreshed in place by static/js/screen.js. `?tv=1` rotates through the
    metrics, every page of officials and the county board (`?rotate=<seconds>` a view)."""
    holiday = _holiday_or_404(slug)
    metric, scope = _board_params(request)
    tv = request.GET.get("tv") == "1"
    content = _screen_content(holiday=holiday, metric=metric, scope=scope,
                              page=_page_param(request), request=request)
    return render(request, "rankings/screen.html", {
        "holiday": holiday,
        "poll_ms": 1000 * _poll_seconds(request),
        "tv": tv,
        "rotate_ms": 1000 * _bounded_seconds(request, "rotate", SCREEN_ROTATE_SECONDS, 3, 300),
        "base_metric": metric,
        "as_of": _as_of(),
        "screen_views": _screen_views(holiday=holiday) if tv else [],
        "screen_ranks": _screen_ranks(holiday=holiday, metric=metric),
        **content,
    })


def _bounded_seconds(request, name: str, default: int, low: int, high: int) -> int:
    value = request.GET.get(name, "")
    return min(max(int(value), low), high) if value.isdigit() and len(value) < 6 else default


def _poll_seconds(request) -> int:
    """How often the big screen asks for a new snapshot: `?poll=<seconds>`, 1 to 60."""
    return _bounded_seconds(request, "poll", SCREEN_POLL_SECONDS, 1, 60)


def _page_param(request) -> int:
    value = request.GET.get("page", "")
    return int(value) if value.isdigit() and 0 < len(value) < 6 and int(value) > 0 else 1


def _as_of() -> str:
    """The time the screen's data was last confirmed current: now, Beijing time."""
    return timezone.localtime().strftime("%H:%M:%S")


def _screen_content(*, holiday: Holiday, metric: str, scope: str, page: int, request) -> dict:
    full = leaderboard_get(holiday=holiday, metric=metric, scope=scope)
    pages = max(1, math.ceil(len(full.entries) / SCREEN_BOARD_LENGTH))
    page = min(page, pages)
    board = Leaderboard(
        holiday=holiday, metric=metric, scope=scope, snapshot=full.snapshot,
        entries=full.entries[(page - 1) * SCREEN_BOARD_LENGTH:page * SCREEN_BOARD_LENGTH],
    )
    summary = holiday_summary(holiday=holiday, request=request)
    day = holiday_screen_day(holiday=holiday, summary=summary)
    return {
        "summary": summary,
        "screen": True,
        "targets": targets_for_holiday(holiday_id=holiday.pk, counties=True),
        "page": page,
        "pages": pages,
        "figures": _holiday_charts(holiday=holiday, snapshot=board.snapshot, metric=metric,
                                   summary=summary, request=request, day=day,
                                   only=("chart-by-county", "chart-by-hour")),
        **_board_context(board=board),
    }


def _screen_views(*, holiday: Holiday) -> list[dict]:
    """TV mode's rotation: for each of TV_METRICS, every page of the officials' board, then
    the counties' board."""
    officials = len(leaderboard_get(holiday=holiday, metric=DEFAULT_METRIC,
                                    scope=Scope.OFFICIAL).entries)
    pages = max(1, math.ceil(officials / SCREEN_BOARD_LENGTH))
    views = []
    for metric in TV_METRICS:
        views += [{"metric": metric, "scope": Scope.OFFICIAL, "page": page}
                  for page in range(1, pages + 1)]
        views.append({"metric": metric, "scope": Scope.COUNTY, "page": 1})
    return views


def _screen_ranks(*, holiday: Holiday, metric: str) -> list[list]:
    """Every official's rank on the board of `metric` ([id, name, rank]): the screen compares
    them with the ones it had, to announce who moved up."""
    return [[e.official_id, e.official.name, e.rank] for e in leaderboard_get(
        holiday=holiday, metric=metric, scope=Scope.OFFICIAL).entries]


@never_cache
@login_required
def screen_state(request, slug: str):
    """What the big screen polls: the latest snapshot's id, time and status, and the time
    it was asked (Beijing), small and cheap."""
    holiday = _holiday_or_404(slug)
    board = leaderboard_get(holiday=holiday, metric=DEFAULT_METRIC, scope=Scope.COUNTY, limit=1)
    return JsonResponse({
        # What the screen compares to know the board changed (the name is the one its
        # script reads): any write or new snapshot changes it.
        "snapshot": board.version,
        "computed_at": board.computed_at.isoformat() if board.computed_at else None,
        "status": board.status,
        "as_of": _as_of(),
    })


@never_cache
@login_required
def screen_content(request, slug: str):
    """The big screen's board (HTML fragments) and figures for a metric, scope and page,
    swapped in without a reload; with the rotation's views and every official's rank."""
    holiday = _holiday_or_404(slug)
    metric, scope = _board_params(request)
    base_metric = request.GET.get("base", metric)
    context = {"holiday": holiday,
               **_screen_content(holiday=holiday, metric=metric, scope=scope,
                                 page=_page_param(request), request=request)}
    board = context["board"]
    return JsonResponse({
        # What the screen compares to know the board changed (the name is the one its
        # script reads): any write or new snapshot changes it.
        "snapshot": board.version,
        "status": board.status,
        "as_of": _as_of(),
        # Fragments keyed by the id of the element each replaces.
        "html": {
            "screen-headline": render_to_string("rankings/_headline.html", context, request),
            "screen-board": render_to_string("rankings/_screen_board.html", context, request),
        },
        "figures": context["figures"],
        "views": _screen_views(holiday=holiday),
        "ranks": _screen_ranks(holiday=holiday, metric=base_metric
                               if base_metric in metrics.metric_keys() else DEFAULT_METRIC),
    })


@login_required
def official_detail(request, pk: int):
    """An official's sessions, totals, and rank in each holiday they are ranked in."""
    official = official_get(pk=pk)
    if official is None:
        raise Http404
    ranks: dict[int, dict] = {}
    entries = official_rankings(official_id=official.pk)
    positions = entry_positions(entries)
    for entry in entries:
        holiday = entry.snapshot.holiday
        row = ranks.setdefault(holiday.pk, {"holiday": holiday, "sessions": entry.sessions,
                                            "positions": []})
        row[entry.metric] = entry
        row["positions"].append({"metric": entry.metric,
                                 "label": metrics.metric_label(entry.metric),
                                 "is_money": metrics.metric_is_money(entry.metric),
                                 "value_format": metrics.metric_format(entry.metric),
                                 "position": positions.get(entry.pk)})
    # Each session's holiday: the page says which of them count where.
    calendar = holiday_calendar()
    sessions = list(official_sessions(official_id=official.pk))
    for session in sessions:
        session.in_holiday = calendar.holiday_on(session.local_start_date)
    targets = targets_progress(list(
        official.targets.select_related("holiday", "official").order_by("-holiday__start_date",
                                                                         "metric")))
    return render(request, "rankings/official_detail.html", {
        "official": official,
        "own_page": _own_official_id(request.user) == official.pk,
        "sessions": sessions,
        "totals": official_totals(official_id=official.pk),
        "ranks": list(ranks.values()),
        "targets": targets,
        "top_n": TOP_N,
    })


class TargetImportForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("Spreadsheet (XLSX or CSV)"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv,.txt"}))


@login_required
@permission_required("rankings.add_target", raise_exception=True)
def targets_import_page(request):
    """Staff set many targets at once from a sheet: all rows or none (errors by row)."""
    errors, status = [], 200
    form = TargetImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            sheet = spreadsheet_read(filename=upload.name, content=upload.read())
        except SpreadsheetRejected as rejected:
            form.add_error("file", rejected.message)
        else:
            saved, errors = targets_import(headers=sheet.headers,
                                           rows=[(n, list(c)) for n, c in sheet.rows],
                                           user=request.user)
            if not errors:
                messages.success(request, ngettext("%(n)s target saved.",
                                                   "%(n)s targets saved.", saved) % {"n": saved})
                return redirect("targets_import")
    if request.method == "POST" and (errors or form.errors):
        status = 400
    return render(request, "rankings/targets_import.html", {
        "form": form, "errors": errors, "columns": TARGET_IMPORT_COLUMNS,
        "metrics": [(m, metric_label(m)) for m in target_metrics()],
    }, status=status)


# --- Publication and the official report ------------------------------------------------------


@login_required
@permission_required("rankings.add_publication", raise_exception=True)
def publish_page(request, slug: str):
    """City leadership publishes the holiday's rankings: the page first says whether they
    are current and how many sessions are unverified or flagged; a POST with a note
    publishes (409 while they are being updated)."""
    holiday = _holiday_or_404(slug)
    status = 200
    if request.method == "POST":
        try:
            publication = holiday_publish(holiday=holiday, user=request.user,
                                          note=request.POST.get("note", "")[:2000])
        except RankingsNotCurrent as stale:
            messages.error(request, str(stale))
            status = 409
        else:
            messages.success(request, gettext("Published as revision %(n)s.") % {
                "n": publication.revision})
            return redirect(f"{reverse('holiday_dashboard', args=[holiday.slug])}"
                            f"?revision={publication.revision}")
    holiday.refresh_from_db()
    return render(request, "rankings/publish.html", {
        "holiday": holiday, "readiness": publication_readiness(holiday=holiday),
        "publications": publication_list(holiday=holiday)[:5],
    }, status=status)


@login_required
def publications_page(request, slug: str):
    """The holiday's published revisions, each with who, when, the note, its report, and
    its difference from the one before."""
    holiday = _holiday_or_404(slug)
    return render(request, "rankings/publications.html", {
        "holiday": holiday, "publications": publication_list(holiday=holiday)})


@login_required
def publication_diff_page(request, slug: str, revision: int):
    """What changed from revision n - 1 to n, board by board."""
    holiday = _holiday_or_404(slug)
    try:
        diff = publication_diff(holiday=holiday, revision=revision)
    except UnknownRevision:
        raise Http404 from None
    return render(request, "rankings/publication_diff.html", {
        "holiday": holiday, "diff": diff,
        "metric_labels": dict(metrics.ranked_metric_choices()),
    })


REPORT_LANGUAGES = ("zh-hans", "en")


@login_required
def report_page(request, slug: str):
    """The official report (通报) of a revision (`?revision=`) or the provisional board:
    A4 portrait, print CSS with page numbers, in Chinese unless `?lang=en`."""
    holiday = _holiday_or_404(slug)
    language = request.GET.get("lang") if request.GET.get("lang") in REPORT_LANGUAGES \
        else settings.LANGUAGE_CODE
    with translation.override(language):
        try:
            report = report_get(holiday=holiday, revision=_revision_param(request),
                                with_sessions=False)
        except UnknownRevision:
            raise Http404 from None
        response = render(request, "rankings/report.html", {
            "report": report, "holiday": holiday, "city": CITY_NAME,
            "metrics": [(m, metrics.metric_label(m), metrics.metric_format(m))
                        for m in report_metrics()],
            "status_line": report_status_line(report),
            "basis_label": report_basis_label(report),
            "report_language": language,
            "xlsx_url": reverse("api:holiday-report-xlsx", args=[holiday.slug]) + (
                f"?revision={report.publication.revision}" if report.publication else ""),
        })
    return response
