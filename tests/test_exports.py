"""Every export defuses every formula prefix the same way, through one function
(linfen_tracker.exports.export_cell): the API's sessions and rankings CSVs and the admin's."""

import csv
import io

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from linfen_tracker.exports import FORMULA_PREFIXES, export_cell
from rankings.services import holiday_rankings_recompute

from .factories import OfficialFactory, SessionFactory

PREFIXES = ["=", "+", "-", "@", "\t", "\r", "\n"]


def test_the_prefixes_are_the_ones_spreadsheets_run():
    assert set(FORMULA_PREFIXES) == set(PREFIXES)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_export_cell_quotes_text_starting_with_a_formula_prefix(prefix):
    assert export_cell(f"{prefix}HYPERLINK(1)") == f"'{prefix}HYPERLINK(1)"
    assert export_cell(f"safe {prefix}x") == f"safe {prefix}x"
    assert export_cell(-5) == -5  # numbers stay numbers
    assert export_cell(None) == ""


def _rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.django_db
@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_export_quotes_every_prefix(prefix, superuser, holiday):
    # Written straight to the table, as rows stored before the entry rule would be.
    official = OfficialFactory(name=f"{prefix}cmd|' /C calc'!A0")
    session = SessionFactory(official=official, title=f"{prefix}SUM(1+1)",
                             products=f"{prefix}HYPERLINK(\"http://x\")")
    holiday_rankings_recompute(holiday_id=holiday.pk)
    api = APIClient()
    api.force_authenticate(superuser)
    client = APIClient()
    client.force_login(superuser)

    sessions_csv = _rows(api.get("/api/v1/sessions/export/"))
    rankings_csv = _rows(api.get(f"/api/v1/rankings/export/?holiday={holiday.slug}"))
    admin_csv = _rows(client.post(reverse("admin:sessions_app_livestreamsession_changelist"),
                                  {"action": "export_csv", "_selected_action": [session.pk]}))

    for rows in (sessions_csv, admin_csv):
        assert f"'{prefix}SUM(1+1)" in rows[1]
        assert f"'{prefix}HYPERLINK(\"http://x\")" in rows[1]
        assert f"'{prefix}cmd|' /C calc'!A0" in rows[1]
    assert f"'{prefix}cmd|' /C calc'!A0" in rankings_csv[1]
    for rows in (sessions_csv, admin_csv, rankings_csv):
        assert not [cell for row in rows for cell in row if cell.startswith(tuple(PREFIXES))]
