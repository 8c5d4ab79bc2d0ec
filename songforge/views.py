"""Site-wide endpoints: health and the home page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from songforge import health


def healthz(request: HttpRequest) -> JsonResponse:
    """Reports each dependency; 503 when any is unreachable, so load balancers act."""
    checks = health.run_all()
    body = {
        "status": "ok" if all(c.is_ok for c in checks) else "degraded",
        "checks": {
            c.name: {
                "ok": c.is_ok,
                "kind": c.kind,
                "ms": round(c.milliseconds, 1),
                **({"error": c.error} if c.error else {}),
            }
            for c in checks
        },
    }
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")
