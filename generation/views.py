"""The artist's pages for a new song: the song list, generating, listening.

Interfaces only: each view parses input, calls one service or selector, and renders.
Refusals (``DomainError``) become readable messages. The upload-set pages are in uploads.views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST, require_safe
from django_htmx.http import HttpResponseClientRefresh

from generation.models import Generation, GenerationStage
from generation.selectors import ACTIVE_STATUSES
from generation.services import generation_cancel, generation_start
from generation.services.pipeline import generation_retry
from generation.streaming import ranged_file_response
from songforge.errors import DomainError, NotFound
from songforge.pages import HtmxHttpRequest, error_redirect, owner_id
from uploads.selectors import upload_labels, upload_set_owned, upload_sets_of_owner


def _owned_generation(request: HttpRequest, pk: int) -> Generation:
    return get_object_or_404(
        Generation.objects.select_related("upload_set"), pk=pk, upload_set__owner_id=owner_id(request)
    )


@login_required
@require_GET
def song_list(request: HttpRequest) -> HttpResponse:
    upload_sets = upload_sets_of_owner(owner_id=owner_id(request)).prefetch_related("generations")
    return render(request, "generation/song_list.html", {"upload_sets": upload_sets})


@login_required
@require_POST
def generation_create(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        upload_set = upload_set_owned(upload_set_id=pk, owner_id=owner_id(request))
    except NotFound:
        raise Http404("No such upload set.") from None
    try:
        generation = generation_start(upload_set_id=upload_set.pk, owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "uploads:upload_set_detail", upload_set.pk)
    return redirect("generation:generation_detail", generation.pk)


def _elapsed_seconds(generation: Generation) -> int:
    if generation.started_at is None:
        return 0
    end = generation.finished_at or timezone.now()
    return max(int((end - generation.started_at).total_seconds()), 0)


@dataclass(frozen=True)
class Influence:
    label: str
    share: float


def _source_labels(generation: Generation) -> dict[int, str]:
    """Each upload of the set named by its matched recording (or its file name)."""
    return upload_labels(upload_set_id=generation.upload_set_id)


def _influences(generation: Generation, labels: dict[int, str]) -> list[Influence]:
    """The report's measured influence shares, named after the uploads' recordings."""
    return [
        Influence(
            label=labels.get(entry.get("upload_id"), f"Upload {entry.get('upload_id')}"),
            share=float(entry.get("share") or 0.0),
        )
        for entry in generation.report.get("influence") or []
    ]


def _key_name(key: Any) -> str:
    """The report's key as words: {"name": "A", "mode": "minor"} or "A minor" -> "A minor"."""
    if isinstance(key, dict):
        return " ".join(str(key[part]) for part in ("name", "mode") if key.get(part))
    return "" if key in (None, "unknown") else str(key)


def _report_facts(report: dict[str, Any]) -> dict[str, Any]:
    """The figures the song page shows; measured values from synthesis win over the composed ones."""
    synthesis = report.get("synthesis") or {}

    def pick(name: str) -> Any:
        value = synthesis.get(name)
        return report.get(name) if value is None else value

    return {
        "tempo_bpm": pick("tempo_bpm"),
        "key": _key_name(synthesis.get("key")) or _key_name(report.get("key")),
        "length_s": pick("length_s"),
        "loudness_lufs": synthesis.get("integrated_lufs", report.get("loudness_lufs")),
        "true_peak_dbtp": synthesis.get("true_peak_dbtp", report.get("true_peak_dbtp")),
    }


@dataclass(frozen=True)
class Originality:
    longest_shared_notes: Any
    threshold: Any
    with_catalog: Any
    attempts: int
    per_source: list[tuple[str, Any]]


def _originality(generation: Generation, labels: dict[int, str]) -> Originality | None:
    """The guard's figures (generation.ml.originality), with each source named."""
    figures = generation.report.get("originality") or {}
    if not figures:
        return None
    per_upload = figures.get("longest_shared_with_uploads") or {}
    return Originality(
        longest_shared_notes=figures.get("longest_shared_notes"),
        threshold=figures.get("max_shared_notes_threshold"),
        with_catalog=figures.get("longest_shared_with_catalog"),
        attempts=len(figures.get("attempts") or []),
        per_source=[
            (labels.get(int(upload_id), f"Upload {upload_id}"), notes) for upload_id, notes in per_upload.items()
        ],
    )


def _audio_url(generation: Generation) -> str:
    """The range-request URL of the listening file, when the audio view is deployed."""
    kind = "m4a" if generation.listen_m4a else "mp3" if generation.listen_mp3 else ""
    if not kind:
        return ""
    try:
        return reverse("generation:generation_audio", args=[generation.pk, kind])
    except NoReverseMatch:
        return ""


@dataclass(frozen=True)
class StageRow:
    label: str
    status: str  # "done", "running", "failed" or "waiting"


def _stages(generation: Generation) -> list[StageRow]:
    """The pipeline's stages in order, with what the persisted stage rows say about each."""
    recorded = {row.name: row.status for row in generation.stages.all()}
    return [
        StageRow(label=str(label), status=recorded.get(name, "waiting")) for name, label in GenerationStage.Name.choices
    ]


def _stage_label(generation: Generation) -> str:
    if generation.stage in GenerationStage.Name.values:
        return str(GenerationStage.Name(generation.stage).label)
    return generation.stage


def _generation_context(generation: Generation) -> dict[str, Any]:
    return {
        "generation": generation,
        "stage_label": _stage_label(generation),
        "stages": _stages(generation),
        "elapsed_s": _elapsed_seconds(generation),
        "is_active": generation.status in ACTIVE_STATUSES,
        "can_cancel": generation.status in ACTIVE_STATUSES,
    }


@login_required
@require_GET
def generation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """While it runs, the live progress page; once finished, the song with its player and report."""
    generation = _owned_generation(request, pk)
    context = _generation_context(generation)
    if generation.status != Generation.Status.SUCCEEDED:
        return render(request, "generation/generating.html", context)
    labels = _source_labels(generation)
    influences = _influences(generation, labels)
    context.update(
        {
            "facts": _report_facts(generation.report),
            "originality": _originality(generation, labels),
            "influences": influences,
            "influence_items": [(row.label, row.share) for row in influences],
            "release": getattr(generation, "release", None) if hasattr(generation, "release") else None,
            "audio_url": _audio_url(generation),
            "has_peaks": bool(generation.peaks),
        }
    )
    return render(request, "generation/song.html", context)


@login_required
@require_GET
def generation_progress(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The polled progress partial; reloads the page once the job has ended."""
    generation = _owned_generation(request, pk)
    if request.htmx and generation.status not in ACTIVE_STATUSES:
        return HttpResponseClientRefresh()
    return render(request, "generation/_progress.html", _generation_context(generation))


@login_required
@require_POST
def generation_stop(request: HttpRequest, pk: int) -> HttpResponse:
    generation = _owned_generation(request, pk)
    try:
        generation_cancel(generation_id=generation.pk, owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "generation:generation_detail", generation.pk)
    messages.success(request, "Generation cancelled.")
    return redirect("generation:generation_detail", generation.pk)


@login_required
@require_POST
def generation_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Run a failed generation again from the stage that failed."""
    generation = _owned_generation(request, pk)
    try:
        generation_retry(generation_id=generation.pk, owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "generation:generation_detail", generation.pk)
    messages.success(request, "Generation restarted from the stage that failed.")
    return redirect("generation:generation_detail", generation.pk)


@login_required
@require_GET
def generation_peaks(request: HttpRequest, pk: int) -> FileResponse:
    """The waveform peaks file the player draws, for the song's owner only."""
    generation = _owned_generation(request, pk)
    if not generation.peaks:
        raise Http404("This song has no waveform yet.")
    try:
        handle = default_storage.open(generation.peaks.name, "rb")
    except FileNotFoundError:
        raise Http404("This song's waveform file is missing.") from None
    return FileResponse(handle, content_type="application/json")


AUDIO_KINDS = {
    "m4a": ("listen_m4a", "audio/mp4"),
    "mp3": ("listen_mp3", "audio/mpeg"),
    "wav": ("master_wav", "audio/wav"),
}


@login_required
@require_safe
def generation_audio(request: HttpRequest, pk: int, kind: str) -> HttpResponseBase:
    """The song's audio for the player, with HTTP range requests (seeking); owner only, 404 to anyone else."""
    if kind not in AUDIO_KINDS:
        raise Http404("Unknown audio format.")
    generation = _owned_generation(request, pk)
    field_name, content_type = AUDIO_KINDS[kind]
    field_file = getattr(generation, field_name)
    if not field_file:
        raise Http404("This song has no audio in that format yet.")
    return ranged_file_response(request, field_file, content_type)
