"""Forms of the generation pages."""

from __future__ import annotations

from django import forms

from generation.services.pipeline import LENGTH_CHOICES_S

DEFAULT_MINUTES = 2
MINUTE_CHOICES = [
    (str(seconds // 60), f"About {seconds // 60} minute{'s' if seconds > 60 else ''}") for seconds in LENGTH_CHOICES_S
]


class GenerateForm(forms.Form):
    """The generate button's options: the song's length, about 1, 2 or 3 minutes (2 when not given)."""

    minutes = forms.TypedChoiceField(
        choices=MINUTE_CHOICES,
        coerce=int,
        required=False,
        empty_value=str(DEFAULT_MINUTES),
        label="Length",
        error_messages={"invalid_choice": "Choose a length of about 1, 2 or 3 minutes."},
    )

    def seconds(self) -> int:
        """The requested length in seconds (call after ``is_valid``)."""
        return int(self.cleaned_data["minutes"]) * 60
