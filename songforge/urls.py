from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from songforge import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
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
    path("account/", include("apitokens.urls")),
]
