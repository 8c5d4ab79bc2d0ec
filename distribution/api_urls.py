"""API routes of the distribution app, mounted under /api/."""

from django.urls import URLPattern, URLResolver, path

from distribution import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("releases/", api.ReleasePublishApi.as_view(), name="release-publish"),
    path("releases/<int:release_id>/", api.ReleaseDetailApi.as_view(), name="release-detail"),
    path("distribution/platoon/webhook/", api.PlatoonWebhookApi.as_view(), name="platoon-webhook"),
]
