"""The publish form: it parses input; ``distribution.services`` holds the rules."""

from __future__ import annotations

from django import forms

from songforge.text import no_control_characters, no_control_characters_multiline

AI_DISCLOSURE = (
    "This recording was composed, arranged and produced with generative AI (SongForge) "
    "from ten source songs whose rights holders share its earnings."
)


class PublishForm(forms.Form):
    title = forms.CharField(label="Title", max_length=300, validators=[no_control_characters])
    artist_name = forms.CharField(label="Artist name", max_length=300, validators=[no_control_characters])
    artwork = forms.FileField(
        label="Artwork",
        required=False,
        help_text="A 3000×3000 JPEG or PNG. Leave it empty and SongForge makes one for you.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png"}),
    )
    genre = forms.CharField(label="Genre", max_length=100, initial="Pop", validators=[no_control_characters])
    language = forms.CharField(
        label="Language",
        max_length=8,
        initial="en",
        validators=[no_control_characters],
        help_text="ISO 639 code of the lyrics or title: en, fr, de…",
    )
    ai_disclosure = forms.CharField(
        label="AI-generation disclosure",
        initial=AI_DISCLOSURE,
        max_length=2000,
        validators=[no_control_characters_multiline],
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Stores require releases made with AI to say so.",
    )
