"""Server-rendered pages of the catalog app, mounted under /catalog/."""

from django.urls import URLPattern, URLResolver, path

from catalog import views

app_name = "catalog"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.search, name="search"),
]
