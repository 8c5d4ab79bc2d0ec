# mypy: disable-error-code="no-untyped-call"
"""Files a listener gets: 24-bit WAV master, AAC and MP3 encodes (PyAV), tags (mutagen), peaks for the player."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile
from mutagen.id3 import APIC, COMM, ID3, TIT2, TPE1, TSRC, ID3NoHeaderError
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm
from mutagen.wave import WAVE

from generation.synthesis.errors import InvalidProfileError
from generation.synthesis.features import SAMPLE_RATE, FloatArray

AI_COMMENT = "AI-generated music: composed and produced by SongForge."
AAC_BIT_RATE = 256_000
MP3_BIT_RATE = 320_000
PEAK_PAIRS = 2000


def write_master_wav(path: Path, audio: FloatArray) -> None:
    """44.1 kHz stereo 24-bit PCM; the caller guarantees the samples are inside [-1, 1)."""
    soundfile.write(str(path), np.clip(audio, -1.0, 1.0 - 2.0**-23).T, SAMPLE_RATE, subtype="PCM_24")


def encode(path: Path, audio: FloatArray, *, container: str, codec: str, bit_rate: int) -> None:
    """Encode float stereo audio with FFmpeg through PyAV (frame sizing and sample format handled by PyAV)."""
    with av.open(str(path), mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=SAMPLE_RATE, layout="stereo")
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.bit_rate = bit_rate
        block = SAMPLE_RATE * 10
        for start in range(0, audio.shape[-1], block):
            chunk = np.ascontiguousarray(audio[:, start : start + block], dtype=np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = start
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)


def _artwork(tags: dict[str, Any]) -> tuple[bytes, str] | None:
    """(bytes, mime) from tags["artwork"] given as bytes or a path to a PNG/JPEG."""
    artwork = tags.get("artwork")
    if artwork is None:
        return None
    data = artwork if isinstance(artwork, bytes) else Path(artwork).read_bytes()
    if data.startswith(b"\x89PNG"):
        return data, "image/png"
    if data.startswith(b"\xff\xd8"):
        return data, "image/jpeg"
    raise InvalidProfileError(
        "The artwork must be a PNG or JPEG image; convert it and try again.", extra={"size": len(data)}
    )


def _comment(tags: dict[str, Any]) -> str:
    """The AI-generated note, always; a caller's comment is appended, never substituted."""
    extra = str(tags.get("comment") or "").strip()
    return f"{AI_COMMENT} {extra}" if extra else AI_COMMENT


def _id3_frames(tags: dict[str, Any]) -> list[Any]:
    frames: list[Any] = [COMM(encoding=3, lang="eng", desc="", text=[_comment(tags)])]
    if tags.get("title"):
        frames.append(TIT2(encoding=3, text=[str(tags["title"])]))
    if tags.get("artist"):
        frames.append(TPE1(encoding=3, text=[str(tags["artist"])]))
    if tags.get("isrc"):
        frames.append(TSRC(encoding=3, text=[str(tags["isrc"])]))
    artwork = _artwork(tags)
    if artwork is not None:
        frames.append(APIC(encoding=3, mime=artwork[1], type=3, desc="Cover", data=artwork[0]))
    return frames


def tag_mp3(path: Path, tags: dict[str, Any]) -> None:
    try:
        id3 = ID3(str(path))
    except ID3NoHeaderError:
        id3 = ID3()
    for frame in _id3_frames(tags):
        id3.add(frame)
    id3.save(str(path), v2_version=3)


def tag_wav(path: Path, tags: dict[str, Any]) -> None:
    wave = WAVE(str(path))
    if wave.tags is None:
        wave.add_tags()
    assert wave.tags is not None
    for frame in _id3_frames(tags):
        wave.tags.add(frame)
    wave.save()


def tag_m4a(path: Path, tags: dict[str, Any]) -> None:
    mp4 = MP4(str(path))
    if mp4.tags is None:
        mp4.add_tags()
    assert mp4.tags is not None
    mp4.tags["\xa9cmt"] = [_comment(tags)]
    if tags.get("title"):
        mp4.tags["\xa9nam"] = [str(tags["title"])]
    if tags.get("artist"):
        mp4.tags["\xa9ART"] = [str(tags["artist"])]
    if tags.get("isrc"):
        mp4.tags["----:com.apple.iTunes:ISRC"] = [MP4FreeForm(str(tags["isrc"]).encode())]
    artwork = _artwork(tags)
    if artwork is not None:
        image_format = MP4Cover.FORMAT_PNG if artwork[1] == "image/png" else MP4Cover.FORMAT_JPEG
        mp4.tags["covr"] = [MP4Cover(artwork[0], imageformat=image_format)]
    mp4.save()


def write_peaks(path: Path, audio: FloatArray) -> dict[str, Any]:
    """Min/max pairs in the audiowaveform JSON layout (version 2, 8-bit), readable by peaks.js."""
    mono_max = audio.max(axis=0)
    mono_min = audio.min(axis=0)
    per_pixel = max(1, math.ceil(audio.shape[-1] / PEAK_PAIRS))
    pixels = math.ceil(audio.shape[-1] / per_pixel)
    padding = pixels * per_pixel - audio.shape[-1]
    highs = np.pad(mono_max, (0, padding)).reshape(pixels, per_pixel).max(axis=1)
    lows = np.pad(mono_min, (0, padding)).reshape(pixels, per_pixel).min(axis=1)
    data = np.empty(2 * pixels, dtype=np.int64)
    data[0::2] = np.clip(np.round(lows * 127), -128, 127)
    data[1::2] = np.clip(np.round(highs * 127), -128, 127)
    peaks = {
        "version": 2,
        "channels": 1,
        "sample_rate": SAMPLE_RATE,
        "samples_per_pixel": per_pixel,
        "bits": 8,
        "length": pixels,
        "data": data.tolist(),
    }
    path.write_text(json.dumps(peaks, separators=(",", ":")))
    return peaks
