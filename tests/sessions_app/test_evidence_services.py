"""Adding and deleting evidence files (services.evidence_add / evidence_delete)."""

import hashlib
import os

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from sessions_app import selectors, services
from sessions_app.models import SessionEvidence
from tests.factories import EXE_BYTES, SessionFactory, csv_bytes, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    """A storage of this test's own, to see exactly what was stored."""
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def stored_files(media) -> list[str]:
    return sorted(str(p.relative_to(media)) for p in media.rglob("*") if p.is_file())


def add(session, content, name="shot.png", user=None, **kwargs):
    return services.evidence_add(session=session, uploaded_by=user,
                                 file=ContentFile(content, name=name), **kwargs)


def test_it_stores_the_file_with_its_digest_size_type_and_uploader(media, staff_user):
    session = SessionFactory()
    content = png_bytes()

    added = add(session, content, name="抖音后台截图.png", user=staff_user)

    evidence = SessionEvidence.objects.get()
    assert added.evidence == evidence
    assert (evidence.session, evidence.uploaded_by) == (session, staff_user)
    assert evidence.sha256 == hashlib.sha256(content).hexdigest()
    assert (evidence.size, evidence.content_type) == (len(content), "image/png")
    assert evidence.original_filename == "抖音后台截图.png"
    assert evidence.kind == "screenshot"  # from the content
    with default_storage.open(evidence.file.name) as stored:
        assert stored.read() == content


def test_the_stored_name_is_random_and_carries_nothing_of_the_upload(media):
    evidence = add(SessionFactory(), png_bytes(), name="../../etc/passwd.png").evidence

    name = evidence.file.name
    assert name.startswith("evidence/") and name.endswith(".png")
    assert "passwd" not in name and len(os.path.basename(name)) == 32 + 4
    assert evidence.original_filename == "passwd.png"


def test_an_image_gets_a_jpeg_thumbnail_at_most_320_pixels(media):
    evidence = add(SessionFactory(), png_bytes(size=(1170, 2532))).evidence

    with default_storage.open(evidence.thumbnail.name) as thumbnail, Image.open(thumbnail) as im:
        assert im.format == "JPEG"
        assert max(im.size) == 320


def test_other_files_get_no_thumbnail_and_their_kind_from_the_content(media):
    evidence = add(SessionFactory(), csv_bytes(), name="export.csv").evidence

    assert not evidence.thumbnail
    assert evidence.kind == "platform_export"


def test_the_given_kind_is_kept(media):
    evidence = add(SessionFactory(), png_bytes(), kind="other").evidence

    assert evidence.kind == "other"


def test_an_unknown_kind_is_refused_and_nothing_stored(media):
    with pytest.raises(ValidationError) as refused:
        add(SessionFactory(), png_bytes(), kind="selfie")

    assert "kind" in refused.value.message_dict
    assert stored_files(media) == [] and not SessionEvidence.objects.exists()


def test_a_refused_type_stores_nothing(media):
    with pytest.raises(ValidationError) as refused:
        add(SessionFactory(), EXE_BYTES, name="shot.png")

    assert "EXE (application/x-msdownload)" in refused.value.message_dict["file"][0]
    assert stored_files(media) == [] and not SessionEvidence.objects.exists()


def test_a_file_over_the_limit_is_refused_and_nothing_stored(media, settings):
    settings.EVIDENCE_MAX_UPLOAD_BYTES = 1000

    with pytest.raises(services.EvidenceTooLarge) as refused:
        add(SessionFactory(), csv_bytes("a,b\r\n" * 300))

    assert refused.value.error_dict["file"][0].code == "too_large"
    assert stored_files(media) == [] and not SessionEvidence.objects.exists()


def test_the_same_file_twice_on_a_session_is_refused(media):
    session = SessionFactory()
    add(session, png_bytes())
    before = stored_files(media)

    with pytest.raises(ValidationError) as refused:
        add(session, png_bytes(), name="again.png")

    assert refused.value.error_dict["file"][0].code == "duplicate"
    assert stored_files(media) == before and SessionEvidence.objects.count() == 1


def test_the_same_file_on_another_session_is_accepted_and_names_that_session(media):
    first, second = SessionFactory(title="Walnuts"), SessionFactory()
    add(first, png_bytes())

    added = add(second, png_bytes())

    assert added.same_file_sessions == [first]
    assert f"#{first.pk} “Walnuts”" in services.evidence_same_file_warning(
        added.same_file_sessions)
    assert SessionEvidence.objects.count() == 2


def test_a_lost_race_on_the_unique_constraint_is_a_duplicate_error_and_removes_the_file(
        media, monkeypatch):
    session = SessionFactory()
    add(session, png_bytes())
    before = stored_files(media)
    # As if the other upload committed between the check and the insert.
    monkeypatch.setattr(SessionEvidence.objects, "filter",
                        lambda *a, **k: SessionEvidence.objects.none())

    with pytest.raises(ValidationError) as refused:
        add(session, png_bytes())

    assert refused.value.error_dict["file"][0].code == "duplicate"
    assert stored_files(media) == before


def test_deleting_evidence_is_audited_and_the_file_kept(media, staff_user):
    session = SessionFactory()
    evidence = add(session, png_bytes()).evidence

    services.evidence_delete(evidence=evidence, deleted_by=staff_user, reason="wrong file")

    assert selectors.session_evidence_count(session_id=session.pk) == 0
    [deleted] = selectors.session_evidence_deletions(session_id=session.pk)
    assert (deleted.history_user, deleted.history_change_reason) == (staff_user, "wrong file")
    assert (deleted.sha256, deleted.file) == (evidence.sha256, evidence.file.name)
    assert default_storage.exists(evidence.file.name)


def test_deleting_a_session_deletes_its_evidence_in_the_history_with_who_did_it(
        media, staff_user, holiday):
    session = SessionFactory()
    evidence = add(session, png_bytes()).evidence

    services.session_delete(session=session, deleted_by=staff_user)

    assert not SessionEvidence.objects.exists()
    [deleted] = selectors.session_evidence_deletions(session_id=session.pk)
    assert (deleted.history_user, deleted.history_change_reason) == (
        staff_user, "session deleted")
    assert default_storage.exists(evidence.file.name)


def test_session_evidence_count_counts_the_sessions_current_files(media):
    session, other = SessionFactory(), SessionFactory()
    add(session, png_bytes())
    add(session, csv_bytes())
    add(other, png_bytes(colour=(1, 2, 3)))

    assert selectors.session_evidence_count(session_id=session.pk) == 2


def test_a_store_failing_on_the_thumbnail_leaves_no_file_behind(media, monkeypatch):
    from django.core.files.storage import FileSystemStorage

    save = FileSystemStorage._save

    def fail_on_thumbnails(self, name, content):
        if "thumbnails" in name:
            raise OSError("disk full")
        return save(self, name, content)

    monkeypatch.setattr(FileSystemStorage, "_save", fail_on_thumbnails)

    with pytest.raises(services.EvidenceStorageUnavailable):
        add(SessionFactory(), png_bytes())

    assert stored_files(media) == [] and not SessionEvidence.objects.exists()
