"""Server-rendered upload-set pages, mounted under /songs/ next to the generation pages."""

from django.urls import URLPattern, URLResolver, path

from uploads import views

app_name = "uploads"
urlpatterns: list[URLPattern | URLResolver] = [
    path("new", views.upload_set_new, name="upload_set_new"),
    path("sets/<int:pk>/", views.upload_set_detail, name="upload_set_detail"),
    path("sets/<int:pk>/slots", views.upload_set_slots, name="upload_set_slots"),
    path("sets/<int:pk>/upload", views.upload_create, name="upload_create"),
    path("uploads/<int:pk>/search", views.upload_search, name="upload_search"),
    path("uploads/<int:pk>/match", views.upload_match, name="upload_match"),
    path("uploads/<int:pk>/delete", views.upload_remove, name="upload_remove"),
    path("uploads/<int:pk>/identify", views.upload_reidentify, name="upload_reidentify"),
]
