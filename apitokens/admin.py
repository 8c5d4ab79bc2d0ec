"""Staff view of API tokens: who holds which (never the token), and revoking one at once."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework.authtoken.models import TokenProxy

from apitokens import services
from apitokens.models import ApiToken

# DRF's own token admin shows tokens in clear; SongForge keeps only digests (apitokens.models).
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("name", "prefix", "user", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "expires_at")
    search_fields = ("name", "prefix", "user__email", "user__username")
    list_select_related = ("user",)
    readonly_fields = (
        "user",
        "name",
        "prefix",
        "created_by",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
        "created_at",
        "updated_at",
    )
    exclude = ("digest",)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # holders make their own under Account > API tokens (the token is shown once, to them)

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False  # revoked, never deleted: the row says who revoked it and when

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("apitokens.revoke_apitoken"))

    @admin.action(description="Revoke the selected tokens now", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        by = request.user.pk
        assert by is not None
        for api_token in queryset.order_by("pk"):
            services.api_token_revoke(token_id=api_token.pk, by_user_id=int(by))
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)
