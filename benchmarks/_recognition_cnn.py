"""Prototype: a small CNN on log-mel crops of the mix, trained on several General MIDI fonts, tested on an unseen one.

Data: ``demo.recogniser``'s recipe (folk tunes arranged with a random persona, 12 s; seed 2, because
the committed recogniser was trained on seed 0's arrangements), each arrangement rendered through
every font of ``fonts()`` (the Debian ones extracted with ``apt-get download`` + ``dpkg -x`` into
``data/fonts/x``). Per render we keep the log-mel spectrogram (64 bands, hop 512 at 22,050 Hz,
float16) and, for held-out works, the mono audio, from which ``features`` computes the committed
recogniser's 94 values, so both are scored on the same renders. Held-out protocol: a work (and so
every arrangement and persona made from it) is test or train, never both; the test font's renders
never train, nor do those of ``--without`` (fonts that share samples with the test font).

The model (``cnn_module``): 3 s crops of the mix, four conv blocks (16-32-64-64 channels), mean and
max over time, one linear head per target (melody, harmony, bass program; kit style), 78 k weights;
trained with random EQ tilt, shelves and a peak, detune, a room, a noise floor and level changes
(``augment``); a render's decision is the mean probability over its crops.

    nice -n 19 .venv/bin/python benchmarks/_recognition_cnn.py render --examples 1200
    nice -n 19 .venv/bin/python benchmarks/_recognition_cnn.py features --font FluidR3_GM --max-index 700
    nice -n 19 .venv/bin/python benchmarks/_recognition_cnn.py train --test-font FluidR3_GM \\
        --without MuseScore --epochs 16 --out data/cnn-A.pt
    nice -n 19 .venv/bin/python benchmarks/_recognition_cnn.py score --test-font FluidR3_GM --net data/cnn-A.pt

Cached in ``data/recogcnn/part-<index>.npy`` (one per arrangement, every font; not committed);
results appended to ``data/recogcnn-results.jsonl`` and ``data/recogcnn-scores.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo import catalog_build as db  # noqa: E402
from demo import recogniser as demo_recogniser  # noqa: E402
from generation.synthesis import recognition  # noqa: E402
from generation.synthesis.recognition_cnn import (  # noqa: E402
    CNN_FRAMES,
    cnn_module,
    log_mel,
)
from generation.synthesis.recognition_cnn import crop_probabilities as cnn_probabilities  # noqa: E402

RATE = 22050
SECONDS = 12.0
SEED = 2  # not 0: the committed recogniser was trained on seed 0's arrangements
FONTS_DIR = ROOT / "data" / "fonts" / "x" / "usr" / "share" / "sounds"
CACHE = ROOT / "data" / "recogcnn"
HELD_OUT_SHARE = 0.3


def fonts() -> dict[str, Path]:
    return {
        "TimGM6mb": db.soundfont_path(),
        "csound": FONTS_DIR / "sf2" / "sf_GMbank.sf2",
        "FluidR3_GM": demo_recogniser.FLUID_R3,
        "MuseScore": FONTS_DIR / "sf3" / "MuseScore_General_Lite.sf3",
        "OPL3": FONTS_DIR / "sf2" / "OPL-3_FM_128M.sf2",
        # Debian's freepats (GUS patches, not a sound font): rendered by TiMidity++ (``apt-get install timidity
        # freepats``); arrangements with a program freepats lacks are not rendered through it
        "freepats": FREEPATS_CFG,
    }


FREEPATS_CFG = Path("/etc/timidity/freepats.cfg")


def freepats_programs() -> set[int]:
    """The melodic programs (bank 0) freepats has a patch for."""
    programs: set[int] = set()
    in_bank = False
    for line in FREEPATS_CFG.read_text().splitlines():
        words = line.split()
        if words[:1] in (["bank"], ["drumset"]):
            in_bank = words == ["bank", "0"]
        elif in_bank and words and words[0].isdigit():
            programs.add(int(words[0]))
    return programs


def _render_timidity(arrangement: db.Arrangement, cfg: Path) -> np.ndarray:
    """The arrangement through TiMidity++ with ``cfg`` (no reverb or chorus): float32 (samples, 2), SECONDS long."""
    import subprocess
    import tempfile

    import soundfile

    with tempfile.TemporaryDirectory() as folder:
        mid, wav = Path(folder) / "a.mid", Path(folder) / "a.wav"
        db.arrangement_midi(arrangement, beats_per_bar=4).write(str(mid))
        subprocess.run(
            [
                "timidity",
                "-c",
                str(cfg),
                "-Ow",
                "--output-stereo",
                "-s",
                str(RATE),
                "-EFreverb=0",
                "-EFchorus=0",
                "-A100",
                "-o",
                str(wav),
                str(mid),
            ],
            check=True,
            capture_output=True,
        )
        audio, rate = soundfile.read(wav, dtype="float32", always_2d=True)
    assert rate == RATE
    out = np.zeros((int(SECONDS * RATE), 2), dtype=np.float32)
    n = min(len(out), len(audio))
    out[:n] = audio[:n]
    return out


def held_out(work: str) -> bool:
    return random.Random(f"recogcnn-held-out:{work}").random() < HELD_OUT_SHARE


_SYNTHS: dict[str, Any] = {}


def _render(arrangement: db.Arrangement, font: Path) -> np.ndarray:
    """db.render with the font loaded once per process (the OPL3 and MuseScore fonts take seconds to load)."""
    import tinysoundfont

    key = str(font)
    if key not in _SYNTHS:
        synth = tinysoundfont.Synth(samplerate=RATE, gain=-3.0)
        _SYNTHS[key] = (synth, synth.sfload(key))
    synth, handle = _SYNTHS[key]
    synth.sounds_off()  # nothing of the previous example may sound on
    return db.play(synth, handle, arrangement, seconds=SECONDS, sample_rate=RATE)


def _example(index: int) -> list[dict[str, Any]]:
    made = demo_recogniser.make_arrangement(index, SEED)
    if made is None:
        return []
    work, arrangement, habits, rng = made
    test = held_out(work.source)
    rows = []
    state = rng.getstate()
    for name, path in fonts().items():
        if not path.exists():
            continue
        if name == "freepats" and not set(arrangement.programs.values()) <= freepats_programs():
            continue
        room_rng = random.Random()
        room_rng.setstate(state)
        audio = _render_timidity(arrangement, path) if name == "freepats" else _render(arrangement, path)
        audio = db.add_room(
            audio, sample_rate=RATE, room_seconds=arrangement.room_seconds, wet=arrangement.room_wet, rng=room_rng
        )
        mono = db.finish(audio, sample_rate=RATE).mean(axis=1).astype(np.float32)
        rows.append(
            {
                "index": index,
                "font": name,
                "work": work.source,
                "test": test,
                "mel": log_mel(mono, RATE).astype(np.float16),
                # the committed recogniser's vector is computed later, only for the fonts tested (``features``)
                "audio": (mono * 32767).astype(np.int16) if test else None,
                "features": None,
                "melody": habits.melody_program,
                "harmony": habits.chord_program,
                "bass": habits.bass_program,
                "drums": habits.drums,
            }
        )
    return rows


def render(examples: int, workers: int, start: int) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    done = {int(p.name.split("-")[1].split(".")[0]) for p in CACHE.glob("part-*.npy")}
    todo = [i for i in range(start, examples) if i not in done]
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for n, (index, rows) in enumerate(zip(todo, pool.map(_example, todo, chunksize=2), strict=True)):
            np.save(CACHE / f"part-{index}.npy", np.array(rows, dtype=object), allow_pickle=True)
            if n % 20 == 0:
                print(f"{n + 1}/{len(todo)} {time.monotonic() - started:.0f}s", flush=True)


def _fill_features(path_and_font: tuple[Path, str]) -> int:
    path, font = path_and_font
    rows = list(np.load(path, allow_pickle=True))
    changed = 0
    for row in rows:
        if row["font"] == font and row["test"] and row.get("features") is None and row.get("audio") is not None:
            row["features"] = recognition.mix_features(row["audio"].astype(np.float64) / 32767, RATE)
            changed += 1
    if changed:  # written aside and renamed, so a reader never sees half a file
        partial = path.with_suffix(".tmp.npy")
        np.save(partial, np.array(rows, dtype=object), allow_pickle=True)
        partial.replace(path)
    return changed


def features(font: str, workers: int, max_index: int) -> None:
    """The committed recogniser's 94 values for held-out renders through ``font`` (arrangements below ``max_index``)."""
    paths = sorted(p for p in CACHE.glob("part-*.npy") if int(p.name.split("-")[1].split(".")[0]) < max_index)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        done = sum(pool.map(_fill_features, [(p, font) for p in paths], chunksize=4))
    print(f"{font}: {done} renders described")


def load_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(p for p in CACHE.glob("part-*.npy") if not p.name.endswith(".tmp.npy")):
        rows += list(np.load(path, allow_pickle=True))
    return rows


# --- the model (log-mel crops of the mix, four conv blocks, one head per target) is the product's: recognition_cnn ---


ROLES = ("melody", "harmony", "bass")


def augment(batch: Any, generator: Any) -> Any:
    """Random sound-font-like changes to (n, mels, frames) dB crops: EQ tilt and shelves, a peak or notch,
    slight detune (a shift along the mel axis), a room (exponential smear over time), a noise floor,
    and a level change (the crop is then renormalised: loudest cell 0 dB, floor -80)."""
    import torch

    n, mels, frames = batch.shape
    axis = torch.linspace(-1.0, 1.0, mels).view(1, mels, 1)

    def uniform(low: float, high: float) -> Any:
        return torch.rand(n, 1, 1, generator=generator) * (high - low) + low

    eq = uniform(-8, 8) * axis
    eq = eq + uniform(-8, 8) * torch.sigmoid((axis - uniform(-0.9, -0.3)) * -12.0)  # low shelf
    eq = eq + uniform(-8, 8) * torch.sigmoid((axis - uniform(0.2, 0.9)) * 12.0)  # high shelf
    eq = eq + uniform(-6, 6) * torch.exp(-(((axis - uniform(-0.8, 0.8)) / uniform(0.05, 0.2)) ** 2))
    x = batch + eq
    # detune: resample along the mel axis by up to a quarter band
    shift = uniform(-0.35, 0.35).view(n, 1, 1)
    position = (torch.arange(mels).view(1, mels, 1) + shift).clamp(0, mels - 1)
    low = position.floor().long()
    high = (low + 1).clamp(max=mels - 1)
    weight = position - low
    x = (
        torch.gather(x, 1, low.expand(n, mels, frames)) * (1 - weight)
        + torch.gather(x, 1, high.expand(n, mels, frames)) * weight
    )
    power = 10.0 ** (x / 10.0)
    # a room: p[t] += wet * sum_k decay^k p[t-k]
    decay = uniform(0.5, 0.93).view(n, 1)
    wet = uniform(0.0, 0.5).view(n, 1)
    taps = 24
    kernel = decay ** torch.arange(taps, dtype=torch.float32).view(1, taps)  # (n, taps), tap 0 = now
    padded = torch.nn.functional.pad(power, (taps - 1, 0))
    windows = padded.unfold(2, taps, 1)  # (n, mels, frames, taps), oldest first
    room = torch.einsum("nmft,nt->nmf", windows, kernel.flip(1))
    power = power + wet.unsqueeze(2) * (room - power)
    noise_db = uniform(-75, -35) + uniform(-10, 10) * axis
    power = power + 10.0 ** (noise_db / 10.0) * torch.rand(n, mels, frames, generator=generator) * 2
    x = 10 * torch.log10(power + 1e-10)
    x = x - x.amax(dim=(1, 2), keepdim=True)
    return x.clamp(min=-80.0)


def _labels(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {t: np.array([recognition.TARGETS[t].index(r[t]) for r in rows]) for t in recognition.TARGETS}


def train_cnn(rows: list[dict[str, Any]], *, epochs: int, seed: int, threads: int, log: bool = True) -> Any:
    """The multi-head CNN fitted on ``rows`` (random crops, augmented), Adam, cosine schedule."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = cnn_module()
    mels = torch.tensor(np.stack([r["mel"] for r in rows]).astype(np.float32))
    labels = {t: torch.tensor(v) for t, v in _labels(rows).items()}
    batch = 48
    steps_per_epoch = max(1, len(rows) // batch)
    total = epochs * steps_per_epoch
    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=total)
    started = time.monotonic()
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(len(rows), generator=generator)
        running = 0.0
        for step in range(steps_per_epoch):
            index = order[step * batch : (step + 1) * batch]
            starts = torch.randint(0, mels.shape[2] - CNN_FRAMES + 1, (len(index),), generator=generator)
            crop = torch.stack([mels[i, :, s : s + CNN_FRAMES] for i, s in zip(index, starts, strict=True)])
            crop = augment(crop, generator)
            out = net(crop)
            loss: Any = sum(
                torch.nn.functional.cross_entropy(out[t], labels[t][index], label_smoothing=0.05) for t in out
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            running += loss.item()
        if log:
            print(
                f"epoch {epoch + 1}/{epochs} loss {running / steps_per_epoch:.3f} {time.monotonic() - started:.0f}s",
                flush=True,
            )
    net.eval()
    return net


def _family_guess(target: str, probabilities: np.ndarray) -> str:
    classes = recognition.TARGETS[target]
    sums: dict[str, float] = {}
    for program, p in zip(classes, probabilities, strict=True):
        sums[recognition.family(program)] = sums.get(recognition.family(program), 0.0) + float(p)
    return max(sums, key=lambda k: sums[k])


def score(guesses: list[dict[str, np.ndarray]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Program and family accuracy per role (family: the family with the most probability), kit style, with counts."""
    out: dict[str, Any] = {"examples": len(rows)}
    for target, classes in recognition.TARGETS.items():
        hits = [classes[int(np.argmax(g[target]))] == r[target] for g, r in zip(guesses, rows, strict=True)]
        entry = {"accuracy": round(float(np.mean(hits)), 3)}
        if target in ROLES:
            family_hits = [
                _family_guess(target, g[target]) == recognition.family(r[target])
                for g, r in zip(guesses, rows, strict=True)
            ]
            entry["family_accuracy"] = round(float(np.mean(family_hits)), 3)
            entry["family_hits"] = int(np.sum(family_hits))
        else:
            entry["drums_or_none"] = round(
                float(
                    np.mean(
                        [
                            (classes[int(np.argmax(g[target]))] == "none") == (r[target] == "none")
                            for g, r in zip(guesses, rows, strict=True)
                        ]
                    )
                ),
                3,
            )
        out[target] = entry
    return out


def committed_probabilities(rows: list[dict[str, Any]]) -> list[dict[str, np.ndarray]]:
    model = recognition.load_recogniser()
    assert model is not None
    predicted = model.predict(np.array([r["features"] for r in rows]))
    # the committed heads' label order is TARGETS' order
    return [{t: predicted[t][i] for t in predicted} for i in range(len(rows))]


def experiment(
    rows: list[dict[str, Any]], *, test_font: str, without: set[str], epochs: int, threads: int
) -> tuple[dict[str, Any], Any]:
    train = [r for r in rows if not r["test"] and r["font"] != test_font and r["font"] not in without]
    test = [r for r in rows if r["test"] and r["font"] == test_font]
    train_works = {r["work"] for r in train}
    assert not train_works & {r["work"] for r in test}
    print(
        f"test {test_font}: train {len(train)} renders of {len(train_works)} works, fonts "
        f"{sorted({r['font'] for r in train})}; test {len(test)} renders",
        flush=True,
    )
    started = time.monotonic()
    net = train_cnn(train, epochs=epochs, seed=0, threads=threads)
    train_s = time.monotonic() - started
    train_fonts = sorted({r["font"] for r in train})
    result: dict[str, Any] = {
        "test_font": test_font,
        "train_fonts": train_fonts,
        "train_renders": len(train),
        "train_s": round(train_s, 1),
        "cnn_all_test_renders": score([cnn_probabilities(net, r["mel"]) for r in test], test),
    }
    seen = [r for r in rows if r["test"] and r["font"] in train_fonts]
    # held-out works through the training fonts: how much of the gap is the font, how much the task
    result["cnn_held_out_works_seen_fonts"] = score([cnn_probabilities(net, r["mel"]) for r in seen], seen)
    described = [r for r in test if r.get("features") is not None]
    if described:  # both on the same renders: those the committed recogniser's vector was computed for
        result["cnn"] = score([cnn_probabilities(net, r["mel"]) for r in described], described)
        result["committed"] = score(committed_probabilities(described), described)
    print(json.dumps(result), flush=True)
    return result, net


def shared_samples() -> dict[str, list[int]]:
    """Per pair of fonts, the target programs whose one-second note is the same recording in both.

    Each program plays one note (MIDI 40 for the basses, 62 otherwise) through each font; two fonts
    share a program when the waveforms correlate above 0.95 (the same sample, maybe at another gain).
    """
    import itertools

    import tinysoundfont

    programs = sorted({p for role in ROLES for p in recognition.TARGETS[role]})
    notes: dict[tuple[str, int], np.ndarray] = {}
    for name, path in fonts().items():
        synth = tinysoundfont.Synth(samplerate=RATE, gain=-3.0)
        handle = synth.sfload(str(path))
        for program in programs:
            synth.sounds_off()
            synth.program_select(0, handle, 0, program)
            pitch = 40 if 32 <= program <= 43 else 62
            synth.noteon(0, pitch, 90)
            notes[name, program] = np.frombuffer(synth.generate(RATE), dtype=np.float32).reshape(-1, 2).mean(axis=1)
            synth.noteoff(0, pitch)
            synth.generate(RATE // 2)
    out = {}
    for a, b in itertools.combinations(fonts(), 2):
        out[f"{a}+{b}"] = [
            p
            for p in programs
            if notes[a, p].any() and notes[b, p].any() and float(np.corrcoef(notes[a, p], notes[b, p])[0, 1]) > 0.95
        ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render")
    r.add_argument("--examples", type=int, default=400)
    r.add_argument("--start", type=int, default=0)
    r.add_argument("--workers", type=int, default=2)
    sub.add_parser("shared", help="which target programs each pair of fonts plays with the same samples")
    f = sub.add_parser("features")
    f.add_argument("--font", required=True)
    f.add_argument("--workers", type=int, default=2)
    f.add_argument("--max-index", type=int, default=10**9)
    e = sub.add_parser("score", help="a saved net (train --out) against the committed recogniser, same renders")
    e.add_argument("--test-font", required=True)
    e.add_argument("--net", type=Path, required=True)
    e.add_argument("--max-index", type=int, default=10**9)
    t = sub.add_parser("train")
    t.add_argument("--test-font", required=True)
    t.add_argument(
        "--without",
        default="",
        help="fonts (comma-separated) left out of training: ones sharing samples with the test font",
    )
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--max-index", type=int, default=10**9)
    t.add_argument("--out", type=Path, default=None)
    options = parser.parse_args()
    if options.command == "render":
        render(options.examples, options.workers, options.start)
    elif options.command == "shared":
        print(json.dumps(shared_samples()))
    elif options.command == "features":
        features(options.font, options.workers, options.max_index)
    elif options.command == "score":
        import torch

        torch.set_num_threads(1)
        net = cnn_module()
        net.load_state_dict(torch.load(options.net, map_location="cpu", weights_only=True))
        net.eval()
        test = [
            r
            for r in load_rows()
            if r["test"]
            and r["font"] == options.test_font
            and r.get("features") is not None
            and r["index"] < options.max_index
        ]
        scored = {
            "test_font": options.test_font,
            "net": str(options.net),
            "cnn": score([cnn_probabilities(net, r["mel"]) for r in test], test),
            "committed": score(committed_probabilities(test), test),
        }
        print(json.dumps(scored))
        with (CACHE.parent / "recogcnn-scores.jsonl").open("a") as handle:
            handle.write(json.dumps(scored) + "\n")
    else:
        rows = [r for r in load_rows() if r["index"] < options.max_index]
        without = {f for f in options.without.split(",") if f}
        result, net = experiment(
            rows, test_font=options.test_font, without=without, epochs=options.epochs, threads=options.threads
        )
        results = CACHE.parent / "recogcnn-results.jsonl"
        with results.open("a") as handle:
            handle.write(json.dumps({**result, "without": sorted(without), "epochs": options.epochs}) + "\n")
        if options.out:
            import torch

            torch.save(net.state_dict(), options.out)


if __name__ == "__main__":
    main()
