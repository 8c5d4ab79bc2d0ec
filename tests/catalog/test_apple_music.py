"""Every Apple Music HTTP path against a real local server answering in Apple's documented JSON shape."""

from __future__ import annotations

import datetime
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import dramatiq
import jwt
import numpy as np
import pytest
import soundfile
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.cache import cache
from django.core.files.storage import default_storage

from catalog import indexing
from catalog.clients import apple_music
from catalog.clients.apple_music import AppleMusicClient
from catalog.errors import AppleMusicError, AppleMusicNotConfigured, AppleMusicUnavailable
from catalog.models import Recording
from catalog.services import recording_upsert

pytestmark = pytest.mark.django_db

TEAM_ID = "TEAM123456"
KEY_ID = "KEY9876543"


def song_resource(song_id: str, *, name: str, isrc: str, release: str, port: int) -> dict[str, Any]:
    return {
        "id": song_id,
        "type": "songs",
        "href": f"/v1/catalog/us/songs/{song_id}",
        "attributes": {
            "name": name,
            "artistName": "Ella Example",
            "albumName": "Nights",
            "isrc": isrc,
            "durationInMillis": 201_000,
            "artwork": {
                "url": "https://is1-ssl.mzstatic.com/image/thumb/x/{w}x{h}bb.jpg",
                "width": 3000,
                "height": 3000,
            },
            "previews": [{"url": f"http://127.0.0.1:{port}/previews/{song_id}.wav"}],
            "genreNames": ["Jazz", "Music"],
            "releaseDate": release,
            "composerName": "Ann Writer",
            "url": f"https://music.apple.com/us/album/nights/1?i={song_id}",
        },
    }


class FakeApple:
    """Scripted answers: a queue of (status, headers) overrides consumed before normal routing."""

    def __init__(self, port: int, wav: bytes) -> None:
        self.port = port
        self.wav = wav
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple[int, dict[str, str]]] = []

    def songs(self) -> dict[str, dict[str, Any]]:
        return {
            "1500": song_resource("1500", name="Blue Moon", isrc="USAB12300001", release="2019-05-01", port=self.port),
            "1400": song_resource(
                "1400", name="Blue Moon (Single)", isrc="USAB12300001", release="2019-05-01", port=self.port
            ),
            "1600": song_resource("1600", name="Blue Moon", isrc="USAB12300001", release="2020-01-10", port=self.port),
            "2000": song_resource("2000", name="Green Sun", isrc="USAB12300002", release="2021-03-03", port=self.port),
        }

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        if self.script:
            status, headers = self.script.pop(0)
            return status, headers, json.dumps({"errors": [{"status": str(status)}]}).encode()
        songs = self.songs()
        if path.startswith("/previews/"):
            return 200, {"Content-Type": "audio/wav"}, self.wav
        if path == "/v1/catalog/us/search":
            term = query.get("term", [""])[0].lower()
            found = [s for s in songs.values() if term in s["attributes"]["name"].lower()]
            return 200, {}, json.dumps({"results": {"songs": {"href": "/x", "data": found}}}).encode()
        if path == "/v1/catalog/us/songs":
            isrc = query.get("filter[isrc]", [""])[0]
            found = [s for s in songs.values() if s["attributes"]["isrc"] == isrc]
            return 200, {}, json.dumps({"data": found}).encode()
        if path.startswith("/v1/catalog/us/songs/"):
            song = songs.get(path.rsplit("/", 1)[1])
            if song is None:
                return 404, {}, json.dumps({"errors": [{"status": "404", "title": "Resource Not Found"}]}).encode()
            return 200, {}, json.dumps({"data": [song]}).encode()
        return 404, {}, b"{}"


@pytest.fixture
def fake_apple(tmp_path: Path) -> Iterator[FakeApple]:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(8000), 8000, format="WAV")
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    fake = FakeApple(server.server_address[1], buffer.getvalue())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            fake.requests.append(
                {"path": parsed.path, "query": parse_qs(parsed.query), "auth": self.headers.get("Authorization")}
            )
            status, headers, body = fake.answer(parsed.path, parse_qs(parsed.query))
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cache.clear()
    yield fake
    server.shutdown()
    server.server_close()
    cache.clear()


@pytest.fixture
def key_pair(tmp_path: Path) -> tuple[Path, ec.EllipticCurvePublicKey]:
    private = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "AuthKey_KEY9876543.p8"
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path, private.public_key()


@pytest.fixture
def configured(settings, fake_apple, key_pair) -> Iterator[list[float]]:
    settings.CATALOG_PROVIDER = "apple-music"
    settings.APPLE_MUSIC = {
        "TEAM_ID": TEAM_ID,
        "KEY_ID": KEY_ID,
        "PRIVATE_KEY_PATH": str(key_pair[0]),
        "STOREFRONT": "us",
        "BASE_URL": f"http://127.0.0.1:{fake_apple.port}",
    }
    apple_music.reset_client()
    sleeps: list[float] = []
    client = apple_music.get_client()
    client.sleep = sleeps.append
    yield sleeps
    apple_music.reset_client()


def test_the_server_receives_a_valid_es256_developer_token(configured, fake_apple, key_pair):
    apple_music.get_client().song("2000")
    auth = fake_apple.requests[0]["auth"]
    assert auth.startswith("Bearer ")
    token = auth.removeprefix("Bearer ")
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    claims = jwt.decode(token, key_pair[1], algorithms=["ES256"])
    assert claims["iss"] == TEAM_ID
    assert claims["exp"] - claims["iat"] == 12 * 3600


def test_the_token_is_reused_then_renewed_before_expiry(key_pair):
    client = AppleMusicClient(team_id=TEAM_ID, key_id=KEY_ID, private_key_path=str(key_pair[0]))
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    first = client.developer_token(now=start)
    assert client.developer_token(now=start + datetime.timedelta(hours=11, minutes=49)) == first
    renewed = client.developer_token(now=start + datetime.timedelta(hours=11, minutes=51))
    assert renewed != first
    assert jwt.decode(renewed, key_pair[1], algorithms=["ES256"], options={"verify_exp": False})["iat"] == int(
        (start + datetime.timedelta(hours=11, minutes=51)).timestamp()
    )


def test_search_maps_songs_to_recordings_with_previews(
    configured, fake_apple, django_capture_on_commit_callbacks, monkeypatch
):
    seen: list[list[int]] = []
    monkeypatch.setattr(indexing, "recordings_imported", lambda ids: seen.append(list(ids)))
    with django_capture_on_commit_callbacks(execute=True):
        recordings = apple_music.apple_music_search(term="green")
    assert fake_apple.requests[0]["path"] == "/v1/catalog/us/search"
    assert fake_apple.requests[0]["query"] == {"types": ["songs"], "term": ["green"], "limit": ["25"]}
    (recording,) = recordings
    assert (
        recording.external_id,
        recording.provider,
        recording.apple_music_id,
        recording.title,
        recording.artist,
        recording.album,
        recording.isrc,
        recording.duration_ms,
        recording.genre,
        recording.release_year,
        recording.composer,
        recording.rights_status,
    ) == (
        "apple-music:2000",
        "apple-music",
        "2000",
        "Green Sun",
        "Ella Example",
        "Nights",
        "USAB12300002",
        201_000,
        "Jazz",
        2021,
        "Ann Writer",
        "unknown",
    )
    assert recording.artwork_url == "https://is1-ssl.mzstatic.com/image/thumb/x/{w}x{h}bb.jpg"
    assert recording.preview_url == f"http://127.0.0.1:{fake_apple.port}/previews/2000.wav"
    assert default_storage.open(recording.preview_audio.name).read() == fake_apple.wav
    assert fake_apple.requests[1]["auth"] is None  # the preview CDN gets no developer token
    assert seen == [[recording.id]]


def test_one_isrc_with_several_songs_keeps_all_ids_and_picks_the_earliest(configured, fake_apple):
    recording = apple_music.apple_music_match_isrc(isrc="usab12300001", with_preview=False)
    assert recording is not None
    assert fake_apple.requests[0]["query"] == {"filter[isrc]": ["USAB12300001"]}
    assert recording.apple_music_ids == ["1400", "1500", "1600"]
    assert (recording.apple_music_id, recording.title) == ("1400", "Blue Moon (Single)")
    assert Recording.objects.count() == 1


def test_a_local_recording_with_the_same_isrc_gains_the_apple_ids(configured, fake_apple):
    local, _ = recording_upsert(external_id="demo-7", title="Blue Moon", artist="Ella", isrc="USAB12300001")
    recording = apple_music.apple_music_match_isrc(isrc="USAB12300001", with_preview=False)
    assert recording is not None
    assert (recording.id, recording.external_id, recording.provider, recording.title) == (
        local.id,
        "demo-7",
        "local",
        "Blue Moon",
    )
    assert recording.apple_music_id == "1400"


def test_song_by_id_and_unknown_ids(configured, fake_apple):
    recording = apple_music.apple_music_song_fetch(song_id="1600", with_preview=False)
    assert recording is not None
    assert recording.apple_music_ids == ["1400", "1500", "1600"]
    assert apple_music.apple_music_song_fetch(song_id="999") is None
    assert Recording.objects.count() == 1


def test_unauthorised_is_a_configuration_error(configured, fake_apple):
    fake_apple.script = [(401, {})]
    with pytest.raises(AppleMusicNotConfigured) as excinfo:
        apple_music.get_client().search("blue")
    assert "refused the developer token (HTTP 401)" in excinfo.value.message
    assert excinfo.value.permanent is True
    fake_apple.script = [(403, {})]
    with pytest.raises(AppleMusicNotConfigured, match="HTTP 403"):
        apple_music.get_client().song("1500")
    assert Recording.objects.count() == 0


def test_rate_limits_honour_retry_after_within_bounds(configured, fake_apple):
    sleeps = configured
    fake_apple.script = [(429, {"Retry-After": "2"}), (429, {"Retry-After": "600"})]
    songs = apple_music.get_client().search("blue")
    assert [s.id for s in songs] == ["1500", "1400", "1600"]
    assert sleeps == [2.0, 30.0]
    assert len(fake_apple.requests) == 3


def test_server_errors_retry_with_backoff_then_give_up(configured, fake_apple):
    sleeps = configured
    fake_apple.script = [(503, {}), (500, {})]
    assert apple_music.get_client().song("2000") is not None
    assert sleeps == [0.5, 1.0]
    sleeps.clear()
    fake_apple.script = [(502, {})] * 4
    with pytest.raises(AppleMusicUnavailable) as excinfo:
        apple_music.get_client().song("1500")
    assert excinfo.value.permanent is False
    assert sleeps == [0.5, 1.0, 2.0]
    assert "after 4 attempts" in excinfo.value.message


def test_other_client_errors_are_permanent(configured, fake_apple):
    fake_apple.script = [(400, {})]
    with pytest.raises(AppleMusicError, match="HTTP 400"):
        apple_music.get_client().search("blue")
    assert len(fake_apple.requests) == 1


def test_responses_are_cached(configured, fake_apple):
    client = apple_music.get_client()
    first = client.songs_by_isrc("USAB12300002")
    second = client.songs_by_isrc("USAB12300002")
    assert first == second
    assert len(fake_apple.requests) == 1


def test_the_preview_is_downloaded_once(configured, fake_apple):
    recording = apple_music.apple_music_match_isrc(isrc="USAB12300002")
    assert recording is not None
    assert recording.preview_audio.name.startswith("catalog/previews/apple-2000-")
    apple_music.apple_music_preview_store(recording_id=recording.id)
    assert [r["path"] for r in fake_apple.requests].count("/previews/2000.wav") == 1


def test_missing_credentials_name_the_settings(settings):
    settings.APPLE_MUSIC = {"TEAM_ID": "", "KEY_ID": "k", "PRIVATE_KEY_PATH": "", "STOREFRONT": "us", "BASE_URL": ""}
    apple_music.reset_client()
    with pytest.raises(AppleMusicNotConfigured) as excinfo:
        apple_music.get_client()
    assert excinfo.value.message == (
        "Apple Music is not configured: set SONGFORGE_APPLE_TEAM_ID, SONGFORGE_APPLE_PRIVATE_KEY_PATH "
        "(team id, MusicKit key id and the path of its .p8 key)."
    )


def test_an_unreadable_key_is_a_configuration_error(tmp_path):
    client = AppleMusicClient(team_id=TEAM_ID, key_id=KEY_ID, private_key_path=str(tmp_path / "missing.p8"))
    with pytest.raises(AppleMusicNotConfigured, match="Cannot read the Apple Music key"):
        client.developer_token()
    bad = tmp_path / "bad.p8"
    bad.write_text("not a key")
    client = AppleMusicClient(team_id=TEAM_ID, key_id=KEY_ID, private_key_path=str(bad))
    with pytest.raises(AppleMusicNotConfigured, match="is not an EC P-256 private key"):
        client.developer_token()


def test_the_search_api_brings_apple_songs_in_and_queues_their_previews(
    configured, fake_apple, client, stub_broker, django_capture_on_commit_callbacks
):
    from django.contrib.auth import get_user_model

    from catalog.tasks import apple_music_preview_task

    client.force_login(get_user_model().objects.create_user("ann", "ann@example.com", "pw"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get("/api/catalog/search", {"q": "green sun"})
    assert response.status_code == 200
    (result,) = response.json()["results"]
    recording = Recording.objects.get(apple_music_id="2000")
    assert (result["id"], result["title"], result["provider"]) == (recording.id, "Green Sun", "apple-music")
    assert result["artwork_url"] == "https://is1-ssl.mzstatic.com/image/thumb/x/600x600bb.jpg"
    queued = [dramatiq.Message.decode(raw) for raw in stub_broker.queues["catalog"].queue]
    assert [(m.actor_name, m.args) for m in queued] == [("apple_music_preview_task", (recording.id,))]
    assert not recording.preview_audio
    apple_music_preview_task.fn(recording.id)
    apple_music_preview_task.fn(recording.id)  # a rerun downloads nothing more
    recording.refresh_from_db()
    assert default_storage.open(recording.preview_audio.name).read() == fake_apple.wav
    assert [r["path"] for r in fake_apple.requests].count("/previews/2000.wav") == 1


def test_the_search_api_still_answers_locally_when_apple_is_down(configured, fake_apple, client):
    from django.contrib.auth import get_user_model

    recording_upsert(external_id="local-1", title="Green Sunrise", artist="Local Band")
    client.force_login(get_user_model().objects.create_user("ann", "ann@example.com", "pw"))
    fake_apple.script = [(503, {})] * 4
    response = client.get("/api/catalog/search", {"q": "green"})
    assert response.status_code == 200
    assert [r["external_id"] for r in response.json()["results"]] == ["local-1"]


def test_the_search_api_reports_a_configuration_error(configured, fake_apple, client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("ann", "ann@example.com", "pw"))
    fake_apple.script = [(401, {})]
    response = client.get("/api/catalog/search", {"q": "green"})
    assert response.status_code == 400
    assert response.json()["code"] == "apple_music_not_configured"
