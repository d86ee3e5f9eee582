"""The official report (通报) of a holiday's rankings: a published revision or the provisional
board, as a print-ready page and as an XLSX workbook.

Both read the same `Report`: the official and county boards across every metric (one row a
subject, a rank and a value per metric), the totals with the key poverty-relief share (from
the snapshot's county board, which counts every session once) and the sessions counted, as
they were when the snapshot was computed (the audit history), so a revision's report never
changes after later edits. Text is in the site's language, Chinese, unless asked otherwise.
"""

import io
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from sessions_app.models import COUNTED_STATUSES, County, Holiday, LivestreamSession, Official

from .metrics import metric_get, metric_keys, metric_label
from .models import Publication, RankingEntry, RankingSnapshot, Scope
from .selectors import publication_get


def report_metrics() -> list[str]:
    """The metrics of the report: every metric of the registry (rankings/metrics.py)."""
    return metric_keys()


# The city whose report it is (its title).
CITY_NAME = "临汾市"


@dataclass
class BoardRow:
    subject: Official | County
    sessions: int
    ranks: dict[str, int] = field(default_factory=dict)
    values: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class Report:
    holiday: Holiday
    snapshot: RankingSnapshot | None
    publication: Publication | None
    basis: str
    officials: list[BoardRow]
    counties: list[BoardRow]
    totals: dict
    sessions: list


def report_get(*, holiday: Holiday, revision: int | str | None = None,
               with_sessions: bool = True) -> Report:
    """The report of published revision `revision` (a number or "latest": UnknownRevision
    if none) or, without one, of the latest snapshot (provisional). Boards are ordered by
    revenue rank, ties by name."""
    publication = (publication_get(holiday=holiday, revision=revision)
                   if revision is not None else None)
    snapshot = publication.snapshot if publication else RankingSnapshot.objects.latest_for(
        holiday.pk)
    basis = publication.ranking_basis if publication else holiday.ranking_basis
    officials, counties = _boards(snapshot) if snapshot else ([], [])
    return Report(
        holiday=holiday, snapshot=snapshot, publication=publication, basis=basis,
        officials=officials, counties=counties, totals=_totals(counties),
        sessions=_counted_sessions(holiday=holiday, snapshot=snapshot, basis=basis)
        if snapshot and with_sessions else [],
    )


def _boards(snapshot: RankingSnapshot) -> tuple[list[BoardRow], list[BoardRow]]:
    rows: dict[tuple[str, int], BoardRow] = {}
    entries = RankingEntry.objects.filter(snapshot=snapshot, metric__in=report_metrics())
    officials = Official.objects.select_related("county").in_bulk(
        set(entries.filter(scope=Scope.OFFICIAL).values_list("official_id", flat=True)))
    counties = County.objects.in_bulk()
    for scope, metric, official_id, county_id, rank, value, sessions in entries.values_list(
            "scope", "metric", "official_id", "county_id", "rank", "value", "sessions"):
        key = (scope, official_id or county_id)
        if key not in rows:
            subject = officials.get(official_id) if official_id else counties.get(county_id)
            if subject is None:
                continue
            rows[key] = BoardRow(subject=subject, sessions=sessions)
        rows[key].ranks[metric] = rank
        rows[key].values[metric] = value

    def ordered(scope: str) -> list[BoardRow]:
        board = [row for (s, _id), row in rows.items() if s == scope]
        return sorted(board, key=lambda r: (r.ranks.get("revenue", 0),
                                            getattr(r.subject, "name", "")))

    return ordered(Scope.OFFICIAL), ordered(Scope.COUNTY)


def _totals(counties: list[BoardRow]) -> dict:
    """Over the county board (every session once, under its county): sums of the summed
    metrics, the highest of a maximum, and each ratio from the totals of its two metrics
    (None on a zero denominator), as the registry declares them."""
    totals = {"sessions": sum(r.sessions for r in counties)}
    metrics = [metric_get(key) for key in report_metrics()]
    for metric in metrics:
        if metric.is_ratio:
            continue
        present = [r.values[metric.key] for r in counties
                   if r.values.get(metric.key) is not None]
        if metric.aggregate == "MAX":
            totals[metric.key] = max(present, default=None)
        else:
            totals[metric.key] = sum(present, Decimal(0))
    for metric in metrics:
        if metric.is_ratio:
            numerator = totals.get(metric.numerator)
            denominator = totals.get(metric.denominator)
            totals[metric.key] = (
                (Decimal(numerator) * metric.scale / denominator).quantize(Decimal("0.01"))
                if numerator is not None and denominator else None)
    key = sum((r.values.get("revenue") or Decimal(0) for r in counties
               if r.subject.poverty_relief_key), Decimal(0))
    totals["poverty_relief_revenue"] = key
    totals["poverty_relief_share"] = (key / totals["revenue"]
                                      if totals.get("revenue") else None)
    return totals


def _counted_sessions(*, holiday: Holiday, snapshot: RankingSnapshot, basis: str) -> list:
    """The sessions the snapshot counted, as they were when it was computed (their audit
    history as of then), by start."""
    start, end = holiday.bounds
    statuses = [str(s) for s in COUNTED_STATUSES.get(basis, ())]
    records = (LivestreamSession.history.as_of(snapshot.computed_at)
               .filter(started_at__gte=start, started_at__lt=end, status__in=statuses)
               .order_by("started_at", "id"))
    officials = Official.objects.in_bulk({r.official_id for r in records})
    counties = County.objects.in_bulk()
    sessions = []
    for record in records:
        record.official_name = getattr(officials.get(record.official_id), "name", "")
        record.county_name = getattr(counties.get(record.county_id), "display_name", "")
        sessions.append(record)
    return sessions


def report_status_line(report: Report) -> str:
    """"Published revision 2, 6 May 18:00, by wang" or "Provisional (not published)"."""
    if report.publication is None:
        return _("Provisional: not published")
    p = report.publication
    from django.utils.formats import date_format

    return _("Published revision %(revision)s, %(when)s, by %(who)s") % {
        "revision": p.revision,
        "when": date_format(timezone.localtime(p.published_at), "DATETIME_FORMAT"),
        "who": p.published_by.get_username() if p.published_by else "?",
    }


# --- XLSX ------------------------------------------------------------------------------------

_MONEY_FORMAT = "#,##0.00"
_COUNT_FORMAT = "#,##0"
_DECIMAL_FORMAT = "#,##0.00"


def _cell_format(metric: str) -> str:
    return {"money": _MONEY_FORMAT, "count": _COUNT_FORMAT}.get(metric_get(metric).format,
                                                                 _DECIMAL_FORMAT)


def _cell(metric: str, value):
    """A number as a number: counts as integers, the rest as Decimal; None stays empty."""
    if value is None:
        return None
    return int(value) if metric_get(metric).format == "count" else Decimal(value)


def report_xlsx(report: Report) -> bytes:
    """The report as a workbook: the official board and the county board across every
    metric, the totals with the key poverty-relief share, and the counted sessions. Each
    sheet starts with the title and the revision, basis and time, then one frozen header
    row; numbers are numbers with formats, columns have widths."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    heading = _report_heading(report)

    def sheet(title: str, headers: list[str], rows: list[list], formats: list[str | None],
              widths: list[int], first: bool = False):
        ws = workbook.active if first else workbook.create_sheet()
        ws.title = title
        ws.append([heading[0]])
        ws["A1"].font = Font(bold=True, size=14)
        ws.append([heading[1]])
        ws.append(headers)
        for cell in ws[3]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append(row)
        for index, number_format in enumerate(formats, start=1):
            if number_format:
                for (cell,) in ws.iter_rows(min_row=4, min_col=index, max_col=index):
                    cell.number_format = number_format
        for index, width in enumerate(widths, start=1):
            ws.column_dimensions[ws.cell(row=3, column=index).column_letter].width = width
        ws.freeze_panes = "A4"
        return ws

    metric_headers, metric_formats = [], []
    metrics = report_metrics()
    for metric in metrics:
        metric_headers += [_("%(metric)s rank") % {"metric": metric_label(metric)},
                           metric_label(metric)]
        metric_formats += [None, _cell_format(metric)]

    def values(row: BoardRow) -> list:
        cells = []
        for metric in metrics:
            cells += [row.ranks.get(metric), _cell(metric, row.values.get(metric))]
        return cells

    sheet(_("Official board"), [_("Official"), _("Job title"), _("County"), _("Sessions"),
                           *metric_headers],
          [[r.subject.name, r.subject.title, r.subject.county.display_name, r.sessions,
            *values(r)] for r in report.officials],
          [None, None, None, _COUNT_FORMAT, *metric_formats],
          [14, 14, 12, 8, *[12, 16] * len(metrics)], first=True)
    sheet(_("County board"), [_("County"), _("Key poverty-relief county"), _("Sessions"),
                          *metric_headers],
          [[r.subject.display_name, _("yes") if r.subject.poverty_relief_key else _("no"),
            r.sessions, *values(r)] for r in report.counties],
          [None, None, _COUNT_FORMAT, *metric_formats],
          [12, 14, 8, *[12, 16] * len(metrics)])
    totals = report.totals
    total_rows = [[_("Sessions"), totals["sessions"]]]
    total_formats = [_COUNT_FORMAT]
    for metric in metrics:
        total_rows.append([metric_label(metric), _cell(metric, totals[metric])])
        total_formats.append(_cell_format(metric))
    total_rows += [[_("Revenue of key poverty-relief counties"),
                    totals["poverty_relief_revenue"]],
                   [_("Key poverty-relief share"), totals["poverty_relief_share"]]]
    total_formats += [_MONEY_FORMAT, "0.0%"]
    ws = sheet(_("Totals"), [_("Figure"), _("Value")], total_rows, [None, None], [28, 18])
    for row_index, number_format in enumerate(total_formats, start=4):
        ws.cell(row=row_index, column=2).number_format = number_format
    sheet(_("Counted sessions"),
          [_("Session"), _("Started"), _("Ended"), _("Official"), _("County"), _("Platform"),
           _("Title"), _("Audience"), _("Orders"), _("Revenue (yuan)"), _("Refunds (yuan)"),
           _("Status")],
          [[s.id, _naive(s.started_at), _naive(s.ended_at), s.official_name, s.county_name,
            s.get_platform_display(), s.title, s.audience, s.orders, s.revenue, s.refunds,
            s.get_status_display()] for s in report.sessions],
          [None, "yyyy-mm-dd hh:mm", "yyyy-mm-dd hh:mm", None, None, None, None,
           _COUNT_FORMAT, _COUNT_FORMAT, _MONEY_FORMAT, _MONEY_FORMAT, None],
          [8, 17, 17, 12, 12, 12, 28, 12, 10, 14, 12, 10])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _naive(moment):
    """Beijing wall time (a spreadsheet has no time zones)."""
    return timezone.localtime(moment).replace(tzinfo=None)


def _report_heading(report: Report) -> tuple[str, str]:
    from django.utils.formats import date_format

    title = _("%(city)s: livestream sales rankings of %(holiday)s") % {
        "city": CITY_NAME, "holiday": report.holiday.display_name}
    basis = dict(_basis_labels()).get(report.basis, report.basis)
    computed = (date_format(timezone.localtime(report.snapshot.computed_at), "DATETIME_FORMAT")
                if report.snapshot else "–")
    line = _("%(status)s · counting: %(basis)s · figures as of %(when)s") % {
        "status": report_status_line(report), "basis": basis, "when": computed}
    return title, line


def _basis_labels():
    from sessions_app.models import RankingBasis

    return [(value, str(label)) for value, label in RankingBasis.choices]


def report_basis_label(report: Report) -> str:
    return dict(_basis_labels()).get(report.basis, report.basis)
