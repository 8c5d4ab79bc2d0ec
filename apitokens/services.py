"""Making and revoking API tokens. The token itself exists only in the return value of
:func:`api_token_create`; the database keeps its digest (see apitokens.models)."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apitokens.errors import TokenError, TokenLimitError
from apitokens.models import ApiToken
from songforge.errors import NotFound

TOKEN_PREFIX = "sf_"  # noqa: S105 (a label, not a secret)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``token`` is shown to its holder once and never stored."""

    api_token: ApiToken
    token: str


@transaction.atomic
def api_token_create(
    *, user_id: int, name: str, expires_in_days: int | None = None, created_by_id: int | None = None
) -> NewToken:
    """Make a named token for ``user_id`` that expires after ``expires_in_days`` (default and maximum from settings)."""
    name = name.strip()
    if not name:
        raise TokenError("Name the token after what will use it (e.g. 'Label accounting export').", code="token_name")
    days = settings.API_TOKEN_DEFAULT_DAYS if expires_in_days is None else expires_in_days
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise TokenError(
            f"A token lasts between 1 and {settings.API_TOKEN_MAX_DAYS} days; make a new one when it expires.",
            code="token_lifetime",
            extra={"max_days": settings.API_TOKEN_MAX_DAYS},
        )
    now = timezone.now()
    live = ApiToken.objects.filter(user_id=user_id, revoked_at__isnull=True, expires_at__gt=now).count()
    if live >= settings.API_TOKEN_MAX_PER_USER:
        raise TokenLimitError(
            f"An account holds at most {settings.API_TOKEN_MAX_PER_USER} live tokens; revoke one you no longer use.",
            extra={"max": settings.API_TOKEN_MAX_PER_USER},
        )
    secret = secrets.token_urlsafe(32)
    token = f"{TOKEN_PREFIX}{secret}"
    api_token = ApiToken.objects.create(
        user_id=user_id,
        name=name[:100],
        prefix=token[:10],
        digest=token_digest(token),
        created_by_id=created_by_id,
        expires_at=now + datetime.timedelta(days=days),
    )
    return NewToken(api_token=api_token, token=token)


@transaction.atomic
def api_token_revoke(*, token_id: int, by_user_id: int, owner_id: int | None = None) -> ApiToken:
    """Revoke a token at once. ``owner_id`` limits it to that user's tokens (others are NotFound);
    staff tools pass None. Revoking twice changes nothing."""
    queryset = ApiToken.objects.select_for_update().filter(pk=token_id)
    if owner_id is not None:
        queryset = queryset.filter(user_id=owner_id)
    api_token = queryset.first()
    if api_token is None:
        raise NotFound("No such token.", extra={"token_id": token_id})
    if api_token.revoked_at is None:
        api_token.revoked_at = timezone.now()
        api_token.revoked_by_id = by_user_id
        api_token.save(update_fields=["revoked_at", "revoked_by", "updated_at"])
    return api_token


def api_token_mark_used(*, api_token: ApiToken, now: datetime.datetime | None = None) -> None:
    """Record use, at most once a minute per token (a conditional UPDATE, no lock)."""
    now = now or timezone.now()
    if api_token.last_used_at is None or now - api_token.last_used_at > datetime.timedelta(minutes=1):
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        api_token.last_used_at = now
