from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

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
    # Swagger UI: its script is served as a file (the split view), and this page alone may load the
    # UI bundle from jsdelivr and use its inline <style> (the site-wide CSP allows neither).
    path(
        "api/docs/",
        csp_update(
            {"script-src": ["https://cdn.jsdelivr.net"], "style-src": ["https://cdn.jsdelivr.net", "'unsafe-inline'"]}
        )(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("api/", include("catalog.api_urls")),
    path("api/", include("uploads.api_urls")),
    path("api/", include("distribution.api_urls")),
    path("api/", include("royalties.api_urls")),
    path("catalog/", include("catalog.urls")),
    path("songs/", include("uploads.urls")),
    path("songs/", include("generation.urls")),
    path("releases/", include("distribution.urls")),
    path("earnings/", include("royalties.urls")),
    path("account/", include("apitokens.urls")),
]
