"""Names in both languages and the pinyin search keys of officials' names, kept up to date by
every path that writes an official (service, admin, API) and filled in by the migration."""

import importlib

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import translation

from sessions_app import services
from sessions_app.models import Holiday, Official
from sessions_app.pinyin import name_pinyin_keys

from ..api.conftest import token_client
from ..factories import HolidayFactory, OfficialFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("name", "keys"), [
    ("贺志远", "hezhiyuan hzy"),
    ("曾伟", "cengwei cw zengwei zw"),  # every reading of a surname: 曾 is zeng as a surname
    ("Li Ming", "liming"),
    ("", ""),
])
def test_the_pinyin_keys_are_the_full_pinyin_and_the_initials(name, keys):
    assert name_pinyin_keys(name) == keys


def test_official_save_writes_the_keys_and_renaming_rewrites_them(county):
    official = services.official_save(
        official=Official(name="贺志远", title="县长", county=county), user=None)
    assert Official.objects.get(pk=official.pk).name_pinyin == "hezhiyuan hzy"
    official.name = "马晓燕"
    services.official_save(official=official, user=None)
    assert Official.objects.get(pk=official.pk).name_pinyin == "maxiaoyan mxy"


def test_the_api_keeps_the_keys_on_create_and_rename(staff_user, county):
    api = token_client(staff_user)
    created = api.post("/api/v1/officials/", {"name": "贺志远", "title": "县长",
                                              "title_en": "County head", "county": county.pk},
                       format="json")
    assert created.status_code == 201, created.content
    assert created.json()["title_en"] == "County head"
    official = Official.objects.get(pk=created.json()["id"])
    assert official.name_pinyin == "hezhiyuan hzy"
    renamed = api.patch(f"/api/v1/officials/{official.pk}/", {"name": "乔文斌"}, format="json")
    assert renamed.status_code == 200, renamed.content
    official.refresh_from_db()
    assert official.name_pinyin == "qiaowenbin qwb"


def test_the_admin_keeps_the_keys_on_rename(client, superuser, county):
    official = OfficialFactory(name="贺志远", county=county)
    client.force_login(superuser)
    response = client.post(reverse("admin:sessions_app_official_change", args=[official.pk]), {
        "name": "程雅琴", "title": "副县长", "title_en": "", "county": county.pk,
        "active": "on", "user": ""})
    assert response.status_code == 302, response.content[:2000]
    official.refresh_from_db()
    assert official.name_pinyin == "chengyaqin cyq"


def test_names_and_titles_show_in_the_page_language(county):
    holiday = HolidayFactory(name="Labor Day 2020", name_zh="2020年劳动节")
    official = OfficialFactory(title="县长", title_en="County head")
    untranslated = OfficialFactory(title="督导员")
    with translation.override("en"):
        assert (holiday.display_name, official.display_title) == ("Labor Day 2020",
                                                                 "County head")
        assert untranslated.display_title == "督导员"  # no English: the Chinese one
    with translation.override("zh-hans"):
        assert (holiday.display_name, official.display_title) == ("2020年劳动节", "县长")


def test_the_migration_splits_joined_holiday_names_and_fills_titles_and_keys(county):
    migration = importlib.import_module(
        "sessions_app.migrations.0010_bilingual_names_and_pinyin")
    joined = Holiday.objects.create(name="Labor Day 2020 / 2020年劳动节", slug="ld",
                                    start_date="2020-05-01", end_date="2020-05-05")
    english = Holiday.objects.create(name="Spring / Summer", slug="ss",
                                     start_date="2021-05-01", end_date="2021-05-05")
    official = Official.objects.create(name="贺志远", title="县长", county=county)
    assert official.name_pinyin == ""  # written past the service, as before the migration

    migration.names_split_and_keys_filled(apps, None)

    joined.refresh_from_db(), english.refresh_from_db(), official.refresh_from_db()
    assert (joined.name, joined.name_zh) == ("Labor Day 2020", "2020年劳动节")
    assert (english.name, english.name_zh) == ("Spring / Summer", "")
    assert (official.title_en, official.name_pinyin) == ("County head", "hezhiyuan hzy")
    migration.names_joined(apps, None)
    joined.refresh_from_db()
    assert joined.name == "Labor Day 2020 / 2020年劳动节"
