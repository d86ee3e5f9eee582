from django import forms
from django.utils.translation import gettext_lazy as _

from ..models import SessionEvidence


class EvidenceUploadForm(forms.Form):
    """Parses the upload only: what the file is and whether the session may take it is
    `services.evidence_add`'s to say."""

    file = forms.FileField(
        label=_("File"), allow_empty_file=True,
        widget=forms.ClearableFileInput(attrs={
            "accept": ".png,.jpg,.jpeg,.pdf,.xlsx,.csv,image/png,image/jpeg,application/pdf",
        }),
    )
    kind = forms.ChoiceField(
        label=_("Kind"), required=False,
        choices=[("", _("By file type")), *SessionEvidence.Kind.choices],
    )
