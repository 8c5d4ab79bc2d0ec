"""Audio features of one upload: tempo and beats, key, chords, loudness, timbre, sections, notes.

Pure functions over a file path (librosa + basic-pitch's ONNX model); the service in
``generation.services.features`` stores the result per upload so nothing is computed twice.

The transcription is quantised to the detected beat grid (12 ticks per beat, snapped to 16ths or
triplets) and split into melody / chords / bass roles before it is tokenised: raw transcriptions
look nothing like corpus data to the model (notes/stack.md).
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

import numpy as np

from generation.ml import tonality
from generation.ml.tokenizer import (
    PITCH_CLASS_NAMES,
    ROLES,
    TICKS_PER_BEAT,
    Note,
    Piece,
    chord_from_histogram,
    estimate_chords,
)
from generation.synthesis import recognition, recognition_cnn
from generation.synthesis.analysis import steady_tempo

logger = logging.getLogger(__name__)

SAMPLE_RATE = 22050
HOP = 512
MAX_ANALYSIS_S = 150.0  # longer uploads are analysed on their first 150 s

BAND_EDGES_HZ = (0, 150, 400, 1000, 2500, 6000, 11025)


def analyse_audio(path: Path, *, max_seconds: float = MAX_ANALYSIS_S) -> dict[str, Any]:
    """Signal features (everything but the transcription)."""
    import librosa

    y, sr = librosa.load(str(path), sr=SAMPLE_RATE, mono=True, duration=max_seconds)
    duration = float(len(y) / sr)
    onset_env = librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP)
    tempo, beats = librosa.beat.beat_track(onset_envelope=onset_env, sr=sr, hop_length=HOP, units="frames")
    beat_times = librosa.frames_to_time(beats, sr=sr, hop_length=HOP)
    tempo_bpm = steady_tempo(beat_times) or (float(np.atleast_1d(tempo)[0]) if np.size(tempo) else 120.0)
    if tempo_bpm <= 0:
        tempo_bpm = 120.0
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=HOP)
    chroma = librosa.feature.chroma_stft(y=y, sr=sr, hop_length=HOP)
    chroma_mean = chroma.mean(axis=1)
    key = tonality.estimate_key(chroma_mean)
    tonic, mode, key_r = key.tonic, key.mode, key.correlation
    scale = tonality.estimate_mode(chroma_mean, key)
    # Chords per beat from beat-synchronous chroma.
    chords: list[dict[str, Any]] = []
    if len(beats) > 1:
        sync = librosa.util.sync(chroma, list(beats), aggregate=np.median)
        times = librosa.frames_to_time(np.concatenate([[0], beats]), sr=sr, hop_length=HOP)
        previous = ""
        for i in range(sync.shape[1]):
            label = chord_from_histogram(sync[:, i])
            if label != previous:
                chords.append({"time": round(float(times[min(i, len(times) - 1)]), 3), "chord": label})
                previous = label
    rms = librosa.feature.rms(y=y, hop_length=HOP)[0]
    frames_per_second = sr / HOP
    seconds = max(1, int(duration))
    loudness = [
        round(
            float(20 * np.log10(np.mean(rms[int(s * frames_per_second) : int((s + 1) * frames_per_second)]) + 1e-9)), 2
        )
        for s in range(seconds)
        if int(s * frames_per_second) < len(rms)
    ]
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, hop_length=HOP)
    centroid = librosa.feature.spectral_centroid(y=y, sr=sr, hop_length=HOP)[0]
    spectrum = np.abs(librosa.stft(y, n_fft=2048, hop_length=HOP * 4)) ** 2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=2048)
    bands = np.array([spectrum[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in itertools.pairwise(BAND_EDGES_HZ)])
    bands = bands / (bands.sum() + 1e-12)
    sections = segment_sections(y, int(sr), beats, duration)
    return {
        "duration_s": round(duration, 3),
        "tempo_bpm": round(tempo_bpm, 2),
        "beat_times": [round(float(t), 3) for t in beat_times],
        "onset_rate": round(len(onsets) / max(duration, 1e-3), 3),
        "key": {
            "tonic": tonic,
            "name": PITCH_CLASS_NAMES[tonic],
            "mode": mode,
            "scale": scale,
            "confidence": round(key_r, 3),
        },
        "chroma_mean": [round(float(v), 4) for v in chroma_mean / (chroma_mean.sum() + 1e-9)],
        "chords": chords,
        "loudness_db_per_s": loudness,
        "timbre": {
            "mfcc_mean": [round(float(v), 3) for v in mfcc.mean(axis=1)],
            "mfcc_std": [round(float(v), 3) for v in mfcc.std(axis=1)],
            "centroid_mean": round(float(centroid.mean()), 1),
            "centroid_std": round(float(centroid.std()), 1),
            "band_energy": [round(float(v), 4) for v in bands],
            "band_edges_hz": list(BAND_EDGES_HZ),
        },
        "sections": sections,
        "recognition": [round(float(v), 5) for v in recognition.mix_features(y, int(sr))],
        # per pitched role, the CNN's probability of each program (None without its weights)
        "recognition_cnn": recognition_cnn.role_probabilities(y, int(sr)),
    }


def segment_sections(y: np.ndarray, sr: int, beats: np.ndarray, duration: float) -> list[dict[str, float]]:
    """Novelty-based sections: agglomerative clustering of beat-synchronous MFCC+chroma."""
    import librosa

    if len(beats) < 16:
        return [{"start": 0.0, "end": round(duration, 3)}]
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13, hop_length=HOP)
    chroma = librosa.feature.chroma_stft(y=y, sr=sr, hop_length=HOP)
    feature = np.vstack([librosa.util.normalize(mfcc, axis=1), chroma])
    sync = librosa.util.sync(feature, list(beats))
    k = int(min(8, max(2, duration // 20)))
    bounds = librosa.segment.agglomerative(sync, k)
    times = librosa.frames_to_time(np.concatenate([[0], beats]), sr=sr, hop_length=HOP)
    starts = sorted({round(float(times[min(b, len(times) - 1)]), 3) for b in bounds} | {0.0})
    ends = [*starts[1:], round(duration, 3)]
    return [{"start": s, "end": e} for s, e in zip(starts, ends, strict=True) if e > s]


def transcribe(path: Path) -> list[tuple[float, float, int, int]]:
    """basic-pitch (ONNX backend) -> notes (start_s, end_s, pitch, velocity)."""
    import contextlib
    import io

    from basic_pitch import ICASSP_2022_MODEL_PATH
    from basic_pitch.inference import predict

    model_path = Path(ICASSP_2022_MODEL_PATH)
    onnx_path = model_path if model_path.suffix == ".onnx" else model_path.parent / "nmp.onnx"
    with contextlib.redirect_stdout(io.StringIO()):
        _, _, events = predict(str(path), str(onnx_path))
    return [(float(s), float(e), int(p), max(1, min(127, round(a * 127)))) for s, e, p, a, *_ in events]


def quantise(notes: list[tuple[float, float, int, int]], beat_times: list[float], tempo_bpm: float) -> Piece:
    """Snap notes to a 4/4 grid derived from the beat times; split into melody/chords/bass.

    Onsets are mapped to fractional beats by interpolating over the detected beats (so tempo drift
    is absorbed), then snapped to the nearer of the 16th or triplet grid. The downbeat phase is the
    one (of 4) whose beats carry the most note onsets. Melody = the highest note starting at each
    grid point if it is at or above MIDI 55; bass = notes below MIDI 48; the rest are chords.
    """
    if not notes:
        return Piece(tempo_bpm=tempo_bpm, time_signature=(4, 4), notes=[])
    beats = np.asarray(beat_times, dtype=np.float64)
    spb = 60.0 / tempo_bpm
    if beats.size < 2:
        beats = np.arange(0.0, max(e for _, e, _, _ in notes) + spb, spb)

    def to_beats(t: float) -> float:
        if t <= beats[0]:
            return float((t - beats[0]) / spb)
        if t >= beats[-1]:
            return float(len(beats) - 1 + (t - beats[-1]) / spb)
        return float(np.interp(t, beats, np.arange(beats.size)))

    def snap(b: float) -> int:
        sixteenth = round(b * 4) * 3
        triplet = round(b * 3) * 4
        ticks = b * TICKS_PER_BEAT
        return int(sixteenth if abs(sixteenth - ticks) <= abs(triplet - ticks) + 0.5 else triplet)

    raw = []
    for start, end, pitch, velocity in notes:
        s = snap(to_beats(start))
        e = snap(to_beats(end))
        raw.append((s, max(3, e - s), pitch, (velocity // 16) * 16 + 8))
    offset = -min(s for s, *_ in raw)
    counts = [0, 0, 0, 0]
    for s, *_ in raw:
        if (s + offset) % TICKS_PER_BEAT == 0:
            counts[((s + offset) // TICKS_PER_BEAT) % 4] += 1
    phase = int(np.argmax(counts))
    offset += (4 - phase) % 4 * TICKS_PER_BEAT
    by_start: dict[int, list[tuple[int, int, int]]] = {}
    for s, d, p, v in raw:
        by_start.setdefault(s + offset, []).append((d, p, v))
    out: list[Note] = []
    melody, chords_role, bass = ROLES.index("melody"), ROLES.index("chords"), ROLES.index("bass")
    for start, group in by_start.items():
        group.sort(key=lambda g: g[1])
        top = group[-1]
        for d, p, v in group:
            if p < 48:
                role = bass
            elif (d, p, v) == top and p >= 55:
                role = melody
            else:
                role = chords_role
            out.append(Note(start, min(d, 96), p, v, role))
    piece = Piece(tempo_bpm=tempo_bpm, time_signature=(4, 4), notes=out)
    piece.chords = estimate_chords(out, bar_ticks=piece.bar_ticks)
    return piece
