"""The identification chain: which catalog recording is this audio file?

Every step implements ``Identifier.identify(path) -> IdentifyResult | None`` (None = "I don't know")
and the :class:`Chain` asks them in order until one answers:

1. :class:`IsrcTagIdentifier` — an ISRC in the file's tags (ID3 ``TSRC``, MP4 ``----:com.apple.iTunes:ISRC``,
   Vorbis/FLAC ``ISRC``) looked up in the catalog;
2. :class:`FingerprintIdentifier` — the embedded landmark index over the catalog's audio (the default);
3. :class:`ShazamIdentifier` — Shazam through shazamio, only when ``SONGFORGE_IDENTIFIER=shazam``: the
   signature is computed locally and the answer's ISRC or Apple Music id lead to the catalog recording.

A step that cannot work right now (Shazam rate-limits us) raises :class:`IdentificationUnavailable`,
which the actor retries later; a step that simply finds nothing returns None. Other apps call the
chain through :func:`catalog.services.recording_identify`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import mutagen
from django.conf import settings

from catalog.errors import IdentificationUnavailable as IdentificationUnavailable  # re-exported
from catalog.fingerprint import audio
from catalog.fingerprint.matcher import Matcher
from catalog.models import Recording
from songforge.codes import normalize_isrc
from songforge.errors import DomainError, ServiceUnavailable

logger = logging.getLogger(__name__)

MAX_DECODE_SECONDS = 20 * 60


@dataclass(frozen=True)
class IdentifyResult:
    recording_id: int
    method: str  # one of uploads.models.Upload.Method values: "isrc", "fingerprint", "shazam"
    confidence: float | None
    offset_s: float | None
    scale_time: float | None = None  # fingerprint only: upload duration / recording duration (tempo, speed)
    scale_freq: float | None = None  # fingerprint only: upload pitch / recording pitch (pitch, speed)


class Identifier(Protocol):
    method: str

    def identify(self, path: Path) -> IdentifyResult | None: ...


# --- ISRC tags -----------------------------------------------------------------------------------


def read_isrc(path: Path) -> str | None:
    """The first valid ISRC in the file's tags, or None (also for files mutagen cannot read)."""
    try:
        tagged = mutagen.File(str(path))
    except mutagen.MutagenError:
        return None
    if tagged is None or tagged.tags is None:
        return None
    tags: Any = tagged.tags
    candidates: list[str] = []
    if hasattr(tags, "getall"):  # ID3 (mp3, and ID3 inside wav/aiff)
        for frame in tags.getall("TSRC"):
            candidates += [str(text) for text in frame.text]
    else:
        for key in ("----:com.apple.iTunes:ISRC", "ISRC", "isrc"):  # MP4 freeform atom; Vorbis comments
            try:
                values = tags[key]
            except (KeyError, ValueError):
                continue
            for value in values if isinstance(values, list) else [values]:
                candidates.append(bytes(value).decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    for candidate in candidates:
        isrc = normalize_isrc(candidate)
        if isrc:
            return isrc
    return None


class IsrcTagIdentifier:
    method = "isrc"

    def identify(self, path: Path) -> IdentifyResult | None:
        isrc = read_isrc(path)
        if isrc is None:
            return None
        recording_id = Recording.objects.filter(isrc=isrc).order_by("pk").values_list("pk", flat=True).first()
        if recording_id is None:
            logger.info("ISRC %s in %s is not in the catalog", isrc, path.name)
            return None
        return IdentifyResult(recording_id=recording_id, method=self.method, confidence=1.0, offset_s=None)


# --- fingerprint ---------------------------------------------------------------------------------


class FingerprintIdentifier:
    method = "fingerprint"

    def __init__(self, matcher: Matcher | None = None) -> None:
        self._matcher = matcher

    @property
    def matcher(self) -> Matcher:
        if self._matcher is None:
            from catalog.indexing import get_index

            self._matcher = Matcher(get_index())
        return self._matcher

    def identify(self, path: Path) -> IdentifyResult | None:
        samples = audio.decode(path, max_seconds=MAX_DECODE_SECONDS)
        match = self.matcher.identify(samples)
        if match is None:
            return None
        if not Recording.objects.filter(pk=match.recording_id).exists():
            logger.warning("index names recording %s, which no longer exists", match.recording_id)
            return None
        return IdentifyResult(
            recording_id=match.recording_id,
            method=self.method,
            confidence=match.confidence,
            offset_s=match.offset_s,
            scale_time=match.scale_time,
            scale_freq=match.scale_freq,
        )


# --- Shazam --------------------------------------------------------------------------------------

SHAZAM_HOST = "https://amp.shazam.com"


def shazam_catalog_keys(answer: dict[str, Any]) -> tuple[str | None, str | None, float | None]:
    """(ISRC, Apple Music track id, offset in seconds) from a raw Shazam recognize answer."""
    matches = answer.get("matches") or []
    track = answer.get("track")
    if not matches or not isinstance(track, dict):
        return None, None, None
    isrc = normalize_isrc(str(track.get("isrc") or ""))
    apple_id = None
    for action in (track.get("hub") or {}).get("actions") or []:
        if action.get("type") == "applemusicplay" and action.get("id"):
            apple_id = str(action["id"])
            break
    offset = matches[0].get("offset")
    return isrc, apple_id, float(offset) if isinstance(offset, int | float) else None


class ShazamIdentifier:
    """Shazam via shazamio; ``base_url`` (settings.SHAZAM_BASE_URL) replaces Shazam's host, e.g. a test server."""

    method = "shazam"

    def __init__(self, *, base_url: str | None = None, attempts: int | None = None) -> None:
        self.base_url = (base_url if base_url is not None else getattr(settings, "SHAZAM_BASE_URL", "")).rstrip("/")
        self.attempts = attempts if attempts is not None else int(getattr(settings, "SHAZAM_RETRY_ATTEMPTS", 2))

    def identify(self, path: Path) -> IdentifyResult | None:
        answer = asyncio.run(self._recognize(path))
        isrc, apple_id, offset = shazam_catalog_keys(answer)
        if isrc is None and apple_id is None:
            return None
        recording = self._catalog_recording(isrc, apple_id)
        if recording is None:
            logger.info("Shazam knows %s (ISRC %s, Apple Music %s) but the catalog does not", path.name, isrc, apple_id)
            return None
        return IdentifyResult(recording_id=recording, method=self.method, confidence=None, offset_s=offset)

    def _catalog_recording(self, isrc: str | None, apple_id: str | None) -> int | None:
        """The catalog recording for Shazam's keys; unknown songs are fetched through Apple Music if enabled."""
        if isrc:
            found = Recording.objects.filter(isrc=isrc).order_by("pk").values_list("pk", flat=True).first()
            if found is not None:
                return found
        if apple_id:
            found = Recording.objects.filter(apple_music_id=apple_id).values_list("pk", flat=True).first()
            if found is not None:
                return found
        from catalog.clients import apple_music

        if not apple_music.provider_enabled():
            return None
        try:
            recording = apple_music.apple_music_song_fetch(song_id=apple_id) if apple_id else None
            if recording is None and isrc:
                recording = apple_music.apple_music_match_isrc(isrc=isrc)
        except ServiceUnavailable:
            raise
        except DomainError as exc:
            logger.warning("Apple Music lookup (song %s, ISRC %s) refused: %s", apple_id, isrc, exc.message)
            return None
        return int(recording.pk) if recording is not None else None

    async def _recognize(self, path: Path) -> dict[str, Any]:
        from aiohttp import ClientError
        from aiohttp_retry import ExponentialRetry
        from shazamio import Shazam
        from shazamio.client import HTTPClient
        from shazamio.exceptions import BadResponseStatus, FailedDecodeJson, RateLimited
        from shazamio_core import SignatureError

        base_url = self.base_url

        class _Client(HTTPClient):
            async def request(self, method: str, url: str, **kwargs: Any) -> list[Any] | dict[str, Any]:
                if base_url and url.startswith(SHAZAM_HOST):
                    url = base_url + url[len(SHAZAM_HOST) :]
                return await super().request(method, url, **kwargs)

        client = _Client(
            retry_options=ExponentialRetry(attempts=self.attempts, max_timeout=30, statuses={429, 500, 502, 503, 504})
        )
        try:
            answer = await Shazam(http_client=client).recognize(str(path))
        except RateLimited as exc:
            raise IdentificationUnavailable(
                "Shazam is rate-limiting us; identification will be retried later."
            ) from exc
        except (BadResponseStatus, FailedDecodeJson, ClientError, TimeoutError) as exc:
            raise IdentificationUnavailable(f"Shazam could not be reached: {exc}") from exc
        except SignatureError:
            return {"matches": []}
        finally:
            await client.close()
        return answer if isinstance(answer, dict) else {}


# --- the chain -----------------------------------------------------------------------------------


class Chain:
    method = "chain"

    def __init__(self, steps: Sequence[Identifier]) -> None:
        self.steps = list(steps)

    def identify(self, path: Path) -> IdentifyResult | None:
        for step in self.steps:
            result = step.identify(path)
            if result is not None:
                return result
        return None


def default_chain() -> Chain:
    """ISRC tags, then the local fingerprint index, then Shazam if ``SONGFORGE_IDENTIFIER=shazam``."""
    steps: list[Identifier] = [IsrcTagIdentifier(), FingerprintIdentifier()]
    if settings.IDENTIFIER == "shazam":
        steps.append(ShazamIdentifier())
    return Chain(steps)
