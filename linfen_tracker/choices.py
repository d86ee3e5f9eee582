"""The refusal of a value that is not one of a field's choices, the same in every API
serializer and query filter: it names the valid values, so a client that sent
`scope=officials` learns that `official` and `county` are what is taken.

`ChoiceField` is the DRF field (ModelSerializers get it through `serializer_choice_field`);
`ChoiceFilter` the django-filter filter (the API's query filters and the session list page).
"""

from collections.abc import Iterable

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.text import get_text_list
from django.utils.translation import gettext
from rest_framework import serializers

# A refused value is echoed back; a megabyte of it is not.
_ECHOED_LENGTH = 80


def invalid_choice_message(*, value: object, choices: Iterable[object]) -> str:
    """'"officials" is not a valid choice: use official or county.' in the active language;
    `choices` are the values the field takes (not their labels), in the field's order."""
    return gettext('"%(value)s" is not a valid choice: use %(choices)s.') % {
        "value": str(value)[:_ECHOED_LENGTH],
        "choices": get_text_list([str(choice) for choice in choices]),
    }


class ChoiceField(serializers.ChoiceField):
    """DRF's ChoiceField whose refusal names the valid values."""

    def fail(self, key: str, **kwargs):
        if key == "invalid_choice":
            raise serializers.ValidationError(
                invalid_choice_message(value=kwargs.get("input", ""),
                                       choices=self.choice_strings_to_values),
                code=key,
            )
        return super().fail(key, **kwargs)


class ChoiceFilterField(django_filters.fields.ChoiceField):
    """django-filter's ChoiceField whose refusal names the valid values (not the empty or
    null choices a select adds)."""

    def validate(self, value) -> None:
        try:
            super().validate(value)
        except DjangoValidationError as error:
            if error.code != "invalid_choice":
                raise
            valid = [key for key, _label in self._flat_choices()
                     if key not in ("", None, self.null_value)]
            # Through params: django-filter formats the message with them, so a "%" in the
            # echoed value stays text instead of breaking the formatting (a 500).
            raise DjangoValidationError(
                "%(message)s", code="invalid_choice",
                params={"message": invalid_choice_message(value=value, choices=valid)},
            ) from error

    def _flat_choices(self):
        for key, label in self.choices:
            if isinstance(label, (list, tuple)):
                yield from label
            else:
                yield key, label


class ChoiceFilter(django_filters.ChoiceFilter):
    field_class = ChoiceFilterField
