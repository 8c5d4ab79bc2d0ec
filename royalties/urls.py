"""Server-rendered pages of the royalties app, mounted under /earnings/."""

from django.urls import URLPattern, URLResolver, path

from royalties import views

app_name = "royalties"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.earnings, name="earnings"),
]
