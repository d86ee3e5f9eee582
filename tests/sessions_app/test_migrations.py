import csv
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from sessions_app.models import County

pytestmark = pytest.mark.django_db

SHIPPED = Path(__file__).resolve().parents[2] / "sessions_app" / "data" / "linfen_divisions.csv"


def test_migration_loads_exactly_the_17_divisions():
    assert County.objects.count() == 17
    with SHIPPED.open(encoding="utf-8") as f:
        rows = {row["slug"]: row for row in csv.DictReader(f)}
    assert set(County.objects.values_list("slug", flat=True)) == set(rows)
    yaodu = County.objects.get(slug="yaodu")
    assert (yaodu.name, yaodu.name_zh, yaodu.kind) == ("Yaodu District", "尧都区", "district")
    assert County.objects.filter(kind="city").count() == 2
    assert County.objects.filter(kind="county").count() == 14


def test_migration_marks_the_five_national_key_counties():
    assert set(County.objects.filter(poverty_relief_key=True).values_list("slug", flat=True)) == {
        "jixian", "daning", "xixian", "yonghe", "fenxi"}


def test_role_groups_have_their_permissions():
    def codenames(group):
        return set(Group.objects.get(name=group).permissions.values_list("codename", flat=True))

    staff, readers = codenames("city_staff"), codenames("officials")
    assert {"add_livestreamsession", "change_livestreamsession", "delete_livestreamsession",
            "change_official", "add_holiday", "change_county"} <= staff
    assert readers == {"view_county", "view_official", "view_holiday", "view_livestreamsession",
                       "view_target"}
    assert {"add_target", "change_target", "delete_target", "view_target"} <= staff
