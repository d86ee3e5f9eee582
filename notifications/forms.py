from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import Channel, Kind


def _name(kind: str, channel: str) -> str:
    return f"{kind}__{channel}"


class PreferencesForm(forms.Form):
    """One checkbox per kind and channel, and the language of the emails."""

    language = forms.ChoiceField(label=_("Language of my emails"), choices=settings.LANGUAGES)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for kind in Kind:
            for channel in Channel:
                self.fields[_name(kind, channel)] = forms.BooleanField(
                    required=False, label=f"{kind.label} · {channel.label}")

    @staticmethod
    def initial_from(*, preferences: dict, language: str) -> dict:
        return {"language": language,
                **{_name(k, c): on for (k, c), on in preferences.items()}}

    def rows(self):
        """(kind label, [bound field per channel]) for the table."""
        return [(kind.label, [self[_name(kind, channel)] for channel in Channel])
                for kind in Kind]

    def choices(self) -> dict[tuple[str, str], bool]:
        return {(kind.value, channel.value): self.cleaned_data[_name(kind, channel)]
                for kind in Kind for channel in Channel}
