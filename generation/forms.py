"""Forms of the generation pages."""

from __future__ import annotations

from django import forms

from generation.services.pipeline import LENGTH_CHOICES_S

DEFAULT_MINUTES = 2
MINUTE_CHOICES = [
    (str(seconds // 60), f"About {seconds // 60} minute{'s' if seconds > 60 else ''}") for seconds in LENGTH_CHOICES_S
]


class GenerateForm(forms.Form):
    """The generate button's options: the song's length, about 1, 2 or 3 minutes.

    The page preselects ``DEFAULT_MINUTES``; a POST without a length gets the operator's
    ``SONGFORGE_GENERATION_SECONDS`` (120 s unless configured).
    """

    minutes = forms.TypedChoiceField(
        choices=MINUTE_CHOICES,
        coerce=int,
        required=False,
        empty_value=None,
        label="Length",
        error_messages={"invalid_choice": "Choose a length of about 1, 2 or 3 minutes."},
    )

    def seconds(self) -> int | None:
        """The requested length in seconds, or None for the configured default (call after ``is_valid``)."""
        minutes = self.cleaned_data["minutes"]
        return None if minutes is None else int(minutes) * 60
