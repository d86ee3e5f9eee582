"""Query filters of the API's lists and the session list page (design.md: sessions by
holiday, county, official, platform, started_after, started_before).

A filter value that names nothing (an unknown holiday, a platform we do not list, a date
that is not a date) is a 400 with the parameter's name, never an empty list: a typo must
not look like "no sessions".
"""

import re

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

from linfen_tracker.choices import ChoiceFilter

from .flags import FLAG_CODES, flag_label
from .models import County, Holiday, LivestreamSession, Official, Platform, SessionStatus
from .validators import year_in_range, year_range_message
from .widgets import MomentInput, OfficialPicker

# Ids are 64-bit: a longer number would overflow the database's integer, so it names nothing.
_ID_RE = re.compile(r"[0-9]{1,18}")
_SLUG_RE = re.compile(r"[-a-zA-Z0-9_]{1,60}")


class IdOrSlugField(forms.ModelChoiceField):
    """A model instance named by its id (digits) or, when `slug_field` is set, its slug."""

    default_error_messages = {
        "invalid_choice": _("No such item: %(value)s."),
    }

    def __init__(self, *args, slug_field: str | None = None, **kwargs):
        self.slug_field = slug_field
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        key = str(value).strip()
        if _ID_RE.fullmatch(key):
            lookup = {"pk": int(key)}
        elif self.slug_field and _SLUG_RE.fullmatch(key):
            lookup = {self.slug_field: key}
        else:
            lookup = None
        found = self.queryset.filter(**lookup).first() if lookup else None
        if found is None:
            raise ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": key[:80]},
            )
        return found

    def prepare_value(self, value):
        # A slug from the query string is shown as the chosen option of a select, which
        # lists the choices by id.
        if isinstance(value, str) and self.slug_field:
            key = value.strip()
            if not _ID_RE.fullmatch(key) and _SLUG_RE.fullmatch(key):
                found = (self.queryset.filter(**{self.slug_field: key})
                         .values_list("pk", flat=True).first())
                if found is not None:
                    return found
        return super().prepare_value(value)


class IdOrSlugFilter(django_filters.ModelChoiceFilter):
    field_class = IdOrSlugField


class BoundedIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time (naive ones are Beijing time) within FIRST_YEAR..LAST_YEAR."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is not None and not year_in_range(result):
            raise ValidationError(year_range_message(), code="out_of_range")
        return result


class BoundedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


# A moment typed or pasted as "2020-05-01 10:00", Beijing time (widgets.MomentInput).
_DATETIME_INPUT = MomentInput()


def _id_or_slug_schema(description) -> dict:
    return {"type": "string", "pattern": r"^[-a-zA-Z0-9_]+$", "description": description}


class LivestreamSessionFilter(django_filters.FilterSet):
    """Sessions by holiday (id or slug), county (id or slug), official, platform and start
    time: the API's list and export, and the session list page (`SessionListFilter`)."""

    holiday = extend_schema_field(
        _id_or_slug_schema(_("Sessions that started on a day of this holiday (id or slug), "
                             "in Beijing time."))
    )(
        IdOrSlugFilter(
            queryset=Holiday.objects.all(), slug_field="slug", method="filter_holiday",
            label=_("holiday"), empty_label=_("All holidays"),
        )
    )
    county = extend_schema_field(
        _id_or_slug_schema(_("Sessions held for this county (id or slug)."))
    )(IdOrSlugFilter(queryset=County.objects.all(), slug_field="slug", label=_("county"),
                     empty_label=_("All counties")))
    official = extend_schema_field(
        {"type": "integer", "minimum": 1,
         "description": _("Sessions hosted by this official (id).")}
    )(IdOrSlugFilter(queryset=Official.objects.all(), label=_("official"),
                     empty_label=_("All officials"), widget=OfficialPicker()))
    platform = ChoiceFilter(
        choices=Platform.choices, label=_("platform"), empty_label=_("All platforms"),
        help_text=_("Sessions on this platform."),
    )
    status = ChoiceFilter(
        choices=SessionStatus.choices, label=_("status"), empty_label=_("All statuses"),
        help_text=_("Sessions in this verification status."),
    )
    flagged = django_filters.BooleanFilter(
        label=_("flagged"), method="filter_flagged",
        help_text=_("Sessions with (true) or without (false) an open anomaly flag; a "
                    "dismissed flag does not count."),
    )
    flag = ChoiceFilter(
        choices=lambda: [(code, flag_label(code)) for code in FLAG_CODES], label=_("flag"),
        empty_label=_("All flags"), method="filter_flag",
        help_text=_("Sessions with an open anomaly flag of this rule."),
    )
    started_after = BoundedIsoDateTimeFilter(
        field_name="started_at", lookup_expr="gte", label=_("started at or after"),
        help_text=_("Sessions that started at or after this moment (ISO 8601; without an "
                    "offset, Beijing time)."),
        widget=_DATETIME_INPUT,
    )
    started_before = BoundedIsoDateTimeFilter(
        field_name="started_at", lookup_expr="lt", label=_("started before"),
        help_text=_("Sessions that started before this moment (ISO 8601; without an offset, "
                    "Beijing time)."),
        widget=_DATETIME_INPUT,
    )

    class Meta:
        model = LivestreamSession
        fields = ["holiday", "county", "official", "platform", "status", "flagged", "flag",
                  "started_after", "started_before"]

    def filter_holiday(self, queryset, name, value: Holiday):
        return queryset.in_holiday(value)

    def filter_flagged(self, queryset, name, value: bool | None):
        if value is None:
            return queryset
        return queryset.flagged() if value else queryset.not_flagged()

    def filter_flag(self, queryset, name, value: str):
        return queryset.flagged(value) if value else queryset


class SessionListFilter(LivestreamSessionFilter):
    """The session list page's filters: the API's, plus words in the title or products."""

    q = django_filters.CharFilter(label=_("search"), method="filter_text")

    class Meta(LivestreamSessionFilter.Meta):
        fields = [*LivestreamSessionFilter.Meta.fields, "q"]

    def filter_text(self, queryset, name, value: str):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(title__icontains=value) | Q(products__icontains=value))


class OfficialFilter(django_filters.FilterSet):
    county = extend_schema_field(
        _id_or_slug_schema(_("Officials of this county (id or slug)."))
    )(IdOrSlugFilter(queryset=County.objects.all(), slug_field="slug", label=_("county")))
    active = django_filters.BooleanFilter(
        label=_("active"), help_text=_("Only active (true) or inactive (false) officials.")
    )

    class Meta:
        model = Official
        fields = ["county", "active"]
