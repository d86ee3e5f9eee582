"""Request bodies the API cannot read are a 400 saying why, never a 500."""

import pytest

from sessions_app.models import Official

DEEP = "[" * 2_000 + "]" * 2_000  # deeper than Python's json can go


def test_json_nested_too_deeply_is_a_400_for_anonymous_clients(anon_api):
    response = anon_api.post("/api/v1/auth/token/", DEEP, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize("method", ["post", "patch"])
def test_json_nested_too_deeply_is_a_400_for_staff_and_nothing_changes(staff_api, official,
                                                                        method):
    url = "/api/v1/officials/" + (f"{official.pk}/" if method == "patch" else "")
    body = '{"name": "Changed", "title": ' + DEEP + "}"

    response = getattr(staff_api, method)(url, body, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]
    assert list(Official.objects.values_list("name", flat=True)) == ["Zhang Wei"]
