from django.contrib import admin

from .models import Publication, Target
from .targets import target_save, targets_progress


@admin.register(Target)
class TargetAdmin(admin.ModelAdmin):
    """The staff's form for targets: saves through `target_save`, like the API."""

    list_display = ("holiday", "official", "county", "metric", "value", "progress")
    list_filter = ("holiday", "metric")
    search_fields = ("official__name", "county__name", "county__name_zh")
    autocomplete_fields = ("official", "county")
    list_select_related = ("holiday", "official", "county")
    fields = ("holiday", "official", "county", "metric", "value")

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        changelist.result_list = targets_progress(list(changelist.result_list))
        return changelist

    @admin.display(description="%")
    def progress(self, obj) -> str:
        progress = getattr(obj, "progress", None)
        return f"{progress.percent}%" if progress else "–"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "metric":
            from django import forms

            from .targets import metric_label, target_metrics

            return forms.ChoiceField(choices=[(m, metric_label(m)) for m in target_metrics()],
                                     label=db_field.verbose_name)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        target_save(target=obj, user=request.user)


@admin.register(Publication)
class PublicationAdmin(admin.ModelAdmin):
    """Published revisions, read only: they are made by `holiday_publish` (the dashboard or
    the API) and never change."""

    list_display = ("holiday", "revision", "published_at", "published_by", "note")
    list_filter = ("holiday",)
    list_select_related = ("holiday", "published_by")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
