"""Server-rendered pages of the generation app, mounted under /songs/."""

from django.urls import URLPattern, URLResolver, path

from generation import views

app_name = "generation"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.song_list, name="song_list"),
    path("new", views.upload_set_new, name="upload_set_new"),
    path("sets/<int:pk>/", views.upload_set_detail, name="upload_set_detail"),
    path("sets/<int:pk>/slots", views.upload_set_slots, name="upload_set_slots"),
    path("sets/<int:pk>/upload", views.upload_create, name="upload_create"),
    path("sets/<int:pk>/generate", views.generation_create, name="generation_create"),
    path("uploads/<int:pk>/search", views.upload_search, name="upload_search"),
    path("uploads/<int:pk>/match", views.upload_match, name="upload_match"),
    path("uploads/<int:pk>/delete", views.upload_remove, name="upload_remove"),
    path("uploads/<int:pk>/identify", views.upload_reidentify, name="upload_reidentify"),
    path("<int:pk>/", views.generation_detail, name="generation_detail"),
    path("<int:pk>/progress", views.generation_progress, name="generation_progress"),
    path("<int:pk>/cancel", views.generation_stop, name="generation_stop"),
    path("<int:pk>/peaks.json", views.generation_peaks, name="generation_peaks"),
    path("<int:pk>/audio/<str:kind>", views.generation_audio, name="generation_audio"),
]
