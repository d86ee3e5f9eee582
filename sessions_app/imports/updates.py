"""Update mode: a file of corrected figures for sessions already stored.

Each row names the stored session it corrects by its official and its start time (the two
things staff do not correct by re-importing); its other cells are the new values. The
confirm writes them through `services.session_update`, with the version each session had
when the file was checked: a session changed since (by someone else, or by an earlier
import) is refused, and nothing of the file is saved.
"""

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from ..models import LivestreamSession

# The fields a row may correct (the official and the start name the session).
CORRECTABLE_FIELDS = ("county", "platform", "title", "products", "ended_at", "audience",
                      "orders", "revenue", "refunded_orders", "refunds", "unique_viewers",
                      "peak_viewers", "new_followers", "hosts", "items")


def stored_sessions_match(*, rows: list, values_of: dict[int, dict[str, Any]],
                          header_of: dict[str, str],
                          matched: dict[int, tuple[int, int]]) -> list:
    """Find the stored session each row corrects; set the row's `session_id`, `version` and
    `changes` (field -> (stored, new) for every value it changes), and return the rows'
    errors (RowError): no stored session of the official starts then; two rows for one
    session; the session changed since the file was checked (when `matched` holds the
    versions read then, as a staged upload does; else they are recorded in `matched`).

    One query for every stored session of the file's officials in its time range. A column
    the file leaves out, or an empty county cell, keeps the stored value.
    """
    from .rows import RowError  # rows imports this module

    if not rows:
        return []
    staged = bool(matched)
    starts = [row.started_at for row in rows]
    stored = {
        (session.official_id, session.started_at): session
        for session in LivestreamSession.objects.filter(
            official_id__in={row.official_id for row in rows},
            started_at__gte=min(starts), started_at__lte=max(starts),
        )
    }
    errors, taken = [], {}
    start_column = header_of.get("started_at", "")
    for row in rows:
        session = stored.get((row.official_id, row.started_at))
        if session is None:
            errors.append(RowError(row.row, start_column, _(
                "No stored session of this official starts at this time. In update mode "
                "each row corrects a stored session, found by its official and its start "
                "time; to add new sessions, import the file in the other mode."
            )))
            continue
        if session.pk in taken:
            errors.append(RowError(row.row, start_column, _(
                "Row %(row)s already corrects this session."
            ) % {"row": taken[session.pk]}, session.pk))
            continue
        taken[session.pk] = row.row
        if staged and matched.get(row.row) != (session.pk, session.version):
            errors.append(RowError(row.row, start_column, _(
                "This session was changed after the file was checked: upload the file again "
                "to see its stored values."
            ), session.pk))
            continue
        matched[row.row] = (session.pk, session.version)
        row.session_id, row.version = session.pk, session.version
        row.changes = _changes(row=row, session=session, values=values_of.get(row.row, {}),
                               header_of=header_of)
    return errors


_ITEM_KEYS = ("name", "quantity", "unit", "revenue", "poverty_relief_product")


def _item_values(line) -> tuple:
    get = line.get if isinstance(line, dict) else lambda k: getattr(line, k)
    return (get("name"), Decimal(get("quantity")).normalize(), get("unit"),
            Decimal(get("revenue")), bool(get("poverty_relief_product")))


def _changes(*, row, session: LivestreamSession, values: dict[str, Any],
             header_of: dict[str, str]) -> dict[str, tuple[Any, Any]]:
    changes = {}
    for name in CORRECTABLE_FIELDS:
        if name not in header_of:
            continue
        if name == "county":
            if not values.get("county"):
                continue  # an empty county keeps the session's own
            old, new = session.county_id, row.county_id
        elif name == "hosts":
            old = sorted(session.hosts.values_list("pk", flat=True))
            new = sorted(row.hosts)
        elif name == "items":
            old = sorted(_item_values(line) for line in session.items.all())
            new = sorted(_item_values(line) for line in row.items)
            if old == new:
                continue
            old, new = [dict(zip(_ITEM_KEYS, v, strict=True)) for v in old], row.items
        else:
            old, new = getattr(session, name), getattr(row, name)
        if old != new:
            changes[name] = (old, new)
    return changes
