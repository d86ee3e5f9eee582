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


def sessions_csv_response(*, sessions: QuerySet[LivestreamSession]) -> StreamingHttpResponse:
    """Every session of `sessions` as a CSV download (streamed in chunks, not one page),
    times in Beijing time, the official and county by name and id."""
    header = [
        _label("id"), _label("official"), _("official id"), _("title (of the official)"),
        _("county"), _("county id"),
        *(_label(name) for name in ("platform", "title", "products", "started_at", "ended_at",
                                    "audience", "orders", "revenue", "entered_by")),
    ]
    platforms = dict(Platform.choices)

    def rows():
        for s in sessions.select_related("official", "county", "entered_by").iterator(
            chunk_size=2000
        ):
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
