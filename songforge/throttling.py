"""Per-token API rate limit (``SONGFORGE_TOKEN_RATE``, scope ``token``).

Keyed by the token's id, not the user or the address: one leaked or runaway token cannot use up
the API for its holder's other programs, and a token used from many addresses is still one
budget. Session (browser) requests carry no token and are not limited here.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    scope = "token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token_id = getattr(request.auth, "pk", None)
        if token_id is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": token_id}
