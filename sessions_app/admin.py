from django.contrib import admin
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin
from simple_history.admin import SimpleHistoryAdmin

from . import selectors, services
from .models import County, Holiday, LivestreamSession, Official
from .resources import SessionResource


@admin.register(County)
class CountyAdmin(SimpleHistoryAdmin):
    list_display = ("name_zh", "name", "slug", "kind", "poverty_relief_key")
    list_filter = ("kind", "poverty_relief_key")
    list_editable = ("poverty_relief_key",)
    search_fields = ("name", "name_zh", "slug")
    ordering = ("name",)


@admin.register(Official)
class OfficialAdmin(SimpleHistoryAdmin):
    list_display = ("name", "title", "county", "active", "user")
    list_filter = ("active", "county")
    search_fields = ("name", "title", "county__name", "county__name_zh")
    # Not `user`: the autocomplete would offer every account, staff and superusers too.
    autocomplete_fields = ("county",)
    list_select_related = ("county", "user")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = selectors.official_linkable_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Holiday)
class HolidayAdmin(SimpleHistoryAdmin):
    list_display = ("name", "slug", "start_date", "end_date")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    date_hierarchy = "start_date"

    def save_model(self, request, obj, form, change):
        services.holiday_save(holiday=obj, user=request.user)


class HolidayListFilter(admin.SimpleListFilter):
    title = _("holiday")
    parameter_name = "holiday"

    def lookups(self, request, model_admin):
        return [(h.slug, h.name) for h in Holiday.objects.all()]

    def queryset(self, request, queryset):
        if self.value():
            holiday = Holiday.objects.filter(slug=self.value()).first()
            if holiday is None:
                return queryset.none()
            return queryset.in_holiday(holiday)
        return queryset


@admin.register(LivestreamSession)
class LivestreamSessionAdmin(ImportExportModelAdmin, SimpleHistoryAdmin):
    resource_classes = [SessionResource]
    list_display = (
        "title",
        "official",
        "county",
        "platform",
        "started_at",
        "audience",
        "orders",
        "revenue",
    )
    list_filter = (HolidayListFilter, "county", "platform", "started_at")
    search_fields = ("title", "products", "official__name", "county__name_zh", "county__name")
    date_hierarchy = "started_at"
    autocomplete_fields = ("official", "county")
    list_select_related = ("official", "county")
    readonly_fields = ("entered_by", "created_at", "updated_at", "version")

    def save_model(self, request, obj, form, change):
        data = {f: getattr(obj, f) for f in services.SESSION_EDITABLE_FIELDS}
        if change:
            services.session_update(session=obj, updated_by=request.user, data=data)
        else:
            county = data.pop("county", None)
            saved = services.session_create(entered_by=request.user, county=county, **data)
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.session_delete(session=obj, deleted_by=request.user)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for session in queryset:
                services.session_delete(session=session, deleted_by=request.user)
