"""API routes of the catalog app, mounted under /api/."""

from django.urls import URLPattern, URLResolver, path

from catalog import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("catalog/search", api.RecordingSearchApi.as_view(), name="catalog-search"),
]
