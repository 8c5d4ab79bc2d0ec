"""The Platoon distributor over the REST contract in docs/platoon-api.md.

Platoon publishes no public API; this client speaks the contract we expect and
test against a local server. Every request that creates something carries an
``Idempotency-Key`` derived from the release's ``delivery_key``, so a retry
after a dropped connection gets the release Platoon already made instead of a
second one. 4xx answers are permanent errors; 5xx, 429, timeouts and dropped
connections are retried a bounded number of times with exponential backoff,
then reported as retryable so the delivery job can try again later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

import requests
from django.conf import settings

from distribution.clients.base import (
    REMOTE_STATUSES,
    DeliveryResult,
    DistributorError,
    ReleasePackage,
    RemoteStatus,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Platoon-Signature"
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    platoon_release_id: str
    status: str
    store_links: dict[str, str]
    reasons: tuple[str, ...]


def pause(seconds: float) -> None:
    """Backoff wait between attempts (tests replace it)."""
    time.sleep(seconds)


def sign(body: bytes, secret: str) -> str:
    """The X-Platoon-Signature value for ``body``: ``sha256=`` + hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_signature_valid(body: bytes, header: str, secret: str) -> bool:
    """Constant-time check of a webhook signature; an empty secret accepts nothing."""
    if not secret or not header:
        return False
    return hmac.compare_digest(sign(body, secret), header.strip())


def parse_webhook(body: bytes) -> WebhookEvent:
    try:
        data = json.loads(body)
        status = str(data["status"])
        event = WebhookEvent(
            event_id=str(data.get("event_id", "")),
            platoon_release_id=str(data["release_id"]),
            status=status,
            store_links={str(k): str(v) for k, v in (data.get("store_links") or {}).items()},
            reasons=tuple(str(r) for r in (data.get("reasons") or [])),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DistributorError(f"The webhook body is not a Platoon status event: {exc}", permanent=True) from None
    if status not in REMOTE_STATUSES:
        raise DistributorError(f"Unknown Platoon status {status!r}.", permanent=True)
    return event


def release_payload(package: ReleasePackage) -> dict[str, Any]:
    """The create-release body; field names follow DDEX ERN where one exists."""
    return {
        "external_id": f"songforge-{package.release_id}",
        "release_type": "Single",
        "title": package.title,
        "display_artist": package.artist_name,
        "label": package.label_name,
        "genre": package.genre,
        "language": package.language,
        "release_date": package.release_date.isoformat(),
        "parental_warning": "NotExplicit",
        "territories": ["Worldwide"],
        "tracks": [
            {
                "isrc": package.isrc,
                "title": package.title,
                "display_artist": package.artist_name,
                "duration_ms": package.duration_ms,
                "audio_sha256": package.audio_sha256,
            }
        ],
        "ai_disclosure": {"is_ai_generated": True, "text": package.ai_disclosure},
    }


def splits_payload(package: ReleasePackage) -> dict[str, Any]:
    return {
        "isrc": package.isrc,
        "total_ppb": sum(line.ppb for line in package.splits),
        "splits": [
            {
                "holder_ref": f"songforge-holder-{line.holder_id}",
                "name": line.holder_name,
                "kind": line.holder_kind,
                "share_ppb": line.ppb,
            }
            for line in package.splits
        ],
    }


class PlatoonClient:
    name = "platoon"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        token: str | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.base_url = (base_url if base_url is not None else settings.PLATOON["BASE_URL"]).rstrip("/")
        self.token = token if token is not None else settings.PLATOON["TOKEN"]
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.sleep = sleep if sleep is not None else pause
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    # --- transport -----------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        idempotency_key: str | None = None,
        json_body: dict[str, Any] | None = None,
        body: Callable[[], IO[bytes]] | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """One logical call with bounded retries; returns the decoded JSON answer.

        ``body`` is a factory so every attempt streams the file from its start.
        """
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if content_type:
            headers["Content-Type"] = content_type
        url = f"{self.base_url}{path}"
        last_problem = ""
        for attempt in range(1, self.max_attempts + 1):
            stream: IO[bytes] | None = body() if body is not None else None
            try:
                response = self.session.request(
                    method, url, headers=headers, json=json_body, data=stream, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    try:
                        decoded = response.json() if response.content else {}
                    except ValueError:
                        raise DistributorError(
                            f"Platoon answered {method} {path} with a body that is not JSON.", permanent=False
                        ) from None
                    return decoded if isinstance(decoded, dict) else {"data": decoded}
                detail = _error_detail(response)
                if response.status_code not in RETRYABLE_STATUSES:
                    raise DistributorError(
                        f"Platoon refused {method} {path} ({response.status_code}): {detail}",
                        permanent=True,
                        extra={"http_status": response.status_code, "detail": detail},
                    )
                last_problem = f"HTTP {response.status_code}: {detail}"
            finally:
                if stream is not None:
                    stream.close()
            if attempt < self.max_attempts:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                logger.warning(
                    "Platoon %s %s failed (%s); retry %d in %.1f s", method, path, last_problem, attempt, delay
                )
                self.sleep(delay)
        raise DistributorError(
            f"Platoon did not answer {method} {path} after {self.max_attempts} attempts ({last_problem}); "
            "the delivery will be retried later.",
            permanent=False,
            extra={"last_problem": last_problem},
        )

    # --- Distributor protocol -------------------------------------------------
    def deliver(self, release: ReleasePackage) -> DeliveryResult:
        key = release.delivery_key
        platoon_id = release.distributor_release_id
        if not platoon_id:
            created = self._request("POST", "/v1/releases", idempotency_key=key, json_body=release_payload(release))
            platoon_id = str(created.get("id") or "")
            if not platoon_id:
                raise DistributorError("Platoon created a release but returned no id.", permanent=False)
        base = f"/v1/releases/{platoon_id}"
        self._request("PUT", f"{base}/audio", body=release.open_audio, content_type="audio/wav")
        artwork_type = "image/png" if release.artwork_name.lower().endswith(".png") else "image/jpeg"
        self._request("PUT", f"{base}/artwork", body=release.open_artwork, content_type=artwork_type)
        self._request("POST", f"{base}/splits", idempotency_key=f"{key}:splits", json_body=splits_payload(release))
        submitted = self._request("POST", f"{base}/submit", idempotency_key=f"{key}:submit", json_body={})
        status = str(submitted.get("status") or "submitted")
        if status not in REMOTE_STATUSES:
            raise DistributorError(f"Platoon answered submit with unknown status {status!r}.", permanent=True)
        return DeliveryResult(status=status, distributor_release_id=platoon_id, location=f"{self.base_url}{base}")

    def status(self, release: ReleasePackage) -> RemoteStatus:
        if not release.distributor_release_id:
            raise DistributorError("This release has no Platoon id yet; deliver it first.", permanent=True)
        data = self._request("GET", f"/v1/releases/{release.distributor_release_id}")
        status = str(data.get("status") or "")
        if status not in REMOTE_STATUSES:
            raise DistributorError(f"Platoon reports unknown status {status!r}.", permanent=True)
        return RemoteStatus(
            status=status,
            store_links={str(k): str(v) for k, v in (data.get("store_links") or {}).items()},
            reasons=tuple(str(r) for r in (data.get("reasons") or [])),
        )

    def takedown(self, release: ReleasePackage) -> DeliveryResult:
        if not release.distributor_release_id:
            raise DistributorError("This release never reached Platoon; there is nothing to take down.", permanent=True)
        path = f"/v1/releases/{release.distributor_release_id}/takedown"
        data = self._request("POST", path, idempotency_key=f"{release.delivery_key}:takedown", json_body={})
        return DeliveryResult(
            status=str(data.get("status") or "taken_down"),
            distributor_release_id=release.distributor_release_id,
            location=f"{self.base_url}{path}",
        )


def _error_detail(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300] or response.reason
    if isinstance(data, dict):
        return str(data.get("message") or data.get("error") or data)[:300]
    return str(data)[:300]
