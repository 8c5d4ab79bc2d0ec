"""Forms of the catalog pages: they parse input only."""

from __future__ import annotations

from django import forms


class CatalogSearchForm(forms.Form):
    q = forms.CharField(label="Search the catalog", max_length=200, required=False, strip=True)
