"""One rule in one place: the same bad rows are refused with the same message by every path
that can write a session (the page form, the API, the admin form, the import page), and none
of them saves anything.

Each row is what a person types (text); a path that reads JSON gets the same text. Every
row is sent through every path in both languages, and the messages of a language must be
the same on all four paths; the English ones must say what the rule is.
"""

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from sessions_app.models import LivestreamSession, SessionItem

from ..factories import OfficialFactory, SessionFactory, beijing

pytestmark = pytest.mark.django_db

GOOD = {
    "official": "{official}", "county": "", "platform": "douyin", "title": "Walnuts live",
    "products": "walnuts", "started_at": "2020-05-01 10:00", "ended_at": "2020-05-01 12:00",
    "audience": "1000", "orders": "10", "revenue": "100.00",
}
FORMULA = "Text may not start with =, +, -, @, a tab or a line break"
YEARS = "Dates must fall in the years 2000 to 2099."
WHOLE = "Enter a whole number."
AMOUNT = "Enter an amount in yuan, e.g. 230000.50."
MOMENT = "Enter a date and time like 2020-05-01 10:00 (Beijing time)."
REQUIRED = "This field is required."
COUNT_MAX = "Enter a number from 0 to 999,999,999,999."
END_AFTER_START = "A session must end after it starts."
AT_MOST_24 = "A session lasts at most 24 hours: check the dates."
OVERLAP = ("This official already has a session on this platform at this time (Existing show, "
           "2020-05-01 09:00 to 2020-05-01 11:00).")

# (id, changes to the good row, {field: what the English message says})
BAD_ROWS = [
    ("audience-negative", {"audience": "-1"},
     {"audience": "Ensure this value is greater than or equal to 0."}),
    ("orders-negative", {"orders": "-5"},
     {"orders": "Ensure this value is greater than or equal to 0."}),
    ("revenue-negative", {"revenue": "-0.01"},
     {"revenue": "Ensure this value is greater than or equal to 0."}),
    ("audience-10^12", {"audience": "1000000000000"}, {"audience": COUNT_MAX}),
    ("orders-2^63-1", {"orders": "9223372036854775807"}, {"orders": COUNT_MAX}),
    ("audience-2^63", {"audience": "9223372036854775808"}, {"audience": COUNT_MAX}),
    ("audience-letters", {"audience": "12abc"}, {"audience": WHOLE}),
    ("audience-fraction", {"audience": "1.5"}, {"audience": WHOLE}),
    ("audience-empty", {"audience": ""}, {"audience": REQUIRED}),
    ("orders-exponent", {"orders": "1e3"}, {"orders": WHOLE}),
    ("revenue-nan", {"revenue": "NaN"}, {"revenue": AMOUNT}),
    ("revenue-infinity", {"revenue": "Infinity"}, {"revenue": AMOUNT}),
    ("revenue-1e20", {"revenue": "1e20"},
     {"revenue": "Ensure that there are no more than 14 digits in total."}),
    ("revenue-3-places", {"revenue": "1.005"},
     {"revenue": "Ensure that there are no more than 2 decimal places."}),
    ("revenue-letters", {"revenue": "abc"}, {"revenue": AMOUNT}),
    ("revenue-empty", {"revenue": ""}, {"revenue": REQUIRED}),
    ("revenue-10^12", {"revenue": "1000000000000.00"},
     {"revenue": "Ensure that there are no more than 14 digits in total."}),
    ("year-1", {"started_at": "0001-01-01 05:00", "ended_at": "0001-01-01 06:00"},
     {"started_at": YEARS, "ended_at": YEARS}),
    ("year-9999", {"started_at": "9999-12-31 10:00", "ended_at": "9999-12-31 11:00"},
     {"started_at": YEARS, "ended_at": YEARS}),
    ("year-1999", {"started_at": "1999-12-31 23:00", "ended_at": "2000-01-01 01:00"},
     {"started_at": YEARS}),
    ("year-2100", {"started_at": "2100-01-01 10:00", "ended_at": "2100-01-01 11:00"},
     {"started_at": YEARS, "ended_at": YEARS}),
    ("end-before-start", {"ended_at": "2020-05-01 09:00"}, {"ended_at": END_AFTER_START}),
    ("end-at-start", {"ended_at": "2020-05-01 10:00"}, {"ended_at": END_AFTER_START}),
    ("25-hours", {"ended_at": "2020-05-02 11:00"}, {"ended_at": AT_MOST_24}),
    ("7-days", {"ended_at": "2020-05-08 10:00"}, {"ended_at": AT_MOST_24}),
    ("microsecond", {"started_at": "2020-05-01 10:00:00.000001"},
     {"started_at": "Give the time to the second at most"}),
    ("start-not-a-time", {"started_at": "yesterday"}, {"started_at": MOMENT}),
    ("start-empty", {"started_at": ""}, {"started_at": REQUIRED}),
    ("end-month-13", {"ended_at": "2020-13-01 10:00"}, {"ended_at": MOMENT}),
    ("platform-unknown", {"platform": "tiktok"},
     {"platform": "Unknown platform “tiktok”: use douyin (抖音)"}),
    ("platform-empty", {"platform": ""}, {"platform": REQUIRED}),
    ("title-empty", {"title": ""}, {"title": REQUIRED}),
    ("title-blank", {"title": "   "}, {"title": REQUIRED}),
    ("title-201", {"title": "x" * 201},
     {"title": "Ensure this value has at most 200 characters (it has 201)."}),
    ("title-hyperlink", {"title": '=HYPERLINK("http://evil.example","x")'}, {"title": FORMULA}),
    ("title-plus", {"title": "+cmd|' /C calc'!A0"}, {"title": FORMULA}),
    ("title-at", {"title": "@SUM(A1:A9)"}, {"title": FORMULA}),
    ("title-minus", {"title": "-2+3"}, {"title": FORMULA}),
    ("title-tab-formula", {"title": "\t=cmd"}, {"title": FORMULA}),
    ("products-formula", {"products": "=1+1"}, {"products": FORMULA}),
    ("products-2001", {"products": "y" * 2001},
     {"products": "Ensure this value has at most 2000 characters (it has 2001)."}),
    ("official-unknown", {"official": "999999"}, {"official": "No official has the id 999999."}),
    ("official-empty", {"official": ""}, {"official": REQUIRED}),
    ("official-inactive", {"official": "{inactive}"}, {"official": "This official is inactive"}),
    ("county-unknown", {"county": "999999"},
     {"county": "Unknown county “999999”: give its slug (e.g. jixian) or name"}),
    ("overlap-same-platform", {"started_at": "2020-05-01 10:30", "ended_at": "2020-05-01 11:30"},
     {"started_at": OVERLAP}),
    ("same-start-same-platform", {"started_at": "2020-05-01 09:00",
                                  "ended_at": "2020-05-01 09:30"}, {"started_at": OVERLAP}),
    ("refunded-above-orders", {"refunded_orders": "11"},
     {"refunded_orders": "Refunded orders cannot exceed the orders."}),
    ("refunds-above-revenue", {"refunds": "100.01"},
     {"refunds": "Refunds cannot exceed the revenue."}),
    ("refunds-negative", {"refunds": "-1"},
     {"refunds": "Ensure this value is greater than or equal to 0."}),
    ("refunds-letters", {"refunds": "abc"}, {"refunds": AMOUNT}),
    ("refunded-fraction", {"refunded_orders": "1.5"}, {"refunded_orders": WHOLE}),
]


@pytest.fixture
def world(staff_user, superuser):
    official = OfficialFactory(name="Host")
    inactive = OfficialFactory(name="Retired", active=False)
    SessionFactory(official=official, title="Existing show", platform="douyin",
                   started_at=beijing(2020, 5, 1, 9), ended_at=beijing(2020, 5, 1, 11))
    return {"official": official, "inactive": inactive, "staff": staff_user,
            "superuser": superuser}


def _row(world, changes: dict) -> dict:
    row = {**GOOD, **changes}
    return {name: value.format(official=world["official"].pk, inactive=world["inactive"].pk)
            if value.startswith("{") else value for name, value in row.items()}


def _joined(errors: dict) -> dict[str, str]:
    return {field: " ".join(str(m) for m in messages) for field, messages in errors.items()}


def via_form(client, row, language):
    response = client.post(reverse("session_create"), row, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return _joined(response.context["form"].errors)


def via_admin(client, row, language):
    response = client.post(reverse("admin:sessions_app_livestreamsession_add"),
                           {**ITEMS_NONE, **row}, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return _joined(response.context["adminform"].form.errors)


def via_api(client, row, language):
    payload = {name: value for name, value in row.items() if not (name == "county" and not value)}
    response = client.post("/api/v1/sessions/", payload, format="json",
                           HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400, response.content
    return _joined(response.json())


def _csv(row: dict) -> io.BytesIO:
    """The row as a CSV upload, headed by the data names (which the import accepts)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(list(row))
    writer.writerow(list(row.values()))
    upload = io.BytesIO(out.getvalue().encode("utf-8"))
    upload.name = "sessions.csv"
    return upload


def via_import(client, row, language):
    response = client.post(reverse("session_import:upload"), {"file": _csv(row)},
                           HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    errors: dict[str, list[str]] = {}
    for error in response.context["check"].errors:
        assert error.row == 2, error
        errors.setdefault(error.column, []).append(error.reason)
    return _joined(errors)


# The item lines' formset (page) and inline (admin) as a page posts them with no line.
ITEMS_NONE = {"items-TOTAL_FORMS": "0", "items-INITIAL_FORMS": "0"}

PATHS = {"form": via_form, "api": via_api, "admin": via_admin, "import": via_import}


def _clients(world) -> dict:
    staff, admin = Client(), Client()
    staff.force_login(world["staff"])
    admin.force_login(world["superuser"])
    api = APIClient()
    api.force_authenticate(world["staff"])
    return {"form": staff, "import": staff, "admin": admin, "api": api}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize(("changes", "expected"),
                         [pytest.param(c, e, id=name) for name, c, e in BAD_ROWS])
def test_every_path_refuses_the_row_with_the_same_message(world, changes, expected, language):
    clients = _clients(world)
    row = _row(world, changes)
    before = LivestreamSession.objects.count()

    found = {path: send(clients[path], row, language) for path, send in PATHS.items()}

    assert LivestreamSession.objects.count() == before  # nothing saved, on any path
    assert found["form"] == found["api"] == found["admin"] == found["import"], found
    assert set(found["form"]) == set(expected), found
    if language == "en":
        for field, says in expected.items():
            assert says in found["form"][field], (field, found["form"][field])


def test_there_are_at_least_forty_bad_rows():
    assert len(BAD_ROWS) >= 40


def test_the_good_row_is_saved_by_every_path(world, django_capture_on_commit_callbacks):
    clients = _clients(world)
    row = _row(world, {})
    for n, path in enumerate(PATHS):
        # Each path saves its own session: move it to a day of its own.
        day = _row(world, {"started_at": f"2020-05-0{n + 2} 10:00",
                           "ended_at": f"2020-05-0{n + 2} 12:00"})
        data = {**row, **{k: day[k] for k in ("started_at", "ended_at")}}
        if path == "api":
            data.pop("county")
            response = clients[path].post("/api/v1/sessions/", data, format="json")
            assert response.status_code == 201, response.content
        elif path == "import":
            batch = clients[path].post(reverse("session_import:upload"), {"file": _csv(data)})
            confirm = reverse("session_import:confirm", args=[batch.context["batch"].pk])
            assert clients[path].post(confirm).status_code == 302
        else:
            url = reverse("session_create" if path == "form"
                          else "admin:sessions_app_livestreamsession_add")
            assert clients[path].post(url, {**ITEMS_NONE, **data}).status_code == 302
    saved = LivestreamSession.objects.filter(title="Walnuts live")
    assert saved.count() == 4
    assert {s.revenue for s in saved} == {Decimal("100.00")}
    assert all(isinstance(s.started_at, datetime) for s in saved)



# --- What the platforms report: viewers, co-hosts, item lines ---------------------------------
# Co-hosts are a list of officials ("{official}" the lead, "{cohost}" another); item lines
# are written in the import's compact cell format (product|quantity|unit|revenue|是) and sent
# to each path in its own shape: formset rows on the page and in the admin, a list of
# objects to the API, the cell itself to the import.
PEAK_ABOVE_UNIQUE = "Peak viewers cannot exceed the unique viewers."
LINES_ABOVE = ("The item lines' revenues add up to 100.01 yuan, more than the session's "
               "revenue (100.00 yuan).")
QUANTITY = "Quantity must be greater than 0."
LEAD_COHOST = "The lead host cannot also be a co-host."
PLATFORM_BAD_ROWS = [
    ("peak-above-unique", {"unique_viewers": "500", "peak_viewers": "600"}, PEAK_ABOVE_UNIQUE),
    ("unique-above-audience", {"unique_viewers": "1001"},
     "Unique viewers cannot exceed the audience (views)."),
    ("peak-above-audience", {"peak_viewers": "1001"},
     "Peak viewers cannot exceed the audience (views)."),
    ("unique-negative", {"unique_viewers": "-1"},
     "Ensure this value is greater than or equal to 0."),
    ("followers-letters", {"new_followers": "many"}, WHOLE),
    ("lines-above-revenue", {"items": "Walnuts|1|jin|60; Millet|1|bag|40.01"}, LINES_ABOVE),
    ("quantity-zero", {"items": "Walnuts|0|jin|10"}, QUANTITY),
    ("quantity-negative", {"items": "Walnuts|-2|jin|10"}, QUANTITY),
    ("unit-unknown", {"items": "Walnuts|1|barrel|10"}, "Unknown unit “barrel”"),
    ("line-revenue-negative", {"items": "Walnuts|1|jin|-1"},
     "Ensure this value is greater than or equal to 0."),
    ("cohost-is-lead", {"hosts": ["{official}"]}, LEAD_COHOST),
    ("cohost-lead-among-others", {"hosts": ["{cohost}", "{official}"]}, LEAD_COHOST),
]


def _item_dicts(cell: str) -> list[dict]:
    lines = []
    for line in (p.strip() for p in cell.split(";") if p.strip()):
        name, quantity, unit, revenue, *flag = line.split("|")
        lines.append({"name": name, "quantity": quantity, "unit": unit, "revenue": revenue,
                      "poverty_relief_product": bool(flag)})
    return lines


def _platform_row(world, changes: dict) -> dict:
    # On a day of its own: only the rule under test is broken.
    row = _row(world, {"started_at": "2020-05-03 10:00", "ended_at": "2020-05-03 12:00",
                       **{k: v for k, v in changes.items() if k not in ("hosts", "items")}})
    ids = {"{official}": world["official"].pk, "{cohost}": world["cohost"].pk}
    row["hosts"] = [ids[h] for h in changes.get("hosts", [])]
    row["items"] = changes.get("items", "")
    return row


def _form_post(row: dict) -> dict:
    data = {k: v for k, v in row.items() if k not in ("hosts", "items")}
    data["hosts"] = [str(h) for h in row["hosts"]]
    lines = _item_dicts(row["items"])
    data.update({"items-TOTAL_FORMS": str(len(lines)), "items-INITIAL_FORMS": "0"})
    for i, line in enumerate(lines):
        for key, value in line.items():
            if key == "poverty_relief_product":
                if value:
                    data[f"items-{i}-{key}"] = "on"
            else:
                data[f"items-{i}-{key}"] = value
    return data


def _formset_messages(formset) -> list[str]:
    found = [str(m) for m in formset.non_form_errors()]
    for form_errors in formset.errors:
        found += [str(m) for messages in form_errors.values() for m in messages]
    return found


def platform_via_form(client, row):
    response = client.post(reverse("session_create"), _form_post(row),
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return [str(m) for ms in response.context["form"].errors.values() for m in ms] + \
        _formset_messages(response.context["items"])


def platform_via_admin(client, row):
    response = client.post(reverse("admin:sessions_app_livestreamsession_add"),
                           _form_post(row), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    found = [str(m) for ms in response.context["adminform"].form.errors.values() for m in ms]
    for inline in response.context["inline_admin_formsets"]:
        found += _formset_messages(inline.formset)
    return found


def platform_via_api(client, row):
    payload = {k: v for k, v in row.items() if not (k == "county" and not v)}
    payload["items"] = _item_dicts(row["items"])
    payload = {k: v for k, v in payload.items() if v != ""}
    response = client.post("/api/v1/sessions/", payload, format="json",
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, response.content
    return [json_text(response.json())]


def json_text(value) -> str:
    if isinstance(value, dict):
        return " ".join(json_text(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(json_text(v) for v in value)
    return str(value)


def platform_via_import(client, row):
    data = {**row, "hosts": ";".join(str(h) for h in row["hosts"])}
    response = client.post(reverse("session_import:upload"), {"file": _csv(data)},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return [f"{e.column}: {e.reason}" for e in response.context["check"].errors]


PLATFORM_PATHS = {"form": platform_via_form, "api": platform_via_api,
                  "admin": platform_via_admin, "import": platform_via_import}


@pytest.fixture
def platform_world(world):
    return {**world, "cohost": OfficialFactory(name="Co-host")}


@pytest.mark.parametrize(("changes", "says"),
                         [pytest.param(c, e, id=name) for name, c, e in PLATFORM_BAD_ROWS])
def test_every_path_refuses_bad_viewers_cohosts_and_item_lines(platform_world, changes, says):
    clients = _clients(platform_world)
    row = _platform_row(platform_world, changes)
    before = (LivestreamSession.objects.count(), SessionItem.objects.count())

    found = {path: send(clients[path], row) for path, send in PLATFORM_PATHS.items()}

    assert (LivestreamSession.objects.count(), SessionItem.objects.count()) == before
    for path, messages in found.items():
        assert any(says in message for message in messages), (path, messages)


@pytest.mark.parametrize("path", ["api", "import"])
def test_a_cohost_listed_twice_is_refused(platform_world, path):
    # (A multiple-choice box, on the page and in the admin, cannot choose one twice.)
    clients = _clients(platform_world)
    row = _platform_row(platform_world, {"hosts": ["{cohost}", "{cohost}"]})

    messages = PLATFORM_PATHS[path](clients[path], row)

    assert any("Co-host is listed twice as a co-host." in m for m in messages), messages
    assert not LivestreamSession.objects.filter(title="Walnuts live").exists()


def test_the_good_row_with_cohosts_and_lines_is_saved_by_every_path(platform_world):
    clients = _clients(platform_world)
    for n, path in enumerate(PLATFORM_PATHS):
        row = _platform_row(platform_world, {
            "started_at": f"2020-05-0{n + 2} 10:00", "ended_at": f"2020-05-0{n + 2} 12:00",
            "unique_viewers": "800", "peak_viewers": "120", "new_followers": "9",
            "hosts": ["{cohost}"], "items": "Walnuts|20|jin|60|是; Millet|1.5|bag|40",
        })
        if path == "api":
            payload = {k: v for k, v in row.items() if k != "county"}
            payload["items"] = _item_dicts(row["items"])
            response = clients[path].post("/api/v1/sessions/", payload, format="json")
            assert response.status_code == 201, response.content
        elif path == "import":
            data = {**row, "hosts": ";".join(str(h) for h in row["hosts"])}
            batch = clients[path].post(reverse("session_import:upload"), {"file": _csv(data)})
            assert batch.context["check"].ok, batch.context["check"].errors
            confirm = reverse("session_import:confirm", args=[batch.context["batch"].pk])
            assert clients[path].post(confirm).status_code == 302
        else:
            url = reverse("session_create" if path == "form"
                          else "admin:sessions_app_livestreamsession_add")
            response = clients[path].post(url, _form_post(row))
            assert response.status_code == 302, path
    saved = LivestreamSession.objects.filter(title="Walnuts live", unique_viewers=800)
    assert saved.count() == 4
    for session in saved:
        assert (session.peak_viewers, session.new_followers) == (120, 9)
        assert list(session.hosts.all()) == [platform_world["cohost"]]
        lines = sorted((i.name, i.quantity, i.unit, i.revenue, i.poverty_relief_product)
                       for i in session.items.all())
        assert lines == [("Millet", Decimal("1.5"), "bag", Decimal("40"), False),
                         ("Walnuts", Decimal("20"), "jin", Decimal("60"), True)]
        # The co-host is in the session's first history record, the lines in their own.
        first = session.history.earliest()
        assert [h.official_id for h in first.hosts.all()] == [platform_world["cohost"].pk]
        assert SessionItem.history.filter(session_id=session.pk, history_type="+").count() == 2
