"""Helpers shared by the server-rendered pages (interfaces only, no business rules).

Pages call the apps' services and selectors. While the project is assembled, some
of those may not exist yet: ``service()`` finds one by dotted path and raises
``ServiceMissing`` (a ``DomainError``) when it is absent, so a page says plainly
what is not available instead of failing with a stack trace.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_htmx.middleware import HtmxDetails

from songforge.errors import DomainError

logger = logging.getLogger(__name__)


class HtmxHttpRequest(HttpRequest):
    """A request as seen after django-htmx's middleware (for type checking)."""

    htmx: HtmxDetails


class ServiceMissing(DomainError):
    code = "service_missing"
    http_status = 503
    permanent = False


def service(dotted: str, *, what: str) -> Callable[..., Any]:
    """The callable at ``dotted`` ("app.module.name").

    Raises ``ServiceMissing`` naming ``what`` when the module or the name does not
    exist; an import error *inside* an existing module is not hidden.
    """
    module_name, _, attribute = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        module = None
    found = getattr(module, attribute, None) if module is not None else None
    if not callable(found):
        logger.warning("page needs %s, which does not exist yet", dotted)
        raise ServiceMissing(f"{what} is not available on this server yet. Please try again later.")
    return found  # type: ignore[no-any-return]


def has_service(dotted: str) -> bool:
    try:
        service(dotted, what=dotted)
    except ServiceMissing:
        return False
    return True


def owner_id(request: HttpRequest) -> int:
    """The signed-in artist's id (views calling this are behind ``login_required``)."""
    if not request.user.is_authenticated:
        raise PermissionError("owner_id() needs a signed-in user; decorate the view with login_required")
    return int(request.user.pk)


def error_redirect(request: HttpRequest, error: DomainError, to: str, *args: Any) -> HttpResponse:
    """Show a refusal as a readable message on the page the artist came from."""
    messages.error(request, error.message)
    return redirect(to, *args)


def wants_json(request: HttpRequest) -> bool:
    """Script requests (the upload widget) ask for JSON; forms get a redirect."""
    return "application/json" in request.headers.get("Accept", "")
