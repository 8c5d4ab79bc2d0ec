"""The catalog search page (the same search the manual match uses)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from catalog.selectors import recording_search
from songforge.errors import DomainError
from songforge.forms import CatalogSearchForm
from songforge.pages import HtmxHttpRequest


@login_required
@require_GET
def search(request: HtmxHttpRequest) -> HttpResponse:
    form = CatalogSearchForm(request.GET or None)
    results: list[Any] = []
    error = ""
    query = form.cleaned_data["q"] if form.is_valid() else ""
    if query:
        try:
            results = list(recording_search(query=query, limit=25))
        except DomainError as exc:
            error = exc.message
    context = {"form": form, "results": results, "error": error, "query": query}
    template = "catalog/_results.html" if request.htmx else "catalog/search.html"
    return render(request, template, context)
