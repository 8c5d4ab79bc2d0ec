"""Measuring the finished audio back: decoding any upload format, and tempo by beat tracking."""

from __future__ import annotations

from pathlib import Path

import av
import librosa
import numpy as np

from generation.synthesis.errors import InvalidProfileError
from generation.synthesis.features import SAMPLE_RATE, FloatArray, to_mono

TEMPO_HOP = 256
TEMPO_RATE = 22050
TEMPO_EXCERPT_S = 90.0
_OCTAVE_FACTORS = (0.5, 2 / 3, 1.0, 1.5, 2.0)


def decode_audio(path: Path, *, max_seconds: float | None = None) -> FloatArray:
    """Any FFmpeg-readable file -> float64 (2, samples) at 44.1 kHz (mono is duplicated)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InvalidProfileError(
                    f"{path.name} has no audio stream; upload an audio file.", extra={"path": str(path)}
                )
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
            chunks: list[np.ndarray] = []
            collected = 0
            limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for resampled in resampler.resample(frame):
                    chunk = resampled.to_ndarray()
                    chunks.append(chunk)
                    collected += chunk.shape[-1]
                if limit is not None and collected >= limit:
                    break
            for resampled in resampler.resample(None):
                chunks.append(resampled.to_ndarray())
    except (av.FFmpegError, OSError) as exc:
        raise InvalidProfileError(
            f"{path.name} could not be decoded ({exc}); upload WAV, FLAC, MP3 or AAC audio.",
            extra={"path": str(path)},
        ) from exc
    if not chunks:
        raise InvalidProfileError(f"{path.name} holds no audio samples.", extra={"path": str(path)})
    audio = np.concatenate(chunks, axis=1).astype(np.float64)
    return audio if max_seconds is None else audio[:, : int(max_seconds * SAMPLE_RATE)]


def steady_tempo(beat_times: FloatArray | list[float]) -> float | None:
    """60 / the mean of the steady inter-beat intervals (within 10 % of their median), in BPM.

    A tracker's own tempo is quantised by its onset-frame lag (at a 512-sample hop and 22.05 kHz,
    158 BPM comes out as 161.5); the mean of many intervals is finer. None for fewer than 4 beats.
    """
    beats = np.asarray(beat_times, dtype=np.float64)
    if len(beats) < 4:
        return None
    intervals = np.diff(beats)
    median = float(np.median(intervals))
    steady = intervals[np.abs(intervals - median) <= 0.1 * median]
    if len(steady) < 3 or median <= 0:
        return None
    return 60.0 / float(np.mean(steady))


def measure_tempo(audio: FloatArray, *, composed_bpm: float) -> float:
    """Tempo in BPM from librosa's beat tracker (over a central 90 s), seeded with the composed tempo.

    The tracker's own estimate is quantised by the onset-frame lag; the mean of the
    consistent inter-beat intervals is finer. Octave and 3:2 confusions are folded to the
    factor nearest the composed tempo (the prior), which is the usual metrical ambiguity.
    """
    mono_full = to_mono(audio)
    excerpt = int(TEMPO_EXCERPT_S * SAMPLE_RATE)
    if len(mono_full) > excerpt:  # a central excerpt keeps the cost flat for long songs
        start = (len(mono_full) - excerpt) // 2
        mono_full = mono_full[start : start + excerpt]
    mono = librosa.resample(mono_full.astype(np.float32), orig_sr=SAMPLE_RATE, target_sr=TEMPO_RATE)
    onset = librosa.onset.onset_strength(y=mono, sr=TEMPO_RATE, hop_length=TEMPO_HOP)
    tempo, beats = librosa.beat.beat_track(
        onset_envelope=onset, sr=TEMPO_RATE, hop_length=TEMPO_HOP, start_bpm=composed_bpm, tightness=400, units="time"
    )
    estimate = steady_tempo(beats) or float(np.atleast_1d(tempo)[0])
    if estimate <= 0:
        return 0.0
    candidates = [estimate * factor for factor in _OCTAVE_FACTORS]
    return float(min(candidates, key=lambda value: abs(value - composed_bpm)))
