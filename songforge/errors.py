"""The one application error type, and how the API renders it."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class DomainError(Exception):
    """A refusal a person can act on: a stable code, a readable message, details.

    ``permanent`` tells job runners whether retrying could help (it cannot for bad
    input; it may for an unreachable service).
    """

    code = "error"
    http_status: int = status.HTTP_400_BAD_REQUEST
    permanent = True

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra or {}

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "extra": self.extra}


class NotFound(DomainError):
    code = "not_found"
    http_status = status.HTTP_404_NOT_FOUND


class Conflict(DomainError):
    code = "conflict"
    http_status = status.HTTP_409_CONFLICT


class ServiceUnavailable(DomainError):
    """An outside service failed in a way that a later retry may fix."""

    code = "service_unavailable"
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE
    permanent = False


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.http_status)
    return exception_handler(exc, context)
