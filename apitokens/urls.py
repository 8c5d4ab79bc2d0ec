"""Account pages for API tokens, mounted under /account/."""

from django.urls import URLPattern, URLResolver, path

from apitokens import views

app_name = "apitokens"
urlpatterns: list[URLPattern | URLResolver] = [
    path("tokens/", views.token_list, name="token_list"),
    path("tokens/<int:pk>/revoke", views.token_revoke, name="token_revoke"),
]
