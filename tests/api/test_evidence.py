"""Evidence files through the API: GET|POST sessions/<id>/evidence/, GET|DELETE
sessions/<id>/evidence/<eid>/ (design.md, "HTTP, continued")."""

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from rest_framework.test import APIClient

from sessions_app import services
from sessions_app.models import SessionEvidence
from tests.factories import (
    EXE_BYTES,
    SessionFactory,
    csv_bytes,
    jpeg_bytes,
    pdf_bytes,
    png_bytes,
    xlsx_bytes,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def session(media):
    return SessionFactory(title="Walnuts live")


@pytest.fixture
def evidence(session, staff_user):
    export = ContentFile(xlsx_bytes(), name="抖音导出 5月1日.xlsx")
    return services.evidence_add(session=session, uploaded_by=staff_user, file=export).evidence


def upload(client, session, content, name="file.bin", **data):
    return client.post(f"/api/v1/sessions/{session.pk}/evidence/",
                       {"file": SimpleUploadedFile(name, content), **data}, format="multipart")


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def stored_files(media) -> list:
    return [p for p in media.rglob("*") if p.is_file()]


@pytest.mark.parametrize("content, name, content_type, kind", [
    (png_bytes(), "shot.png", "image/png", "screenshot"),
    (jpeg_bytes(), "photo.jpg", "image/jpeg", "screenshot"),
    (pdf_bytes(), "report.pdf", "application/pdf", "other"),
    (xlsx_bytes(), "export.xlsx",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "platform_export"),
    (csv_bytes(), "export.csv", "text/csv; charset=utf-8", "platform_export"),
], ids=["png", "jpeg", "pdf", "xlsx", "csv"])
def test_staff_upload_each_accepted_type_and_get_it_back(
        staff_api, session, content, name, content_type, kind):
    response = upload(staff_api, session, content, name)

    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["content_type"], created["kind"], created["filename"]) == (
        content_type, kind, name)
    assert created["size"] == len(content)
    assert created["sha256"] == hashlib.sha256(content).hexdigest()
    assert created["same_file_sessions"] == [] and created["warnings"] == []
    download = staff_api.get(created["url"])
    assert download.status_code == 200
    assert download["Content-Type"] == content_type
    assert body(download) == content


def test_the_kind_sent_is_kept(staff_api, session):
    response = upload(staff_api, session, png_bytes(), "x.png", kind="platform_export")

    assert response.json()["kind"] == "platform_export"


def test_an_unknown_kind_is_a_400_naming_kind(staff_api, session, media):
    response = upload(staff_api, session, png_bytes(), "x.png", kind="selfie")

    assert response.status_code == 400
    assert "kind" in response.json()
    assert stored_files(media) == []


def test_a_png_named_pdf_is_stored_as_a_png(staff_api, session):
    response = upload(staff_api, session, png_bytes(), "report.pdf")

    assert response.status_code == 201
    assert response.json()["content_type"] == "image/png"


def test_an_exe_named_png_is_a_400_naming_the_detected_type(staff_api, session, media):
    response = upload(staff_api, session, EXE_BYTES, "screenshot.png")

    assert response.status_code == 400
    [message] = response.json()["file"]
    assert "EXE (application/x-msdownload)" in message
    assert not SessionEvidence.objects.exists() and stored_files(media) == []


def test_a_missing_file_is_a_400_naming_file(staff_api, session):
    response = staff_api.post(f"/api/v1/sessions/{session.pk}/evidence/", {"kind": "other"},
                              format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()


def test_an_oversized_body_is_refused_with_413_before_it_is_parsed(
        staff_api, session, media, settings, monkeypatch):
    settings.EVIDENCE_MAX_UPLOAD_BYTES = 1000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # any file parsed would go to a temporary file
    temporary_files = []
    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file",
                        lambda self, *a, **k: temporary_files.append(a))

    response = upload(staff_api, session, csv_bytes("a,b\r\n" * 30_000), "big.csv")

    assert response.status_code == 413
    assert response.json()["file"] == ["The file is larger than 1000\xa0bytes."]
    assert temporary_files == []
    assert not SessionEvidence.objects.exists() and stored_files(media) == []


def test_an_oversized_body_is_refused_before_the_csrf_check_reads_it(
        staff_user, session, media, settings, monkeypatch):
    settings.EVIDENCE_MAX_UPLOAD_BYTES = 1000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    temporary_files = []
    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file",
                        lambda self, *a, **k: temporary_files.append(a))
    browser = APIClient(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(staff_user)
    browser.get("/sessions/")  # a page with a form sets the CSRF cookie
    browser.credentials(HTTP_X_CSRFTOKEN=browser.cookies["csrftoken"].value)

    response = upload(browser, session, csv_bytes("a,b\r\n" * 30_000), "big.csv")

    assert response.status_code == 413
    assert temporary_files == []
    assert not SessionEvidence.objects.exists()


def test_a_file_just_over_the_limit_is_a_413_too(staff_api, session, media, settings):
    settings.EVIDENCE_MAX_UPLOAD_BYTES = 1000

    response = upload(staff_api, session, csv_bytes("a,b\r\n" * 250), "big.csv")

    assert response.status_code == 413
    assert "file" in response.json()
    assert not SessionEvidence.objects.exists() and stored_files(media) == []


def test_the_same_file_twice_on_a_session_is_a_400(staff_api, session, evidence):
    response = upload(staff_api, session, xlsx_bytes(), "again.xlsx")

    assert response.status_code == 400
    assert "already has this file" in response.json()["file"][0]
    assert SessionEvidence.objects.count() == 1


def test_the_same_file_on_another_session_is_accepted_with_a_warning(
        staff_api, session, evidence):
    other = SessionFactory()

    response = upload(staff_api, other, xlsx_bytes(), "copy.xlsx")

    assert response.status_code == 201
    assert response.json()["same_file_sessions"] == [session.pk]
    assert response.json()["warnings"] == [
        f"The same file is already evidence of: #{session.pk} “Walnuts live”."]


def test_the_list_gives_each_file_with_its_url(official_api, session, evidence, staff_user):
    response = official_api.get(f"/api/v1/sessions/{session.pk}/evidence/")

    assert response.status_code == 200
    [item] = response.json()
    assert item == {
        "id": evidence.pk, "kind": "platform_export", "filename": "抖音导出 5月1日.xlsx",
        "content_type": evidence.content_type, "size": evidence.size,
        "sha256": evidence.sha256, "uploaded_by": staff_user.pk,
        "uploaded_at": item["uploaded_at"],
        "url": f"http://testserver/api/v1/sessions/{session.pk}/evidence/{evidence.pk}/",
    }


def test_the_download_has_the_type_the_original_name_and_nosniff(official_api, session, evidence):
    response = official_api.get(f"/api/v1/sessions/{session.pk}/evidence/{evidence.pk}/")

    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''"
        "%E6%8A%96%E9%9F%B3%E5%AF%BC%E5%87%BA%205%E6%9C%881%E6%97%A5.xlsx")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert int(response["Content-Length"]) == evidence.size
    assert body(response) == xlsx_bytes()


def test_an_image_is_shown_inline(official_api, session, staff_user):
    shot = services.evidence_add(session=session, uploaded_by=staff_user,
                                 file=ContentFile(png_bytes(), name="shot.png")).evidence

    response = official_api.get(f"/api/v1/sessions/{session.pk}/evidence/{shot.pk}/")

    assert response["Content-Disposition"] == 'inline; filename="shot.png"'


def test_a_client_asking_for_the_files_type_gets_the_file(official_api, session, evidence):
    response = official_api.get(f"/api/v1/sessions/{session.pk}/evidence/{evidence.pk}/",
                                HTTP_ACCEPT="application/vnd.ms-excel")

    assert response.status_code == 200


def test_a_file_of_another_session_is_not_found_under_this_one(official_api, evidence):
    other = SessionFactory()

    response = official_api.get(f"/api/v1/sessions/{other.pk}/evidence/{evidence.pk}/")

    assert response.status_code == 404


def test_deleting_is_audited(staff_api, staff_user, session, evidence):
    response = staff_api.delete(f"/api/v1/sessions/{session.pk}/evidence/{evidence.pk}/")

    assert response.status_code == 204
    assert not SessionEvidence.objects.exists()
    [record] = SessionEvidence.history.filter(id=evidence.pk, history_type="-")
    assert record.history_user == staff_user
    assert record.sha256 == evidence.sha256


def test_no_media_url_serves_the_stored_file(official_api, staff_api, evidence):
    for client in (official_api, staff_api):
        for url in (f"/media/{evidence.file.name}", f"/{evidence.file.name}",
                    f"/static/{evidence.file.name}"):
            assert client.get(url).status_code == 404, url


# --- Who may do what -------------------------------------------------------------------------

ROLES = ["anon", "no_role", "official", "staff", "superuser"]
# (name, method, kind): read needs view on sessions, write needs change on sessions.
CALLS = [("list", "get", "read"), ("upload", "post", "write"),
         ("file", "get", "read"), ("delete", "delete", "write")]
EXPECTED = {
    "anon": {"read": 401, "write": 401},
    "no_role": {"read": 403, "write": 403},
    "official": {"read": 200, "write": 403},
    "staff": {"read": 200, "write": None},
    "superuser": {"read": 200, "write": None},
}
WRITE_OK = {"upload": 201, "delete": 204}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name, method, kind", CALLS, ids=[c[0] for c in CALLS])
def test_each_role_gets_what_its_permissions_allow(request, role, name, method, kind,
                                                   session, evidence):
    client = request.getfixturevalue(f"{role}_api")
    base = f"/api/v1/sessions/{session.pk}/evidence/"
    url = base if name in ("list", "upload") else f"{base}{evidence.pk}/"
    data = {"file": SimpleUploadedFile("s.png", png_bytes())} if name == "upload" else None

    response = getattr(client, method)(url, data, format="multipart" if data else None)

    assert response.status_code == (EXPECTED[role][kind] or WRITE_OK[name])
    if response.status_code in (401, 403):
        assert SessionEvidence.objects.get() == evidence  # nothing added or deleted


# --- When the file store fails ---------------------------------------------------------------


def test_a_store_that_refuses_the_file_is_a_503_and_nothing_is_saved(
        staff_api, session, media, monkeypatch):
    def broken(self, name, content):
        raise OSError("disk full")

    monkeypatch.setattr("django.core.files.storage.FileSystemStorage._save", broken)

    response = upload(staff_api, session, png_bytes(), "shot.png")

    assert response.status_code == 503
    assert "file store is unavailable" in response.json()["detail"]
    assert not SessionEvidence.objects.exists()


def test_a_file_missing_from_the_store_is_a_404_that_says_so(official_api, session, evidence):
    evidence.file.storage.delete(evidence.file.name)

    response = official_api.get(f"/api/v1/sessions/{session.pk}/evidence/{evidence.pk}/")

    assert response.status_code == 404
    assert "missing from the file store" in response.json()["detail"]


def test_a_store_that_cannot_be_read_is_a_503(official_api, session, evidence, monkeypatch):
    def broken(self, name, mode="rb"):
        raise OSError("I/O error")

    monkeypatch.setattr("django.core.files.storage.FileSystemStorage._open", broken)

    response = official_api.get(f"/api/v1/sessions/{session.pk}/evidence/{evidence.pk}/")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
