"""Targets: the rules on every entry path, progress read from the latest snapshot, and the
viewer's own position on the boards."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from rankings.models import Target
from rankings.services import holiday_rankings_recompute
from rankings.targets import entry_positions, target_save, targets_progress

from ..factories import OfficialFactory, SessionFactory, UserFactory
from ..notifications.conftest import snapshot_make

pytestmark = pytest.mark.django_db


def test_progress_is_read_from_the_latest_complete_snapshot(holiday, county):
    a = OfficialFactory()
    official_target = Target.objects.create(holiday=holiday, official=a, metric="revenue",
                                            value=Decimal("1000.00"))
    county_target = Target.objects.create(holiday=holiday, county=county, metric="orders",
                                          value=40)
    snapshot_make(holiday, {"revenue": {a: 100}}, counties={"orders": {county: 10}})
    snapshot_make(holiday, {"revenue": {a: "250.50"}}, counties={"orders": {county: 50}})

    got = {t.pk: t.progress for t in targets_progress([official_target, county_target])}

    assert got[official_target.pk].current == Decimal("250.50")
    assert got[official_target.pk].remaining == Decimal("749.50")
    assert (got[official_target.pk].percent, got[official_target.pk].reached) == (25, False)
    assert (got[county_target.pk].percent, got[county_target.pk].reached) == (100, True)
    assert got[county_target.pk].remaining == 0


def test_an_unranked_subject_has_zero_progress(holiday):
    target = Target.objects.create(holiday=holiday, official=OfficialFactory(),
                                   metric="audience", value=5)
    [target] = targets_progress([target])
    assert (target.progress.current, target.progress.snapshot_id) == (0, None)


@pytest.mark.parametrize(("data", "field"), [
    ({"metric": "likes"}, "metric"),
    ({"value": Decimal("0")}, "value"),
    ({"county_both": True}, "official"),
    ({"official": None}, "official"),
])
def test_target_rules_name_the_field(holiday, county, data, field):
    values = {"holiday": holiday, "official": OfficialFactory(), "metric": "revenue",
              "value": Decimal("10")}
    if data.pop("county_both", False):
        values["county"] = county
    values.update(data)

    with pytest.raises(ValidationError) as error:
        target_save(target=Target(), data=values)

    assert field in error.value.message_dict
    assert not Target.objects.exists()


def test_one_target_per_subject_metric_and_holiday(holiday):
    official = OfficialFactory()
    data = {"holiday": holiday, "official": official, "metric": "revenue", "value": 10}
    target_save(target=Target(), data=data)
    with pytest.raises(ValidationError):
        target_save(target=Target(), data=data)


def test_positions_give_the_gaps_to_the_next_rank_up_and_to_the_top_10(holiday):
    people = [OfficialFactory() for _ in range(13)]
    values = {p: 1000 - 10 * i for i, p in enumerate(people)}  # 1000, 990, ... 880
    values[people[10]] = 910  # ties the 11th with the 10th
    snapshot = snapshot_make(holiday, {"revenue": values})
    entries = {e.official_id: e for e in snapshot.entries.filter(metric="revenue")}

    got = entry_positions([entries[people[12].pk], entries[people[0].pk],
                           entries[people[10].pk]])

    last = got[entries[people[12].pk].pk]
    assert (last.rank, last.value) == (13, Decimal("880"))
    assert last.gap_next == Decimal("10")  # 890 above
    assert last.gap_top == Decimal("30")  # the 10th place has 910
    first = got[entries[people[0].pk].pk]
    assert (first.gap_next, first.gap_top) == (None, None)
    tied_tenth = got[entries[people[10].pk].pk]
    assert (tied_tenth.rank, tied_tenth.gap_top) == (10, None)


def test_the_targets_api_gives_progress_and_only_staff_write(client, holiday, staff_user,
                                                             official_user):
    official = OfficialFactory()
    snapshot_make(holiday, {"revenue": {official: 300}})
    client.force_login(staff_user)
    created = client.post("/api/v1/targets/", {"holiday": holiday.pk, "official": official.pk,
                                               "metric": "revenue", "value": "1200"},
                          content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["progress"] == {"current": "300.00", "percent": 25,
                                          "remaining": "900.00", "reached": False,
                                          "snapshot": created.json()["progress"]["snapshot"]}
    for field, value in (("metric", "likes"), ("value", "-1")):
        bad = client.post("/api/v1/targets/", {"holiday": holiday.pk, "official": official.pk,
                                               "metric": "orders", "value": "5", field: value},
                          content_type="application/json")
        assert bad.status_code == 400
        assert set(bad.json()) == {field}
    assert Target.objects.count() == 1

    client.force_login(official_user)
    listed = client.get(f"/api/v1/targets/?holiday={holiday.slug}")
    assert listed.status_code == 200
    assert [t["progress"]["percent"] for t in listed.json()["results"]] == [25]
    assert client.post("/api/v1/targets/", {}, content_type="application/json"
                       ).status_code == 403


def test_the_dashboard_highlights_my_row_and_shows_my_position_below_the_top(client, holiday):
    user = UserFactory(username="me", group="officials")
    me = OfficialFactory(name="Zz Me", user=user)
    others = [OfficialFactory() for _ in range(12)]
    values = {o: 1000 - i for i, o in enumerate(others)}
    values[me] = 500
    for official, value in values.items():  # the live board is read from their totals
        SessionFactory(official=official, revenue=Decimal(value))
    holiday_rankings_recompute(holiday_id=holiday.pk)
    Target.objects.create(holiday=holiday, official=me, metric="revenue", value=2000)
    client.force_login(user)

    page = client.get(f"/holidays/{holiday.slug}/?metric=revenue").content.decode()

    assert page.count("data-mine") == 1
    assert 'data-my-position data-rank="13"' in page
    assert "491.00" in page  # to the 10th place (991)
    assert "489.00" in page  # to the next rank up (989)
    assert 'data-target=' in page and "1,500.00" in page  # yuan to go

    others_user = UserFactory(username="reader", group="officials")
    client.force_login(others_user)
    page = client.get(f"/holidays/{holiday.slug}/?metric=revenue").content.decode()
    assert "data-mine" not in page and "data-my-position" not in page


def test_the_official_page_gives_positions_for_every_holiday(client, holiday, official_user):
    me = OfficialFactory()
    others = [OfficialFactory() for _ in range(11)]
    snapshot_make(holiday, {"orders": {**{o: 100 - i for i, o in enumerate(others)}, me: 50}})
    client.force_login(official_user)

    page = client.get(f"/officials/{me.pk}/").content.decode()

    assert 'data-position="orders"' in page
    assert '<td class="num" data-gap="next">40</td>' in page  # 90 above
    assert '<td class="num" data-gap="top">41</td>' in page  # the 10th has 91


def _csv(text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("targets.csv", text.encode("utf-8"), content_type="text/csv")


def test_staff_import_targets_from_a_sheet_all_or_nothing(client, holiday, staff_user, county):
    official = OfficialFactory(name="Li Ming")
    Target.objects.create(holiday=holiday, official=official, metric="orders", value=5)
    client.force_login(staff_user)

    bad = client.post("/targets/import/", {"file": _csv(
        "假期,干部,县区,指标,目标值\n"
        f"{holiday.slug},Li Ming,,销售额,\"12,000\"\n"
        f"{holiday.slug},Nobody,,orders,3\n"
        f"{holiday.slug},,{county.slug},likes,-1\n")})
    assert bad.status_code == 400
    page = bad.content.decode()
    assert 'data-row="3"' in page and 'data-row="4"' in page and 'data-row="2"' not in page
    assert Target.objects.count() == 1  # nothing saved

    good = client.post("/targets/import/", {"file": _csv(
        "holiday,official,county,metric,value\n"
        f"{holiday.slug},Li Ming,,revenue,12000\n"
        f"{holiday.slug},Li Ming,,orders,80\n"
        f"{holiday.slug},,{county.name_zh},audience,100000\n")}, follow=True)
    assert good.status_code == 200
    got = {(t.official_id, t.county_id, t.metric): t.value for t in Target.objects.all()}
    assert got == {(official.pk, None, "revenue"): Decimal("12000"),
                   (official.pk, None, "orders"): Decimal("80"),  # the existing one, updated
                   (None, county.pk, "audience"): Decimal("100000")}


def test_officials_may_not_import_targets(client, official_user):
    client.force_login(official_user)
    assert client.get("/targets/import/").status_code == 403
