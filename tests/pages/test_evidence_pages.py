"""The evidence panel on the session pages: list with thumbnails, upload, delete after
confirming; files only through views that check the user may see the session."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.test import Client
from django.urls import reverse
from PIL import Image

from sessions_app import services
from sessions_app.models import SessionEvidence
from tests.factories import EXE_BYTES, SessionFactory, UserFactory, csv_bytes, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def session(media):
    return SessionFactory(title="Walnuts live")


@pytest.fixture
def shot(session, staff_user):
    return services.evidence_add(session=session, uploaded_by=staff_user,
                                 file=ContentFile(png_bytes(size=(800, 600)),
                                                  name="后台截图.png")).evidence


@pytest.fixture
def staff(staff_user):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(staff_user)
    return client


@pytest.fixture
def official(official_user):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(official_user)
    return client


def post_file(client, session, content, name, follow=False, **extra):
    return client.post(reverse("session_evidence", args=[session.pk]),
                       {"file": SimpleUploadedFile(name, content), **extra}, follow=follow)


def test_the_edit_page_lists_the_evidence_with_thumbnails_and_an_upload_form(
        staff, session, shot):
    html = staff.get(f"/sessions/{session.pk}/edit/").content.decode()

    assert 'id="evidence"' in html and "后台截图.png" in html
    assert f'src="/sessions/{session.pk}/evidence/{shot.pk}/thumbnail/"' in html
    assert 'enctype="multipart/form-data"' in html and "data-dropzone" in html
    assert "/static/js/evidence.js" in html
    assert "<script>" not in html.split("</header>")[1]  # no inline script (CSP)


def test_staff_upload_from_the_page_and_come_back_to_it(staff, session):
    back = f"/sessions/{session.pk}/edit/"

    response = post_file(staff, session, csv_bytes(), "导出.csv", kind="", next=back)

    assert response.status_code == 302
    assert response["Location"] == back + "#evidence"
    evidence = SessionEvidence.objects.get()
    assert (evidence.original_filename, evidence.kind) == ("导出.csv", "platform_export")
    assert "added to the evidence" in staff.get(back).content.decode()


def test_a_refused_file_shows_the_reason_at_the_field_with_400(staff, session):
    response = post_file(staff, session, EXE_BYTES, "shot.png")

    assert response.status_code == 400
    assert "EXE (application/x-msdownload)" in response.content.decode()
    assert not SessionEvidence.objects.exists()


def test_a_body_over_the_limit_is_413_before_it_is_parsed_and_nothing_saved(
        staff_user, session, settings, media, monkeypatch):
    settings.EVIDENCE_MAX_UPLOAD_BYTES = 1000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # any file parsed would go to a temporary file
    temporary_files = []
    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file",
                        lambda self, *a, **k: temporary_files.append(a))
    # A browser: the CSRF token in the form's body, which is refused unread.
    browser = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    browser.force_login(staff_user)
    browser.get(f"/sessions/{session.pk}/evidence/")
    token = browser.cookies["csrftoken"].value

    response = post_file(browser, session, csv_bytes("a,b\r\n" * 30_000), "big.csv",
                         csrfmiddlewaretoken=token)

    assert response.status_code == 413
    assert "The file is larger than 1000" in response.content.decode()
    assert temporary_files == []
    assert not SessionEvidence.objects.exists()
    assert [p for p in media.rglob("*") if p.is_file()] == []


def test_a_file_just_over_the_limit_is_413_on_the_page(staff, session, settings):
    settings.EVIDENCE_MAX_UPLOAD_BYTES = 1000

    response = post_file(staff, session, csv_bytes("a,b\r\n" * 250), "big.csv")

    assert response.status_code == 413
    assert not SessionEvidence.objects.exists()


def test_the_same_file_on_another_session_warns_which_one(staff, session, shot):
    other = SessionFactory()

    response = post_file(staff, other, png_bytes(size=(800, 600)), "copy.png", follow=True)

    assert f"#{session.pk} “Walnuts live”" in response.content.decode()
    assert SessionEvidence.objects.filter(session=other).exists()


def test_the_upload_needs_the_csrf_token(staff_user, session):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)

    response = post_file(client, session, png_bytes(), "x.png")

    assert response.status_code == 403
    assert not SessionEvidence.objects.exists()


def test_the_thumbnail_is_a_small_jpeg(official, session, shot):
    response = official.get(f"/sessions/{session.pk}/evidence/{shot.pk}/thumbnail/")

    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    from io import BytesIO
    with Image.open(BytesIO(b"".join(response.streaming_content))) as image:
        assert image.size == (320, 240)


def test_the_file_page_serves_the_file_with_its_name(official, session, shot):
    response = official.get(f"/sessions/{session.pk}/evidence/{shot.pk}/")

    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == (
        "inline; filename*=utf-8''%E5%90%8E%E5%8F%B0%E6%88%AA%E5%9B%BE.png")
    assert response["X-Content-Type-Options"] == "nosniff"


def pages(session, evidence):
    base = f"/sessions/{session.pk}/evidence/"
    return [base, f"{base}{evidence.pk}/", f"{base}{evidence.pk}/thumbnail/"]


def test_anonymous_visitors_are_sent_to_log_in(client, session, shot):
    for url in [*pages(session, shot), f"/sessions/{session.pk}/evidence/{shot.pk}/delete/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    assert client.post(f"/sessions/{session.pk}/evidence/{shot.pk}/delete/").status_code == 302
    assert post_file(client, session, csv_bytes(), "x.csv").status_code == 302
    assert SessionEvidence.objects.get() == shot


def test_a_user_who_may_not_view_sessions_gets_403(client, session, shot):
    client.force_login(UserFactory(username="no-role"))

    for url in pages(session, shot):
        assert client.get(url).status_code == 403, url


def test_officials_see_and_open_evidence_but_cannot_upload_or_delete(official, session, shot):
    for url in pages(session, shot):
        assert official.get(url).status_code == 200, url
    panel = official.get(f"/sessions/{session.pk}/evidence/").content.decode()
    assert "data-evidence-upload" not in panel and "/delete/" not in panel

    assert post_file(official, session, csv_bytes(), "x.csv").status_code == 403
    delete = f"/sessions/{session.pk}/evidence/{shot.pk}/delete/"
    assert official.get(delete).status_code == 403
    assert official.post(delete).status_code == 403
    assert SessionEvidence.objects.get() == shot


def test_deleting_asks_first_then_deletes_and_the_panel_shows_who_deleted(
        staff, staff_user, session, shot):
    url = f"/sessions/{session.pk}/evidence/{shot.pk}/delete/"
    back = f"/sessions/{session.pk}/edit/"

    confirm = staff.get(url, {"next": back})
    assert confirm.status_code == 200 and "后台截图.png" in confirm.content.decode()
    assert SessionEvidence.objects.filter(pk=shot.pk).exists()

    response = staff.post(url, {"next": back})

    assert response.status_code == 302 and response["Location"] == back + "#evidence"
    assert not SessionEvidence.objects.exists()
    record = SessionEvidence.history.get(id=shot.pk, history_type="-")
    assert record.history_user == staff_user
    panel = staff.get(back).content.decode()
    assert "1 deleted file" in panel and "staff" in panel


def test_a_next_to_another_site_is_ignored(staff, session):
    response = post_file(staff, session, csv_bytes(), "x.csv", next="https://evil.example/")

    assert response["Location"] == f"/sessions/{session.pk}/evidence/#evidence"


def test_ids_beyond_64_bits_name_nothing(official, session):
    assert official.get(f"/sessions/{10**30}/evidence/").status_code == 404
    assert official.get(f"/sessions/{session.pk}/evidence/{10**30}/").status_code == 404


def test_a_store_that_fails_is_a_503_page_and_nothing_saved(staff, session, monkeypatch):
    def broken(self, name, content):
        raise OSError("disk full")

    monkeypatch.setattr("django.core.files.storage.FileSystemStorage._save", broken)

    response = post_file(staff, session, png_bytes(), "shot.png")

    assert response.status_code == 503
    assert "file store is unavailable" in response.content.decode()
    assert not SessionEvidence.objects.exists()


def test_a_file_that_cannot_be_read_is_a_503_page(official, session, shot, monkeypatch):
    def broken(self, name, mode="rb"):
        raise OSError("I/O error")

    monkeypatch.setattr("django.core.files.storage.FileSystemStorage._open", broken)

    response = official.get(f"/sessions/{session.pk}/evidence/{shot.pk}/")

    assert response.status_code == 503 and response["Retry-After"] == "30"
