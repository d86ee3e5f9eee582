from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from linfen_tracker.permissions import CHANGE_SESSIONS, VIEW_SESSIONS

from . import selectors, services
from .exports import sessions_csv_response
from .forms import SessionAdminForm, SessionItemForm, SessionItemFormSet, _SessionItemBaseFormSet
from .models import (
    County,
    Holiday,
    LivestreamSession,
    Official,
    SessionEvidence,
    SessionFlag,
    SessionItem,
)


class SessionItemInline(admin.TabularInline):
    """The session's item lines, saved with the session through the service (not by the
    admin's own formset save), so the lines' rules and history are the same as elsewhere."""

    model = SessionItem
    form = SessionItemForm
    formset = _SessionItemBaseFormSet
    fields = ["name", "quantity", "unit", "revenue", "poverty_relief_product"]
    extra = 1


@admin.register(County)
class CountyAdmin(SimpleHistoryAdmin):
    list_display = ("name_zh", "name", "slug", "kind", "poverty_relief_key")
    list_filter = ("kind", "poverty_relief_key")
    list_editable = ("poverty_relief_key",)
    search_fields = ("name", "name_zh", "slug")
    ordering = ("name",)


@admin.register(Official)
class OfficialAdmin(SimpleHistoryAdmin):
    list_display = ("name", "title", "title_en", "county", "active", "user")
    list_filter = ("active", "county")
    search_fields = ("name", "name_pinyin", "title", "title_en", "county__name",
                     "county__name_zh")
    # Not `user`: the autocomplete would offer every account, staff and superusers too.
    autocomplete_fields = ("county",)
    list_select_related = ("county", "user")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = selectors.official_linkable_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        services.official_save(official=obj, user=request.user)


@admin.register(Holiday)
class HolidayAdmin(SimpleHistoryAdmin):
    list_display = ("name", "name_zh", "slug", "start_date", "end_date", "ranking_basis",
                    "tie_style", "rankings_error")
    readonly_fields = ("rankings_error", "rankings_failed_at")
    search_fields = ("name", "name_zh", "slug")
    prepopulated_fields = {"slug": ("name",)}
    date_hierarchy = "start_date"

    def save_model(self, request, obj, form, change):
        services.holiday_save(holiday=obj, user=request.user)


class HolidayListFilter(admin.SimpleListFilter):
    title = _("holiday")
    parameter_name = "holiday"

    def lookups(self, request, model_admin):
        return [(h.slug, h.display_name) for h in Holiday.objects.all()]

    def queryset(self, request, queryset):
        if self.value():
            holiday = Holiday.objects.filter(slug=self.value()).first()
            if holiday is None:
                return queryset.none()
            return queryset.in_holiday(holiday)
        return queryset


def _evidence_link(evidence: SessionEvidence) -> str:
    # Through the view that checks the user may see the session: the stored file has no URL.
    return format_html('<a href="{}">{}</a>',
                       reverse("evidence_file", args=[evidence.session_id, evidence.pk]),
                       evidence.original_filename)


@admin.register(SessionEvidence)
class SessionEvidenceAdmin(SimpleHistoryAdmin):
    """Evidence files with their history (who uploaded and who deleted which file, when).
    Read only but for deleting, which goes through `services.evidence_delete`. Rights follow
    the session's: viewing sessions shows them, changing sessions deletes them."""

    list_display = ("original_filename", "session", "kind", "content_type", "size",
                    "uploaded_by", "uploaded_at")
    list_filter = ("kind", "content_type")
    search_fields = ("original_filename", "sha256", "session__title")
    list_select_related = ("session", "uploaded_by")
    fields = ("session", "file_link", "kind", "original_filename", "content_type", "size",
              "sha256", "uploaded_by", "uploaded_at")
    readonly_fields = fields
    date_hierarchy = "uploaded_at"

    @admin.display(description=_("file"))
    def file_link(self, evidence):
        return _evidence_link(evidence)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(VIEW_SESSIONS)

    def has_module_permission(self, request):
        return request.user.has_perm(VIEW_SESSIONS)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm(CHANGE_SESSIONS)

    def delete_model(self, request, obj):
        services.evidence_delete(evidence=obj, deleted_by=request.user)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for evidence in queryset:
                services.evidence_delete(evidence=evidence, deleted_by=request.user)


@admin.register(LivestreamSession)
class LivestreamSessionAdmin(SimpleHistoryAdmin):
    """Sessions in the admin: the same form rules as the pages (SessionAdminForm), saves and
    deletes through the services, the import page for spreadsheets (one importer, one set
    of checks) and a CSV export written by the API's exporter."""

    form = SessionAdminForm
    list_display = (
        "title",
        "official",
        "county",
        "platform",
        "started_at",
        "audience",
        "orders",
        "revenue",
        "refunds",
        "status",
    )
    list_filter = (HolidayListFilter, "status", "county", "platform", "started_at")
    search_fields = ("title", "products", "official__name", "county__name_zh", "county__name")
    date_hierarchy = "started_at"
    list_select_related = ("official", "county")
    readonly_fields = ("status", "verified_by", "verified_at", "rejection_reason",
                       "last_changed_by", "entered_by", "created_at", "updated_at",
                       "evidence_files")
    actions = ["export_csv", "verify_sessions", "reject_sessions"]
    inlines = [SessionItemInline]
    change_list_template = "admin/sessions_app/livestreamsession/change_list.html"

    @admin.display(description=_("evidence files"))
    def evidence_files(self, session):
        """The session's evidence, read only, with links (added on the session's page or
        through the API, where the content is checked). A list rather than an inline: an
        inline's formset would have to come back with every save of the session."""
        if session.pk is None:
            return "–"
        items = [
            format_html("<li>{} · {} · {} · {}</li>", _evidence_link(evidence),
                        evidence.get_kind_display(), filesizeformat(evidence.size),
                        evidence.uploaded_by or "–")
            for evidence in selectors.session_evidence_list(session_id=session.pk)
        ]
        listing = reverse("admin:sessions_app_sessionevidence_changelist")
        return format_html(
            '<ul class="evidence-files">{}</ul><a href="{}?session__id__exact={}">{}</a>',
            format_html_join("", "{}", ((item,) for item in items)) if items else "",
            listing, session.pk, _("Evidence files and their history"),
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        # `version` is the form's own hidden field (the version the edit started from), not
        # a model field the admin may edit: keep it out of the fields the admin asks for.
        if kwargs.get("fields"):
            kwargs["fields"] = [f for f in kwargs["fields"] if f != "version"]
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.session_values()
        # The inline's lines (already validated by the admin) go to the service with the
        # session, in the same save.
        lines = SessionItemFormSet(request.POST, instance=obj, prefix="items")
        if lines.is_bound and "items-TOTAL_FORMS" in request.POST and lines.is_valid():
            data["items"] = lines.item_values()
        try:
            if change:
                services.session_update(session=obj, updated_by=request.user, data=data,
                                        expected_version=form.cleaned_data["version"])
            else:
                saved = services.session_create(entered_by=request.user, **data)
                obj.pk = saved.pk
        except (ValidationError, services.SessionEditConflict) as error:
            # The form checked every rule a moment ago; a concurrent write got in between.
            # Nothing was saved: say so and send the user back to the form, not to a 500.
            request._session_not_saved = True
            text = str(error) if isinstance(error, services.SessionEditConflict) else " ".join(
                error.messages)
            messages.error(request, _("Nothing was saved: %(reason)s") % {"reason": text})

    def log_addition(self, request, obj, message):
        if not getattr(request, "_session_not_saved", False):
            return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if not getattr(request, "_session_not_saved", False):
            return super().log_change(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_session_not_saved", False):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "_session_not_saved", False):
            return HttpResponseRedirect(request.get_full_path())
        return super().response_change(request, obj)

    def save_related(self, request, form, formsets, change):
        # Co-hosts and item lines were saved by the service in save_model; the admin's log
        # message reads what its formsets would have saved: nothing.
        for formset in formsets:
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request, obj):
        services.session_delete(session=obj, deleted_by=request.user)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for session in queryset:
                services.session_delete(session=session, deleted_by=request.user)

    @admin.action(description=_("Verify the selected sessions"), permissions=["review"])
    def verify_sessions(self, request, queryset):
        self._review(request, queryset, lambda session: services.session_verify(
            session=session, reviewer=request.user), _("%(count)s sessions verified."))

    @admin.action(description=_("Reject the selected sessions…"), permissions=["review"])
    def reject_sessions(self, request, queryset):
        reason = (request.POST.get("reason") or "").strip()
        if not reason:
            # Ask for the reason first (an intermediate page, as Django's delete action).
            return TemplateResponse(request, "admin/sessions_app/livestreamsession/reject.html", {
                **self.admin_site.each_context(request),
                "opts": self.model._meta, "sessions": queryset,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "title": _("Reject sessions"),
            })
        self._review(request, queryset, lambda session: services.session_reject(
            session=session, reviewer=request.user, reason=reason),
            _("%(count)s sessions rejected."))

    def has_review_permission(self, request) -> bool:
        return request.user.has_perm("sessions_app.review_livestreamsession")

    def _review(self, request, queryset, review, done_message) -> None:
        done = 0
        for session in queryset:
            try:
                review(session)
            except (services.SessionReviewRefused, ValidationError) as error:
                reason = str(error) if isinstance(error, services.SessionReviewRefused) \
                    else " ".join(error.messages)
                self.message_user(request, f"{session.title}: {reason}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, done_message % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Export the selected sessions as CSV"),
                  permissions=["view"])
    def export_csv(self, request, queryset):
        return sessions_csv_response(sessions=queryset.order_by("-started_at", "id"))


@admin.register(SessionFlag)
class SessionFlagAdmin(admin.ModelAdmin):
    """Anomaly flags, read only: raised by `flags.session_flags_refresh`, dismissed on the
    session's page, the review queue or the API (`session_flag_dismiss`)."""

    list_display = ("session", "code", "message", "raised_at", "dismissed_by", "dismissed_at")
    list_filter = ("code", "holiday", ("dismissed_at", admin.EmptyFieldListFilter))
    list_select_related = ("session", "dismissed_by")
    search_fields = ("session__title",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # A flag goes with its session: whoever may delete the session may delete its flags
        # (the admin checks this when a session is deleted), never one flag on its own.
        return obj is not None and request.user.has_perm("sessions_app.delete_livestreamsession")
