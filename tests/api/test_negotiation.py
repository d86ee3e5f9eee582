"""The API's content negotiation is remembered per process (linfen_tracker/negotiation.py):
the same view, format and Accept header get the same renderer as DRF would pick, other
inputs are negotiated afresh, and failures are never remembered."""

import pytest
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from linfen_tracker import negotiation
from linfen_tracker.negotiation import RememberedContentNegotiation

URL = "/api/v1/rankings/"


@pytest.fixture(autouse=True)
def empty_memo():
    RememberedContentNegotiation._memo.clear()
    yield
    RememberedContentNegotiation._memo.clear()


def board(client, holiday, accept=None, **params):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    return client.get(URL, {"holiday": holiday.slug, **params}, **headers)


@pytest.mark.django_db
def test_each_accept_header_gets_its_own_renderer_request_after_request(staff_api,
                                                                        ranked_holiday):
    answers = [board(staff_api, ranked_holiday, accept)
               for accept in ["application/json", "text/html", "application/json",
                              "text/html", None]]

    assert [r.status_code for r in answers] == [200] * 5
    assert [r["Content-Type"].split(";")[0] for r in answers] == [
        "application/json", "text/html", "application/json", "text/html", "application/json"]


@pytest.mark.django_db
def test_the_format_parameter_overrides_a_remembered_accept_header(staff_api, ranked_holiday):
    either = "text/html, */*;q=0.5"
    assert board(staff_api, ranked_holiday, "*/*")["Content-Type"] == "application/json"
    assert board(staff_api, ranked_holiday, either)["Content-Type"].startswith("text/html")

    page = board(staff_api, ranked_holiday, "*/*", format="api")
    data = board(staff_api, ranked_holiday, either, format="json")

    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert data.status_code == 200 and data["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_an_unacceptable_request_is_refused_every_time(staff_api, ranked_holiday):
    refused = [board(staff_api, ranked_holiday, "image/png") for _ in range(2)]
    unknown = [board(staff_api, ranked_holiday, format="yaml") for _ in range(2)]

    assert [r.status_code for r in refused] == [406, 406]
    assert [r.status_code for r in unknown] == [404, 404]
    assert not RememberedContentNegotiation._memo


def test_it_picks_what_drfs_own_negotiation_picks():
    from rest_framework.negotiation import DefaultContentNegotiation

    factory = APIRequestFactory()
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]
    for accept in ["*/*", "application/json; indent=4", "text/html;q=0.9, */*;q=0.1",
                   "text/*", "application/*", "application/json, text/html"]:
        for _ in range(2):  # negotiated, then remembered
            request = Request(factory.get(URL, HTTP_ACCEPT=accept))
            mine = RememberedContentNegotiation().select_renderer(request, renderers)
            drf = DefaultContentNegotiation().select_renderer(request, renderers)
            assert mine == drf, accept


def test_made_up_headers_never_grow_the_memo_past_its_bound():
    factory = APIRequestFactory()
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]

    for n in range(negotiation.MEMO_SIZE * 2):
        request = Request(factory.get(URL, HTTP_ACCEPT=f"application/json; v={n}"))
        RememberedContentNegotiation().select_renderer(request, renderers)
    long_header = "application/json, application/x-" + "9" * negotiation.MEMO_HEADER_LENGTH
    RememberedContentNegotiation().select_renderer(
        Request(factory.get(URL, HTTP_ACCEPT=long_header)), renderers)

    memo = RememberedContentNegotiation._memo
    assert 0 < len(memo) <= negotiation.MEMO_SIZE
    assert all(len(key[2]) <= negotiation.MEMO_HEADER_LENGTH for key in memo)
