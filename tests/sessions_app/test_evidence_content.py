"""What an evidence file is, by its bytes (sessions_app/evidence/content.py)."""

import hashlib
import io
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils import translation

from sessions_app.evidence.content import evidence_content_detect, evidence_digest
from tests.factories import (
    EXE_BYTES,
    csv_bytes,
    jpeg_bytes,
    pdf_bytes,
    png_bytes,
    xlsx_bytes,
)


@pytest.fixture(autouse=True)
def _in_english():
    with translation.override("en"):
        yield


def detect(content: bytes, name: str = "upload"):
    return evidence_content_detect(file=ContentFile(content, name=name))


def refusal_of(content: bytes, name: str = "upload") -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        detect(content, name)
    return refused.value


@pytest.mark.parametrize("content, content_type", [
    (png_bytes(), "image/png"),
    (jpeg_bytes(), "image/jpeg"),
    (pdf_bytes(), "application/pdf"),
    (xlsx_bytes(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (csv_bytes(), "text/csv; charset=utf-8"),
    (csv_bytes(encoding="utf-8"), "text/csv; charset=utf-8"),
    (csv_bytes(encoding="gb18030"), "text/csv; charset=gb18030"),
], ids=["png", "jpeg", "pdf", "xlsx", "csv-utf8-bom", "csv-utf8", "csv-gb18030"])
def test_it_accepts_each_type_by_its_content(content, content_type):
    assert detect(content).content_type == content_type


def test_the_name_does_not_matter_a_png_named_pdf_is_a_png():
    assert detect(png_bytes(), "report.pdf").content_type == "image/png"


def test_an_executable_named_png_is_refused_naming_what_it_is():
    error = refusal_of(EXE_BYTES, "screenshot.png")

    assert error.code == "file_type"
    assert "EXE (application/x-msdownload)" in error.messages[0]


@pytest.mark.parametrize("content, named", [
    (b"GIF89a" + b"\x00" * 64, "GIF (image/gif)"),
    (b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64, "HEIC (image/heic)"),
    (bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 600, "XLS"),
    (b"\x7fELF\x02\x01\x01" + b"\x00" * 64, "ELF"),
    (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "HTML"),
    (b"  <svg xmlns='http://www.w3.org/2000/svg'></svg>", "HTML or XML"),
    (b"walnuts\x00\x01\x02 binary", "binary data"),
    (b"text with a bell \x07 in it", "binary data"),
    (b"\xff\xfe\x00\x00\xc3\x28\xa0\xa1", "binary data"),
], ids=["gif", "heic", "xls", "elf", "html", "svg", "nul", "control", "undecodable"])
def test_other_types_are_refused_naming_the_detected_type(content, named):
    error = refusal_of(content, "evidence.csv")

    assert named in error.messages[0]
    assert "PNG or JPEG" in error.messages[0]


def _zip_with(members: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_a_zip_is_an_xlsx_only_with_the_workbook_members():
    only_pk = _zip_with({"xl/workbook.xml": "<workbook/>"})
    docx = _zip_with({
        "[Content_Types].xml": '<Types><Override ContentType="application/vnd.openxmlformats-'
                               'officedocument.wordprocessingml.document.main+xml"/></Types>',
        "word/document.xml": "<document/>",
    })
    declared_without_workbook = _zip_with({
        "[Content_Types].xml": '<Types><Override ContentType="application/vnd.openxmlformats-'
                               'officedocument.spreadsheetml.sheet.main+xml"/></Types>',
    })

    assert "a ZIP archive" in refusal_of(only_pk).messages[0]
    assert "DOCX" in refusal_of(docx).messages[0]
    assert "a ZIP archive" in refusal_of(declared_without_workbook).messages[0]


def test_a_macro_workbook_is_refused():
    xlsm = _zip_with({
        "[Content_Types].xml": '<Types><Override ContentType="application/vnd.ms-excel.sheet.'
                               'macroEnabled.main+xml"/></Types>',
        "xl/workbook.xml": "<workbook/>",
        "xl/vbaProject.bin": "macro",
    })

    assert "XLSM" in refusal_of(xlsm).messages[0]


@pytest.mark.parametrize("content", [
    png_bytes()[:40],
    b"\xff\xd8\xff\xe0" + b"\x00" * 20,
    b"PK\x03\x04 not really a zip",
], ids=["png", "jpeg", "zip"])
def test_a_file_that_starts_right_but_is_damaged_is_refused(content):
    assert refusal_of(content).code == "file_damaged"


def test_an_empty_file_is_refused():
    assert refusal_of(b"").code == "file_empty"


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr("sessions_app.evidence.content.IMAGE_MAX_PIXELS", 1000)

    error = refusal_of(png_bytes(size=(50, 50)))

    assert error.code == "image_too_large"
    assert "50 × 50" in error.messages[0]


def test_text_is_read_in_chunks_so_a_late_bad_byte_is_found():
    content = ("核桃," * 40_000).encode("utf-8") + b"\x00"

    assert refusal_of(content).messages[0].find("binary data") > 0


def test_digest_is_the_sha256_and_size_of_the_content():
    content = png_bytes() * 3000  # several read chunks

    size, sha256 = evidence_digest(file=ContentFile(content))

    assert (size, sha256) == (len(content), hashlib.sha256(content).hexdigest())
