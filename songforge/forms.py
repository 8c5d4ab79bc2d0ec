"""Forms shared by several apps' pages: they parse input only."""

from __future__ import annotations

from django import forms


class CatalogSearchForm(forms.Form):
    """The catalog search box: the catalog's search page and the fix-a-match panel of an upload."""

    q = forms.CharField(label="Search the catalog", max_length=200, required=False, strip=True)
