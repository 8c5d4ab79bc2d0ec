"""Decoding any audio file FFmpeg reads (through PyAV) to mono float32 at the fingerprint rate."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
import numpy.typing as npt
from scipy import signal

from catalog.fingerprint.landmarks import SAMPLE_RATE


class AudioDecodeError(Exception):
    """The file is not audio FFmpeg can decode; the message says why."""


def decode(
    source: str | Path | BinaryIO, *, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None
) -> npt.NDArray[np.float32]:
    """Mono float32 samples of the first audio stream of ``source`` (path or binary file), at ``sample_rate``.

    Decodes frame by frame (the file is never held whole in memory) and stops after ``max_seconds``.
    Raises ``AudioDecodeError`` for unreadable files and files without an audio stream.
    """
    chunks: list[npt.NDArray[np.float32]] = []
    limit = None if max_seconds is None else int(max_seconds * sample_rate)
    total = 0
    try:
        with av.open(source if hasattr(source, "read") else str(source), mode="r") as container:
            if not container.streams.audio:
                raise AudioDecodeError("the file has no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    array = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    chunks.append(array)
                    total += array.size
                if limit is not None and total >= limit:
                    break
            else:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    except AudioDecodeError:
        raise
    except (av.FFmpegError, ValueError, IndexError) as exc:
        raise AudioDecodeError(str(exc)) from exc
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    samples = np.concatenate(chunks)
    return samples[:limit] if limit is not None else samples


def resample(
    samples: npt.NDArray[np.float32], source_rate: int, target_rate: int = SAMPLE_RATE
) -> npt.NDArray[np.float32]:
    """Polyphase resampling of mono float32 samples (used for in-memory audio such as benchmarks)."""
    if source_rate == target_rate:
        return samples.astype(np.float32, copy=False)
    divisor = int(np.gcd(source_rate, target_rate))
    out: npt.NDArray[np.float32] = signal.resample_poly(samples, target_rate // divisor, source_rate // divisor)
    return out.astype(np.float32)
