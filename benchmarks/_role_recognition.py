"""Prototype: role-targeted instrument recognition, measured on a sound font nobody trained on.

The committed recogniser (``generation.synthesis.recognition``) describes the whole mix, which
cannot tell one role's instrument from another's. This prototype measures timbre *where a role
plays*: for each note of the role (from a transcription), the levels of its harmonics in the
steady part (harmonics that another sounding note also covers are left out), how its level
decays after the onset, and how much noise lies between the harmonics; medians over the notes.
One softmax head per role on that role's own vector.

Notes come from one of two sources, reported side by side:

- ``oracle``: the arrangement's own notes per role (what a perfect transcription would say);
- ``transcribed``: basic-pitch on the mix (``generation.features.transcribe``), split into roles
  with the product's rule (bass below MIDI 48, melody the highest note of an onset at or above 55,
  the rest harmony), so the figure is what the product could get.

Data: folk tunes arranged with random personas (``demo.recogniser``'s recipe, seed 1, 12 s),
each rendered through TimGM6mb, FluidR3_GM and csound's sf_GMbank. Models train on the first
two fonts' renders of training works and are tested on csound renders of held-out works; the
committed recogniser (trained on TimGM6mb + FluidR3_GM, seed 0) is scored on the same test renders.

    nice -n 10 .venv/bin/python benchmarks/_role_recognition.py --examples 100 [--evaluate-only]

Rows are cached as JSON lines in ``data/rolerec/`` (a rerun continues where it stopped).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo import catalog_build as db  # noqa: E402
from demo import recogniser as demo_recogniser  # noqa: E402
from generation.synthesis import recognition  # noqa: E402

RATE = 22050
N_FFT = 4096
HOP = 256
SECONDS = 12.0
HARMONICS = 10
DECAY_FRAMES = (1, 2, 4, 8, 16, 32, 48)  # frames after the onset (11.6 ms each) at which the level is read
ROLES = ("melody", "harmony", "bass")
ROLE_CHANNEL = {"melody": 0, "harmony": 1, "bass": 2}
CSOUND = ROOT / "data" / "fonts" / "x" / "usr" / "share" / "sounds" / "sf2" / "sf_GMbank.sf2"
HELD_OUT_SHARE = 0.3


def fonts() -> dict[str, Path]:
    return {"TimGM6mb": db.soundfont_path(), "FluidR3_GM": demo_recogniser.FLUID_R3, "csound": CSOUND}


def midi_hz(pitch: float) -> float:
    return float(440.0 * 2.0 ** ((pitch - 69) / 12))


def role_features(
    power: np.ndarray, notes: list[tuple[float, float, int]], others: list[tuple[float, float, int]]
) -> np.ndarray:
    """One role's timbre vector from a power spectrogram (bins, frames) and the role's notes (start_s, end_s, pitch).

    Per note: harmonic levels 1..HARMONICS in dB relative to the loudest clean one (NaN where a
    note in ``others`` sounding at the same time has a harmonic within 1.5 bins or 1 % — the bins are shared),
    the decay of the clean harmonics' summed level at DECAY_FRAMES relative to its peak, the
    frames to that peak, and the between-harmonic noise level. Returns medians and spreads over
    notes plus the median pitch and the number of usable notes, shape (ROLE_SIZE,).
    """
    bins_hz = RATE / N_FFT
    frames = power.shape[1]
    rows = []
    for start, end, pitch in notes:
        if end - start < 0.08:
            continue
        f0 = midi_hz(pitch)
        first = round(start * RATE / HOP)
        if first + 6 >= frames:
            continue
        last = min(frames, first + max(DECAY_FRAMES) + 1)
        sounding = [p for s, e, p in others if s < start + 0.25 and e > start and (s, p) != (start, pitch)]
        harmonic_levels = np.full(HARMONICS, np.nan)
        per_frame = np.zeros(last - first)
        clean_any = False
        for k in range(1, HARMONICS + 1):
            f = k * f0
            if f > RATE / 2 - 200:
                break
            tolerance = max(1.5 * bins_hz, 0.01 * f)
            if any(
                abs(f - j * midi_hz(p)) < tolerance for p in sounding for j in range(1, 1 + int(f / midi_hz(p)) + 1)
            ):
                continue
            centre = f / bins_hz
            low, high = int(np.floor(centre - 1)), int(np.ceil(centre + 1)) + 1
            band = power[low:high, first:last].max(axis=0)
            steady = band[3:9] if len(band) > 9 else band
            harmonic_levels[k - 1] = 10 * np.log10(float(steady.mean()) + 1e-12)
            per_frame += band
            clean_any = True
        if not clean_any or np.all(np.isnan(harmonic_levels)):
            continue
        level = 10 * np.log10(per_frame + 1e-12)
        peak = int(np.argmax(level[:12]))
        decay = np.array([level[min(len(level) - 1, peak + d)] - level[peak] for d in DECAY_FRAMES])
        # Noise between harmonics 1..4 (half-way bins) relative to the harmonics there, in the steady part.
        between = []
        for k in range(1, 5):
            centre = (k + 0.5) * f0 / bins_hz
            if centre >= power.shape[0] - 2:
                break
            between.append(float(power[round(centre), first + 3 : first + 9].mean()))
        harmonic_db = harmonic_levels[:4][~np.isnan(harmonic_levels[:4])]
        noise = (
            10 * np.log10(np.mean(between) + 1e-12) - float(harmonic_db.max())
            if between and len(harmonic_db)
            else np.nan
        )
        rows.append(np.concatenate([harmonic_levels - np.nanmax(harmonic_levels), decay, [peak, noise, pitch]]))
    width = HARMONICS + len(DECAY_FRAMES) + 3
    if not rows:
        return np.concatenate([np.zeros(2 * width), [0.0]])
    table = np.vstack(rows)
    with np.errstate(all="ignore"):
        median = np.nanmedian(table, axis=0)
        spread = np.nanpercentile(table, 75, axis=0) - np.nanpercentile(table, 25, axis=0)
    return np.concatenate([np.nan_to_num(median, nan=-60.0), np.nan_to_num(spread, nan=0.0), [np.log1p(len(rows))]])


def split_roles(events: list[tuple[float, float, int, int]]) -> dict[str, list[tuple[float, float, int]]]:
    """The product's role rule on unquantised notes: bass < 48; melody = top of an onset (50 ms) if >= 55."""
    out: dict[str, list[tuple[float, float, int]]] = {r: [] for r in ROLES}
    ordered = sorted(events)
    group: list[tuple[float, float, int, int]] = []

    def flush() -> None:
        if not group:
            return
        top = max(group, key=lambda g: g[2])
        for note in group:
            s, e, p, _ = note
            role = "bass" if p < 48 else "melody" if note is top and p >= 55 else "harmony"
            out[role].append((s, e, p))

    for note in ordered:
        if group and note[0] - group[0][0] > 0.05:
            flush()
            group = []
        group.append(note)
    flush()
    return out


def oracle_roles(arrangement: db.Arrangement) -> dict[str, list[tuple[float, float, int]]]:
    sounding: dict[tuple[int, int], float] = {}
    out: dict[str, list[tuple[float, float, int]]] = {r: [] for r in ROLES}
    channel_role = {c: r for r, c in ROLE_CHANNEL.items()}
    for t, is_on, channel, key, _ in arrangement.events:
        if channel not in channel_role:
            continue
        if is_on:
            sounding[(channel, key)] = t
        elif (channel, key) in sounding:
            out[channel_role[channel]].append((sounding.pop((channel, key)), t, key))
    return out


def describe(power: np.ndarray, by_role: dict[str, list[tuple[float, float, int]]]) -> dict[str, list[float]]:
    out = {}
    for role in ROLES:
        others = [n for r in ROLES if r != role for n in by_role[r]]
        # Chord tones of the same role also share bins with each other.
        same = by_role[role] if role == "harmony" else []
        vector = role_features(power, by_role[role], others)
        if same:
            vector = role_features(power, by_role[role], others + same)
        out[role] = [round(float(v), 4) for v in vector]
    return out


def make_arrangement(index: int, seed: int) -> tuple[Any, db.Arrangement, db.Persona] | None:
    """Example ``index``'s work, arrangement and persona: ``demo.recogniser``'s recipe, so the examples are its."""
    made = demo_recogniser.make_arrangement(index, seed)
    return None if made is None else made[:3]


def mix_of(arrangement: db.Arrangement, font_path: Path, seed: int, index: int) -> np.ndarray:
    room = random.Random(f"room:{seed}:{index}")
    audio = db.render(arrangement, seconds=SECONDS, sample_rate=RATE, soundfont=font_path)
    audio = db.add_room(
        audio, sample_rate=RATE, room_seconds=arrangement.room_seconds, wet=arrangement.room_wet, rng=room
    )
    audio = db.finish(audio, sample_rate=RATE)
    return np.asarray(audio.mean(axis=1), dtype=np.float64)


def spectrogram(mono: np.ndarray) -> np.ndarray:
    import librosa

    magnitude = np.abs(librosa.stft(mono.astype(np.float32), n_fft=N_FFT, hop_length=HOP)).astype(np.float64)
    return np.asarray(magnitude**2)


def solo(notes: list[tuple[float, float, int]], program: int) -> np.ndarray:
    """``notes`` played by ``program`` alone through the product's font (TimGM6mb), mono."""
    events = sorted(
        [(s, 1, 0, p, 90) for s, _, p in notes] + [(e, 0, 0, p, 0) for _, e, p in notes], key=lambda e: (e[0], e[1])
    )
    arrangement = db.Arrangement(events=events, programs={0: program})
    audio = db.render(arrangement, seconds=SECONDS, sample_rate=RATE)
    return np.asarray(audio.mean(axis=1), dtype=np.float64)


SYNTH_COLUMNS = slice(0, HARMONICS + len(DECAY_FRAMES))  # harmonic levels and decay medians


def by_synthesis(power: np.ndarray, by_role: dict[str, list[tuple[float, float, int]]]) -> dict[str, int]:
    """Per role, the candidate program whose solo rendering of the role's notes measures closest to the mix.

    Both sides go through :func:`role_features` with the same masking (the mix's other notes), so
    only the harmonics the mix shows cleanly are compared.
    """
    out = {}
    for role in ROLES:
        others = [n for r in ROLES if r != role for n in by_role[r]] + (by_role[role] if role == "harmony" else [])
        target = role_features(power, by_role[role], others)[SYNTH_COLUMNS]
        best, best_distance = recognition.TARGETS[role][0], np.inf
        for program in recognition.TARGETS[role]:
            candidate = role_features(spectrogram(solo(by_role[role], program)), by_role[role], others)[SYNTH_COLUMNS]
            distance = float(np.sqrt(np.mean((candidate - target) ** 2)))
            if distance < best_distance:
                best, best_distance = program, distance
        out[role] = int(best)
    return out


def example(index: int, seed: int, *, transcribe: bool) -> list[dict[str, Any]] | None:
    """Renders of one arrangement through every font, with committed and role-targeted features."""

    made = make_arrangement(index, seed)
    if made is None:
        return None
    work, arrangement, habits = made
    drums = habits.drums
    oracle = oracle_roles(arrangement)
    rows = []
    for font_name, font_path in fonts().items():
        mono = mix_of(arrangement, font_path, seed, index)
        power = spectrogram(mono)
        row: dict[str, Any] = {
            "index": index,
            "font": font_name,
            "work": work.source,
            "mix": [round(float(v), 5) for v in recognition.mix_features(mono, RATE)],
            "oracle": describe(power, oracle),
            "melody": habits.melody_program,
            "harmony": habits.chord_program,
            "bass": habits.bass_program,
            "drums": drums,
        }
        if transcribe:
            row["transcribed"] = describe(power, split_roles(transcribed(mono, index)))
        rows.append(row)
    return rows


def transcribed(mono: np.ndarray, index: int) -> list[tuple[float, float, int, int]]:
    """basic-pitch's notes of a mix, as the product transcribes an upload."""
    import soundfile

    from generation.features import transcribe as basic_pitch

    path = ROOT / "data" / "rolerec" / f"tmp-{index}.wav"
    soundfile.write(path, mono.astype(np.float32), RATE)
    try:
        return basic_pitch(path)
    finally:
        path.unlink()


def synthesis_evaluate(rows: list[dict[str, Any]], *, test_font: str, seed: int) -> dict[str, Any]:
    """Analysis by synthesis (no training) on the held-out works' renders through ``test_font``."""
    held = {r["work"] for r in rows if random.Random(f"held-out:{r['work']}").random() < HELD_OUT_SHARE}
    test = [r for r in rows if r["font"] == test_font and r["work"] in held]
    guesses: dict[str, dict[str, list[int]]] = {"oracle": {r: [] for r in ROLES}, "transcribed": {r: [] for r in ROLES}}
    started = time.process_time()
    for row in test:
        made = make_arrangement(row["index"], seed)
        assert made is not None
        _, arrangement, _ = made
        mono = mix_of(arrangement, fonts()[test_font], seed, row["index"])
        power = spectrogram(mono)
        for source, notes in (
            ("oracle", oracle_roles(arrangement)),
            ("transcribed", split_roles(transcribed(mono, row["index"]))),
        ):
            for role, program in by_synthesis(power, notes).items():
                guesses[source][role].append(program)
    report: dict[str, Any] = {
        "test_font": test_font,
        "test_renders": len(test),
        "cpu_s_per_render": round((time.process_time() - started) / max(1, len(test)), 2),
    }
    for source, per_role in guesses.items():
        report[source] = {
            role: {
                "program": program_accuracy(per_role[role], [r[role] for r in test]),
                "family": family_accuracy(per_role[role], [r[role] for r in test]),
            }
            for role in ROLES
        }
    return report


def family_accuracy(guesses: list[int], truth: list[int]) -> float:
    return round(
        float(np.mean([recognition.family(g) == recognition.family(t) for g, t in zip(guesses, truth, strict=True)])), 3
    )


def program_accuracy(guesses: list[int], truth: list[int]) -> float:
    return round(float(np.mean([g == t for g, t in zip(guesses, truth, strict=True)])), 3)


def fit_and_score(
    train_x: np.ndarray, train_y: list[int], test_x: np.ndarray, test_y: list[int], labels: tuple[int, ...], l2: float
) -> dict[str, float]:
    mean = train_x.mean(axis=0)
    scale = train_x.std(axis=0) + 1e-6
    head = recognition.fit_head((train_x - mean) / scale, np.array([labels.index(v) for v in train_y]), labels, l2=l2)
    probabilities = head.probabilities((test_x - mean) / scale)
    guesses = [labels[int(i)] for i in probabilities.argmax(axis=1)]
    return {"program": program_accuracy(guesses, test_y), "family": family_accuracy(guesses, test_y)}


def family_head_score(
    train_x: np.ndarray, train_y: list[int], test_x: np.ndarray, test_y: list[int], l2: float
) -> float:
    """A head that predicts the family directly (fewer, broader classes)."""
    families = tuple(sorted({recognition.family(v) for v in train_y}))
    mean = train_x.mean(axis=0)
    scale = train_x.std(axis=0) + 1e-6
    head = recognition.fit_head(
        (train_x - mean) / scale, np.array([families.index(recognition.family(v)) for v in train_y]), families, l2=l2
    )
    guesses = [families[int(i)] for i in head.probabilities((test_x - mean) / scale).argmax(axis=1)]
    return round(float(np.mean([g == recognition.family(t) for g, t in zip(guesses, test_y, strict=True)])), 3)


def evaluate(rows: list[dict[str, Any]], *, test_font: str = "csound", l2: float = 0.1) -> dict[str, Any]:
    held = {r["work"] for r in rows if random.Random(f"held-out:{r['work']}").random() < HELD_OUT_SHARE}
    train = [r for r in rows if r["font"] != test_font and r["work"] not in held]
    test = [r for r in rows if r["font"] == test_font and r["work"] in held]
    committed = recognition.load_recogniser()
    report: dict[str, Any] = {"train_renders": len(train), "test_renders": len(test), "test_font": test_font, "l2": l2}
    if not train or not test:
        return report
    assert committed is not None
    predicted = committed.predict(np.array([r["mix"] for r in test]))
    for role in ROLES:
        truth = [r[role] for r in test]
        labels = recognition.TARGETS[role]
        guesses = [committed.heads[role].labels[int(i)] for i in predicted[role].argmax(axis=1)]
        scores: dict[str, Any] = {
            "committed": {"program": program_accuracy(guesses, truth), "family": family_accuracy(guesses, truth)}
        }
        train_y = [r[role] for r in train]
        mix_train, mix_test = np.array([r["mix"] for r in train]), np.array([r["mix"] for r in test])
        scores["mix refit"] = fit_and_score(mix_train, train_y, mix_test, truth, labels, l2)
        for source in ("oracle", "transcribed"):
            if not all(source in r for r in train + test):
                continue
            role_train = np.array([r[source][role] for r in train])
            role_test = np.array([r[source][role] for r in test])
            scores[f"role {source}"] = fit_and_score(role_train, train_y, role_test, truth, labels, l2)
            scores[f"role {source}"]["family head"] = family_head_score(role_train, train_y, role_test, truth, l2)
            both_train, both_test = np.hstack([role_train, mix_train]), np.hstack([role_test, mix_test])
            scores[f"role {source} + mix"] = fit_and_score(both_train, train_y, both_test, truth, labels, l2)
        report[role] = scores
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-transcribe", action="store_true")
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument(
        "--by-synthesis", action="store_true", help="also score analysis by synthesis (slow: renders every candidate)"
    )
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "rolerec")
    options = parser.parse_args()
    if not CSOUND.exists():
        raise SystemExit(
            f"{CSOUND} is missing: apt-get download csound-soundfont && dpkg -x csound-soundfont*.deb data/fonts/x"
        )
    options.cache.mkdir(parents=True, exist_ok=True)
    path = options.cache / f"rows-{options.seed}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    done = {r["index"] for r in rows}
    if not options.evaluate_only:
        with path.open("a") as handle:
            for index in range(options.examples):
                if index in done:
                    continue
                started = time.process_time()
                new = example(index, options.seed, transcribe=not options.no_transcribe)
                for row in new or []:
                    handle.write(json.dumps(row) + "\n")
                    rows.append(row)
                handle.flush()
                print(f"example {index}: {time.process_time() - started:.1f} CPU-s", flush=True)
    report: dict[str, Any] = {
        f"trained, test {font}, l2 {l2}": evaluate(rows, test_font=font, l2=l2)
        for font in ("csound", "FluidR3_GM")
        for l2 in (0.1, 1.0)
    }
    if options.by_synthesis:
        for font in ("FluidR3_GM", "csound"):
            report[f"by synthesis, test {font}"] = synthesis_evaluate(rows, test_font=font, seed=options.seed)
    out = ROOT / "benchmarks" / "results" / "role-recognition.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
