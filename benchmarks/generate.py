"""Generation benchmark: end-to-end time, fine-tune time, peak memory, style adherence, originality,
held-out perplexity base vs fine-tuned.

Songs come from the open demo catalog (demo.catalog_build: music21 works arranged and rendered with
TimGM6mb), cached under data/bench/generate/. Each set plays one artist's ten uploads: by default
a demo artist (demo.artists: one style, tempo, key offset and sound per artist), or with
``--set-kind catalog`` ten consecutive catalog entries (each of its own style, so sets look alike).
Every set makes ``--pieces-per-set`` songs as the product does: generations of two takes each (one
analysis and fine-tune, two seeds composed, guarded, rendered, mastered and reported); set 0's first
generation is timed end to end from unanalysed uploads, per take (the generation's wall and CPU
time divided by its takes, with the load average before and after; each take's own path, the shared
stages plus its own, is in ``take_path_s``).

Style adherence: a simple feature retrieval (tempo, melody density, intervals and register,
pitch-class profile; z-scored nearest set) must pick each generated song's own set. The song is
described "as heard": its mastered audio goes through the uploads' own analysis and transcription,
so both sides are measured the same way ("symbolic" uses the composed MIDI instead). The
"source-song ceiling" retrieves each upload against the sets (its own without it): how far the
sets can be told apart at all. Ablations: tempo only, everything but tempo.

Artist style (``--set-kind style``): six artists that differ in sounds, drums (or none), scale and
tempo (``demo.artists.STYLE_ARTISTS``), their uploads rendered with FluidR3_GM (a different sound
font from the TimGM6mb the product renders with; ``apt-get install fluid-soundfont-gm``). An
independent judge that the composition and rendering do not optimise hears every upload and
every generated master: MFCC statistics (timbre), chroma rotated to its parent major scale
(harmony), tempo folded into one octave, onset rate and percussive share (rhythm), crest factor
and loudness spread (dynamics). It reports top-1 retrieval of each generated song to its artist,
overall and per view, the held-out-song ceiling (one upload against the sets without it), and
what the product decided per artist (tempo, scale, kit, programs; drum notes composed).

Run: ``nice -n 10 .venv/bin/python benchmarks/generate.py [--sets 10] [--pieces-per-set 2] [--set-kind artists]``
(``--set-kind style --sets 6 --seconds 45 --song-seconds 120`` for the artist-style benchmark). Writes
benchmarks/results/generate.json (generate-catalog.json, generate-style.json) and prints a table.
On a loaded machine the artist-style run can be split: ``--only-sets 0,1`` etc. in several processes
sharing one PostgreSQL ``DATABASE_URL`` and one ``--state-dir``, then ``--summarise-state`` judges
every finished take stored there (also while runs are still going) into generate-style-state.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(data_dir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "songforge.settings")
    os.environ["SONGFORGE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DEBUG", "1")
    os.environ["SONGFORGE_EMBEDDED_WORKER"] = "0"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def style_vector(piece: Any) -> np.ndarray:
    """Symbolic style features of a piece (melody = top line)."""
    from generation.ml.originality import melody_line

    line = melody_line(piece.notes, role=0) or melody_line(piece.notes)
    pitched = [n for n in piece.notes if n.role != 3]
    pcs = np.bincount([n.pitch % 12 for n in pitched], minlength=12).astype(float)
    pcs /= max(1.0, pcs.sum())
    span_beats = max(1.0, (max((n.start for n in line), default=0) - min((n.start for n in line), default=0)) / 12)
    intervals = np.abs(np.diff([n.pitch for n in line])) if len(line) > 1 else np.zeros(1)
    return np.concatenate(
        [
            [np.log2(piece.tempo_bpm / 120.0) * 4],
            [len(line) / span_beats],
            [intervals.mean() / 4.0],
            [np.mean([n.pitch for n in line]) / 12.0 if line else 5.0],
            pcs * 4,
        ]
    )


def set_style_vector(songs: list[Any]) -> np.ndarray:
    """The same features over a whole set: median tempo, pooled pitch classes, mean of the rest."""
    vectors = np.vstack([style_vector(s) for s in songs])
    out = vectors.mean(axis=0)
    out[0] = np.median(vectors[:, 0])
    return np.asarray(out)


def build_sets(n_sets: int, seconds: float, cache: Path) -> list[list[Path]]:
    from demo.catalog_build import build_demo_catalog

    manifest = build_demo_catalog(cache, size=n_sets * 10, seconds=seconds, seed=6, audio_format="wav", workers=1)
    entries = json.loads(Path(manifest).read_text())["entries"]
    paths = [cache / e["audio"] if not Path(e["audio"]).is_absolute() else Path(e["audio"]) for e in entries]
    return [paths[k * 10 : (k + 1) * 10] for k in range(n_sets)]


def make_set(paths: list[Path], label: str, *, reuse: bool) -> int:
    """An upload set of ``paths``; with ``reuse``, an earlier run's set (and its cached features) is reused."""
    import hashlib

    from django.contrib.auth import get_user_model
    from django.core.files import File

    from catalog.models import Recording
    from uploads.models import Upload, UploadSet

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@localhost"})
    if reuse:
        existing = UploadSet.objects.filter(owner=user, title=label).order_by("pk").first()
        if existing is not None:
            return int(existing.pk)
    elif UploadSet.objects.filter(owner=user, title=label).exists():
        label = f"{label} {time.time():.0f}"
    upload_set = UploadSet.objects.create(owner=user, title=label)
    for path in paths:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        recording, _ = Recording.objects.get_or_create(
            external_id=f"bench-{digest[:24]}", defaults={"title": path.stem, "artist": "Demo"}
        )
        upload = Upload(
            upload_set=upload_set,
            original_name=path.name,
            audio_format=path.suffix.lstrip("."),
            size_bytes=path.stat().st_size,
            sha256=digest,
            status=Upload.Status.MATCHED,
            recording=recording,
        )
        with path.open("rb") as handle:
            upload.audio.save(path.name, File(handle), save=False)
        upload.save()
    return int(upload_set.pk)


FEATURE_GROUPS = {"all": slice(0, None), "tempo only": slice(0, 1), "without tempo": slice(1, None)}


def retrieval_accuracy(queries: list[tuple[int, np.ndarray]], candidates: list[np.ndarray], columns: slice) -> float:
    """Share of (own set, vector) queries whose nearest candidate set (z-scored over the candidates) is their own."""
    if not queries:
        return 0.0
    return sum(int(nearest_set(candidates, q, columns) == own) for own, q in queries) / len(queries)


def nearest_set(candidates: list[np.ndarray], vector: np.ndarray, columns: slice) -> int:
    """Index of the candidate nearest to ``vector`` on ``columns``, each z-scored over the candidates."""
    stacked = np.vstack(candidates)[:, columns]
    scale = stacked.std(axis=0) + 1e-6
    return int(np.argmin(np.linalg.norm((stacked - vector[columns]) / scale, axis=1)))


def ceiling_accuracy(songs_by_set: list[list[np.ndarray]], columns: slice) -> float:
    """Leave-one-out: how often one source song is retrieved to its own set (the rest of it).

    This bounds what the benchmark can measure: if the sets' own songs can't be told apart,
    no generated piece can be either.
    """
    hits = total = 0
    for i, songs in enumerate(songs_by_set):
        for j in range(len(songs)):
            candidates = [
                _pooled(s if k != i else [v for m, v in enumerate(s) if m != j]) for k, s in enumerate(songs_by_set)
            ]
            hits += int(nearest_set(candidates, songs[j], columns) == i)
            total += 1
    return hits / max(1, total)


def _pooled(vectors: list[np.ndarray]) -> np.ndarray:
    stacked = np.vstack(vectors)
    out = stacked.mean(axis=0)
    out[0] = np.median(stacked[:, 0])
    return np.asarray(out)


def heard_vector(generation: Any, label: str) -> np.ndarray | None:
    """Style vector of the mastered song as the uploads' own analysis hears it (same code path)."""
    import tempfile

    from generation.ml import tokenizer
    from generation.services.features import upload_features_transcribe
    from uploads.models import Upload

    if not generation.master_wav:
        return None
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / f"generated-{generation.pk}.wav"
        with generation.master_wav.open("rb") as handle:
            path.write_bytes(handle.read())
        probe_set = make_set([path], label, reuse=False)
    upload = Upload.objects.get(upload_set_id=probe_set)
    row = upload_features_transcribe(upload_id=upload.pk)
    return style_vector(tokenizer.decode(row.tokens))


STYLE_FONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
JUDGE_VIEWS = {"timbre": slice(0, 40), "harmony": slice(40, 52), "rhythm": slice(52, 56), "dynamics": slice(56, 58)}
MAJOR_SET = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=float)


def judge_vector(path: Path, max_seconds: float = 30.0) -> np.ndarray:
    """The independent judge's description of a recording (none of it is what the product optimises).

    timbre: 20 MFCC means and standard deviations; harmony: chroma (CQT) rotated so that its parent
    major scale starts at 0 (mode shows as which degrees dominate); rhythm: tempo folded into one
    octave (as an angle), log onset rate, percussive share; dynamics: crest factor and loudness spread.
    """
    import librosa

    y, sr = librosa.load(str(path), sr=22050, mono=True, duration=max_seconds)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    chroma = librosa.feature.chroma_cqt(y=y, sr=sr).mean(axis=1)
    chroma = chroma / (chroma.sum() + 1e-9)
    parent = int(np.argmax([np.dot(np.roll(MAJOR_SET, shift), chroma) for shift in range(12)]))
    relative = np.roll(chroma, -parent)
    onset = librosa.onset.onset_strength(y=y, sr=sr)
    tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset, sr=sr))[0]) or 120.0
    angle = 2 * np.pi * (np.log2(tempo) % 1.0)
    onsets = librosa.onset.onset_detect(onset_envelope=onset, sr=sr)
    _, percussive = librosa.effects.hpss(y)
    percussive_share = float(np.sum(percussive**2) / (np.sum(y**2) + 1e-12))
    rms = librosa.feature.rms(y=y)[0]
    level = 20 * np.log10(rms + 1e-9)
    loud = level[level > level.max() - 40]
    crest = 20 * np.log10(np.max(np.abs(y)) / (np.sqrt(np.mean(y**2)) + 1e-12) + 1e-12)
    return np.concatenate(
        [
            mfcc.mean(axis=1) / 20.0,
            mfcc.std(axis=1) / 10.0,
            relative * 12,
            [np.cos(angle), np.sin(angle), np.log(len(onsets) / (len(y) / sr) + 0.1), percussive_share * 4],
            [crest / 6.0, float(np.percentile(loud, 95) - np.percentile(loud, 10)) / 6.0],
        ]
    )


def style_reading(
    generation: Any, own: int, midi: Any, stages: dict[str, Any]
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """The judge's vector of the generated take's master, and what the product decided for the set.

    ``stages`` are the take's stage outputs by name (the song's shared stages and the take's own).
    """
    import tempfile

    analysed = stages.get("analyse", {})
    compose = stages.get("compose", {})
    synthesis = stages.get("synthesise", {}).get("synthesis", {})
    decision = {
        "set": own,
        "take": generation.take_number,
        "generation_id": generation.pk,
        "tempo_bpm": analysed.get("tempo_bpm"),
        "tempo_rule": analysed.get("tempo_rule"),
        "key": analysed.get("key"),
        "scale_composed": compose.get("scale"),
        "kit": analysed.get("drums"),
        "instruments": analysed.get("instruments"),
        "rendered": [(i["role"], i["program"]) for i in synthesis.get("instruments", [])],
        "midi_programs": [(i.name, i.program, i.is_drum) for i in midi.instruments],
        "drum_notes": sum(len(i.notes) for i in midi.instruments if i.is_drum),
        "composed_tempo_bpm": round(float(midi.get_tempo_changes()[1][0]), 2),
        "dynamics_master": {k: synthesis.get("mastering", {}).get(k) for k in ("integrated_lufs", "true_peak_dbtp")},
        "dynamics_match": synthesis.get("dynamics_match"),
    }
    if not generation.master_wav:
        return None, decision
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "master.wav"
        with generation.master_wav.open("rb") as handle:
            path.write_bytes(handle.read())
        return judge_vector(path), decision


def artist_style_summary(
    sources: list[list[np.ndarray]],
    judged: list[tuple[int, np.ndarray]],
    decisions: list[dict[str, Any]],
    *,
    pieces: int,
) -> dict[str, Any]:
    """Top-1 retrieval per view and overall, the held-out-song ceiling, and the product's decisions."""
    from demo.artists import STYLE_ARTISTS

    views = {"overall": slice(0, None), **JUDGE_VIEWS}
    sets = [_judge_pool(s) for s in sources]
    top1 = {name: round(_judge_retrieval(judged, sets, cols), 3) for name, cols in views.items()}
    # per generated take (in the order judged), the artist each view finds nearest: which take missed, and how
    nearest = [
        {"set": own, **{name: _judge_nearest(sets, vector, cols) for name, cols in views.items()}}
        for own, vector in judged
    ]
    ceiling: dict[str, float] = {}
    for name, cols in views.items():
        hits = total = 0
        for i, songs in enumerate(sources):
            for j in range(len(songs)):
                candidates = [_judge_pool(s if k != i else s[:j] + s[j + 1 :]) for k, s in enumerate(sources)]
                hits += int(_judge_nearest(candidates, songs[j], cols) == i)
                total += 1
        ceiling[name] = round(hits / max(1, total), 3)
    drumless = {i for i, (_, _, habits) in enumerate(STYLE_ARTISTS) if habits.drums == "none"}
    truth = [
        {
            "artist": name,
            "tempo": habits.tempo,
            "scale": habits.scale,
            "drums": habits.drums,
            "programs": {"melody": habits.melody_program, "harmony": habits.chord_program, "bass": habits.bass_program},
        }
        for name, _, habits in STYLE_ARTISTS
    ]
    return {
        "top1": top1,
        "held_out_ceiling": ceiling,
        "nearest": nearest,
        "queries": len(judged),
        "pieces_per_artist": pieces,
        "drum_notes_for_drumless": sum(d["drum_notes"] for d in decisions if d["set"] in drumless),
        "truth": truth[: len(sources)],
        "decisions": decisions,
    }


def _judge_pool(vectors: list[np.ndarray]) -> np.ndarray:
    return np.asarray(np.vstack(vectors).mean(axis=0))


def _judge_nearest(candidates: list[np.ndarray], vector: np.ndarray, columns: slice) -> int:
    """Nearest candidate on ``columns`` after z-scoring each column over the candidates."""
    stacked = np.vstack(candidates)[:, columns]
    scale = stacked.std(axis=0) + 1e-6
    return int(np.argmin(np.linalg.norm((stacked - vector[columns]) / scale, axis=1)))


def _judge_retrieval(queries: list[tuple[int, np.ndarray]], candidates: list[np.ndarray], columns: slice) -> float:
    if not queries:
        return 0.0
    return sum(int(_judge_nearest(candidates, q, columns) == own) for own, q in queries) / len(queries)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg, encoders), user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def stage_seconds_of(rows: list[Any]) -> dict[str, float]:
    return {
        row.name: round((row.finished_at - row.started_at).total_seconds(), 1)
        for row in rows
        if row.finished_at and row.started_at and row.status == "done"
    }


def cached_judge_vector(path: Path, state_dir: Path) -> np.ndarray:
    """``judge_vector`` of an upload, cached in the state folder by file name, size and modification time."""
    cache_path = state_dir / "judge-cache.json"
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{int(stat.st_mtime)}"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    if key not in cache:
        vector = judge_vector(path).tolist()
        cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}  # others may have added some
        cache[key] = vector
        partial = cache_path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(cache))
        partial.replace(cache_path)
    return np.asarray(cache[key])


def style_sets(args: argparse.Namespace) -> list[list[Path]]:
    from demo.artists import build_artist_sets

    cache = ROOT / "data" / "bench" / "generate"
    font = STYLE_FONT if STYLE_FONT.exists() else None
    return build_artist_sets(
        cache / f"artists-{args.seconds}s", sets=args.sets, seconds=args.seconds, kind="style", soundfont=font
    )


def summarise_state(args: argparse.Namespace) -> dict[str, Any]:
    """The artist-style figures of the takes a run has finished so far, read from its state folder.

    A run of six artists with two takes each takes hours on a loaded machine and writes its JSON at
    the end; this reads the generations it stored (it may still be running), judges every finished
    take's master and the uploads of all the artists (candidates for retrieval), and reports the
    same summary, marked partial when artists are missing.
    """
    import pretty_midi
    from django.core.files.storage import default_storage

    from generation.models import Generation
    from generation.services.stages import SHARED_STAGES, TAKE_STAGES
    from generation.services.takes import song_takes
    from uploads.models import UploadSet

    sets = style_sets(args)
    sources = [[cached_judge_vector(p, args.state_dir) for p in paths] for paths in sets]
    judged: list[tuple[int, np.ndarray]] = []
    decisions: list[dict[str, Any]] = []
    timings: list[dict[str, Any]] = []
    for k in range(len(sets)):
        label = f"bench style set {k} ({args.seconds}s)"
        upload_set = UploadSet.objects.filter(title__startswith=label).order_by("-pk").first()
        if upload_set is None:
            continue
        for song in Generation.objects.filter(upload_set=upload_set, take_of__isnull=True).order_by("pk"):
            shared = {s.name: s for s in song.stages.filter(name__in=SHARED_STAGES)}
            shared_s = stage_seconds_of(list(shared.values()))
            for take in song_takes(song_id=song.pk):
                if take.status != Generation.Status.SUCCEEDED:
                    continue
                own = {s.name: s for s in take.stages.filter(name__in=TAKE_STAGES)}
                outputs = {name: row.output for name, row in {**shared, **own}.items()}
                with default_storage.open(outputs["guard"]["final"]["midi"], "rb") as handle:
                    midi = pretty_midi.PrettyMIDI(handle)
                vector, decision = style_reading(take, k, midi, outputs)
                if vector is not None:
                    judged.append((k, vector))
                decisions.append(decision)
                take_s = stage_seconds_of(list(own.values()))
                timings.append(
                    {
                        "set": k,
                        "take": take.take_number,
                        "shared_stage_seconds": shared_s,
                        "take_stage_seconds": take_s,
                        "take_path_s": round(sum(shared_s.values()) + sum(take_s.values()), 1),
                        "take_own_s": round(sum(take_s.values()), 1),
                    }
                )
    summary = artist_style_summary(sources, judged, decisions, pieces=args.pieces_per_set)
    finished = sorted({d["set"] for d in decisions})
    summary.update(
        {
            "partial": len(finished) < len(sets),
            "artists_with_takes": finished,
            "takes_judged": len(judged),
            "chance": round(1 / max(1, len(sets)), 3),
            "timings": timings,
        }
    )
    per_view: dict[str, list[int]] = {}
    views = {"overall": slice(0, None), **JUDGE_VIEWS}
    pooled = [_judge_pool(s) for s in sources]
    for name, cols in views.items():
        per_view[name] = [int(_judge_nearest(pooled, vector, cols) == own) for own, vector in judged]
    summary["hits_per_view"] = per_view
    return summary


def run(args: argparse.Namespace) -> dict[str, Any]:
    from unittest import mock

    import pretty_midi
    from django.core.files.storage import default_storage

    from generation.ml import tokenizer
    from generation.models import UploadFeatures
    from generation.services import generation_run, generation_start
    from generation.services.pipeline import TAKES_PER_GENERATION
    from generation.services.stages import SHARED_STAGES, TAKE_STAGES
    from generation.services.takes import song_takes

    cache = ROOT / "data" / "bench" / "generate"
    if args.set_kind == "artists":
        from demo.artists import build_artist_sets

        sets = build_artist_sets(cache / f"artists-{args.seconds}s", sets=args.sets, seconds=args.seconds)
    elif args.set_kind == "style":
        from demo.artists import build_artist_sets

        font = STYLE_FONT if STYLE_FONT.exists() else None
        sets = build_artist_sets(
            cache / f"artists-{args.seconds}s", sets=args.sets, seconds=args.seconds, kind="style", soundfont=font
        )
    else:
        sets = build_sets(args.sets, args.seconds, cache / f"demo-{args.seconds}s")
    results: list[dict[str, Any]] = []
    songs_by_set: list[list[np.ndarray]] = []
    symbolic: list[tuple[int, np.ndarray]] = []  # (source set, style vector) per generated piece
    heard: list[tuple[int, np.ndarray]] = []
    judged_sources: list[list[np.ndarray]] = []
    judged: list[tuple[int, np.ndarray]] = []
    decisions: list[dict[str, Any]] = []
    for k, paths in enumerate(sets):
        if args.only_sets is not None and k not in args.only_sets:
            continue  # another process runs it (--summarise-state judges them all together)
        if args.set_kind == "style" and args.only_sets is None:
            judged_sources.append([cached_judge_vector(p, args.state_dir) for p in paths])
        # Set 0 is always analysed from scratch (it measures end to end); the others may reuse
        # features cached by an earlier run (``--prewarm``), which the pipeline does by design.
        label = f"bench {args.set_kind} set {k} ({args.seconds}s)"
        set_id = make_set(paths, label, reuse=k > 0)
        if args.prewarm:
            if k > 0:
                from generation.services.features import upload_features_transcribe
                from uploads.models import Upload

                for upload in Upload.objects.filter(upload_set_id=set_id):
                    upload_features_transcribe(upload_id=upload.pk)
                print(f"set {k}: features cached", flush=True)
            continue
        piece = 0
        while piece < args.pieces_per_set:
            takes = min(TAKES_PER_GENERATION, args.pieces_per_set - piece)
            started, cpu_started, load_started = time.monotonic(), cpu_seconds(), load_average()
            with mock.patch("generation.tasks.generation_run_task.send", return_value=None):
                song = generation_start(
                    upload_set_id=set_id, seed=100 + k + 1000 * piece, seconds=args.song_seconds, takes=takes
                )
            song = generation_run(generation_id=song.pk)
            elapsed, cpu = time.monotonic() - started, cpu_seconds() - cpu_started
            load = [load_started, load_average()]
            if piece == 0:
                songs = [
                    tokenizer.decode(f.tokens)
                    for f in UploadFeatures.objects.filter(upload__upload_set_id=set_id).order_by("upload_id")
                ]
                songs_by_set.append([style_vector(s) for s in songs])
            shared_rows = {s.name: s for s in song.stages.filter(name__in=SHARED_STAGES)}
            shared_seconds = stage_seconds_of(list(shared_rows.values()))
            for take in song_takes(song_id=song.pk):
                take_rows = {s.name: s for s in take.stages.filter(name__in=TAKE_STAGES)}
                stages = {**shared_rows, **take_rows}
                if "guard" not in stages or stages["guard"].status != "done":
                    results.append(
                        {"set": k, "piece": piece, "take": take.take_number, "status": take.status, "error": song.error}
                    )
                    print(f"set {k} take {take.take_number}: {take.status} {song.error}", flush=True)
                    continue
                guard = stages["guard"].output
                finetune = stages["finetune"].output
                with default_storage.open(guard["final"]["midi"], "rb") as handle:
                    midi = pretty_midi.PrettyMIDI(handle)
                symbolic.append((k, style_vector(tokenizer.from_pretty_midi(midi, with_chords=False))))
                if args.set_kind == "style":
                    outputs = {name: row.output for name, row in stages.items()}
                    judged_one, decision = style_reading(take, k, midi, outputs)
                    if judged_one is not None:
                        judged.append((k, judged_one))
                    decisions.append(decision)
                # The artist-style benchmark hears the master through its own judge instead.
                label_take = f"{label} generated {piece + take.take_number - 1}"
                heard_one = None if args.set_kind == "style" else heard_vector(take, label_take)
                if heard_one is not None:
                    heard.append((k, heard_one))
                take_seconds = stage_seconds_of(list(take_rows.values()))
                results.append(
                    {
                        "set": k,
                        "piece": piece + take.take_number - 1,
                        "take": take.take_number,
                        "generation_id": take.pk,
                        "status": take.status,
                        "error": take.error,
                        "takes_in_generation": takes,
                        # The whole generation (shared stages once, then every take), and one take's
                        # own path: the shared stages plus its compose..report stages.
                        "generation_wall_s": round(elapsed, 1),
                        "generation_cpu_s": round(cpu, 1),
                        "wall_time_s": round(elapsed / takes, 1),
                        "cpu_time_s": round(cpu / takes, 1),
                        "take_path_s": round(sum(shared_seconds.values()) + sum(take_seconds.values()), 1),
                        "load_average": load,
                        "stage_seconds": {
                            **shared_seconds,
                            **{f"take {take.take_number} {n}": v for n, v in take_seconds.items()},
                        },
                        "finetune_s": finetune["wall_time_s"],
                        "upload_fraction_drawn": finetune["upload_fraction_drawn"],
                        "held_out_ppl_base": finetune["held_out_perplexity_base"],
                        "held_out_ppl_tuned": finetune["held_out_perplexity_tuned"],
                        "longest_shared_notes": guard["longest_shared_notes"],
                        "guard_attempts": len(guard["attempts"]),
                        "tempo_sources_vs_generated": [round(float(np.median([v[0] for v in songs_by_set[-1]])), 3)]
                        + ([round(float(heard_one[0]), 3)] if heard_one is not None else []),
                        "influence": take.report.get("influence") if k == 0 and piece == 0 else None,
                    }
                )
            print(
                f"set {k}: {takes} take(s) {song.status} in {elapsed:.1f} s wall, {cpu:.1f} s CPU, load {load}",
                flush=True,
            )
            piece += takes
    set_vectors = [_pooled(v) for v in songs_by_set]
    retrieval = {
        name: {
            "generated_heard": round(retrieval_accuracy(heard, set_vectors, cols), 3),
            "generated_symbolic": round(retrieval_accuracy(symbolic, set_vectors, cols), 3),
            "source_songs_ceiling": round(ceiling_accuracy(songs_by_set, cols), 3),
        }
        for name, cols in FEATURE_GROUPS.items()
    }
    done = [r for r in results if "wall_time_s" in r]
    artist_style = (
        artist_style_summary(judged_sources, judged, decisions, pieces=args.pieces_per_set)
        if args.set_kind == "style" and args.only_sets is None
        else None
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "sets": args.sets,
        "set_kind": args.set_kind,
        "song_seconds_requested": args.song_seconds,
        "upload_seconds": args.seconds,
        "e2e_time_s": results[0].get("wall_time_s") if results else None,
        "per_take_wall_s": [r["wall_time_s"] for r in done],
        "per_take_cpu_s": [r["cpu_time_s"] for r in done],
        "per_take_load_average": [r["load_average"] for r in done],
        "e2e_status": results[0].get("status") if results else None,
        "finetune_s_mean": round(float(np.mean([r["finetune_s"] for r in done])), 1) if done else None,
        "peak_memory_mb": round(peak_mb, 1),
        "style_retrieval_accuracy": retrieval["all"]["generated_heard"],
        "style_retrieval": retrieval,
        "style_retrieval_chance": round(1 / max(1, len(set_vectors)), 3),
        "style_retrieval_queries": len(heard),
        "pieces_per_set": args.pieces_per_set,
        "failed_generations": [r for r in results if "wall_time_s" not in r],
        "max_shared_consecutive_notes": max((r["longest_shared_notes"] for r in done), default=None),
        "held_out_ppl_base_mean": round(float(np.mean([r["held_out_ppl_base"] for r in done])), 2) if done else None,
        "held_out_ppl_tuned_mean": round(float(np.mean([r["held_out_ppl_tuned"] for r in done])), 2) if done else None,
        "artist_style": artist_style,
        "per_set": results,
        "vectors": {
            "sources": [[v.round(4).tolist() for v in songs] for songs in songs_by_set],
            "generated_symbolic": [[k, v.round(4).tolist()] for k, v in symbolic],
            "generated_heard": [[k, v.round(4).tolist()] for k, v in heard],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=10)
    parser.add_argument(
        "--set-kind",
        choices=("artists", "catalog", "style"),
        default="artists",
        help="artists: each set is one demo artist's ten coherent songs; catalog: ten consecutive catalog entries; "
        "style: the six artist-style artists, uploads rendered with FluidR3_GM",
    )
    parser.add_argument("--pieces-per-set", type=int, default=2, help="generated songs per set (different seeds)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each demo upload")
    parser.add_argument("--song-seconds", type=int, default=150, help="requested length of each generated song")
    parser.add_argument("--prewarm", action="store_true", help="only analyse and transcribe sets 1.. (cached)")
    parser.add_argument("--state-dir", type=Path, default=ROOT / "data" / "bench" / "generate" / "state")
    parser.add_argument(
        "--only-sets",
        type=lambda text: {int(k) for k in text.split(",")},
        help="run only these sets (e.g. 0,1), so several processes can share one database and state folder",
    )
    parser.add_argument(
        "--summarise-state",
        action="store_true",
        help="artist style only: judge the takes a (running or stopped) run stored in --state-dir so far",
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    setup_django(args.state_dir)
    if args.summarise_state:
        summary = summarise_state(args)
        out = ROOT / "benchmarks" / "results" / "generate-style-state.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2, default=str))
        print(f"artists with finished takes: {summary['artists_with_takes']} ({summary['takes_judged']} takes)")
        for view, hits in summary["hits_per_view"].items():
            print(f"  {view:10} {sum(hits)}/{len(hits)}   ceiling {summary['held_out_ceiling'][view]}")
        print(f"drum notes in drumless artists' takes: {summary['drum_notes_for_drumless']}")
        print(f"wrote {out}")
        return
    summary = run(args)
    if args.prewarm:
        return
    outputs = {"artists": "generate.json", "catalog": "generate-catalog.json", "style": "generate-style.json"}
    out = ROOT / "benchmarks" / "results" / outputs[args.set_kind]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str))
    rows = [
        ("end-to-end per take (set 0: whole generation / takes)", summary["e2e_time_s"], "s", "<= 120"),
        ("fine-tune (mean)", summary["finetune_s_mean"], "s", "<= 120"),
        ("peak memory (this process)", summary["peak_memory_mb"], "MB", "<= 4096"),
        ("style retrieval, generated song as heard", summary["style_retrieval_accuracy"], "hit rate", ">= 0.8"),
        *[
            (f"  {group}: heard / symbolic / source-song ceiling", "/".join(str(v) for v in row.values()), "", "")
            for group, row in summary["style_retrieval"].items()
        ],
        (
            "  queries (sets x pieces), chance",
            summary["style_retrieval_queries"],
            "",
            summary["style_retrieval_chance"],
        ),
        ("max shared consecutive notes", summary["max_shared_consecutive_notes"], "notes", "<= 8"),
        ("held-out perplexity base (mean)", summary["held_out_ppl_base_mean"], "", ""),
        ("held-out perplexity fine-tuned (mean)", summary["held_out_ppl_tuned_mean"], "", "lower"),
    ]
    if summary["artist_style"]:
        style = summary["artist_style"]
        rows += [
            ("artist style: top-1 retrieval (judge)", style["top1"]["overall"], "hit rate", ">= 0.8"),
            *[(f"  view {v}", h, "hit rate", ">= 0.8" if v == "timbre" else "") for v, h in style["top1"].items()],
            *[(f"  ceiling {v}", h, "hit rate", "") for v, h in style["held_out_ceiling"].items()],
            ("drum notes in drumless artists' songs", style["drum_notes_for_drumless"], "notes", "0"),
        ]
    print(f"{'metric':48} {'value':>10} {'unit':12} target")
    for name, value, unit, target in rows:
        print(f"{name:48} {value!s:>10} {unit:12} {target}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
