"""The work of each generation stage. Each function reads earlier stages' persisted outputs and
returns its own output (JSON); files go to default storage under ``generations/<id>/``.

Stage functions are called by :mod:`generation.services.pipeline`, which persists what they return
and never calls a finished stage again.
"""

from __future__ import annotations

import io
import json
import logging
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from generation.errors import NotOriginalError
from generation.ml import style, tokenizer
from generation.ml.compose import ComposeRequest, compose, header
from generation.ml.groove import groove_of, motion_of
from generation.ml.influence import influence
from generation.ml.model import MusicTransformer, load_checkpoint, save_checkpoint
from generation.ml.originality import melody_symbols, originality_report
from generation.ml.train import TokenSource, finetune, pick_device, sequence_nll
from generation.models import Generation, UploadFeatures
from generation.report import GenerationReport
from generation.services import features as feature_services
from generation.services import synthesis as synthesis_service
from generation.services import training
from generation.services.sources import generation_sources_record
from royalties.services import BPS, PPB, largest_remainder
from uploads.selectors import matched_uploads_of_set

if TYPE_CHECKING:
    from uploads.selectors import Upload

logger = logging.getLogger(__name__)

Outputs = dict[str, dict[str, Any]]
StageFn = Callable[[Generation, Outputs], dict[str, Any]]
HELD_OUT_FRACTION = 0.25  # the last quarter of each song's tokens is never fine-tuned on
GUARD_ATTEMPTS = 3


def storage_name(generation: Generation, name: str) -> str:
    return f"generations/{generation.pk}/{name}"


def save_bytes(generation: Generation, name: str, data: bytes) -> str:
    target = storage_name(generation, name)
    if default_storage.exists(target):
        default_storage.delete(target)
    return default_storage.save(target, ContentFile(data))


def read_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return bytes(handle.read())


def uploads_of(generation: Generation) -> list[Upload]:
    return matched_uploads_of_set(upload_set_id=generation.upload_set_id)


def _torch_setup() -> str:
    torch.set_num_threads(settings.GENERATION_TORCH_THREADS)
    return pick_device()


def load_tuned(outputs: Outputs, device: str) -> MusicTransformer:
    data = read_bytes(outputs["finetune"]["checkpoint"])
    with tempfile.NamedTemporaryFile(suffix=".pt") as handle:
        handle.write(data)
        handle.flush()
        model, _ = load_checkpoint(handle.name, device=device)
    return model


def song_split(tokens: list[int]) -> tuple[list[int], list[int]]:
    """(fine-tune part, held-out part) of a song's tokens, split at a BAR near 75%."""
    cut = int(len(tokens) * (1 - HELD_OUT_FRACTION))
    while cut < len(tokens) and tokens[cut] != tokenizer.BAR:
        cut += 1
    held = tokens[:3] + tokens[cut:]  # keep the header so the held-out part is a valid sequence
    return tokens[:cut], held


# --- stages -------------------------------------------------------------------------------


def stage_analyse(generation: Generation, outputs: Outputs) -> dict[str, Any]:
    """Signal features of every upload (reused across generations), then the set's tempo, key, kit and sounds."""
    rows = [feature_services.upload_features_analyse(upload_id=upload.pk) for upload in uploads_of(generation)]
    return feature_services.upload_set_style(analyses=[(r.upload_id, r.features) for r in rows])


def stage_transcribe(generation: Generation, outputs: Outputs) -> dict[str, Any]:
    rows = [feature_services.upload_features_transcribe(upload_id=u.pk) for u in uploads_of(generation)]
    return {"uploads": [{"upload_id": r.upload_id, "tokens": r.token_count} for r in rows]}


def _song_tokens(generation: Generation) -> list[tuple[int, list[int]]]:
    rows = UploadFeatures.objects.filter(upload__upload_set_id=generation.upload_set_id).order_by(
        "upload__created_at", "upload_id"
    )
    return [(r.upload_id, [int(t) for t in r.tokens]) for r in rows]


def _mean_nll(model: MusicTransformer, sequences: list[list[int]]) -> float:
    values = np.concatenate([sequence_nll(model, s) for s in sequences if len(s) > 1] or [np.zeros(1)])
    return float(values.mean())


def stage_finetune(generation: Generation, outputs: Outputs) -> dict[str, Any]:
    """Fine-tune a copy of the base model on the songs (and the catalog); save the copy."""
    device = _torch_setup()
    songs = _song_tokens(generation)
    parts = [song_split(tokens) for _, tokens in songs]
    base, _ = training.load_base_model(device)
    held_out = [held[: base.config.block_size * 2] for _, held in parts]
    base_nll = _mean_nll(base, held_out)
    tuned, _ = training.load_base_model(device)
    result = finetune(
        tuned,
        [TokenSource(np.asarray(train_part)) for train_part, _ in parts],
        TokenSource(training.catalog_sample_tokens()),
        steps=settings.GENERATION_FINETUNE_STEPS,
        batch_size=settings.GENERATION_FINETUNE_BATCH,
        upload_fraction=settings.FINETUNE_UPLOAD_FRACTION / 100.0,
        seed=generation.seed,
        block_size=256,
    )
    tuned_nll = _mean_nll(tuned, held_out)
    with tempfile.NamedTemporaryFile(suffix=".pt") as handle:
        save_checkpoint(tuned, handle.name, extra={"generation_id": generation.pk})
        name = save_bytes(generation, "finetuned.pt", Path(handle.name).read_bytes())
    logger.info(
        "generation %s fine-tune: %d steps, upload fraction %.3f, %.1f s",
        generation.pk,
        result.steps,
        result.upload_fraction,
        result.wall_time_s,
    )
    return {
        "checkpoint": name,
        "base_version": training.checkpoint_version(),
        "steps": result.steps,
        "wall_time_s": round(result.wall_time_s, 2),
        "upload_fraction_setting": settings.FINETUNE_UPLOAD_FRACTION / 100.0,
        "upload_fraction_drawn": round(result.upload_fraction, 4),
        "upload_tokens": result.upload_tokens,
        "catalog_tokens": result.catalog_tokens,
        "per_song": [
            {"upload_id": upload_id, "tokens": tokens, "share": round(share, 4)}
            for (upload_id, _), tokens, share in zip(songs, result.per_song_tokens, result.per_song_share, strict=True)
        ],
        "first_loss": round(result.losses[0], 4) if result.losses else None,
        "last_loss": round(result.losses[-1], 4) if result.losses else None,
        "held_out_loss_base": round(base_nll, 4),
        "held_out_loss_tuned": round(tuned_nll, 4),
        "held_out_perplexity_base": round(math.exp(base_nll), 3),
        "held_out_perplexity_tuned": round(math.exp(tuned_nll), 3),
    }


def _melody_center(songs: list[tokenizer.Piece]) -> int | None:
    """Median pitch of the songs' transcribed melodies (the register the piece should sit in)."""
    pitches = [n.pitch for piece in songs for n in piece.notes if n.role == 0]
    return int(np.median(pitches)) if pitches else None


def _copies(songs: list[tokenizer.Piece]) -> Callable[[tokenizer.Piece], bool]:
    """Whether a sampled section fails the guard's test (a song or the catalog quoted at length)."""
    references = {str(k): melody_symbols(song) for k, song in enumerate(songs)}
    catalog = training.catalog_ngram_index()
    threshold = settings.GENERATION_MAX_SHARED_NOTES

    def copies(piece: tokenizer.Piece) -> bool:
        return not originality_report(piece, references, catalog=catalog, max_shared=threshold)["is_original"]

    return copies


def _compose(generation: Generation, outputs: Outputs, seed: int) -> tuple[Any, dict[str, Any]]:
    device = _torch_setup()
    model = load_tuned(outputs, device)
    target = outputs["analyse"]
    songs = [tokenizer.decode(tokens) for _, tokens in _song_tokens(generation)]
    scale, scale_votes = style.scale_of_songs(songs, family=str(target["key"]["mode"]))
    request = ComposeRequest(
        tonic=int(target["key"]["tonic"]),
        mode=scale,
        tempo_bpm=float(target["tempo_bpm"]),
        seconds=float(GenerationReport.from_json(generation.report).requested_seconds or settings.GENERATION_SECONDS),
        seed=seed,
        section_bars=settings.GENERATION_SECTION_BARS or None,
        melody_center=_melody_center(songs),
        groove=groove_of(songs),
        pitch_classes=style.pitch_colour(songs, tonic=int(target["key"]["tonic"])),
        motion=motion_of(songs),
        candidates=settings.GENERATION_CANDIDATES,
        rejects=_copies(songs),
        kit=target.get("drums"),
        programs=feature_services.role_programs(target.get("instruments")),
    )
    started = time.monotonic()
    composition = compose(model, request)
    return composition, {"seed": seed, "compose_s": round(time.monotonic() - started, 2), "scale_votes": scale_votes}


def _store_composition(generation: Generation, composition: Any, suffix: str) -> dict[str, Any]:
    midi = tokenizer.to_pretty_midi(composition.piece, programs=composition.programs)
    buffer = io.BytesIO()
    midi.write(buffer)  # type: ignore[attr-defined]
    midi_name = save_bytes(generation, f"composition{suffix}.mid", buffer.getvalue())
    sections = {k: [int(t) for t in v] for k, v in composition.section_tokens.items()}
    tokens_name = save_bytes(generation, f"composition{suffix}.json", json.dumps({"sections": sections}).encode())
    return {
        "midi": midi_name,
        "tokens": tokens_name,
        "plan": composition.plan,
        "sampled_tokens": composition.sampled_tokens,
        **composition.stats,
    }


def stage_compose(generation: Generation, outputs: Outputs) -> dict[str, Any]:
    composition, meta = _compose(generation, outputs, generation.seed)
    return {**_store_composition(generation, composition, ""), **meta}


def stage_guard(generation: Generation, outputs: Outputs) -> dict[str, Any]:
    """Refuse copies: recompose with another seed (up to GUARD_ATTEMPTS pieces in all) or fail."""
    references = {
        str(upload_id): melody_symbols(tokenizer.decode(tokens)) for upload_id, tokens in _song_tokens(generation)
    }
    catalog = training.catalog_ngram_index()
    threshold = settings.GENERATION_MAX_SHARED_NOTES
    attempts = []
    current = outputs["compose"]
    for attempt in range(GUARD_ATTEMPTS):
        if attempt > 0:
            composition, meta = _compose(generation, outputs, generation.seed + 7919 * attempt)
            current = {**_store_composition(generation, composition, f"-{attempt}"), **meta}
        piece = _load_piece(current["midi"])
        report = originality_report(piece, references, catalog=catalog, max_shared=threshold)
        attempts.append({"seed": current["seed"], **report})
        if report["is_original"]:
            return {"is_original": True, "final": current, "attempts": attempts, **report}
    raise NotOriginalError(
        f"Every one of {GUARD_ATTEMPTS} composed pieces shared more than {threshold} consecutive notes with a "
        "source; start a new generation with another seed or other songs.",
        extra={"attempts": attempts},
    )


def _load_piece(midi_name: str) -> tokenizer.Piece:
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(io.BytesIO(read_bytes(midi_name)))
    return tokenizer.from_pretty_midi(midi, with_chords=False)


def stage_synthesise(generation: Generation, outputs: Outputs) -> dict[str, Any]:
    """Render and master the guarded MIDI with the synthesis engine into storage."""
    uploads = uploads_of(generation)
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        paths = []
        for upload in uploads:
            local = work_dir / f"upload-{upload.pk}{Path(upload.audio.name).suffix}"
            with upload.audio.open("rb") as source:
                local.write_bytes(source.read())
            paths.append(local)
        analysed = outputs["analyse"]
        profile = synthesis_service.synthesis_profile(
            paths=paths, programs=analysed.get("instruments"), kit=analysed.get("drums")
        )
        midi_path = work_dir / "composition.mid"
        midi_path.write_bytes(read_bytes(outputs["guard"]["final"]["midi"]))
        out_dir = work_dir / "out"
        out_dir.mkdir()
        report = synthesis_service.synthesis_render(
            midi_path=midi_path, target_profile=profile, out_dir=out_dir, seed=generation.seed
        )
        files = {}
        for path in sorted(out_dir.iterdir()):
            if path.is_file():
                files[path.name] = save_bytes(generation, path.name, path.read_bytes())
    return {"files": files, "synthesis": report}


def stage_master(generation: Generation, outputs: Outputs) -> dict[str, Any]:
    """Attach the mastered files (render_and_master masters as it renders) to the generation."""
    files = outputs["synthesise"]["files"]
    fields = {"master.wav": "master_wav", "listen.m4a": "listen_m4a", "listen.mp3": "listen_mp3", "peaks.json": "peaks"}
    attached = {}
    for filename, field_name in fields.items():
        if filename in files:
            getattr(generation, field_name).name = files[filename]
            attached[field_name] = files[filename]
    generation.save(update_fields=[*attached.keys(), "updated_at"])
    synthesis = outputs["synthesise"].get("synthesis", {})
    return {"attached": attached, "loudness": synthesis.get("loudness") or synthesis.get("master")}


def stage_report(generation: Generation, outputs: Outputs) -> dict[str, Any]:
    """Measured influence per upload (stored as GenerationSource rows), plus every stage's figures.

    The shares that are paid are the GenerationSource rows; the report repeats them as percentages
    for people to read.
    """
    songs = _song_tokens(generation)
    final = outputs["guard"]["final"]
    tempo = float(outputs["analyse"]["tempo_bpm"])
    if settings.INFLUENCE_SPLIT == "equal":
        weights = [1] * len(songs)
        method: dict[str, Any] = {"method": "equal (SONGFORGE_INFLUENCE_SPLIT=equal)"}
    else:
        device = _torch_setup()
        base, _ = training.load_base_model(device)
        tuned = load_tuned(outputs, device)
        sections = json.loads(read_bytes(final["tokens"]))["sections"]
        piece_tokens = [header(tempo) + list(tokens) for tokens in sections.values()]
        measured = influence(base, tuned, piece_tokens, [song_split(t)[0] for _, t in songs])
        weights = list(measured.weights)
        method = measured.figures()
    sources = generation_sources_record(
        generation_id=generation.pk,
        weights={upload_id: weight for (upload_id, _), weight in zip(songs, weights, strict=True)},
    )
    by_upload = {source.upload_id: source for source in sources}
    percent_bps = largest_remainder(BPS, {source.upload_id: source.share_ppb for source in sources})
    rows = [
        {
            "upload_id": upload_id,
            "recording_id": by_upload[upload_id].recording_id,
            "share_ppb": by_upload[upload_id].share_ppb,
            "share_bps": percent_bps[upload_id],
            "share": round(by_upload[upload_id].share_ppb / PPB, 6),  # for people; money reads share_ppb rows
        }
        for upload_id, _ in songs
    ]
    guard = outputs["guard"]
    return {
        "influence": rows,
        "influence_method": method,
        "tempo_bpm": tempo,
        "key": outputs["analyse"]["key"],
        "form": final["plan"],
        "length_s": final.get("seconds"),
        "originality": {k: v for k, v in guard.items() if k not in ("final",)},
        "finetune": {k: v for k, v in outputs["finetune"].items() if k != "checkpoint"},
        "synthesis": outputs.get("synthesise", {}).get("synthesis", {}),
    }


SHARED_STAGES = ("analyse", "transcribe", "finetune")  # once per generation, on the song's row
TAKE_STAGES = ("compose", "guard", "synthesise", "master", "report")  # once per take, on the take's row

STAGES: tuple[tuple[str, StageFn, int], ...] = (
    ("analyse", stage_analyse, 10),
    ("transcribe", stage_transcribe, 15),
    ("finetune", stage_finetune, 25),
    ("compose", stage_compose, 15),
    ("guard", stage_guard, 5),
    ("synthesise", stage_synthesise, 20),
    ("master", stage_master, 5),
    ("report", stage_report, 5),
)
