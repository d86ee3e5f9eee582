"""Evidence in the admin: read-only links on the session, its own list with history, deleting
through the service."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from sessions_app import services
from sessions_app.models import SessionEvidence
from tests.factories import SessionFactory, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def evidence(settings, tmp_path, staff_user):
    settings.MEDIA_ROOT = str(tmp_path)
    return services.evidence_add(session=SessionFactory(), uploaded_by=staff_user,
                                 file=ContentFile(png_bytes(), name="后台截图.png")).evidence


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)  # city staff are admin users, not superusers
    return client


def test_the_session_in_the_admin_lists_its_evidence_with_links_to_the_checked_view(
        staff, evidence):
    url = reverse("admin:sessions_app_livestreamsession_change", args=[evidence.session_id])

    html = staff.get(url).content.decode()

    file_url = f"/sessions/{evidence.session_id}/evidence/{evidence.pk}/"
    assert f'<a href="{file_url}">后台截图.png</a>' in html
    assert evidence.file.name not in html  # no link to the stored file itself


def test_the_evidence_admin_lists_and_shows_history_to_staff(staff, evidence):
    listing = staff.get(reverse("admin:sessions_app_sessionevidence_changelist"),
                        {"session__id__exact": evidence.session_id})
    history = staff.get(reverse("admin:sessions_app_sessionevidence_history",
                                args=[evidence.pk]))

    assert listing.status_code == 200 and "后台截图.png" in listing.content.decode()
    assert history.status_code == 200 and "staff" in history.content.decode()


def test_the_evidence_admin_cannot_add_or_change(staff, evidence):
    assert staff.get(reverse("admin:sessions_app_sessionevidence_add")).status_code == 403
    change = reverse("admin:sessions_app_sessionevidence_change", args=[evidence.pk])
    assert 'name="kind"' not in staff.get(change).content.decode()


def test_deleting_in_the_admin_goes_through_the_service_and_is_audited(
        staff, staff_user, evidence):
    url = reverse("admin:sessions_app_sessionevidence_delete", args=[evidence.pk])

    response = staff.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not SessionEvidence.objects.exists()
    record = SessionEvidence.history.get(id=evidence.pk, history_type="-")
    assert record.history_user == staff_user


def test_staff_can_delete_a_session_with_evidence_in_the_admin(staff, staff_user, evidence,
                                                               holiday):
    url = reverse("admin:sessions_app_livestreamsession_delete", args=[evidence.session_id])

    response = staff.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not SessionEvidence.objects.exists()
    record = SessionEvidence.history.get(id=evidence.pk, history_type="-")
    assert (record.history_user, record.history_change_reason) == (
        staff_user, "session deleted")
