"""The evidence panel in a real browser: drop a file on the session's page (or choose one),
see its thumbnail, open it, delete it after confirming."""

import base64

import pytest

from sessions_app.models import SessionEvidence

from ..factories import SessionFactory, UserFactory, csv_bytes, png_bytes

DROP_FILE = """([name, type, b64]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type}));
  return transfer;
}"""


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def drop(page, name, mime, content) -> None:
    transfer = page.evaluate_handle(DROP_FILE, [name, mime, base64.b64encode(content).decode()])
    page.dispatch_event("[data-dropzone]", "dragenter", {"dataTransfer": transfer})
    page.dispatch_event("[data-dropzone]", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("[data-dropzone]", "drop", {"dataTransfer": transfer})


def test_staff_drop_a_screenshot_see_its_thumbnail_open_it_and_delete_it(
        page, server, login, foreign_requests, media):
    staff = UserFactory(username="evidence-staff", group="city_staff")
    session = SessionFactory(title="吉县苹果专场")
    login(page, staff)
    page.goto(f"{server.url}/sessions/{session.pk}/edit/")
    assert page.locator("[data-no-evidence]").count() == 1

    with page.expect_navigation():
        drop(page, "抖音后台截图.png", "image/png", png_bytes(size=(900, 600)))

    evidence = SessionEvidence.objects.get()
    assert (evidence.original_filename, evidence.uploaded_by) == ("抖音后台截图.png", staff)
    assert page.url.endswith(f"/sessions/{session.pk}/edit/#evidence")
    thumbnail = page.locator(f'li[data-evidence-id="{evidence.pk}"] img')
    thumbnail.wait_for()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=thumbnail.element_handle())
    assert thumbnail.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [320, 213]

    # The file itself opens in the browser (an image, inline, sandboxed).
    page.goto(f"{server.url}/sessions/{session.pk}/evidence/{evidence.pk}/")
    assert page.evaluate("document.images.length && document.images[0].naturalWidth") == 900

    page.goto(f"{server.url}/sessions/{session.pk}/edit/")
    with page.expect_navigation():
        page.click(f'li[data-evidence-id="{evidence.pk}"] a.evidence-delete')
    assert SessionEvidence.objects.exists()  # only asked so far
    with page.expect_navigation():
        page.click("form button[type=submit].danger")
    assert not SessionEvidence.objects.exists()
    assert page.locator("[data-no-evidence]").count() == 1
    assert "1" in page.locator(".evidence-deleted summary").inner_text()
    assert foreign_requests() == []


def test_staff_choose_a_file_and_a_refused_one_shows_why(page, server, login, media):
    staff = UserFactory(username="evidence-staff", group="city_staff")
    session = SessionFactory()
    login(page, staff)
    page.goto(f"{server.url}/sessions/{session.pk}/evidence/")

    page.select_option("select[name=kind]", "platform_export")
    with page.expect_navigation():
        page.set_input_files("input[type=file]", files=[{
            "name": "快手导出.csv", "mimeType": "text/csv", "buffer": csv_bytes()}])
    assert SessionEvidence.objects.get().kind == "platform_export"
    assert page.locator(".evidence-list li").count() == 1

    with page.expect_navigation():
        page.set_input_files("input[type=file]", files=[{
            "name": "screenshot.png", "mimeType": "image/png", "buffer": b"MZ\x90\x00" * 64}])
    assert "EXE" in page.locator("[data-evidence-error]").inner_text()
    assert SessionEvidence.objects.count() == 1


def test_a_file_over_the_limit_is_refused_in_the_page_before_it_is_sent(
        page, server, login, media, settings):
    settings.EVIDENCE_MAX_UPLOAD_BYTES = 2000
    staff = UserFactory(username="evidence-staff", group="city_staff")
    session = SessionFactory()
    login(page, staff)
    page.goto(f"{server.url}/sessions/{session.pk}/evidence/")
    posts = []
    page.on("request", lambda request: posts.append(request) if request.method == "POST" else None)

    drop(page, "big.csv", "text/csv", csv_bytes("a,b\r\n" * 1000))

    assert "2.0" in page.locator("[data-evidence-error]").inner_text()
    assert posts == [] and not SessionEvidence.objects.exists()


def test_staff_upload_evidence_and_a_second_reviewer_verifies_it(page, server, login, media):
    # Given a session entered by one member of staff
    author = UserFactory(username="evidence-author", group="city_staff")
    reviewer = UserFactory(username="evidence-reviewer", group="city_staff")
    session = SessionFactory(title="隰县玉露香梨专场", entered_by=author, last_changed_by=author)

    # When its author attaches the platform's export, the page still offers no verification
    login(page, author)
    page.goto(f"{server.url}/sessions/{session.pk}/edit/")
    with page.expect_navigation():
        drop(page, "抖音导出.csv", "text/csv", csv_bytes())
    assert page.locator("[data-review-refused]").count() == 1
    assert page.locator("form[data-verify]").count() == 0

    # Then another reviewer verifies it beside the evidence
    page.context.clear_cookies()
    login(page, reviewer)
    page.goto(f"{server.url}/sessions/{session.pk}/edit/")
    with page.expect_navigation():
        page.click("form[data-verify] button")
    session.refresh_from_db()
    assert (session.status, session.verified_by) == ("verified", reviewer)
    assert page.locator('.status-line[data-status="verified"]').count() == 1
