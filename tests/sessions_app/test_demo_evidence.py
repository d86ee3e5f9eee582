"""The demo's generated evidence files (sessions_app/demo.py, seed_demo)."""

import pytest
from django.core.management import call_command

from sessions_app import demo
from sessions_app.models import LivestreamSession, SessionEvidence

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    call_command("seed_demo", stdout=open("/dev/null", "w"))


def test_most_demo_sessions_have_a_screenshot_or_an_export_and_a_few_have_none(seeded):
    sessions = LivestreamSession.objects.count()
    with_evidence = LivestreamSession.objects.filter(evidence__isnull=False).distinct().count()

    assert 0.8 * sessions <= with_evidence < sessions
    kinds = set(SessionEvidence.objects.values_list("kind", "content_type"))
    assert kinds == {("screenshot", "image/png"),
                     ("platform_export", "text/csv; charset=utf-8")}
    assert not SessionEvidence.objects.filter(thumbnail="", content_type="image/png").exists()
    assert SessionEvidence.objects.filter(uploaded_by__username="staff").count() == (
        SessionEvidence.objects.count())


def test_seeding_again_adds_no_evidence(seeded):
    before = list(SessionEvidence.objects.values_list("pk", "sha256"))

    call_command("seed_demo", stdout=open("/dev/null", "w"))

    assert list(SessionEvidence.objects.values_list("pk", "sha256")) == before


def test_a_sessions_generated_file_is_the_same_on_every_run(seeded):
    sessions = list(LivestreamSession.objects.order_by("started_at", "id")[:3])

    first = [demo.demo_evidence_file(session=s, index=i) for i, s in enumerate(sessions)]
    again = [demo.demo_evidence_file(session=s, index=i) for i, s in enumerate(sessions)]

    assert first == again
    assert {f[0].rsplit(".", 1)[1] for f in first} == {"csv", "png"}
