"""Server-rendered pages of the distribution app, mounted under /releases/."""

from django.urls import URLPattern, URLResolver, path

from distribution import views

app_name = "distribution"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.release_list, name="release_list"),
    path("publish/<int:generation_pk>", views.publish, name="publish"),
    path("<int:pk>/", views.release_detail, name="release_detail"),
]
