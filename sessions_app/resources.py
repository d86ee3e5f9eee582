"""Spreadsheet import/export of sessions through django-import-export (used by the admin).

Each row is validated with the model's full_clean(), so the per-row error report names the
column and the reason; the import runs in one transaction and marks the holidays it touched
stale once, at the end.
"""

from import_export import fields, resources, widgets

from .models import County, LivestreamSession, Official
from .services import SESSION_EDITABLE_FIELDS, local_date, rankings_mark_stale


class SessionResource(resources.ModelResource):
    official = fields.Field(
        attribute="official",
        column_name="official",
        widget=widgets.ForeignKeyWidget(Official, "pk"),
    )
    county = fields.Field(
        attribute="county",
        column_name="county",
        widget=widgets.ForeignKeyWidget(County, "slug"),
    )

    class Meta:
        model = LivestreamSession
        fields = ("id", *SESSION_EDITABLE_FIELDS)
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = False

    def before_import(self, dataset, **kwargs):
        self._touched_days = set()
        self._user = kwargs.get("user")

    def after_init_instance(self, instance, new, row, **kwargs):
        if not new:
            # The old date matters too: an edit can move a session out of a holiday.
            self._touched_days.add(local_date(instance.started_at))

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        if instance.county_id is None and instance.official_id is not None:
            instance.county = instance.official.county

    def before_save_instance(self, instance, row, **kwargs):
        instance._history_user = self._user
        if instance.pk is None:
            instance.entered_by = self._user
        else:
            instance.version += 1

    def after_save_instance(self, instance, row, **kwargs):
        self._touched_days.add(local_date(instance.started_at))

    def after_import(self, dataset, result, **kwargs):
        failed = result.has_errors() or result.has_validation_errors()
        if not kwargs.get("dry_run") and not failed:
            rankings_mark_stale(days=self._touched_days)
