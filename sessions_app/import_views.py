"""The import page: upload a spreadsheet, see the preview with every row error, confirm or cancel.

Thin views over `sessions_app.imports`: the upload is staged in the database between the
preview and the confirm, so the two requests may reach different processes or hosts.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from . import imports, services
from .models import ImportBatch

STAFF_PERMISSION = "sessions_app.add_livestreamsession"
# The multipart envelope around the file: boundaries, headers, the CSRF token.
UPLOAD_OVERHEAD_BYTES = 64 * 1024


class SpreadsheetUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Spreadsheet (XLSX or CSV)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv,.txt"}),
    )
    mode = forms.ChoiceField(
        label=gettext_lazy("What the rows are"),
        choices=[
            (imports.MODE_CREATE, gettext_lazy("New sessions: add each row")),
            (imports.MODE_UPDATE, gettext_lazy(
                "Corrections: update the stored session of each row's official and start "
                "time")),
        ],
        initial=imports.MODE_CREATE, required=False, widget=forms.RadioSelect,
    )

    def clean_mode(self) -> str:
        return self.cleaned_data.get("mode") or imports.MODE_CREATE


def _staff_only(view):
    return login_required(permission_required(STAFF_PERMISSION, raise_exception=True)(view))


def _form_context(form: SpreadsheetUploadForm) -> dict:
    return {
        "form": form,
        "max_megabytes": settings.IMPORT_MAX_UPLOAD_BYTES // (1024 * 1024),
        "max_rows": imports.IMPORT_MAX_ROWS,
    }


def _upload_page(
    request: HttpRequest, form: SpreadsheetUploadForm, status: int = 200, error: str = ""
):
    context = {**_form_context(form), "columns": imports.IMPORT_COLUMNS, "upload_error": error}
    return render(request, "sessions/import.html", context, status=status)


def _preview_page(
    request: HttpRequest,
    check: imports.ImportCheck,
    batch: ImportBatch | None = None,
    status: int = 200,
):
    context = {
        **_form_context(SpreadsheetUploadForm(initial={"mode": check.mode})),
        "check": check,
        "batch": batch,
        "errors_shown": check.errors[: imports.PREVIEW_ERRORS],
    }
    return render(request, "sessions/import_preview.html", context, status=status)


@_staff_only
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    """GET: the upload form, or `?template=csv|xlsx`. POST: check the file and show the
    preview; a valid file is staged and the preview offers confirm and cancel, one with
    errors shows every error and stages nothing."""
    if request.method == "GET":
        file_format = request.GET.get("template")
        if file_format is None:
            return _upload_page(request, SpreadsheetUploadForm())
        if file_format not in ("csv", "xlsx"):
            raise Http404
        template = imports.import_template_build(file_format=file_format)
        response = HttpResponse(template.content, content_type=template.content_type)
        response["Content-Disposition"] = f'attachment; filename="{template.filename}"'
        return response

    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    too_large = _("The file is larger than %(limit)s MB.") % {"limit": limit // (1024 * 1024)}
    # Refuse an oversized body before Django parses it into memory or a temporary file.
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit + UPLOAD_OVERHEAD_BYTES:
        # Read and drop the body without keeping it: a browser whose upload is cut off
        # shows "connection reset" instead of this page.
        while request.read(UPLOAD_OVERHEAD_BYTES):
            pass
        return _upload_page(request, SpreadsheetUploadForm(), status=413, error=too_large)

    form = SpreadsheetUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _upload_page(request, form, status=400)
    upload = form.cleaned_data["file"]
    if upload.size > limit:
        form.add_error("file", too_large)
        return _upload_page(request, form, status=413)
    content = upload.read()
    try:
        check = imports.import_check(filename=upload.name, content=content,
                                     mode=form.cleaned_data["mode"])
    except imports.SpreadsheetRejected as rejected:
        form.add_error("file", rejected.message)
        return _upload_page(request, form, status=400)
    if not check.ok:
        return _preview_page(request, check)
    batch = services.import_batch_stage(user=request.user, check=check)
    # Rendered here rather than redirected to the preview URL: that would read and validate
    # the file a second time before the user sees anything.
    return _preview_page(request, check, batch=batch)


@_staff_only
def import_preview(request: HttpRequest, batch_id: int) -> HttpResponse:
    """The staged upload's preview, validated again against the current data."""
    try:
        batch = imports.import_batch_get(batch_id=batch_id, user=request.user)
        check = imports.import_batch_check(batch=batch)
    except imports.ImportBatchGone:
        messages.warning(request, _("This upload was already imported, cancelled or has "
                                    "expired: upload the file again."))
        return redirect("session_import:upload")
    return _preview_page(request, check, batch=batch)


@_staff_only
@require_POST
def import_confirm(request: HttpRequest, batch_id: int) -> HttpResponse:
    try:
        outcome = services.import_batch_confirm(batch_id=batch_id, user=request.user)
    except imports.ImportBatchGone:
        messages.warning(request, _("This upload was already imported, cancelled or has "
                                    "expired: upload the file again."))
        return redirect("session_import:upload")
    if outcome.created:
        messages.success(request, _("Imported %(count)s sessions from %(file)s.") % {
            "count": outcome.created, "file": outcome.check.filename
        })
        return redirect("session_import:upload")
    if outcome.check.ok and outcome.check.mode == imports.MODE_UPDATE:
        messages.success(request, _(
            "Updated %(count)s sessions from %(file)s; %(unchanged)s rows changed nothing."
        ) % {"count": outcome.updated, "file": outcome.check.filename,
             "unchanged": outcome.unchanged})
        return redirect("session_import:upload")
    # The data changed since the preview: nothing was saved, the batch stays to be cancelled.
    try:
        batch = imports.import_batch_get(batch_id=batch_id, user=request.user)
    except imports.ImportBatchGone:
        batch = None
    return _preview_page(request, outcome.check, batch=batch, status=409)


@_staff_only
@require_POST
def import_cancel(request: HttpRequest, batch_id: int) -> HttpResponse:
    services.import_batch_cancel(batch_id=batch_id, user=request.user)
    messages.info(request, _("Import cancelled: nothing was saved."))
    return redirect("session_import:upload")
