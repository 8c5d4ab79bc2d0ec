"""Server-rendered pages of the royalties app."""

from django.urls import URLPattern, URLResolver

app_name = "royalties"
urlpatterns: list[URLPattern | URLResolver] = []
