"""Server-rendered pages of the generation app, mounted under /songs/ (the upload-set pages are in uploads.urls)."""

from django.urls import URLPattern, URLResolver, path

from generation import views

app_name = "generation"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.song_list, name="song_list"),
    path("sets/<int:pk>/generate", views.generation_create, name="generation_create"),
    path("<int:pk>/", views.generation_detail, name="generation_detail"),
    path("<int:pk>/progress", views.generation_progress, name="generation_progress"),
    path("<int:pk>/cancel", views.generation_stop, name="generation_stop"),
    path("<int:pk>/retry", views.generation_retry_view, name="generation_retry"),
    path("<int:pk>/keep", views.generation_keep, name="generation_keep"),
    path("<int:pk>/peaks.json", views.generation_peaks, name="generation_peaks"),
    path("<int:pk>/audio/<str:kind>", views.generation_audio, name="generation_audio"),
]
