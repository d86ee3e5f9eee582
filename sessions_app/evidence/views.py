"""The evidence pages of a session: the panel (list with thumbnails, upload, deletions),
the file and its thumbnail, and deleting a file after confirming.

Who may do what is the API's rule: viewing sessions lets a user list and open evidence;
changing sessions (city staff) lets them upload and delete. Anonymous visitors go to the
login page. The upload refuses an oversized body before it is parsed, even before the CSRF
check (which would read the form): refusing changes nothing. So that check runs inside the
view, not as middleware.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from linfen_tracker.permissions import CHANGE_SESSIONS, VIEW_SESSIONS

from .. import selectors, services
from ..models import LivestreamSession, SessionEvidence
from .forms import EvidenceUploadForm
from .http import evidence_file_response, evidence_upload_too_large

# Ids are 64-bit: a larger number names nothing (and would overflow the database integer).
MAX_ID = 2**63 - 1


def evidence_panel(*, request: HttpRequest, session: LivestreamSession,
                   form: EvidenceUploadForm | None = None, back: str | None = None) -> dict:
    """What the evidence panel shows (templates/sessions/_evidence_panel.html); `back` is
    the page an upload or a deletion returns to (default: this one)."""
    can_manage = request.user.has_perm(CHANGE_SESSIONS)
    return {
        "session": session,
        "items": selectors.session_evidence_list(session_id=session.pk),
        "can_manage": can_manage,
        "form": (form or EvidenceUploadForm()) if can_manage else None,
        "max_bytes": settings.EVIDENCE_MAX_UPLOAD_BYTES,
        "max_size": filesizeformat(settings.EVIDENCE_MAX_UPLOAD_BYTES),
        "too_large": services.evidence_too_large_message(),
        "deleted": selectors.session_evidence_deletions(session_id=session.pk)
        if can_manage else [],
        "back": back or request.get_full_path(),
    }


def _session(pk: int) -> LivestreamSession:
    session = selectors.session_list().filter(pk=pk).first() if pk <= MAX_ID else None
    if session is None:
        raise Http404
    return session


def _evidence(session: LivestreamSession, evidence_id: int) -> SessionEvidence:
    evidence = (selectors.evidence_get(session_id=session.pk, evidence_id=evidence_id)
                if evidence_id <= MAX_ID else None)
    if evidence is None:
        raise Http404
    return evidence


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _back(request: HttpRequest, session: LivestreamSession) -> str:
    """The page (ours) the user came from: `next`, else the session's evidence page."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("session_evidence", args=[session.pk])


def _panel_page(request, session, form=None, status=200) -> HttpResponse:
    back = _back(request, session) if request.method == "POST" else None
    return render(request, "sessions/evidence.html", {
        "session": session,
        "evidence_panel": evidence_panel(request=request, session=session, form=form,
                                         back=back),
    }, status=status)


@csrf_exempt  # checked in _evidence_upload, once the size limit is in place
@login_required
@require_http_methods(["GET", "POST"])
def session_evidence_page(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the session's evidence panel. POST: upload a file (city staff)."""
    if request.method == "POST":
        _require(request, CHANGE_SESSIONS)
        if evidence_upload_too_large(request):
            form = EvidenceUploadForm({})
            form.is_valid()
            form.errors.clear()
            form.add_error("file", services.evidence_too_large_message())
            return _panel_page(request, _session(pk), form, status=413)
        return _evidence_upload(request, pk)
    _require(request, VIEW_SESSIONS)
    return _panel_page(request, _session(pk))


@csrf_protect
def _evidence_upload(request: HttpRequest, pk: int) -> HttpResponse:
    session = _session(pk)
    form = EvidenceUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _panel_page(request, session, form, status=400)
    try:
        added = services.evidence_add(
            session=session, uploaded_by=request.user, file=form.cleaned_data["file"],
            kind=form.cleaned_data["kind"] or None,
        )
    except services.EvidenceStorageUnavailable as error:
        form.add_error(None, str(error))
        return _panel_page(request, session, form, status=503)
    except ValidationError as error:
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        too_large = isinstance(error, services.EvidenceTooLarge)
        return _panel_page(request, session, form, status=413 if too_large else 400)
    messages.success(request, _("“%(file)s” added to the evidence.") % {
        "file": added.evidence.original_filename})
    if added.same_file_sessions:
        messages.warning(request, services.evidence_same_file_warning(added.same_file_sessions))
    return HttpResponseRedirect(_back(request, session) + "#evidence")


def _file_page(request: HttpRequest, evidence: SessionEvidence, thumbnail: bool) -> HttpResponse:
    try:
        return evidence_file_response(evidence=evidence, thumbnail=thumbnail)
    except services.EvidenceStorageUnavailable:
        message = _("The file store is unavailable right now. Please try again in a minute.")
        response = render(request, "503.html", {"message": message}, status=503)
        response["Retry-After"] = "30"
        return response


@login_required
@require_GET
def evidence_file_page(request: HttpRequest, pk: int, evidence_id: int) -> HttpResponse:
    _require(request, VIEW_SESSIONS)
    return _file_page(request, _evidence(_session(pk), evidence_id), thumbnail=False)


@login_required
@require_GET
def evidence_thumbnail_page(request: HttpRequest, pk: int, evidence_id: int) -> HttpResponse:
    _require(request, VIEW_SESSIONS)
    evidence = _evidence(_session(pk), evidence_id)
    if not evidence.thumbnail:
        raise Http404
    return _file_page(request, evidence, thumbnail=True)


@login_required
@require_http_methods(["GET", "POST"])
def evidence_delete_page(request: HttpRequest, pk: int, evidence_id: int) -> HttpResponse:
    """GET: ask to confirm. POST: remove the file from the session's evidence (audited)."""
    _require(request, CHANGE_SESSIONS)
    session = _session(pk)
    evidence = _evidence(session, evidence_id)
    if request.method == "POST":
        services.evidence_delete(evidence=evidence, deleted_by=request.user)
        messages.success(request, _("“%(file)s” removed from the evidence.") % {
            "file": evidence.original_filename})
        return HttpResponseRedirect(_back(request, session) + "#evidence")
    return render(request, "sessions/evidence_confirm_delete.html", {
        "session": session, "evidence": evidence, "next": _back(request, session),
    })
