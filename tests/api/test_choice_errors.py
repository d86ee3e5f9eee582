"""A value that is not one of a field's choices is a 400 that names the valid values, the
same way in the rankings query, the sessions filter and the writable fields, in English and
in Chinese (linfen_tracker/choices.py)."""

import pytest

from sessions_app.models import LivestreamSession

RANKINGS = "/api/v1/rankings/"
SESSIONS = "/api/v1/sessions/"


@pytest.mark.parametrize("url, params, field, message", [
    (RANKINGS, {"scope": "officials"}, "scope",
     '"officials" is not a valid choice: use official or county.'),
    (RANKINGS, {"metric": "views"}, "metric",
     '"views" is not a valid choice: use audience, orders, revenue, net_revenue, '
     'unique_viewers, peak_viewers, new_followers, aov, gpm, conversion or composite.'),
    (f"{RANKINGS}export/", {"scope": "village"}, "scope",
     '"village" is not a valid choice: use official or county.'),
    (SESSIONS, {"platform": "tiktok"}, "platform",
     '"tiktok" is not a valid choice: use douyin, kuaishou, taobao_live, wechat_channels, '
     'jd, pinduoduo or other.'),
    (f"{SESSIONS}export/", {"platform": "tiktok"}, "platform",
     '"tiktok" is not a valid choice: use douyin, kuaishou, taobao_live, wechat_channels, '
     'jd, pinduoduo or other.'),
])
def test_a_bad_choice_in_a_query_names_the_valid_values(
    staff_api, holiday, url, params, field, message
):
    response = staff_api.get(url, {"holiday": holiday.slug, **params})

    assert response.status_code == 400
    assert response.json() == {field: [message]}


def test_the_bad_choice_message_is_chinese_under_chinese(staff_api, holiday):
    response = staff_api.get(RANKINGS, {"holiday": holiday.slug, "scope": "officials"},
                             HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 400
    assert response.json() == {"scope": ["“officials”不是有效的选项：请用 official 或 county。"]}


def test_a_long_bad_value_is_not_echoed_whole(staff_api, holiday):
    response = staff_api.get(RANKINGS, {"holiday": holiday.slug, "metric": "x" * 5000})

    assert response.status_code == 400
    assert len(response.json()["metric"][0]) < 300  # 80 characters echoed + the choices


def test_a_bad_platform_on_a_new_session_names_the_valid_values_and_saves_nothing(
    staff_api, official
):
    response = staff_api.post(SESSIONS, {
        "official": official.pk, "platform": "tiktok", "title": "Apples live",
        "products": "apples", "started_at": "2020-05-01T10:00:00+08:00",
        "ended_at": "2020-05-01T12:00:00+08:00", "audience": 1, "orders": 1, "revenue": "1.00",
    }, format="json")

    assert response.status_code == 400
    # A session's platform is refused with the model's message, the same on every entry path
    # (tests/sessions_app/test_entry_paths.py); it names the valid values too.
    assert response.json() == {"platform": [
        "Unknown platform “tiktok”: use douyin (抖音), kuaishou (快手), taobao_live (淘宝直播), "
        "wechat_channels (微信视频号), jd (京东), pinduoduo (拼多多) or other (其他)."]}
    assert not LivestreamSession.objects.exists()


def test_a_bad_county_kind_names_the_valid_values(superuser_api):
    response = superuser_api.post("/api/v1/counties/", {
        "slug": "new-county", "name": "New County", "name_zh": "新县", "kind": "village",
    }, format="json")

    assert response.status_code == 400
    assert response.json()["kind"] == [
        '"village" is not a valid choice: use district, city or county.']
