"""API routes of the uploads app, mounted under /api/."""

from django.urls import URLPattern, URLResolver, path

from uploads import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("upload-sets/", api.UploadSetCreateApi.as_view(), name="api-upload-set-create"),
    path("upload-sets/<int:upload_set_id>/", api.UploadSetDetailApi.as_view(), name="api-upload-set-detail"),
    path("upload-sets/<int:upload_set_id>/uploads/", api.UploadAddApi.as_view(), name="api-upload-add"),
    path(
        "upload-sets/<int:upload_set_id>/readiness/",
        api.UploadSetReadinessApi.as_view(),
        name="api-upload-set-readiness",
    ),
    path("uploads/<int:upload_id>/", api.UploadDetailApi.as_view(), name="api-upload-detail"),
    path("uploads/<int:upload_id>/match/", api.UploadMatchApi.as_view(), name="api-upload-match"),
    path("uploads/<int:upload_id>/identify/", api.UploadIdentifyAgainApi.as_view(), name="api-upload-identify"),
]
