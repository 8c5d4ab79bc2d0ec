"""Instrument and kit recognition from a mix: which General MIDI program plays each role, and the drums.

A mix is described by :func:`mix_features` (a fixed-length vector, shapes below): the harmonic
part's level-normalised log-mel envelope and its spread, attack and sustain in the bass, middle
and upper registers; the percussive part's share per band; and the kit's pattern folded onto the
beat (per quarter of a beat, how strongly the low, middle and high percussive bands strike, and
how much the low and middle bands alternate from beat to beat: a backbeat alternates, four on the
floor does not, a breakbeat strikes between the beats).

:class:`Recogniser` holds one softmax-regression head per target (``melody``, ``harmony``,
``bass`` programs and ``drums`` style), trained by ``python manage.py train_recogniser`` on
renders of demo arrangements with known programs, through two General MIDI sound fonts
(``weights/recogniser.npz``; ``weights/RECOGNISER_CARD.md`` has the figures). Pure numpy/librosa.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import librosa
import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

RATE = 22050
HOP = 512
N_MELS = 32
BANDS_HZ = ((30.0, 250.0), (250.0, 2000.0), (2000.0, 10000.0))
PHASES = 4  # quarters of a beat
MAX_SECONDS = 30.0
WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "recogniser.npz"

# What the heads choose among (General MIDI programs, 0-based) and the kit styles.
TARGETS: dict[str, tuple[Any, ...]] = {
    "melody": (0, 10, 11, 24, 29, 40, 56, 65, 71, 73, 80, 81),
    "harmony": (0, 4, 7, 16, 19, 24, 25, 46, 48, 89),
    "bass": (32, 33, 34, 35, 38, 39, 43),
    "drums": ("none", "brushes", "four", "backbeat", "breakbeat"),
}
FAMILIES = (
    "piano",
    "chromatic percussion",
    "organ",
    "guitar",
    "bass",
    "strings",
    "ensemble",
    "brass",
    "reed",
    "pipe",
    "synth lead",
    "synth pad",
    "synth effects",
    "ethnic",
    "percussive",
    "sound effects",
)


def family(program: int) -> str:
    """The General MIDI family (eight programs each) of ``program``."""
    return FAMILIES[int(program) // 8]


def _band_rows(freqs: FloatArray, low: float, high: float) -> NDArray[np.bool_]:
    return (freqs >= low) & (freqs < high)


def _kit_pattern(percussive: FloatArray, freqs: FloatArray, onset: FloatArray) -> FloatArray:
    """Per band (low, middle, high): strength at each quarter of the beat (4) and beat-to-beat alternation (1).

    Each band's percussive flux is divided by its mean, so the numbers say where in the beat it
    strikes, not how loud the kit is. 15 values; zeros when no steady beat is found.
    """
    out = np.zeros(len(BANDS_HZ) * (PHASES + 1))
    _, beats = librosa.beat.beat_track(onset_envelope=onset, sr=RATE, hop_length=HOP)
    beats = np.asarray(beats, dtype=int)
    if len(beats) < 8:
        return out
    log_p = np.log1p(percussive)
    for index, (low, high) in enumerate(BANDS_HZ):
        rows = _band_rows(freqs, low, high)
        flux = np.maximum(np.diff(log_p[rows], axis=1), 0.0).sum(axis=0)
        flux = np.concatenate([[0.0], flux])
        mean = float(flux.mean()) or 1.0
        per_phase = np.zeros(PHASES)
        on_beat = []
        for start, end in itertools.pairwise(beats):
            span = end - start
            if span < PHASES:
                continue
            for phase in range(PHASES):
                centre = start + round(phase * span / PHASES)
                window = flux[max(0, centre - 1) : centre + 2]
                per_phase[phase] += float(window.max()) if len(window) else 0.0
            on_beat.append(float(flux[max(0, start - 1) : start + 2].max()))
        count = max(1, len(on_beat))
        values = np.asarray(on_beat)
        alternation = float(np.abs(np.diff(values)).mean() / (values.mean() + 1e-9)) if len(values) > 2 else 0.0
        base = index * (PHASES + 1)
        out[base : base + PHASES] = per_phase / count / mean
        out[base + PHASES] = alternation
    return out


def mix_features(mono: FloatArray, sample_rate: int) -> FloatArray:
    """The recognition vector of a mono excerpt (its central MAX_SECONDS), shape (FEATURE_SIZE,)."""
    y = np.asarray(mono, dtype=np.float32)
    if sample_rate != RATE:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=RATE)
    length = int(MAX_SECONDS * RATE)
    if len(y) > length:
        start = (len(y) - length) // 2
        y = y[start : start + length]
    magnitude = np.abs(librosa.stft(y, n_fft=2048, hop_length=HOP))
    harmonic, percussive = librosa.decompose.hpss(magnitude, margin=1.0)
    h_power, p_power = harmonic.astype(np.float64) ** 2, percussive.astype(np.float64) ** 2
    freqs = librosa.fft_frequencies(sr=RATE, n_fft=2048)
    mel = librosa.filters.mel(sr=RATE, n_fft=2048, n_mels=N_MELS, fmin=30.0, fmax=10000.0)
    mel_db = 10 * np.log10(mel @ h_power + 1e-10)
    energy = mel_db.max(axis=0)
    active = energy > energy.max() - 40.0
    frames = mel_db[:, active] if active.any() else mel_db
    envelope = frames.mean(axis=1)
    parts: list[FloatArray] = [envelope - envelope.mean(), frames.std(axis=1) / 10.0]
    total = float(h_power.sum() + p_power.sum()) or 1.0
    for low, high in BANDS_HZ:
        rows = _band_rows(freqs, low, high)
        band_h = h_power[rows]
        level = band_h.sum(axis=0)
        log_band = np.log10(band_h + 1e-10)
        flux = np.maximum(np.diff(log_band, axis=1), 0.0).mean(axis=0)
        loud = level > (level.max() * 1e-3 if level.any() else 0.0)
        attack = float(flux[loud[1:]].mean()) if loud[1:].any() else 0.0
        peaks = np.maximum.accumulate(level[::-1])[::-1]
        sustain = float((level[loud] / (peaks[loud] + 1e-12)).mean()) if loud.any() else 0.0
        flatness = float(librosa.feature.spectral_flatness(S=np.sqrt(band_h) + 1e-9).mean())
        band_share = float(band_h.sum()) / total
        perc_share = float(p_power[rows].sum()) / (float(p_power[rows].sum() + band_h.sum()) or 1.0)
        parts.append(np.array([attack, sustain, flatness * 10.0, np.log10(band_share + 1e-6), perc_share]))
    onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel @ p_power), sr=RATE, hop_length=HOP)
    parts.append(_kit_pattern(p_power, freqs, onset))
    return np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in parts])


FEATURE_SIZE = 2 * N_MELS + 5 * len(BANDS_HZ) + len(BANDS_HZ) * (PHASES + 1)


@dataclass(frozen=True)
class Head:
    """Softmax regression over standardised features: ``labels[argmax(W @ z + b)]``."""

    labels: tuple[Any, ...]
    weights: FloatArray  # (classes, FEATURE_SIZE)
    bias: FloatArray  # (classes,)

    def probabilities(self, standardised: FloatArray) -> FloatArray:
        """(n, classes) class probabilities for (n, FEATURE_SIZE) standardised rows."""
        logits = standardised @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def set_decision(labels: Sequence[Any], probabilities: NDArray[np.float64]) -> dict[str, Any]:
    """A set's label from its excerpts' (n, classes) probabilities: the highest mean probability.

    ``{"label", "confidence", "votes"}``, where ``votes`` counts each excerpt's own top label.
    """
    mean = probabilities.mean(axis=0)
    best = int(np.argmax(mean))
    votes: dict[str, int] = {}
    for row in probabilities:
        label = str(labels[int(np.argmax(row))])
        votes[label] = votes.get(label, 0) + 1
    return {"label": labels[best], "confidence": round(float(mean[best]), 3), "votes": votes}


@dataclass(frozen=True)
class Recogniser:
    mean: FloatArray
    scale: FloatArray
    heads: dict[str, Head]

    def standardise(self, rows: FloatArray) -> FloatArray:
        return np.asarray((np.atleast_2d(rows) - self.mean) / self.scale)

    def predict(self, rows: FloatArray) -> dict[str, FloatArray]:
        """Per target, (n, classes) probabilities of the rows' labels."""
        z = self.standardise(rows)
        return {target: head.probabilities(z) for target, head in self.heads.items()}

    def decide(self, rows: FloatArray) -> dict[str, Any]:
        """One decision for a set of excerpts (an artist's uploads): the label with the highest mean probability.

        Returns ``{target: {"label", "confidence", "votes"}}`` where ``votes`` counts each
        excerpt's own top label.
        """
        out: dict[str, Any] = {}
        for target, probabilities in self.predict(rows).items():
            labels = self.heads[target].labels
            out[target] = set_decision(labels, probabilities)
            if target == "drums":
                head = out[target]["label"]
                mean = probabilities.mean(axis=0)
                label, pattern = kit_style(labels, mean, np.atleast_2d(rows))
                pick = labels.index(label)
                out[target] |= {"label": label, "confidence": round(float(mean[pick]), 3), "head": head}
                out[target]["pattern"] = pattern
        return out

    def save(self, path: Path, *, meta: dict[str, Any]) -> None:
        arrays: dict[str, Any] = {"mean": self.mean, "scale": self.scale}
        labels: dict[str, list[Any]] = {}
        for target, head in self.heads.items():
            arrays[f"{target}_weights"] = head.weights.astype(np.float32)
            arrays[f"{target}_bias"] = head.bias.astype(np.float32)
            labels[target] = list(head.labels)
        arrays["meta"] = np.frombuffer(json.dumps({**meta, "labels": labels}).encode(), dtype=np.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)


def load_recogniser(path: Path = WEIGHTS_PATH) -> Recogniser | None:
    """The trained recogniser, or None when its weights are absent (the caller keeps its fallback)."""
    if not path.exists():
        return None
    with np.load(path) as data:
        meta = json.loads(bytes(data["meta"]).decode())
        heads = {
            target: Head(
                labels=tuple(labels),
                weights=data[f"{target}_weights"].astype(np.float64),
                bias=data[f"{target}_bias"].astype(np.float64),
            )
            for target, labels in meta["labels"].items()
        }
        return Recogniser(mean=data["mean"].astype(np.float64), scale=data["scale"].astype(np.float64), heads=heads)


def fit_head(
    z: FloatArray, targets: NDArray[np.int64], labels: tuple[Any, ...], *, l2: float = 1e-2, steps: int = 400
) -> Head:
    """Softmax regression by full-batch gradient descent (Adam) on standardised rows ``z``; seeded, deterministic."""
    n, d = z.shape
    k = len(labels)
    weights = np.zeros((k, d))
    bias = np.zeros(k)
    onehot = np.eye(k)[targets]
    m_w, v_w, m_b, v_b = np.zeros_like(weights), np.zeros_like(weights), np.zeros(k), np.zeros(k)
    rate, beta1, beta2 = 0.05, 0.9, 0.999
    for step in range(1, steps + 1):
        logits = z @ weights.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        error = (p - onehot) / n
        grad_w = error.T @ z + l2 * weights
        grad_b = error.sum(axis=0)
        m_w = beta1 * m_w + (1 - beta1) * grad_w
        v_w = beta2 * v_w + (1 - beta2) * grad_w**2
        m_b = beta1 * m_b + (1 - beta1) * grad_b
        v_b = beta2 * v_b + (1 - beta2) * grad_b**2
        correction1, correction2 = 1 - beta1**step, 1 - beta2**step
        weights -= rate * (m_w / correction1) / (np.sqrt(v_w / correction2) + 1e-8)
        bias -= rate * (m_b / correction1) / (np.sqrt(v_b / correction2) + 1e-8)
    return Head(labels=labels, weights=weights, bias=bias)


def fit_recogniser(rows: FloatArray, labels: dict[str, list[Any]], *, l2: float = 0.1) -> Recogniser:
    """One head per target of ``labels`` (each a list aligned with ``rows``), on shared standardisation."""
    mean = rows.mean(axis=0)
    scale = rows.std(axis=0) + 1e-6
    z = (rows - mean) / scale
    heads = {}
    for target, values in labels.items():
        classes = TARGETS[target]
        heads[target] = fit_head(z, np.array([classes.index(v) for v in values]), classes, l2=l2)
    return Recogniser(mean=mean, scale=scale, heads=heads)


KIT_PATTERN_START = 2 * N_MELS + 5 * len(BANDS_HZ)  # where _kit_pattern's values begin in mix_features


def half_beat_strikes(vector: FloatArray | list[float]) -> float:
    """How strongly the low band (kick) strikes half-way through the tracked beat, relative to on it.

    Near or above 1 the tracker counted half notes (a breakbeat at 158 heard at 79); well under 1
    its beat is the kit's quarter note.
    """
    low = np.asarray(vector, dtype=np.float64)[KIT_PATTERN_START : KIT_PATTERN_START + PHASES]
    return float(low[2] / low[0]) if low[0] > 0 else 0.0


# The kit style by onset pattern, over the head's choice among the three kits that need it (below).
SIXTEENTH_STRIKES = 0.08  # breakbeat: hats between the eighths, at least this (median over the set)...
LOW_OFF_BEAT_STRIKES = 1.0  # ...and the low band strikes between the beats at least as hard as on them
HEAD_BREAKBEAT_SHARE = 0.25  # ...and the head gives breakbeat this (half-tempo eighth hats look alike)
NO_SIXTEENTHS = 0.05  # not a breakbeat: fewer sixteenth strikes than this...
NO_LOW_OFF_BEAT = 1.2  # ...and the low band mostly on the beat
GRID_KITS = ("four", "backbeat", "breakbeat")


def kit_strikes(vector: FloatArray | list[float]) -> tuple[float, float] | None:
    """Where the kit strikes off the tracked beat: ``(sixteenths, low_off_beat)``, or None without a beat.

    ``sixteenths``: the upper band (hats) at the first and third quarters of the beat relative to
    its on-beat and half-beat strikes; eighth-note hats (backbeat, four on the floor) leave it near
    0.02, a breakbeat's sixteenth hats lift it to 0.1-0.5 (heard at half tempo, 0.11 is its eighth
    hats, as a fast four's would be at half tempo). ``low_off_beat``: the low band (kick,
    snare body, bass) at the other three quarters of the beat relative to on it; a breakbeat's
    kicks on the "and"s and the snare between them keep it at 1.5-2.5 whether the tracker counted
    its quarter or half notes, a kick on the beat at 0.2-1.0.
    """
    pattern = np.asarray(vector, dtype=np.float64)[KIT_PATTERN_START : KIT_PATTERN_START + len(BANDS_HZ) * (PHASES + 1)]
    low, high = pattern[:PHASES], pattern[-(PHASES + 1) : -1]
    if low[0] <= 0 or high[0] + high[2] <= 0:
        return None  # _kit_pattern found no steady beat
    return float((high[1] + high[3]) / (high[0] + high[2])), float(low[1:].sum() / low[0])


def kit_style(labels: tuple[Any, ...], mean: FloatArray, rows: FloatArray) -> tuple[str, dict[str, Any]]:
    """The set's kit style: the head's (``labels``, mean probabilities ``mean``), corrected by the onset pattern.

    Whether there is a kit, and brushes, stay the head's. Among four on the floor, backbeat and
    breakbeat the pattern decides where it is clear, from the medians over the uploads of
    :func:`kit_strikes`: sixteenth hats *and* a low band striking off the beat, when the head gives
    breakbeat at least a quarter, are a breakbeat (the head, trained on 12 s excerpts, read a 158 BPM
    breakbeat through FluidR3_GM as a backbeat, breakbeat 0.34); the head's share matters because a
    fast four or backbeat heard at half tempo has eighth hats where sixteenths would be. Neither
    sixteenths nor a low band off the beat is no breakbeat, and the head's likelier of four and
    backbeat is taken (it read a 126 BPM four on the floor, whose bass plays the off-beat eighths, as
    a breakbeat). Returns the label and the evidence.
    """
    head = str(labels[int(np.argmax(mean))])
    strikes = [s for s in (kit_strikes(row) for row in rows) if s is not None]
    if not strikes:
        return head, {"rule": "head"}
    sixteenths = float(np.median([s[0] for s in strikes]))
    low_off_beat = float(np.median([s[1] for s in strikes]))
    pattern: dict[str, Any] = {"sixteenths": round(sixteenths, 3), "low_off_beat": round(low_off_beat, 3)}
    if head not in GRID_KITS:
        return head, pattern | {"rule": "head"}
    breakbeat_share = float(mean[labels.index("breakbeat")])
    if (
        sixteenths >= SIXTEENTH_STRIKES
        and low_off_beat >= LOW_OFF_BEAT_STRIKES
        and breakbeat_share >= HEAD_BREAKBEAT_SHARE
    ):
        return "breakbeat", pattern | {"rule": "breakbeat: sixteenths and low band off the beat"}
    if head == "breakbeat" and sixteenths < NO_SIXTEENTHS and low_off_beat < NO_LOW_OFF_BEAT:
        other = max(("four", "backbeat"), key=lambda label: float(mean[labels.index(label)]))
        return other, pattern | {"rule": "not breakbeat: no sixteenths, low band on the beat"}
    return head, pattern | {"rule": "head"}
