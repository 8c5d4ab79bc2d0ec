"""Each identification step behind the one interface, and the chain that combines them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TSRC
from mutagen.mp4 import MP4, MP4FreeForm

from catalog.errors import AudioUnreadable
from catalog.identify import (
    Chain,
    FingerprintIdentifier,
    IdentificationUnavailable,
    IdentifyResult,
    IsrcTagIdentifier,
    ShazamIdentifier,
    default_chain,
    read_isrc,
)
from catalog.models import Recording
from catalog.services import recording_identify
from tests.conftest import free_port
from tests.uploads.conftest import excerpt, song, write_audio

ISRC = "QZS8F2600001"


def tag_isrc(path: Path, isrc: str) -> Path:
    if path.suffix == ".mp3":
        tags = ID3(path)
        tags.add(TSRC(encoding=3, text=[isrc]))
        tags.save(path)
    elif path.suffix == ".flac":
        flac = FLAC(path)
        flac["ISRC"] = isrc
        flac.save()
    elif path.suffix == ".m4a":
        mp4 = MP4(path)
        mp4["----:com.apple.iTunes:ISRC"] = [MP4FreeForm(isrc.encode())]
        mp4.save()
    return path


@pytest.mark.parametrize("kind", ["mp3", "flac", "m4a"])
def test_isrc_is_read_from_the_tags(tmp_path, kind):
    path = tag_isrc(write_audio(tmp_path / f"song.{kind}", song(40, 2.0)), "qz-s8f-26-00001")
    assert read_isrc(path) == ISRC


def test_a_file_without_tags_has_no_isrc(tmp_path):
    assert read_isrc(write_audio(tmp_path / "song.wav", song(40, 2.0))) is None


@pytest.mark.parametrize("kind", ["mp3", "flac", "m4a"])
def test_the_isrc_step_finds_the_catalog_recording(tmp_path, make_recording, kind):
    recording = make_recording(41, isrc=ISRC, with_audio=False)
    path = tag_isrc(write_audio(tmp_path / f"song.{kind}", song(40, 2.0)), ISRC)
    assert IsrcTagIdentifier().identify(path) == IdentifyResult(recording.pk, "isrc", 1.0, None)


def test_an_isrc_missing_from_the_catalog_is_no_answer(tmp_path, db):
    path = tag_isrc(write_audio(tmp_path / "song.mp3", song(40, 2.0)), ISRC)
    assert IsrcTagIdentifier().identify(path) is None


def test_the_fingerprint_step_matches_an_excerpt_of_a_catalog_song(tmp_path, indexed_catalog):
    path = write_audio(tmp_path / "clip.mp3", excerpt(2, 2.0, 5.0))
    result = FingerprintIdentifier().identify(path)
    assert result is not None
    assert result.recording_id == indexed_catalog[1].pk
    assert result.method == "fingerprint"
    assert result.offset_s == pytest.approx(2.0, abs=0.1)
    assert result.confidence is not None
    assert 0 < result.confidence <= 1


def test_the_fingerprint_step_leaves_a_song_outside_the_catalog_unmatched(tmp_path, indexed_catalog):
    path = write_audio(tmp_path / "stranger.wav", song(77, 6.0))
    assert FingerprintIdentifier().identify(path) is None


class _Fixed:
    method = "fixed"

    def __init__(self, answer: IdentifyResult | None) -> None:
        self.answer = answer
        self.calls = 0

    def identify(self, path: Path) -> IdentifyResult | None:
        self.calls += 1
        return self.answer


def test_the_chain_stops_at_the_first_answer(tmp_path):
    first, second, third = _Fixed(None), _Fixed(IdentifyResult(7, "fingerprint", 0.5, 1.0)), _Fixed(None)
    assert Chain([first, second, third]).identify(tmp_path / "x.mp3") == IdentifyResult(7, "fingerprint", 0.5, 1.0)
    assert (first.calls, second.calls, third.calls) == (1, 1, 0)


def test_tags_win_over_the_fingerprint(tmp_path, indexed_catalog):
    path = tag_isrc(write_audio(tmp_path / "song.mp3", excerpt(2, 0.0, 5.0)), indexed_catalog[0].isrc or "")
    result = default_chain().identify(path)
    assert result is not None
    assert (result.recording_id, result.method) == (indexed_catalog[0].pk, "isrc")


def test_recording_identify_answers_with_the_chain(tmp_path, indexed_catalog):
    result = recording_identify(path=write_audio(tmp_path / "clip.mp3", excerpt(3, 1.0, 5.0)))
    assert result is not None
    assert (result.recording_id, result.method) == (indexed_catalog[2].pk, "fingerprint")


def test_recording_identify_names_audio_it_cannot_decode(tmp_path, db):
    path = tmp_path / "broken.mp3"
    path.write_bytes(b"ID3" + bytes(2000))
    with pytest.raises(AudioUnreadable) as caught:
        recording_identify(path=path)
    assert caught.value.code == "audio_unreadable"
    assert caught.value.message


def test_shazam_joins_the_chain_only_when_configured(settings):
    assert [type(step) for step in default_chain().steps] == [IsrcTagIdentifier, FingerprintIdentifier]
    settings.IDENTIFIER = "shazam"
    assert [type(step) for step in default_chain().steps][-1] is ShazamIdentifier


# --- Shazam against a local server answering in Shazam's shape ----------------------------------


def shazam_match(isrc: str | None, apple_id: str | None) -> dict[str, Any]:
    track: dict[str, Any] = {
        "key": "549679333",
        "title": "Song 5",
        "subtitle": "Demo Band",
        "hub": {"type": "APPLEMUSIC", "actions": [{"name": "apple", "type": "applemusicopen", "uri": "x"}]},
    }
    if isrc:
        track["isrc"] = isrc
    if apple_id:
        track["hub"]["actions"].append({"name": "apple", "type": "applemusicplay", "id": apple_id})
    return {
        "matches": [{"id": "549679333", "offset": 31.52, "timeskew": 0.0001, "frequencyskew": 0.0}],
        "location": {"accuracy": 0.01},
        "timestamp": 1700000000000,
        "timezone": "Europe/London",
        "track": track,
        "tagid": "5B0C9E56-1F1C-4E1A-9D0B-8A1B7D1E2F3A",
    }


class FakeShazam:
    """A real HTTP server on 127.0.0.1 that answers Shazam's recognize endpoint."""

    def __init__(self) -> None:
        self.port = free_port()
        self.answer: tuple[int, dict[str, Any]] = (200, {"matches": [], "timestamp": 1, "tagid": "x"})
        self.requests: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _recognize(self, request: web.Request) -> web.Response:
        self.requests.append({"path": request.path, "body": await request.json()})
        status, body = self.answer
        return web.json_response(body, status=status)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/discovery/v5/{tail:.*}", self._recognize)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def fake_shazam() -> Iterator[FakeShazam]:
    server = FakeShazam()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tone_file(tmp_path) -> Path:
    return write_audio(tmp_path / "query.wav", song(50, 4.0))


def test_shazam_match_by_isrc_leads_to_the_catalog_recording(fake_shazam, tone_file, make_recording):
    recording = make_recording(5, isrc="USUR10200634", with_audio=False)
    fake_shazam.answer = (200, shazam_match("USUR10200634", "1440857781"))
    result = ShazamIdentifier(base_url=fake_shazam.base_url, attempts=1).identify(tone_file)
    assert result == IdentifyResult(recording.pk, "shazam", None, 31.52)
    (request,) = fake_shazam.requests
    assert request["path"].startswith("/discovery/v5/en-US/GB/iphone/-/tag/")
    assert request["body"]["signature"]["uri"].startswith("data:audio/vnd.shazam.sig;base64,")


def test_shazam_match_by_apple_music_id(fake_shazam, tone_file, make_recording):
    recording = make_recording(6, apple_music_id="1440857781", with_audio=False)
    fake_shazam.answer = (200, shazam_match(None, "1440857781"))
    result = ShazamIdentifier(base_url=fake_shazam.base_url, attempts=1).identify(tone_file)
    assert result is not None
    assert result.recording_id == recording.pk


def test_shazam_no_match_is_no_answer(fake_shazam, tone_file, db):
    result = ShazamIdentifier(base_url=fake_shazam.base_url, attempts=1).identify(tone_file)
    assert result is None
    assert len(fake_shazam.requests) == 1


def test_a_song_shazam_knows_but_the_catalog_lacks_is_no_answer(fake_shazam, tone_file, db):
    fake_shazam.answer = (200, shazam_match("GBAYE0601498", "123"))
    assert ShazamIdentifier(base_url=fake_shazam.base_url, attempts=1).identify(tone_file) is None
    assert Recording.objects.count() == 0


def test_shazam_rate_limit_is_retryable(fake_shazam, tone_file, db):
    fake_shazam.answer = (429, {"error": "Too Many Requests"})
    with pytest.raises(IdentificationUnavailable) as raised:
        ShazamIdentifier(base_url=fake_shazam.base_url, attempts=1).identify(tone_file)
    assert raised.value.permanent is False
    assert raised.value.code == "identification_unavailable"


def test_shazam_sees_only_a_signature_not_the_audio(fake_shazam, tone_file, db):
    ShazamIdentifier(base_url=fake_shazam.base_url, attempts=1).identify(tone_file)
    body = fake_shazam.requests[0]["body"]
    assert set(body) >= {"signature", "timestamp", "timezone"}
    assert len(body["signature"]["uri"]) < tone_file.stat().st_size
    assert isinstance(np.int64(body["signature"]["samplems"]), np.integer)
