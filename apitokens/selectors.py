"""Reads of API tokens."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from apitokens.models import ApiToken
from apitokens.services import token_digest


def api_tokens_of_user(*, user_id: int) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user_id=user_id).order_by("-created_at", "-pk")


def api_token_live(*, token: str) -> ApiToken | None:
    """The live (not revoked, not expired) token whose digest matches, with its user; else None."""
    return (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(token), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
