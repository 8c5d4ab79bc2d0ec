"""The client's address as the outermost trusted proxy saw it, for login lockouts and rate limits.

With ``SONGFORGE_TRUSTED_PROXY_COUNT=0`` (no proxy) it is the socket address: a client cannot
choose it by sending X-Forwarded-For. With N proxies, each appends the address it received from,
so the client is the N-th entry from the right; anything further left was written by the client.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse


def client_ip(request: HttpRequest) -> str:
    remote = str(request.META.get("REMOTE_ADDR") or "")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [part.strip() for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if part.strip()]
    if len(hops) < count:
        return remote  # fewer hops than proxies: the chain is not ours, trust only the socket
    return hops[-count]


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> JsonResponse:
    """What a locked-out login gets (axes): 429 with a code and a message a person can act on."""
    minutes = round(settings.AXES_COOLOFF_TIME * 60)
    return JsonResponse(
        {
            "code": "too_many_login_attempts",
            "message": f"Too many failed sign-ins from your address; try again in {minutes} minutes or reset your "
            "password.",
            "extra": {"retry_after_minutes": minutes},
        },
        status=429,
    )
