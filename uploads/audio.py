"""Reading an uploaded song's bytes: size limit, format from the contents, and a full decode check.

Nothing here touches the database; :mod:`uploads.services` calls these before it stores anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import av
from django.conf import settings

from uploads.errors import CorruptAudioError, UploadTooLargeError, UploadTooLongError

CHUNK_BYTES = 1024 * 1024
HEAD_BYTES = 64
MIN_AUDIO_SECONDS = 1.0
FORMAT_NAMES = {"mp3": "MP3", "aac": "AAC", "m4a": "M4A", "flac": "FLAC", "wav": "WAV", "ogg": "Ogg"}


def refuse_if_too_large(size: int, name: str) -> None:
    """Raise UploadTooLargeError when ``size`` bytes exceed ``settings.UPLOAD_MAX_BYTES``."""
    if size > settings.UPLOAD_MAX_BYTES:
        raise UploadTooLargeError(
            f"A song may be at most {settings.UPLOAD_MAX_BYTES // (1024 * 1024)} MB; {name} is bigger. "
            "Upload a compressed version (MP3, M4A or FLAC).",
            extra={"max_bytes": settings.UPLOAD_MAX_BYTES},
        )


def sniff_audio_format(head: bytes) -> str | None:
    """The container type from a file's first bytes (never its name), or None if it is not one we take."""
    if head.startswith(b"ID3"):
        return "mp3"
    if head.startswith(b"fLaC"):
        return "flac"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"OggS"):
        return "ogg"
    if head[4:8] == b"ftyp":
        return "m4a"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:  # ADTS: 12 sync bits, layer 00
            return "aac"
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0:  # MPEG audio frame sync, layer I-III
            return "mp3"
    return None


def _too_long(name: str, seconds: float, *, is_partial: bool) -> UploadTooLongError:
    limit = settings.UPLOAD_MAX_SECONDS
    return UploadTooLongError(
        f"A song may be at most {limit // 60} min {limit % 60:02d} s long; this {name} file runs "
        f"{'at least ' if is_partial else ''}{int(seconds) // 60} min {int(seconds) % 60:02d} s. "
        "Upload a shorter version.",
        extra={"max_seconds": limit, "seconds": round(seconds, 1)},
    )


def declared_seconds(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float | None:
    """The duration the container's header declares (stream, else container), or None if it says none."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def check_decodes(path: Path, audio_format: str) -> float:
    """Decode the file once; return its duration in seconds or raise CorruptAudioError saying why.

    Past ``UPLOAD_MAX_SECONDS`` it raises UploadTooLongError: at once when the header declares a
    longer duration, else as soon as decoding passes the limit (a header can lie or say nothing),
    so the work done on any file is bounded by the limit, not by what the file claims.
    """
    name = FORMAT_NAMES[audio_format]
    decoded = 0.0
    limit = settings.UPLOAD_MAX_SECONDS
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                raise CorruptAudioError(
                    f"The file looks like {name} but holds no audio stream. Export the song again and re-upload it."
                )
            stream = container.streams.audio[0]
            declared = declared_seconds(container, stream)
            if declared is not None and declared > limit:
                raise _too_long(name, declared, is_partial=False)
            for frame in container.decode(stream):
                decoded += frame.samples / float(frame.sample_rate or 1)
                if decoded > limit:
                    raise _too_long(name, decoded, is_partial=True)
    except (CorruptAudioError, UploadTooLongError):
        raise
    except (av.FFmpegError, ValueError, IndexError) as exc:
        where = f" after {decoded:.1f} s" if decoded else ""
        # FFmpeg's message names our temporary file; the artist only needs the reason.
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise CorruptAudioError(
            f"The {name} file is damaged{where} ({reason}). Export the song again and re-upload it.",
            extra={"decoded_seconds": round(decoded, 1)},
        ) from exc
    if decoded < MIN_AUDIO_SECONDS:
        raise CorruptAudioError(
            f"The {name} file holds no playable audio ({decoded:.1f} s decoded). "
            "Export the song again and re-upload it.",
            extra={"decoded_seconds": round(decoded, 1)},
        )
    return decoded


@dataclass(frozen=True)
class Spooled:
    """A file copied to local disk: where, how big, its sha256 and its first bytes (for sniffing)."""

    path: Path
    size: int
    sha256: str
    head: bytes


def spool(file: IO[bytes], temporary: IO[bytes], *, name: str) -> Spooled:
    """Copy ``file`` to ``temporary`` chunk by chunk, hashing it and refusing it past the size limit.

    ``temporary`` must be a named file (``tempfile.NamedTemporaryFile``); the caller deletes it.
    """
    digest = hashlib.sha256()
    size = 0
    head = b""
    if hasattr(file, "seek"):
        file.seek(0)
    while True:
        chunk = file.read(CHUNK_BYTES)
        if not chunk:
            break
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        size += len(chunk)
        refuse_if_too_large(size, name)
        digest.update(chunk)
        temporary.write(chunk)
    temporary.flush()
    return Spooled(Path(temporary.name), size, digest.hexdigest(), head)
