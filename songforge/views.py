"""Site-wide endpoints: health and the home page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from songforge import health


def healthz(request: HttpRequest) -> JsonResponse:
    """Reports each dependency; 503 when any is unreachable, so load balancers act.

    Anyone gets only "ok"/"down" per part; signed-in staff also get the kind, timing and error
    (which can name hosts and paths). Failures are logged in full either way.
    """
    checks = health.run_all()
    is_ok = all(c.is_ok for c in checks)
    is_staff = bool(getattr(request, "user", None) and request.user.is_active and request.user.is_staff)
    body = {
        "status": "ok" if is_ok else "degraded",
        "checks": {c.name: health.as_json(c, detailed=is_staff) for c in checks},
    }
    return JsonResponse(body, status=200 if is_ok else 503)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")
