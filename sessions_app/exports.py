"""The sessions CSV export, written once for the API and the admin (formula quoting and the
byte-order mark come from linfen_tracker.exports)."""

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from linfen_tracker.exports import csv_response

from .models import LivestreamSession, Platform


def _label(name: str) -> str:
    return str(LivestreamSession._meta.get_field(name).verbose_name)


def _blank(value) -> object:
    return "" if value is None else value


def items_cell(lines) -> str:
    """Item lines in the import's compact cell format (imports/columns.py, 商品明细):
    "核桃|200|jin|12000.00|是; 小米|50|bag|3000.00", so an export imports back."""
    return "; ".join(
        f"{line.name}|{line.quantity.normalize():f}|{line.unit}|{line.revenue}"
        + ("|是" if line.poverty_relief_product else "")
        for line in lines
    )


def sessions_csv_response(*, sessions: QuerySet[LivestreamSession]) -> StreamingHttpResponse:
    """Every session of `sessions` as a CSV download (streamed in chunks, not one page),
    times in Beijing time, the official and county by name and id."""
    header = [
        _label("id"), _label("official"), _("official id"), _("title (of the official)"),
        _("county"), _("county id"),
        *(_label(name) for name in ("platform", "title", "products", "started_at", "ended_at",
                                    "audience", "orders", "revenue", "unique_viewers",
                                    "peak_viewers", "new_followers", "hosts")),
        _("item lines"), _label("entered_by"),
    ]
    platforms = dict(Platform.choices)

    def rows():
        for s in sessions.select_related("official", "county", "entered_by").prefetch_related(
            "hosts", "items"
        ).iterator(chunk_size=2000):
            yield [
                s.id, s.official.name, s.official_id, s.official.title,
                s.county.display_name, s.county_id, str(platforms.get(s.platform, s.platform)),
                s.title, s.products,
                timezone.localtime(s.started_at).strftime("%Y-%m-%d %H:%M"),
                timezone.localtime(s.ended_at).strftime("%Y-%m-%d %H:%M"),
                s.audience, s.orders, s.revenue, _blank(s.unique_viewers),
                _blank(s.peak_viewers), _blank(s.new_followers),
                ";".join(str(host.pk) for host in s.hosts.all()),
                items_cell(s.items.all()),
                s.entered_by.get_username() if s.entered_by else "",
            ]

    return csv_response(header=header, rows=rows(), filename="sessions.csv")
