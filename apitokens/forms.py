from django import forms
from django.conf import settings

from songforge.text import no_control_characters


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        validators=[no_control_characters],
        help_text="What will use it, e.g. 'Label accounting export'.",
    )
    expires_in_days = forms.IntegerField(
        min_value=1,
        max_value=settings.API_TOKEN_MAX_DAYS,
        initial=settings.API_TOKEN_DEFAULT_DAYS,
        label="Expires in (days)",
    )
