"""Forms of the session pages: the session form (writes through the services). The list's
filters are `filters.SessionListFilter`, the API's filterset plus a word search."""

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .models import County, LivestreamSession, Official
from .services import SessionEditConflict, session_create, session_update

# What <input type="datetime-local"> sends and shows; read in the current time zone (Beijing).
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format=DATETIME_LOCAL, **kwargs)


class OfficialChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Official) -> str:
        return f"{obj.name} · {obj.title} · {obj.county.display_name}"


class LivestreamSessionForm(forms.ModelForm):
    """Enter or correct a session. `save()` goes through `session_create`/`session_update`,
    so the form applies exactly the rules every other entry path does; the service's field
    errors come back next to their fields.

    Editing carries the `version` the form was loaded at: if someone saved the session in
    between, the save is refused with a form error and nothing is overwritten.
    """

    official = OfficialChoiceField(
        label=_("official"),
        queryset=Official.objects.select_related("county").order_by("name", "id"),
    )
    county = forms.ModelChoiceField(
        label=_("county"),
        queryset=County.objects.all(),
        required=False,
        help_text=_("Leave empty to use the official's county."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = LivestreamSession
        fields = [
            "official", "county", "platform", "title", "products", "started_at", "ended_at",
            "audience", "orders", "revenue",
        ]
        field_classes = {"started_at": forms.DateTimeField, "ended_at": forms.DateTimeField}
        widgets = {
            "started_at": DateTimeLocalInput(),
            "ended_at": DateTimeLocalInput(),
            "products": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {
            "started_at": _("Beijing time."),
            "ended_at": _("Beijing time."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("started_at", "ended_at"):
            self.fields[name].input_formats = [DATETIME_LOCAL, "%Y-%m-%d %H:%M",
                                               "%Y-%m-%d %H:%M:%S"]
        # Inactive officials host no new sessions, but an old session keeps its official.
        self.fields["official"].queryset = self.fields["official"].queryset.filter(
            Q(active=True) | Q(pk=self.instance.official_id)
        )
        if self.instance.pk:
            self.fields["version"].initial = self.instance.version
        else:
            del self.fields["version"]
        # The browser checks nothing the server would not: every error is explained here.
        for field in self.fields.values():
            field.widget.attrs.pop("min", None)

    def save(self, *, user, commit: bool = True) -> LivestreamSession:
        """Create or update through the services; on a rule broken, add the errors to the
        form and raise ValidationError (the view re-renders the form)."""
        if not commit:
            raise ValueError("The session form always saves through the services.")
        data = {name: self.cleaned_data[name] for name in self._meta.fields}
        data["county"] = data["county"] or data["official"].county
        try:
            if self.instance.pk:
                return session_update(
                    session=self.instance,
                    updated_by=user,
                    data=data,
                    expected_version=self.cleaned_data.get("version"),
                )
            return session_create(entered_by=user, **data)
        except SessionEditConflict as conflict:
            self.add_error(None, str(conflict))
            raise ValidationError(str(conflict)) from conflict
        except ValidationError as error:
            self._add_service_errors(error)
            raise

    def _add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, messages in error.message_dict.items():
            target = field if field in self.fields else None
            if field != NON_FIELD_ERRORS and target is None:
                messages = [f"{field}: {message}" for message in messages]
            for message in messages:
                self.add_error(target, message)

