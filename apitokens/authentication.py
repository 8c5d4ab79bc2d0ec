"""DRF authentication for hashed API tokens (the per-token rate is songforge.throttling).

The header stays ``Authorization: Token <token>`` (what third parties already send); ``Bearer``
works too. A revoked, expired or unknown token is a 401 with the same message, so a caller
cannot tell which.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from apitokens.models import ApiToken
from apitokens.selectors import api_token_live
from apitokens.services import api_token_mark_used

KEYWORDS = (b"token", b"bearer")


class ApiTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the header as 'Authorization: Token <your token>'.")
        try:
            token = parts[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        api_token = api_token_live(token=token)
        if api_token is None or not api_token.user.is_active:
            raise exceptions.AuthenticationFailed(
                "Invalid, expired or revoked token; make a new one under Account > API tokens."
            )
        api_token_mark_used(api_token=api_token)
        return api_token.user, api_token

    def authenticate_header(self, request: Request) -> str:
        return "Token"
