"""The one application error type, and how the API renders it."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

logger = logging.getLogger(__name__)


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
    """Every API error is JSON with a ``code`` and a ``message`` (plus DRF's own keys, kept as they were).

    DomainErrors carry their own; DRF's errors get their default code; anything unexpected is
    logged with its traceback and answered 500 (503 for a busy or unreachable database) without
    exception text, which can name hosts and server paths.
    """
    # rest_framework.views resolves DEFAULT_AUTHENTICATION_CLASSES when imported, and those import
    # DomainError from this module: a true import-time cycle.
    from rest_framework.views import exception_handler, set_rollback

    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.http_status)
    response = exception_handler(exc, context)
    if response is not None:
        codes = exc.get_codes() if isinstance(exc, APIException) else None
        code = codes if isinstance(codes, str) else getattr(exc, "default_code", "error")
        if isinstance(exc, ValidationError):
            code = "invalid"
        if isinstance(response.data, dict):
            detail = response.data.get("detail")
            message = str(detail) if detail is not None else _first_message(response.data)
            response.data = {"code": str(code), "message": message, **response.data}
        else:
            response.data = {"code": str(code), "message": _first_message(response.data), "errors": response.data}
        return response
    set_rollback()
    if isinstance(exc, DatabaseError):
        logger.exception("database error in %s", _view_name(context))
        return Response(
            {"code": "database_unavailable", "message": "The database is busy or unreachable; try again shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    logger.exception("unexpected error in %s", _view_name(context))
    return Response(
        {"code": "server_error", "message": "Something went wrong on our side; try again, or contact support."},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def _first_message(data: Any) -> str:
    """The first human message in DRF's nested error data, prefixed by its field name."""
    if isinstance(data, dict):
        for key, value in data.items():
            inner = _first_message(value)
            if inner:
                return inner if key in {"detail", "non_field_errors"} else f"{key}: {inner}"
        return ""
    if isinstance(data, list):
        return next((m for m in (_first_message(item) for item in data) if m), "")
    return str(data)


def _view_name(context: dict[str, Any]) -> str:
    view = context.get("view")
    return type(view).__name__ if view is not None else "an API view"
