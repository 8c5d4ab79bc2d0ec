"""Errors of the API-token app."""

from __future__ import annotations

from rest_framework import status

from songforge.errors import DomainError


class TokenError(DomainError):
    code = "token_error"


class TokenLimitError(TokenError):
    code = "token_limit"
    http_status = status.HTTP_409_CONFLICT
