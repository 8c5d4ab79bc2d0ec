"""Per-upload features and transcription, computed once and stored (UploadFeatures)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from generation import features as audio_features
from generation.ml import style, tokenizer
from generation.models import UploadFeatures
from generation.synthesis import recognition, recognition_cnn
from songforge.storage import local_copy
from uploads.selectors import upload_get

if TYPE_CHECKING:
    from uploads.selectors import Upload


def _row(upload: Upload) -> UploadFeatures:
    row, _ = UploadFeatures.objects.get_or_create(upload=upload, defaults={"audio_sha256": upload.sha256})
    if row.audio_sha256 != upload.sha256:  # the audio changed: start over
        row.audio_sha256 = upload.sha256
        row.features, row.tokens, row.token_count = {}, [], 0
        row.analysed_at = row.transcribed_at = None
        row.save()
    return row


def upload_features_analyse(*, upload_id: int) -> UploadFeatures:
    """Signal features of one upload (tempo, beats, key, chords, loudness, timbre, sections).

    Idempotent: an upload analysed before is returned as is.
    """
    upload = upload_get(upload_id=upload_id)
    row = _row(upload)
    if row.analysed_at is not None:
        return row
    with local_copy(upload.audio) as path:
        features = audio_features.analyse_audio(path)
    with transaction.atomic():
        row = UploadFeatures.objects.select_for_update().get(pk=row.pk)
        if row.analysed_at is None:
            row.features = {**features, **{k: v for k, v in row.features.items() if k == "transcription"}}
            row.analysed_at = timezone.now()
            row.save(update_fields=["features", "analysed_at", "updated_at"])
    return row


def upload_features_transcribe(*, upload_id: int) -> UploadFeatures:
    """basic-pitch transcription quantised to the upload's beat grid, stored as MIDI and tokens.

    Precondition: the upload was analysed (the beat grid comes from there). Idempotent.
    """
    row = upload_features_analyse(upload_id=upload_id)
    if row.transcribed_at is not None:
        return row
    upload = row.upload
    with local_copy(upload.audio) as path:
        notes = [n for n in audio_features.transcribe(path) if n[0] < audio_features.MAX_ANALYSIS_S]
    piece = audio_features.quantise(notes, row.features.get("beat_times", []), row.features.get("tempo_bpm", 120.0))
    tokens = tokenizer.encode(piece)
    midi = tokenizer.to_pretty_midi(piece)
    buffer = io.BytesIO()
    midi.write(buffer)  # type: ignore[attr-defined]
    summary = {
        "raw_notes": len(notes),
        "notes": len(piece.notes),
        "roles": {r: sum(1 for n in piece.notes if n.role == i) for i, r in enumerate(tokenizer.ROLES)},
    }
    with transaction.atomic():
        row = UploadFeatures.objects.select_for_update().get(pk=row.pk)
        if row.transcribed_at is None:
            row.transcription_midi.save(f"upload-{upload_id}.mid", ContentFile(buffer.getvalue()), save=False)
            row.tokens = tokens
            row.token_count = len(tokens)
            row.features = {**row.features, "transcription": summary}
            row.transcribed_at = timezone.now()
            row.save()
    return row


@lru_cache(maxsize=1)
def _recogniser() -> recognition.Recogniser | None:
    return recognition.load_recogniser()


def upload_set_style(*, analyses: Sequence[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """What the analyse stage decides for a set from its uploads' analyses ``(upload_id, features)``.

    Tempo by the one octave-consistent rule (``generation.ml.style.set_tempo``), tonic, family and
    scale by vote, and, when the recogniser's weights are installed and every upload was analysed
    with them, the kit ("none" when the artist plays without drums) and a General MIDI program per
    role: the CNN's (``recognition_cnn``) when every upload carries its probabilities, else the
    94-value recogniser's (uploads analysed before the CNN shipped). Without a recogniser ``drums``
    and ``instruments`` are None and composition keeps the groove's feel.
    """
    key = style.set_key([features["key"] for _, features in analyses])
    recogniser = _recogniser()
    vectors = [features.get("recognition") for _, features in analyses]
    decision: dict[str, Any] | None = None
    if recogniser is not None and vectors and all(v and len(v) == len(recogniser.mean) for v in vectors):
        decision = recogniser.decide(np.asarray(vectors, dtype=np.float64))
        decision["programs_by"] = "recogniser"
        by_cnn = [features.get("recognition_cnn") for _, features in analyses]
        if all(_cnn_complete(p) for p in by_cnn):
            cnn = recognition_cnn.decide([p for p in by_cnn if p])
            decision["recogniser_programs"] = {role: decision[role]["label"] for role in recognition_cnn.ROLES}
            decision |= cnn
            decision["programs_by"] = "cnn"
    kit = decision["drums"]["label"] if decision else None
    tempo = style.set_tempo(
        [float(features["tempo_bpm"]) for _, features in analyses],
        [float(features["onset_rate"]) for _, features in analyses if "onset_rate" in features],
        kit=kit,
        half_beat_strikes=[recognition.half_beat_strikes(v) for v in vectors if v] if decision else None,
    )
    return {
        "uploads": [
            {"upload_id": upload_id, "tempo_bpm": features["tempo_bpm"], "key": features["key"]}
            for upload_id, features in analyses
        ],
        "tempo_bpm": round(tempo.tempo_bpm, 2),
        "tempo_rule": tempo.as_dict(),
        "key": key.as_dict(),
        "drums": kit,
        "instruments": (
            {role: int(decision[role]["label"]) for role in ("melody", "harmony", "bass")} if decision else None
        ),
        "recognition": decision,
    }


def _cnn_complete(probabilities: dict[str, list[float]] | None) -> bool:
    if not probabilities:
        return False
    return all(len(probabilities.get(role) or ()) == len(recognition.TARGETS[role]) for role in recognition_cnn.ROLES)


def role_programs(instruments: dict[str, int] | None) -> dict[str, int] | None:
    """The recognised programs (melody, harmony, bass) by tokenizer role, for the composition's MIDI."""
    if not instruments:
        return None
    return {"melody": instruments["melody"], "chords": instruments["harmony"], "bass": instruments["bass"]}
