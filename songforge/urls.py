from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from royalties.admin_dashboard import dashboard_view
from songforge import metrics, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/royalties/dashboard/", admin.site.admin_view(dashboard_view), name="royalties-dashboard"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("catalog.api_urls")),
    path("api/", include("uploads.api_urls")),
    path("api/", include("distribution.api_urls")),
    path("api/", include("royalties.api_urls")),
    path("catalog/", include("catalog.urls")),
    path("songs/", include("uploads.urls")),
    path("songs/", include("generation.urls")),
    path("releases/", include("distribution.urls")),
    path("earnings/", include("royalties.urls")),
]
