"""Forms of the session pages: the session form (writes through the services). The list's
filters are `filters.SessionListFilter`, the API's filterset plus a word search."""

from decimal import Decimal

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .models import County, ItemUnit, LivestreamSession, Official, Platform, SessionItem
from .services import (
    ITEM_FIELDS,
    SESSION_EDITABLE_FIELDS,
    SessionEditConflict,
    session_create,
    session_database_check,
    session_update,
)
from .validators import PARSE_MESSAGES
from .widgets import MomentInput, OfficialMultiPicker, OfficialPicker

# The session's own columns and co-hosts; item lines are the formset's (SessionItemFormSet).
SESSION_FORM_FIELDS = [name for name in SESSION_EDITABLE_FIELDS if name != "items"]

# Moments typed ("2020-05-03 20:30", widgets.MomentInput) or sent by a datetime-local box or
# a script ("2020-05-03T20:30"); read in the current time zone (Beijing).
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
DATETIME_INPUT_FORMATS = [DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def parse_errors(invalid: str | None = None, **more) -> dict:
    """Error messages of a form field that only parses: the rules are the model's."""
    messages = {"required": PARSE_MESSAGES["required"], **more}
    if invalid:
        messages["invalid"] = PARSE_MESSAGES[invalid]
    return messages


class OfficialChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Official) -> str:
        return f"{obj.name} · {obj.display_title} · {obj.county.display_name}"


class SessionFieldsForm(forms.ModelForm):
    """The fields of a session as the page form and the admin form read them.

    The fields only parse text into values (messages: validators.PARSE_MESSAGES); every
    rule is the model's (`_post_clean` runs its validators and `clean()`) and the
    database's (`session_database_check`), so a bad value gets the same message here as in
    the API and the import. `version` is the version an edit started from: a stale one is
    refused, nothing is overwritten.
    """

    official = OfficialChoiceField(
        label=_("official"),
        queryset=Official.objects.select_related("county").order_by("name", "id"),
        error_messages=parse_errors(invalid_choice=PARSE_MESSAGES["official_unknown"]),
        widget=OfficialPicker(),
    )
    county = forms.ModelChoiceField(
        label=_("county"),
        queryset=County.objects.all(),
        required=False,
        help_text=_("Leave empty to use the official's county."),
        error_messages=parse_errors(invalid_choice=PARSE_MESSAGES["county_unknown"]),
    )
    platform = forms.ChoiceField(
        label=_("platform"), choices=[("", "---------"), *Platform.choices],
        error_messages=parse_errors(invalid_choice=PARSE_MESSAGES["platform_unknown"]),
    )
    title = forms.CharField(label=_("title"), error_messages=parse_errors())
    products = forms.CharField(
        label=_("products"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    started_at = forms.DateTimeField(
        label=_("started at"), input_formats=DATETIME_INPUT_FORMATS, widget=MomentInput(),
        help_text=_("Beijing time."), error_messages=parse_errors("moment"),
    )
    ended_at = forms.DateTimeField(
        label=_("ended at"), input_formats=DATETIME_INPUT_FORMATS, widget=MomentInput(),
        help_text=_("Beijing time."), error_messages=parse_errors("moment"),
    )
    audience = forms.IntegerField(
        label=_("audience"), help_text=_("Viewer count reported by the platform."),
        error_messages=parse_errors("whole_number"),
    )
    orders = forms.IntegerField(label=_("orders"), error_messages=parse_errors("whole_number"))
    revenue = forms.DecimalField(
        label=_("revenue (yuan)"), error_messages=parse_errors("amount"),
    )
    refunded_orders = forms.IntegerField(
        label=_("refunded orders"), required=False, error_messages=parse_errors("whole_number"),
        help_text=_("Orders cancelled or refunded after the show (empty: none)."),
    )
    refunds = forms.DecimalField(
        label=_("refunds (yuan)"), required=False, error_messages=parse_errors("amount"),
        help_text=_("Money refunded for those orders (empty: none)."),
    )
    unique_viewers = forms.IntegerField(
        label=_("unique viewers"), required=False, error_messages=parse_errors("whole_number"),
        help_text=_("Distinct viewers the platform reports (optional)."),
    )
    peak_viewers = forms.IntegerField(
        label=_("peak viewers"), required=False, error_messages=parse_errors("whole_number"),
        help_text=_("Peak concurrent viewers (optional)."),
    )
    new_followers = forms.IntegerField(
        label=_("new followers"), required=False, error_messages=parse_errors("whole_number"),
        help_text=_("Followers gained during the show (optional)."),
    )
    hosts = forms.ModelMultipleChoiceField(
        label=_("co-hosts"), required=False,
        queryset=Official.objects.select_related("county").order_by("name", "id"),
        widget=OfficialMultiPicker(remember="cohost"),
        help_text=_("Other officials who hosted with the lead: each is credited with the "
                    "session's full figures on the officials' board; counties count it once."),
        error_messages=parse_errors(invalid_choice=PARSE_MESSAGES["official_unknown"],
                                    invalid_pk_value=PARSE_MESSAGES["official_unknown"]),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = LivestreamSession
        fields = SESSION_FORM_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Inactive officials host no new sessions (a rule of the service); the choices offer
        # the active ones, and an old session keeps its own official.
        field = self.fields["official"]
        field.choices = [("", "---------")] + [
            (official.pk, field.label_from_instance(official))
            for official in field.queryset.filter(
                Q(active=True) | Q(pk=self.instance.official_id)
            )
        ]
        if self.instance.pk:
            self.fields["version"].initial = self.instance.version
            self.fields["version"].required = True
        # Co-hosts likewise: active officials, and those already on the session.
        current = list(self.instance.hosts.values_list("pk", flat=True)) \
            if self.instance.pk else []
        hosts = self.fields["hosts"]
        hosts.queryset = hosts.queryset.filter(Q(active=True) | Q(pk__in=current))

    def clean_refunded_orders(self):
        return 0 if self.cleaned_data["refunded_orders"] is None else \
            self.cleaned_data["refunded_orders"]

    def clean_refunds(self):
        return Decimal("0.00") if self.cleaned_data["refunds"] is None else \
            self.cleaned_data["refunds"]

    def _post_clean(self) -> None:
        if self.cleaned_data.get("official") and not self.cleaned_data.get("county"):
            self.cleaned_data["county"] = self.cleaned_data["official"].county
        super()._post_clean()  # the model's validators and clean(), on the instance

    def validate_unique(self) -> None:
        # Nothing to do here: `clean()` repeats every check constraint (so the constraints
        # need not be tested with a query each), and the overlap rule is the service's.
        pass

    def session_values(self) -> dict:
        values = {name: self.cleaned_data[name] for name in SESSION_FORM_FIELDS}
        values["hosts"] = list(values["hosts"])
        return values

    def add_service_errors(self, error: ValidationError) -> None:
        """Show a service's ValidationError next to the fields it names."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, messages in error.message_dict.items():
            target = field if field in self.fields else None
            if field == "items":  # the lines' rules: shown above the form, naming the line
                for message in messages:
                    self.add_error(None, message)
                continue
            if field != NON_FIELD_ERRORS and target is None:
                messages = [f"{field}: {message}" for message in messages]
            for message in messages:
                self.add_error(target, message)


class LivestreamSessionForm(SessionFieldsForm):
    """Enter or correct a session on the pages. `save()` goes through `session_create` /
    `session_update`, so the form applies exactly the rules every other entry path does;
    the service's errors come back next to their fields."""

    def save(self, *, user, commit: bool = True, items: list[dict] | None = None
             ) -> LivestreamSession:
        """Create or update through the services (with the item lines of the formset, when
        given); on a rule broken, add the errors to the form and raise ValidationError (the
        view re-renders the form)."""
        if not commit:
            raise ValueError("The session form always saves through the services.")
        data = self.session_values()
        if items is not None:
            data["items"] = items
        try:
            if self.instance.pk:
                return session_update(
                    session=self.instance,
                    updated_by=user,
                    data=data,
                    expected_version=self.cleaned_data["version"],
                )
            return session_create(entered_by=user, **data)
        except SessionEditConflict as conflict:
            self.add_error(None, str(conflict))
            raise ValidationError(str(conflict)) from conflict
        except ValidationError as error:
            self.add_service_errors(error)
            raise


class SessionAdminForm(SessionFieldsForm):
    """The admin's session form: the same fields, and the rules that read the database and
    the version checked before the admin saves (through the service, LivestreamSessionAdmin),
    so a broken rule is a form error there too."""

    def clean(self):
        cleaned = super().clean()
        version = cleaned.get("version")
        if self.instance.pk and version is not None:
            current = LivestreamSession.objects.filter(pk=self.instance.pk).values_list(
                "version", flat=True
            ).first()
            if current != version:
                raise ValidationError(str(SessionEditConflict(current_version=current or 0)))
        return cleaned

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        previous = None
        if self.instance.pk:
            previous = LivestreamSession.objects.filter(pk=self.instance.pk).values_list(
                "official_id", flat=True
            ).first()
        try:
            session_database_check(session=self.instance, previous_official_id=previous)
        except ValidationError as error:
            self.add_service_errors(error)


class SessionItemForm(forms.ModelForm):
    """One item line of the session form: parsing only; the rules are the model's and the
    service's (quantity > 0, a known unit, the lines' revenues at most the session's)."""

    name = forms.CharField(label=_("product"), error_messages=parse_errors())
    quantity = forms.DecimalField(label=_("quantity"), error_messages=parse_errors("number"))
    unit = forms.ChoiceField(
        label=_("unit"), choices=[("", "---------"), *ItemUnit.choices],
        error_messages=parse_errors(invalid_choice=PARSE_MESSAGES["unit_unknown"]),
    )
    revenue = forms.DecimalField(label=_("revenue (yuan)"),
                                 error_messages=parse_errors("amount"))

    class Meta:
        model = SessionItem
        fields = list(ITEM_FIELDS)
        labels = {"poverty_relief_product": _("certified poverty-alleviation")}

    def validate_unique(self) -> None:
        pass


class _SessionItemBaseFormSet(forms.BaseInlineFormSet):
    def item_values(self) -> list[dict]:
        """The lines to keep, as the service takes them (deleted and empty lines left out)."""
        return [
            {name: form.cleaned_data[name] for name in ITEM_FIELDS}
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]


SessionItemFormSet = forms.inlineformset_factory(
    LivestreamSession, SessionItem, form=SessionItemForm, formset=_SessionItemBaseFormSet,
    fields=list(ITEM_FIELDS), extra=3, can_delete=True, max_num=200, validate_max=True,
)


class RejectionForm(forms.Form):
    """Reject a session: the reason, and the version the reviewer looked at."""

    reason = forms.CharField(label=_("Reason for rejecting"), widget=forms.Textarea,
                             error_messages=parse_errors())
    version = forms.IntegerField(widget=forms.HiddenInput, error_messages=parse_errors())


class BulkReviewForm(forms.Form):
    """The list's review of ticked sessions: verify them all, or reject them with a reason."""

    sessions = forms.TypedMultipleChoiceField(coerce=int, choices=(), error_messages={
        "required": _("Tick the sessions to verify or reject.")})
    action = forms.ChoiceField(choices=[("verify", _("Verify")), ("reject", _("Reject"))])
    reason = forms.CharField(required=False, label=_("Reason for rejecting"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any id: the view reads the sessions that exist; this only checks they are numbers.
        self.fields["sessions"].valid_value = lambda value: str(value).isdigit()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") == "reject" and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", PARSE_MESSAGES["required"])
        return cleaned
