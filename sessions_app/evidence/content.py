"""What an evidence file is, judged by its content: never by its name or by the type the
browser claims.

Accepted: PNG and JPEG images (which Pillow must be able to read), PDF, XLSX (a ZIP whose
`[Content_Types].xml` declares an OOXML workbook and that has `xl/workbook.xml`), and CSV
(text that decodes as UTF-8 or GB18030, with no NUL or other control bytes). Anything else is
refused with a message naming what it was detected to be. Files are read in chunks; only the
first few KB, a ZIP's directory and its small `[Content_Types].xml` are held at once.
"""

import codecs
import hashlib
import zipfile
from dataclasses import dataclass

import filetype
from django.core.exceptions import ValidationError
from django.core.files import File
from django.utils.translation import gettext_lazy as _
from PIL import Image

CHUNK_BYTES = 64 * 1024
HEAD_BYTES = 8 * 1024
# Larger images are refused: decoding one for its thumbnail would take hundreds of MB. A
# 48-megapixel phone photo still fits; a compressed "decompression bomb" does not.
IMAGE_MAX_PIXELS = 50_000_000
# A workbook's [Content_Types].xml is a few KB; a larger one is not a workbook we accept.
CONTENT_TYPES_MAX_BYTES = 1024 * 1024

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class DetectedType:
    """An accepted kind of file: its content type as stored and served, how people call it,
    and the evidence kind it suggests when the uploader names none."""

    content_type: str
    label: str
    default_kind: str

    @property
    def is_image(self) -> bool:
        return self.content_type in ("image/png", "image/jpeg")


PNG = DetectedType("image/png", "PNG", "screenshot")
JPEG = DetectedType("image/jpeg", "JPEG", "screenshot")
PDF = DetectedType("application/pdf", "PDF", "other")
XLSX = DetectedType(XLSX_TYPE, "XLSX", "platform_export")
CSV_UTF8 = DetectedType("text/csv; charset=utf-8", "CSV", "platform_export")
CSV_GB18030 = DetectedType("text/csv; charset=gb18030", "CSV", "platform_export")

ACCEPTED_LABELS = "PNG, JPEG, PDF, XLSX, CSV"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
_OLE_SIGNATURE = bytes.fromhex("d0cf11e0a1b11ae1")  # .xls / .doc of Office 97-2003
# Text may hold tab, line feed, form feed and carriage return, no other control character.
# Checked on the bytes: in UTF-8 and GB18030 a byte below 0x30 is always that ASCII
# character itself, never part of a multi-byte one. Deleting every allowed byte and seeing
# whether anything is left is ~20x faster than a regular expression (bench/evidence.py).
_TEXT_BYTES = bytes(range(0x20, 0x7F)) + bytes(range(0x80, 0x100)) + b"\t\n\x0c\r"


def refusal(detected: str) -> ValidationError:
    return ValidationError(
        _("The file is %(detected)s, which is not accepted as evidence: upload a PNG or JPEG "
          "image, a PDF, an XLSX workbook or a CSV file."),
        code="file_type", params={"detected": detected},
    )


def evidence_content_detect(*, file: File) -> DetectedType:
    """The accepted type `file` holds, from its bytes; ValidationError (code `file_type`,
    `file_damaged` or `file_empty`) naming what it is otherwise."""
    file.seek(0)
    head = file.read(HEAD_BYTES)
    if not head:
        raise ValidationError(_("The file is empty."), code="file_empty")
    if head.startswith(_PNG_SIGNATURE):
        return _image(file, PNG)
    if head.startswith(_JPEG_SIGNATURE):
        return _image(file, JPEG)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return _office_zip(file)
    if head.startswith(_OLE_SIGNATURE):
        raise refusal(_("an Office 97-2003 document (XLS or DOC)"))
    known = filetype.guess(head)
    if known is not None:
        raise refusal(f"{known.extension.upper()} ({known.mime})")
    return _text(file)


def _image(file: File, kind: DetectedType) -> DetectedType:
    file.seek(0)
    try:
        with Image.open(file) as image:
            width, height = image.size
            if width * height > IMAGE_MAX_PIXELS:
                raise ValidationError(
                    _("The image is %(width)s × %(height)s pixels; at most %(max)s million "
                      "pixels are accepted."),
                    code="image_too_large",
                    params={"width": width, "height": height,
                            "max": IMAGE_MAX_PIXELS // 1_000_000},
                )
            image.verify()
    except ValidationError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationError(
            _("The file starts like a %(type)s image but is damaged."),
            code="file_damaged", params={"type": kind.label},
        ) from None
    return kind


def _office_zip(file: File) -> DetectedType:
    """XLSX if the ZIP is an OOXML workbook; otherwise a refusal naming the document."""
    file.seek(0)
    try:
        with zipfile.ZipFile(file) as archive:
            names = set(archive.namelist())
            content_types = b""
            if "[Content_Types].xml" in names:
                info = archive.getinfo("[Content_Types].xml")
                if info.file_size <= CONTENT_TYPES_MAX_BYTES:
                    content_types = archive.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
            NotImplementedError):
        raise ValidationError(_("The file starts like a ZIP archive but is damaged."),
                              code="file_damaged") from None
    if b"spreadsheetml.sheet.main+xml" in content_types and "xl/workbook.xml" in names:
        return XLSX
    if b"ms-excel.sheet.macroEnabled.main+xml" in content_types:
        raise refusal(_("an Excel workbook with macros (XLSM)"))
    if b"wordprocessingml" in content_types:
        raise refusal(_("a Word document (DOCX)"))
    if b"presentationml" in content_types:
        raise refusal(_("a PowerPoint presentation (PPTX)"))
    raise refusal(_("a ZIP archive"))


def _text(file: File) -> DetectedType:
    """CSV if the whole file is text in UTF-8 (with or without BOM) or else GB18030."""
    for encoding, detected in (("utf-8-sig", CSV_UTF8), ("gb18030", CSV_GB18030)):
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        first = True
        try:
            for chunk in file.chunks(CHUNK_BYTES):
                if chunk.translate(None, _TEXT_BYTES):
                    raise refusal(_("binary data"))
                text = decoder.decode(chunk)
                if first and text.lstrip().startswith("<"):
                    raise refusal(_("an HTML or XML document"))
                first = first and not text.strip()
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return detected
    raise refusal(_("binary data"))


def evidence_digest(*, file: File) -> tuple[int, str]:
    """(size in bytes, hex SHA-256) of the file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    for chunk in file.chunks(CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()
