"""HTTP around evidence files: refusing an oversized upload while it arrives, and streaming a
stored file to a user the view has already checked.

Files are streamed through our views for both storages, never handed out as a public or
presigned URL: the access check stays in one place, the object store need not be reachable
from officials' browsers (an intranet), nothing forwardable (a presigned URL is a bearer
token until it expires) lands in browser histories or logs, and the headers that make a
download safe (`Content-Type` as detected, `Content-Disposition`, `nosniff`, a sandboxing
CSP) are ours. Files are at most 10 MB, so a web worker is busy only briefly.
"""

import logging

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadhandler import FileUploadHandler
from django.http import FileResponse, Http404, HttpRequest, QueryDict
from django.http.multipartparser import exhaust
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _

from ..models import SessionEvidence
from ..services import EvidenceStorageUnavailable

logger = logging.getLogger(__name__)

# The multipart envelope around the file: boundaries, part headers, the CSRF token, `kind`.
UPLOAD_OVERHEAD_BYTES = 64 * 1024
STREAM_CHUNK_BYTES = 64 * 1024


class EvidenceUploadLimit(FileUploadHandler):
    """Refuses a request body larger than an evidence file may be, before any of it is parsed
    or written to a temporary file: the request then has no POST data nor files, and
    `request.evidence_too_large` is set for the view to answer 413.

    It must be the first upload handler, installed before anything reads `request.POST`
    (CSRF checks do): `evidence_upload_limit_install`.
    """

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if _body_too_large(content_length):
            self.request.evidence_too_large = True
            # Read and drop the body: a browser whose upload is cut off shows "connection
            # reset" instead of our answer.
            exhaust(input_data)
            return QueryDict(encoding=encoding), MultiValueDict()
        return None

    def receive_data_chunk(self, raw_data, start):
        return raw_data

    def file_complete(self, file_size):
        return None


def _body_too_large(content_length: int) -> bool:
    return content_length > settings.EVIDENCE_MAX_UPLOAD_BYTES + UPLOAD_OVERHEAD_BYTES


def evidence_upload_limit_install(request: HttpRequest) -> None:
    request.evidence_too_large = False
    request.upload_handlers.insert(0, EvidenceUploadLimit(request))


def evidence_upload_too_large(request: HttpRequest) -> bool:
    """Whether the request's declared body is larger than any evidence upload may be; if
    so, the body is read and dropped unparsed. For a page, before its CSRF check: the
    token is in the body, and refusing changes nothing."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if not _body_too_large(declared):
        return False
    while request.read(STREAM_CHUNK_BYTES):
        pass
    return True


def evidence_file_response(*, evidence: SessionEvidence, thumbnail: bool = False) -> FileResponse:
    """The stored file (or its thumbnail), streamed in chunks from the storage.

    Images are shown in the browser (`inline`), everything else is downloaded (`attachment`);
    either way under the original file name (RFC 6266 / RFC 5987 `filename*` for Chinese
    names). `nosniff` and a sandboxing CSP keep a browser from running anything in it."""
    name = evidence.thumbnail.name if thumbnail else evidence.file.name
    try:
        stored = default_storage.open(name, "rb")
        if thumbnail:
            response = FileResponse(stored, content_type="image/jpeg")
            response["Cache-Control"] = "private, max-age=3600"
        else:
            response = FileResponse(
                stored,
                content_type=evidence.content_type,
                as_attachment=not evidence.is_image,
                filename=evidence.original_filename,
            )
            response["Content-Length"] = str(evidence.size)
            response["Cache-Control"] = "private, no-store"
    except FileNotFoundError:
        # The row is there but the file is not: storage restored from an older backup?
        logger.error("Evidence %s: %s is missing from the storage", evidence.pk, name)
        raise Http404(_("The file is missing from the file store.")) from None
    except Exception as error:
        logger.exception("Evidence %s: could not read %s", evidence.pk, name)
        raise EvidenceStorageUnavailable from error
    response.block_size = STREAM_CHUNK_BYTES
    response["X-Content-Type-Options"] = "nosniff"
    # Sandboxed, no script; the inline styles are the browser's own viewer of an image or
    # PDF opened directly (Chromium styles its image document inline).
    response["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    )
    return response
