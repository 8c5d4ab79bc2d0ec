"""Apple Music API client (the production catalog) and how its songs become recordings.

Auth is a developer token: a JWT signed ES256 with the team's MusicKit ``.p8`` key
(``iss`` = team id, header ``kid`` = key id), cached and renewed before it expires.
Failures are split the usual way: 401/403 mean our credentials are wrong
(``AppleMusicNotConfigured``, permanent), 429 waits for Retry-After (bounded) and
5xx/network errors retry with backoff a bounded number of times, then raise
``AppleMusicUnavailable`` (retryable later). Successful responses are cached.

Apple returns no rights holders (only ``composerName``): recordings it creates have
unknown rights until a manifest or label staff fill them in. One ISRC can map to
several Apple songs (album and single releases): all ids are stored and the earliest
release (then lowest id) is canonical.
"""

from __future__ import annotations

import datetime
import email.utils
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jwt
import requests
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from catalog.errors import AppleMusicError, AppleMusicNotConfigured, AppleMusicUnavailable
from catalog.models import Recording
from catalog.services import recording_upsert, recordings_notify_imported

logger = logging.getLogger(__name__)

TOKEN_LIFETIME = datetime.timedelta(hours=12)
TOKEN_RENEW_BEFORE = datetime.timedelta(minutes=10)
CACHE_SECONDS = 3600
MAX_PREVIEW_BYTES = 20 * 1024 * 1024


def provider_enabled() -> bool:
    return bool(settings.CATALOG_PROVIDER == "apple-music")


@dataclass(frozen=True)
class AppleSong:
    """The documented attributes of an Apple Music ``songs`` resource that SongForge keeps."""

    id: str
    name: str
    artist_name: str
    album_name: str
    isrc: str | None
    duration_ms: int | None
    artwork_url: str
    preview_url: str
    genre_names: tuple[str, ...]
    release_date: str
    composer_name: str

    @classmethod
    def from_resource(cls, resource: dict[str, Any]) -> AppleSong:
        attributes = resource.get("attributes") or {}
        previews = attributes.get("previews") or []
        artwork = attributes.get("artwork") or {}
        isrc = attributes.get("isrc")
        return cls(
            id=str(resource["id"]),
            name=str(attributes.get("name", "")),
            artist_name=str(attributes.get("artistName", "")),
            album_name=str(attributes.get("albumName", "")),
            isrc=str(isrc).upper() if isrc else None,
            duration_ms=int(attributes["durationInMillis"]) if attributes.get("durationInMillis") else None,
            artwork_url=str(artwork.get("url", "")),
            preview_url=str(previews[0].get("url", "")) if previews else "",
            genre_names=tuple(str(g) for g in attributes.get("genreNames") or ()),
            release_date=str(attributes.get("releaseDate", "")),
            composer_name=str(attributes.get("composerName", "")),
        )

    @property
    def genre(self) -> str:
        """The first specific genre: Apple appends the catch-all "Music" to most songs."""
        specific = [g for g in self.genre_names if g != "Music"]
        return (specific or list(self.genre_names) or [""])[0][:100]

    @property
    def release_year(self) -> int | None:
        return int(self.release_date[:4]) if self.release_date[:4].isdigit() else None

    def artwork(self, size: int = 600) -> str:
        return self.artwork_url.replace("{w}", str(size)).replace("{h}", str(size))


def canonical_song(songs: list[AppleSong]) -> AppleSong:
    """Earliest release first (undated last), then the lowest numeric id: stable across calls."""

    def key(song: AppleSong) -> tuple[str, int, str]:
        return (song.release_date or "9999", int(song.id) if song.id.isdigit() else 1 << 62, song.id)

    return min(songs, key=key)


class AppleMusicClient:
    def __init__(
        self,
        *,
        team_id: str,
        key_id: str,
        private_key_path: str,
        storefront: str = "us",
        base_url: str = "https://api.music.apple.com",
        timeout: float = 10.0,
        max_retries: int = 3,
        max_retry_after: float = 30.0,
        backoff_seconds: float = 0.5,
        cache_seconds: int = CACHE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.team_id = team_id
        self.key_id = key_id
        self.private_key_path = private_key_path
        self.storefront = storefront
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.backoff_seconds = backoff_seconds
        self.cache_seconds = cache_seconds
        self.sleep = sleep
        self.session = requests.Session()
        self._token: str | None = None
        self._token_expires: datetime.datetime | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls) -> AppleMusicClient:
        config = settings.APPLE_MUSIC
        missing = [name for name in ("TEAM_ID", "KEY_ID", "PRIVATE_KEY_PATH") if not config.get(name)]
        if missing:
            raise AppleMusicNotConfigured(
                "Apple Music is not configured: set "
                + ", ".join(f"SONGFORGE_APPLE_{name}" for name in missing)
                + " (team id, MusicKit key id and the path of its .p8 key).",
                extra={"missing": missing},
            )
        return cls(
            team_id=config["TEAM_ID"],
            key_id=config["KEY_ID"],
            private_key_path=config["PRIVATE_KEY_PATH"],
            storefront=config.get("STOREFRONT") or "us",
            base_url=config.get("BASE_URL") or "https://api.music.apple.com",
        )

    # --- auth ---------------------------------------------------------------

    def developer_token(self, *, now: datetime.datetime | None = None) -> str:
        """A signed ES256 JWT, reused until 10 minutes before it expires."""
        now = now or datetime.datetime.now(datetime.UTC)
        with self._lock:
            if self._token and self._token_expires and now < self._token_expires - TOKEN_RENEW_BEFORE:
                return self._token
            try:
                key = Path(self.private_key_path).read_text()
            except OSError as exc:
                raise AppleMusicNotConfigured(
                    f"Cannot read the Apple Music key {self.private_key_path}: {exc.strerror}. "
                    "Set SONGFORGE_APPLE_PRIVATE_KEY_PATH to the .p8 file downloaded from Apple.",
                    extra={"path": self.private_key_path},
                ) from None
            expires = now + TOKEN_LIFETIME
            try:
                token = jwt.encode(
                    {"iss": self.team_id, "iat": int(now.timestamp()), "exp": int(expires.timestamp())},
                    key,
                    algorithm="ES256",
                    headers={"kid": self.key_id},
                )
            except (ValueError, TypeError, jwt.PyJWTError) as exc:
                raise AppleMusicNotConfigured(
                    f"The Apple Music key {self.private_key_path} is not an EC P-256 private key ({exc}).",
                    extra={"path": self.private_key_path},
                ) from None
            self._token, self._token_expires = token, expires
            return token

    # --- HTTP -----------------------------------------------------------------

    def _cache_key(self, path: str, params: dict[str, str]) -> str:
        raw = json.dumps([self.base_url, self.storefront, path, sorted(params.items())])
        return "applemusic:" + hashlib.sha256(raw.encode()).hexdigest()

    def _retry_after(self, response: requests.Response) -> float:
        raw = response.headers.get("Retry-After", "")
        seconds: float
        try:
            seconds = float(raw)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(raw) if raw else None
            seconds = (parsed - datetime.datetime.now(datetime.UTC)).total_seconds() if parsed else 1.0
        return min(max(seconds, 0.0), self.max_retry_after)

    def get_json(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any] | None:
        """GET ``base_url + path``; returns the JSON body, or None for 404. Cached on success."""
        params = params or {}
        key = self._cache_key(path, params)
        cached = cache.get(key)
        if cached is not None:
            return dict(cached)
        url = f"{self.base_url}{path}"
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            try:
                response = self.session.get(
                    url,
                    params=params,
                    headers={"Authorization": f"Bearer {self.developer_token()}"},
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                last_problem = f"network error: {exc.__class__.__name__}"
                if attempt < self.max_retries:
                    self.sleep(self.backoff_seconds * 2**attempt)
                    continue
                break
            status = response.status_code
            if status == 200:
                body: dict[str, Any] = response.json()
                cache.set(key, body, self.cache_seconds)
                return body
            if status == 404:
                return None
            if status in (401, 403):
                raise AppleMusicNotConfigured(
                    f"Apple Music refused the developer token (HTTP {status}). Check SONGFORGE_APPLE_TEAM_ID, "
                    "SONGFORGE_APPLE_KEY_ID and that the .p8 key belongs to a MusicKit key of that team.",
                    extra={"status": status, "path": path},
                )
            if status == 429:
                last_problem = "rate limited (HTTP 429)"
                if attempt < self.max_retries:
                    self.sleep(self._retry_after(response))
                    continue
                break
            if status >= 500:
                last_problem = f"server error (HTTP {status})"
                if attempt < self.max_retries:
                    self.sleep(self.backoff_seconds * 2**attempt)
                    continue
                break
            raise AppleMusicError(
                f"Apple Music rejected {path} with HTTP {status}.",
                extra={"status": status, "path": path, "body": response.text[:500]},
            )
        raise AppleMusicUnavailable(
            f"Apple Music is unavailable ({last_problem}) after {self.max_retries + 1} attempts; try again later.",
            extra={"path": path},
        )

    # --- catalog endpoints ------------------------------------------------------

    def search(self, term: str, *, limit: int = 25) -> list[AppleSong]:
        body = self.get_json(
            f"/v1/catalog/{self.storefront}/search", {"types": "songs", "term": term, "limit": str(limit)}
        )
        data = (((body or {}).get("results") or {}).get("songs") or {}).get("data") or []
        return [AppleSong.from_resource(resource) for resource in data]

    def songs_by_isrc(self, isrc: str) -> list[AppleSong]:
        body = self.get_json(f"/v1/catalog/{self.storefront}/songs", {"filter[isrc]": isrc.upper()})
        return [AppleSong.from_resource(resource) for resource in (body or {}).get("data") or []]

    def song(self, song_id: str) -> AppleSong | None:
        body = self.get_json(f"/v1/catalog/{self.storefront}/songs/{song_id}")
        data = (body or {}).get("data") or []
        return AppleSong.from_resource(data[0]) if data else None

    def download_preview(self, url: str) -> bytes:
        """The 30-second preview (public CDN URL: no developer token is sent)."""
        if urlparse(url).scheme not in ("http", "https"):
            raise AppleMusicError(f"Preview URL {url!r} is not http(s).", extra={"url": url})
        for attempt in range(self.max_retries + 1):
            try:
                response = self.session.get(url, timeout=self.timeout)
            except requests.RequestException:
                response = None
            if response is not None and response.status_code == 200:
                if len(response.content) > MAX_PREVIEW_BYTES:
                    raise AppleMusicError("The preview is larger than 20 MB.", extra={"url": url})
                return response.content
            if response is not None and response.status_code < 500 and response.status_code != 429:
                raise AppleMusicError(
                    f"The preview download failed with HTTP {response.status_code}.", extra={"url": url}
                )
            if attempt < self.max_retries:
                self.sleep(self.backoff_seconds * 2**attempt)
        raise AppleMusicUnavailable("The preview could not be downloaded; try again later.", extra={"url": url})


_default_client: AppleMusicClient | None = None


def get_client() -> AppleMusicClient:
    """The process-wide client built from settings (keeps its developer token between calls)."""
    global _default_client
    if _default_client is None:
        _default_client = AppleMusicClient.from_settings()
    return _default_client


def reset_client() -> None:
    """Forget the process-wide client (after settings change, e.g. in tests)."""
    global _default_client
    _default_client = None


# --- songs -> recordings -------------------------------------------------------------


def _existing_recording(songs: list[AppleSong]) -> Recording | None:
    ids = [song.id for song in songs]
    found = Recording.objects.filter(apple_music_id__in=ids).first()
    if found is not None:
        return found
    isrcs = sorted({song.isrc for song in songs if song.isrc})
    return Recording.objects.filter(isrc__in=isrcs).order_by("id").first() if isrcs else None


@transaction.atomic
def apple_music_recording_upsert(*, songs: list[AppleSong]) -> Recording:
    """Create or update the one recording for these Apple songs (same ISRC); returns it.

    A recording found by Apple id or by ISRC (e.g. a local one) gains the Apple ids and keeps
    its own external id and provider. Rights are not touched: Apple returns no holders.
    """
    if not songs:
        raise AppleMusicError("No Apple Music songs to store.")
    canonical = canonical_song(songs)
    existing = _existing_recording(songs)
    all_ids = sorted({song.id for song in songs} | set(existing.apple_music_ids if existing else []), key=_id_key)
    fields: dict[str, Any] = {
        "apple_music_id": canonical.id,
        "apple_music_ids": all_ids,
        "artwork_url": canonical.artwork_url[:500],
        "preview_url": canonical.preview_url[:500],
    }
    if existing is None or existing.provider == Recording.Provider.APPLE_MUSIC:
        fields.update(
            {
                "provider": Recording.Provider.APPLE_MUSIC,
                "title": canonical.name[:300],
                "artist": canonical.artist_name[:300],
                "album": canonical.album_name[:300],
                "isrc": canonical.isrc,
                "duration_ms": canonical.duration_ms,
                "genre": canonical.genre,
                "release_year": canonical.release_year,
                "composer": canonical.composer_name[:300],
            }
        )
    external_id = existing.external_id if existing else f"apple-music:{canonical.id}"
    recording, _ = recording_upsert(external_id=external_id, **fields)
    return recording


def _id_key(song_id: str) -> tuple[int, str]:
    return (int(song_id) if song_id.isdigit() else 1 << 62, song_id)


def apple_music_preview_store(*, recording_id: int, client: AppleMusicClient | None = None) -> Recording:
    """Download the recording's preview into storage (once per preview URL) and hand it to indexing."""
    recording = Recording.objects.get(pk=recording_id)
    if not recording.preview_url:
        return recording
    fingerprint = hashlib.sha256(recording.preview_url.encode()).hexdigest()[:12]
    if recording.preview_audio and fingerprint in recording.preview_audio.name:
        return recording
    content = (client or get_client()).download_preview(recording.preview_url)
    suffix = Path(urlparse(recording.preview_url).path).suffix.lower()[:6] or ".m4a"
    name = default_storage.save(
        f"catalog/previews/apple-{recording.apple_music_id}-{fingerprint}{suffix}", ContentFile(content)
    )
    old = recording.preview_audio.name if recording.preview_audio else ""
    with transaction.atomic():
        recording, _ = recording_upsert(external_id=recording.external_id, preview_audio=name)
        recordings_notify_imported([recording.id])
        if old:
            transaction.on_commit(lambda: default_storage.delete(old))
    return recording


def apple_music_search(*, term: str, limit: int = 25, with_previews: bool = True) -> list[Recording]:
    """Search Apple Music and store each found song (grouped by ISRC) as a recording, best match first."""
    client = get_client()
    songs = client.search(term, limit=limit)
    groups: dict[str, list[AppleSong]] = {}
    for song in songs:
        groups.setdefault(song.isrc or f"id:{song.id}", []).append(song)
    recordings = [apple_music_recording_upsert(songs=group) for group in groups.values()]
    if with_previews:
        recordings = [apple_music_preview_store(recording_id=r.id, client=client) for r in recordings]
    return recordings


def apple_music_search_for_catalog(*, term: str, limit: int = 25) -> list[int]:
    """Bring Apple Music's songs for ``term`` into the catalog so local search ranks them with the rest.

    Previews are fetched by ``apple_music_preview_task`` after commit (not in the request). An unreachable
    Apple Music is logged and skipped (local results still answer); a configuration error is raised.
    """
    try:
        recordings = apple_music_search(term=term, limit=limit, with_previews=False)
    except AppleMusicUnavailable as exc:
        logger.warning("apple music search for %r skipped: %s", term, exc.message)
        return []
    ids = [r.id for r in recordings if r.preview_url and not r.preview_audio]
    if ids:
        from catalog.tasks import apple_music_preview_task  # catalog.tasks imports this module

        def enqueue() -> None:
            for pk in ids:
                apple_music_preview_task.send(pk)

        transaction.on_commit(enqueue)
    return [r.id for r in recordings]


def apple_music_match_isrc(*, isrc: str, with_preview: bool = True) -> Recording | None:
    """The recording for ``isrc`` from Apple Music (all its song ids stored), or None when Apple has none."""
    client = get_client()
    songs = client.songs_by_isrc(isrc)
    if not songs:
        return None
    recording = apple_music_recording_upsert(songs=songs)
    if with_preview:
        recording = apple_music_preview_store(recording_id=recording.id, client=client)
    return recording


def apple_music_song_fetch(*, song_id: str, with_preview: bool = True) -> Recording | None:
    """The recording for one Apple Music song id (with every other id sharing its ISRC), or None if unknown."""
    client = get_client()
    song = client.song(song_id)
    if song is None:
        return None
    songs = client.songs_by_isrc(song.isrc) if song.isrc else [song]
    if song.id not in {s.id for s in songs}:
        songs.append(song)
    recording = apple_music_recording_upsert(songs=songs)
    if with_preview:
        recording = apple_music_preview_store(recording_id=recording.id, client=client)
    return recording
