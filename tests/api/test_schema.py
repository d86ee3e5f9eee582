"""The OpenAPI schema: valid, without warnings, every operation, parameter and field
described, docs served from our own static files; and schemathesis, driven by the schema,
finds no server error and no response that breaks the schema."""

import re
from decimal import Decimal

import pytest
import schemathesis
import yaml
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from linfen_tracker.wsgi import application
from rankings.services import holiday_rankings_recompute
from tests.factories import HolidayFactory, OfficialFactory, SessionFactory, UserFactory, beijing


@pytest.fixture
def generated_schema(tmp_path, db) -> dict:
    path = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--lang", "en",
                 "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_schema_generation_passes_validation_without_warnings(generated_schema):
    assert generated_schema["openapi"].startswith("3.")
    assert {
        "/api/v1/auth/token/", "/api/v1/counties/", "/api/v1/officials/", "/api/v1/holidays/",
        "/api/v1/holidays/{id}/summary/", "/api/v1/sessions/", "/api/v1/sessions/{id}/",
        "/api/v1/sessions/{id}/history/", "/api/v1/sessions/export/", "/api/v1/rankings/",
        "/api/v1/rankings/export/",
    } <= set(generated_schema["paths"])
    # Revoking one's own token, with that token.
    revoke = generated_schema["paths"]["/api/v1/auth/token/"]["delete"]
    assert revoke["security"] == [{"tokenAuth": []}]
    assert set(revoke["responses"]) == {"204", "401"}


def test_every_operation_parameter_and_field_is_described(generated_schema):
    undescribed = []
    for path, operations in generated_schema["paths"].items():
        for method, operation in operations.items():
            if not operation.get("description"):
                undescribed.append(f"{method} {path}")
            undescribed += [f"{method} {path} ?{p['name']}"
                            for p in operation.get("parameters", []) if not p.get("description")]
    for name, component in generated_schema["components"]["schemas"].items():
        undescribed += [f"{name}.{field}" for field, prop in
                        component.get("properties", {}).items() if not prop.get("description")]

    assert undescribed == []


def test_schema_endpoint_serves_json_to_a_logged_in_user(official_api):
    response = official_api.get("/api/v1/schema/", {"format": "json"})

    assert response.status_code == 200
    assert "/api/v1/rankings/" in response.json()["paths"]


def test_docs_load_swagger_ui_from_our_static_files_not_a_cdn(official_api):
    response = official_api.get("/api/v1/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert external == []
    assert "cdn" not in html.lower()


def test_docs_start_swagger_ui_from_a_script_file_not_inline(official_api):
    html = official_api.get("/api/v1/docs/").content.decode()

    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    start = re.findall(r'<script src="([^"]*\?[^"]*script=[^"]*)"', html)
    script = official_api.get(start[0].replace("&amp;", "&"))

    assert inline == []  # what the Content-Security-Policy would block
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/schema/"])
def test_options_on_the_docs_and_the_schema_says_what_they_allow(official_api, anon_api, path):
    response = official_api.options(path)

    assert response.status_code == 200
    assert "GET" in response["Allow"]
    assert anon_api.options(path).status_code == 401


# --- schemathesis ----------------------------------------------------------------------------

EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def connections_kept_open():
    # The WSGI app closes "old" database connections at the start and end of each request;
    # inside the test's transaction that would close the test's own connection. Django's
    # test client unhooks this the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(db, connections_kept_open):
    staff = UserFactory(username="fuzz-staff", group="city_staff")
    headers = {"Authorization": f"Token {Token.objects.create(user=staff).key}"}
    holiday = HolidayFactory()
    official = OfficialFactory()
    for day in range(1, 4):
        SessionFactory(official=official, started_at=beijing(2020, 5, day, 10),
                       revenue=Decimal("1234.56"))
    holiday_rankings_recompute(holiday_id=holiday.pk)

    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application,
                                            headers=headers)
    failures = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  derandomize=True, suppress_health_check=list(HealthCheck), print_blob=False)
        @given(case=operation.as_strategy())
        def check(case):
            # Each example in a savepoint rolled back afterwards: every example starts from
            # the same data, and on PostgreSQL a failed statement cannot poison the examples
            # after it. (A transactional test would flush the migration data - counties,
            # groups - from under the transactional tests that run after it.)
            with transaction.atomic():
                case.call_and_validate(headers=headers,
                                       checks=[not_a_server_error, response_schema_conformance])
                transaction.set_rollback(True)

        try:
            check()
        except Exception as failure:  # noqa: BLE001 - collected and reported below
            failures[operation.label] = f"{type(failure).__name__}: {failure}"[:2000]

    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
