"""Helpers shared by the server-rendered pages (interfaces only, no business rules).

Pages call the apps' services and selectors directly; these helpers only parse the
request and turn a ``DomainError`` into a readable message.
"""

from __future__ import annotations

import logging
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
