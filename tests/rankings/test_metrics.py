"""Every registered metric on a holiday computed by hand: values, ranks in both tie styles,
zero denominators, co-host credit (in full on the officials' boards, once in the counties),
the composite score and its components, and a metric added in a test reaching every reader.

The holiday (May 1-5, 2020), four officials, two counties:

| session | lead | co-host | county | audience | orders | revenue | refunds | UV | peak | fans |
| S1 | A | B | X | 1000 | 10 | 500.00 | 0 | 600 | 100 | 5 |
| S2 | B | - | X | 1000 | 20 | 500.00 | 100.00 | 700 | 150 | - |
| S3 | C | - | Y | 0 | 0 | 0.00 | 0 | - | - | - |
| S4 | D | - | Y | 2000 | 10 | 300.00 | 0 | 900 | 100 | 5 |
"""

from decimal import Decimal

import pytest
from django.urls import reverse
from drf_spectacular.plumbing import _load_enum_name_overrides

from linfen_tracker import generations
from rankings.metrics import MetricDefinition, metric_keys, metric_registered
from rankings.models import RankingEntry, RankingSnapshot
from rankings.services import holiday_rankings_recompute
from sessions_app.models import County, LivestreamSession
from sessions_app.services import holiday_save
from sessions_app.totals import holiday_totals_rebuild

from ..factories import HolidayFactory, OfficialFactory, SessionFactory, beijing, session_resave

pytestmark = pytest.mark.django_db

D = Decimal
N = None
# Official scope: A, B, C, D.
OFFICIAL_VALUES = {
    "audience": [1000, 2000, 0, 2000],
    "orders": [10, 30, 0, 10],
    "revenue": [D("500.00"), D("1000.00"), D("0.00"), D("300.00")],
    "net_revenue": [D("500.00"), D("900.00"), D("0.00"), D("300.00")],
    "unique_viewers": [600, 1300, N, 900],
    "peak_viewers": [100, 150, N, 100],
    "new_followers": [5, 5, N, 5],
    "aov": [D("50.00"), D("33.33"), N, D("30.00")],
    "gpm": [D("500.00"), D("500.00"), N, D("150.00")],
    "conversion": [D("1.00"), D("1.50"), N, D("0.50")],
}
COMPETITION_RANKS = {
    "audience": [3, 1, 4, 1],
    "orders": [2, 1, 4, 2],
    "revenue": [2, 1, 4, 3],
    "net_revenue": [2, 1, 4, 3],
    "unique_viewers": [3, 1, 4, 2],
    "peak_viewers": [2, 1, 4, 2],
    "new_followers": [1, 1, 4, 1],
    "aov": [1, 2, 4, 3],
    "gpm": [1, 1, 4, 3],
    "conversion": [2, 1, 4, 3],
}
DENSE_RANKS = {
    "audience": [2, 1, 3, 1],
    "orders": [2, 1, 3, 2],
    "revenue": [2, 1, 4, 3],
    "net_revenue": [2, 1, 4, 3],
    "unique_viewers": [3, 1, 4, 2],
    "peak_viewers": [2, 1, 3, 2],
    "new_followers": [1, 1, 2, 1],
    "aov": [1, 2, 4, 3],
    "gpm": [1, 1, 3, 2],
    "conversion": [2, 1, 4, 3],
}
# County scope: X (S1, S2: S1 once, though two officials hosted it), Y (S3, S4).
COUNTY_VALUES = {
    "audience": [2000, 2000], "orders": [30, 10], "revenue": [D("1000.00"), D("300.00")],
    "net_revenue": [D("900.00"), D("300.00")], "unique_viewers": [1300, 900],
    "peak_viewers": [150, 100], "new_followers": [5, 5], "aov": [D("33.33"), D("30.00")],
    "gpm": [D("500.00"), D("150.00")], "conversion": [D("1.50"), D("0.50")],
}
WEIGHTS = {"revenue": 0.5, "audience": 0.3, "conversion": 0.2}


@pytest.fixture
def world():
    holiday = HolidayFactory()
    x = County.objects.get(slug="jixian")
    y = County.objects.get(slug="daning")
    a, b, c = (OfficialFactory(name=n, county=x) for n in ("A", "B", "C"))
    d = OfficialFactory(name="D", county=y)
    s1 = SessionFactory(official=a, county=x, audience=1000, orders=10, revenue=D("500"),
                        unique_viewers=600, peak_viewers=100, new_followers=5,
                        started_at=beijing(2020, 5, 1, 10))
    s1.hosts.set([b])
    session_resave(s1)  # the co-host's credit in the kept totals
    SessionFactory(official=b, county=x, audience=1000, orders=20, revenue=D("500"),
                   refunded_orders=2, refunds=D("100"), unique_viewers=700, peak_viewers=150,
                   started_at=beijing(2020, 5, 2, 10))
    SessionFactory(official=c, county=y, audience=0, orders=0, revenue=D("0"),
                   started_at=beijing(2020, 5, 3, 10))
    SessionFactory(official=d, county=y, audience=2000, orders=10, revenue=D("300"),
                   unique_viewers=900, peak_viewers=100, new_followers=5,
                   started_at=beijing(2020, 5, 4, 10))
    # Outside the holiday: counts nowhere.
    SessionFactory(official=a, county=x, started_at=beijing(2020, 5, 6, 10))
    return {"holiday": holiday, "officials": [a, b, c, d], "counties": [x, y]}


def _recompute(holiday, **changes) -> RankingSnapshot:
    for name, value in changes.items():
        setattr(holiday, name, value)
    holiday_save(holiday=holiday, user=None)
    result = holiday_rankings_recompute(holiday_id=holiday.pk)
    return RankingSnapshot.objects.get(pk=result.snapshot_id)


def _entries(snapshot, metric, scope, subjects):
    field = "official" if scope == "official" else "county"
    by_subject = {getattr(e, f"{field}_id"): e for e in RankingEntry.objects.filter(
        snapshot=snapshot, metric=metric, scope=scope)}
    return [by_subject[s.pk] for s in subjects]


def _as_stored(value):
    return None if value is None else D(value).quantize(D("0.01"))


@pytest.mark.parametrize("metric", list(OFFICIAL_VALUES))
def test_each_metric_value_and_competition_rank_on_the_officials_board(world, metric):
    snapshot = _recompute(world["holiday"])

    entries = _entries(snapshot, metric, "official", world["officials"])

    assert [e.value for e in entries] == [_as_stored(v) for v in OFFICIAL_VALUES[metric]]
    assert [e.rank for e in entries] == COMPETITION_RANKS[metric]


@pytest.mark.parametrize("metric", list(OFFICIAL_VALUES))
def test_each_metric_ranks_dense_when_the_holiday_says_so(world, metric):
    snapshot = _recompute(world["holiday"], tie_style="dense")

    entries = _entries(snapshot, metric, "official", world["officials"])

    assert [e.rank for e in entries] == DENSE_RANKS[metric]
    assert snapshot.tie_style == "dense"


def test_a_zero_denominator_is_ranked_last_with_no_value(world):
    snapshot = _recompute(world["holiday"])
    c = world["officials"][2]
    for metric in ("aov", "gpm", "conversion"):
        entry = RankingEntry.objects.get(snapshot=snapshot, metric=metric, official=c)
        assert entry.value is None
        assert entry.rank == 4  # below every official with a value

    counties = RankingEntry.objects.filter(snapshot=snapshot, metric="aov", scope="county")
    empty = counties.exclude(county__in=world["counties"])
    assert {e.value for e in empty} == {None}
    assert {e.rank for e in empty} == {3}  # shared last rank, after X and Y


def test_a_cohost_gets_the_full_figures_and_one_session_but_counties_count_it_once(world):
    snapshot = _recompute(world["holiday"])
    a, b, _c, _d = world["officials"]
    x, y = world["counties"]

    by_official = {e.official_id: e for e in RankingEntry.objects.filter(
        snapshot=snapshot, metric="revenue", scope="official")}
    assert by_official[a.pk].sessions == 1 and by_official[a.pk].value == D("500.00")
    assert by_official[b.pk].sessions == 2 and by_official[b.pk].value == D("1000.00")

    for metric, values in COUNTY_VALUES.items():
        entries = _entries(snapshot, metric, "county", [x, y])
        assert [e.value for e in entries] == [_as_stored(v) for v in values], metric
        assert [e.sessions for e in entries] == [2, 2]
    # The snapshot's sessions are the holiday's, each once.
    assert snapshot.sessions == 4


def test_the_composite_score_is_the_weighted_mean_of_shares_of_the_best(world):
    snapshot = _recompute(world["holiday"], composite_weights=WEIGHTS)
    a, b, c, d = world["officials"]

    entries = _entries(snapshot, "composite", "official", world["officials"])

    # A: 100 x (0.5 x 500/1000 + 0.3 x 1000/2000 + 0.2 x 1.00/1.50) = 53.33
    # D: 100 x (0.5 x 300/1000 + 0.3 x 2000/2000 + 0.2 x 0.50/1.50) = 51.67
    assert [e.value for e in entries] == [D("53.33"), D("100.00"), D("0.00"), D("51.67")]
    assert [e.rank for e in entries] == [2, 1, 4, 3]
    assert {k: round(v, 4) for k, v in entries[0].components.items()} == {
        "revenue": 0.5, "audience": 0.5, "conversion": 0.6667}
    assert entries[2].components == {"revenue": 0, "audience": 0, "conversion": 0}
    assert snapshot.composite_weights == WEIGHTS
    x, y = _entries(snapshot, "composite", "county", world["counties"])
    assert (x.value, y.value) == (D("100.00"), D("51.67"))


def test_the_rankings_api_sends_the_composite_with_its_components(world, staff_user, client):
    _recompute(world["holiday"], composite_weights=WEIGHTS)
    client.force_login(staff_user)

    body = client.get("/api/v1/rankings/", {"holiday": world["holiday"].slug,
                                            "metric": "composite"}).json()

    assert body["composite_weights"] == WEIGHTS
    assert [r["official"]["name"] for r in body["results"]] == ["B", "A", "D", "C"]
    assert body["results"][1]["value"] == "53.33"
    assert body["results"][1]["components"] == {
        "revenue": "0.5000", "audience": "0.5000", "conversion": "0.6667"}


def test_the_api_sends_ratios_as_decimal_strings_and_null_last(world, staff_user, client):
    _recompute(world["holiday"])
    client.force_login(staff_user)

    body = client.get("/api/v1/rankings/", {"holiday": world["holiday"].slug,
                                            "metric": "conversion"}).json()

    assert [(r["official"]["name"], r["rank"], r["value"]) for r in body["results"]] == [
        ("B", 1, "1.50"), ("A", 2, "1.00"), ("D", 3, "0.50"), ("C", 4, None)]


def test_the_board_page_shows_the_formula_and_each_score_s_breakdown(world, staff_user, client):
    _recompute(world["holiday"], composite_weights=WEIGHTS)
    client.force_login(staff_user)

    page = client.get(f"/holidays/{world['holiday'].slug}/?metric=composite",
                      HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "data-formula" in page and "0.5 × Revenue" in page
    assert page.count("data-components") == 4
    assert 'data-component="conversion"' in page and "66.7%" in page
    assert "data-cohost-rule" in page


@pytest.mark.parametrize(("weights", "says"), [
    ({"views": 1}, "Unknown metric “views” in the weights"),
    ({"revenue": 0}, "must be a number greater than 0"),
    ({"revenue": -1}, "must be a number greater than 0"),
    ({"revenue": "a lot"}, "must be a number greater than 0"),
    ([0.5, 0.5], "Give the weights as an object"),
])
def test_staff_cannot_save_weights_of_unknown_metrics_or_not_above_zero(
        world, staff_user, weights, says):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(staff_user)
    holiday = world["holiday"]

    response = api.patch(f"/api/v1/holidays/{holiday.pk}/", {"composite_weights": weights},
                         format="json", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert says in " ".join(response.json()["composite_weights"])
    holiday.refresh_from_db()
    assert holiday.composite_weights == {}


def test_a_metric_added_in_one_declaration_is_ranked_served_shown_and_exported(
        world, staff_user, client):
    refunded = MetricDefinition("refunded_total", "Refunded orders", "orders", "count",
                                column="s.refunded_orders")
    rate = MetricDefinition("refund_share", "Refund share", "%", "decimal",
                            numerator="refunded_total", denominator="orders", scale=100)
    with metric_registered(refunded), metric_registered(rate):
        assert metric_keys()[-2:] == ["refunded_total", "refund_share"]
        # A new base metric has no kept totals until they are rebuilt (what
        # `manage.py reconcile_totals` does after a deployment with a new registry).
        holiday_totals_rebuild(holiday=world["holiday"])
        snapshot = _recompute(world["holiday"])
        b = world["officials"][1]
        entry = RankingEntry.objects.get(snapshot=snapshot, metric="refund_share", official=b)
        assert entry.value == D("6.67")  # 2 of B's 30 orders
        client.force_login(staff_user)
        api = client.get("/api/v1/rankings/", {"holiday": world["holiday"].slug,
                                               "metric": "refund_share"})
        assert api.status_code == 200 and api.json()["results"][0]["value"] == "6.67"
        page = client.get(f"/holidays/{world['holiday'].slug}/?metric=refund_share",
                          HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert 'data-metric="refund_share"' in page and "Refund share" in page
        export = client.get(reverse("api:rankings-export"),
                            {"holiday": world["holiday"].slug, "metric": "refund_share"})
        assert "Refund share" in b"".join(export.streaming_content).decode("utf-8-sig")
        schema = client.get("/api/v1/schema/").content.decode()
        assert "refund_share" in schema
    # drf-spectacular keeps the enum names it resolved (from the registry, with the test's
    # metrics) for the process: forget them, as a restart with the old registry would.
    _load_enum_name_overrides.cache_clear()
    # Gone from the registry (boards read before are cached under the rankings generation,
    # which a deployment with a new registry starts afresh).
    generations.generation_bump(generations.RANKINGS)
    unknown = client.get("/api/v1/rankings/", {"holiday": world["holiday"].slug,
                                               "metric": "refund_share"})
    assert unknown.status_code == 400


@pytest.mark.parametrize("key", ["x" * 21, "Revenue", "composite", "drop table", "1st"])
def test_a_metric_key_must_fit_the_entries_and_be_a_plain_sql_name(key):
    with pytest.raises(ValueError):
        MetricDefinition(key, "x", "x", "count", column="s.orders")


def test_a_ratio_of_unregistered_or_ratio_metrics_is_refused():
    with pytest.raises(ValueError):
        with metric_registered(MetricDefinition("bad_ratio", "x", "x", "decimal",
                                                numerator="aov", denominator="orders")):
            pass
    assert "bad_ratio" not in metric_keys()


def _line(session, name, revenue, certified=False):
    from sessions_app.models import SessionItem

    return SessionItem.objects.create(session=session, name=name, quantity=D("1"), unit="jin",
                                      revenue=D(revenue), poverty_relief_product=certified)


def test_the_summary_gives_revenue_by_product_and_the_certified_share(world):
    from sessions_app.models import SessionStatus
    from sessions_app.selectors import holiday_summary

    holiday = world["holiday"]
    s1, s2, _s3, s4 = LivestreamSession.objects.in_holiday(holiday).order_by("started_at")
    _line(s1, "核桃", "300", certified=True)  # co-hosted: still counted once
    _line(s2, "核桃", "100", certified=True)
    _line(s2, "小米", "250")
    _line(s4, "门票", "200")
    for n in range(11):  # more products than the top 10, each smaller
        _line(s4, f"P{n:02d}", "1")
    rejected = SessionFactory(official=world["officials"][3], revenue=D("900"),
                              started_at=beijing(2020, 5, 5, 10))
    _line(rejected, "核桃", "900", certified=True)
    LivestreamSession.objects.filter(pk=rejected.pk).update(status=SessionStatus.REJECTED,
                                                            rejection_reason="padded")
    holiday.refresh_from_db()

    summary = holiday_summary(holiday=holiday)

    assert [(p["name"], p["revenue"], p["certified"]) for p in summary["by_product"][:4]] == [
        ("核桃", D("400.00"), True), ("小米", D("250.00"), False),
        ("门票", D("200.00"), False), ("P00", D("1.00"), False)]
    assert len(summary["by_product"]) == 10
    assert summary["certified_revenue"] == D("400.00")
    assert summary["itemised_revenue"] == D("861.00")
    assert summary["certified_share"] == D("400") / D("1300")  # of the counted revenue


def test_the_scatter_puts_each_official_at_audience_and_conversion_with_the_name(world):
    from rankings import charts
    from rankings.selectors import officials_scatter

    snapshot = _recompute(world["holiday"])
    world["officials"][0].name = "<a href='x'>A</a>"
    world["officials"][0].save()

    points = officials_scatter(snapshot=snapshot)
    figure = charts.conversion_against_audience(officials=points).to_dict()["data"][0]

    by_name = dict(zip(figure["text"], zip(figure["x"], figure["y"], strict=True), strict=True))
    assert by_name["B"] == (2000, 1.5) and by_name["D"] == (2000, 0.5)
    assert by_name["&lt;a href='x'&gt;A&lt;/a&gt;"] == (1000, 1.0)
    assert "C" not in by_name  # no audience: no conversion to plot
