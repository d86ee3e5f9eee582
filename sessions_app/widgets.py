"""Form widgets of the session pages.

`OfficialPicker` (and `OfficialMultiPicker`, for several officials such as co-hosts): a
<select> of officials grouped by county, each option carrying the search keys that
`static/js/combobox.js` turns into a searchable combobox (Tom Select, vendored under
`static/vendor/tom-select/`): name, pinyin initials ("hzy" finds 贺志远), county. Without
JavaScript it is a plain grouped <select>, which still works.

`MomentInput`: a text box for "YYYY-MM-DD HH:MM" (Beijing time) that can be typed and pasted
into, which the browser's datetime-local box cannot (seven Tab stops, no paste).
"""

from django import forms
from django.utils.translation import gettext as _

from .models import Official

# What a moment box shows and the pattern it accepts (seconds optional, as the server's).
MOMENT_FORMAT = "%Y-%m-%d %H:%M"
MOMENT_PATTERN = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?"


class OfficialPickerMixin:
    """Groups the field's choices by the officials' counties (counties in pinyin order, the
    order of their romanised names; officials by the pinyin of their names), with one query
    for the officials among the choices, and marks the <select> for combobox.js.

    `remember` names where the browser keeps the last choices (localStorage), offered first
    the next time; pickers with the same name share them.
    """

    def __init__(self, attrs=None, *, remember: str = "official"):
        base = {"class": "combobox", "data-combobox": "official", "data-remember": remember}
        super().__init__({**base, **(attrs or {})})
        self._officials: dict[str, Official] = {}

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        # Words of the combobox, in the page's language.
        context["widget"]["attrs"].setdefault("data-label-recent", _("Chosen recently"))
        context["widget"]["attrs"].setdefault(
            "data-label-none", _("No official matches: try the pinyin initials, e.g. hzy."))
        context["widget"]["attrs"].setdefault(
            "data-placeholder", _("Type a name, its pinyin initials or a county"))
        return context

    def optgroups(self, name, value, attrs=None):
        flat = []
        for option_value, option_label in self.choices:
            if isinstance(option_label, list | tuple):
                flat.extend(option_label)
            else:
                flat.append((option_value, option_label))
        keys = {str(v) for v, _label in flat if str(v).isdigit()}
        self._officials = {
            str(official.pk): official
            for official in Official.objects.filter(pk__in=keys).select_related("county")
        }
        ungrouped = [(v, label) for v, label in flat if str(v) not in self._officials]
        by_county: dict[int, list] = {}
        for option_value, option_label in flat:
            official = self._officials.get(str(option_value))
            if official is not None:
                by_county.setdefault(official.county_id, []).append(
                    (option_value, option_label, official))
        counties = sorted(
            (rows[0][2].county for rows in by_county.values()), key=lambda c: (c.name, c.pk)
        )
        groups, selected_one = [], False
        for index, (group_name, rows) in enumerate(
            [(None, [(v, label, None) for v, label in ungrouped])]
            + [(county.display_name,
                sorted(by_county[county.pk], key=lambda r: (r[2].name_pinyin, r[2].name)))
               for county in counties]
        ):
            options = []
            for subindex, (option_value, option_label, _official) in enumerate(rows):
                chosen = str("" if option_value is None else option_value) in value and (
                    self.allow_multiple_selected or not selected_one)
                selected_one |= chosen
                options.append(self.create_option(
                    name, "" if option_value is None else option_value, option_label, chosen,
                    index, subindex=None if group_name is None else subindex, attrs=attrs))
            if options:
                groups.append((group_name, options, index))
        return groups

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index,
                                       subindex=subindex, attrs=attrs)
        official = self._officials.get(str(value))
        if official is not None:
            county = official.county
            option["attrs"].update({
                "data-pinyin": official.name_pinyin,
                "data-county": f"{county.name_zh} {county.name}",
            })
        return option


class OfficialPicker(OfficialPickerMixin, forms.Select):
    pass


class OfficialMultiPicker(OfficialPickerMixin, forms.SelectMultiple):
    pass


class MomentInput(forms.DateTimeInput):
    """A date and time, Beijing time, as "2020-05-03 20:30": typed or pasted whole
    (`static/js/session-form.js` also reads "2020/5/3 20:30", "2020年5月3日 20:30" and a
    pasted range "2020-05-03 20:30-22:30" into the start and end)."""

    input_type = "text"

    def __init__(self, attrs=None):
        base = {"data-moment": "", "pattern": MOMENT_PATTERN, "placeholder": "2020-05-03 20:30",
                "autocomplete": "off", "spellcheck": "false", "maxlength": "32",
                "inputmode": "text"}
        super().__init__(attrs={**base, **(attrs or {})}, format=MOMENT_FORMAT)
