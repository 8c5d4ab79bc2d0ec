"""The artist's pages for a new song: uploads, matching, generating, listening.

Interfaces only: each view parses input, calls one service or selector of the
generation/catalog apps, and renders. Refusals (``DomainError``) become readable
messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST, require_safe
from django_htmx.http import HttpResponseClientRefresh

from catalog.selectors import recording_search
from generation.forms import RecordingSearchForm, UploadForm
from generation.models import Generation, GenerationStage, Upload, UploadSet
from generation.report import GenerationReport
from generation.selectors import generation_source_lines
from generation.services import generation_cancel, generation_start
from generation.streaming import ranged_file_response
from generation.uploads import (
    upload_add,
    upload_delete,
    upload_identify_again,
    upload_match_manually,
    upload_set_create,
    upload_set_readiness,
)
from songforge.errors import DomainError
from songforge.pages import HtmxHttpRequest, error_redirect, owner_id, wants_json

ACTIVE_STATUSES = (Generation.Status.QUEUED, Generation.Status.RUNNING)


def _owned_set(request: HttpRequest, pk: int) -> UploadSet:
    return get_object_or_404(UploadSet, pk=pk, owner_id=owner_id(request))


def _owned_upload(request: HttpRequest, pk: int) -> Upload:
    return get_object_or_404(Upload.objects.select_related("upload_set"), pk=pk, upload_set__owner_id=owner_id(request))


def _owned_generation(request: HttpRequest, pk: int) -> Generation:
    return get_object_or_404(
        Generation.objects.select_related("upload_set"), pk=pk, upload_set__owner_id=owner_id(request)
    )


@dataclass(frozen=True)
class Readiness:
    """What the Generate button needs: whether it is enabled, and why not."""

    is_ready: bool
    reasons: list[str]


def _readiness(upload_set: UploadSet) -> Readiness:
    """Asks the uploads service whether the set can be generated (its rule, not ours)."""
    try:
        result = upload_set_readiness(upload_set_id=upload_set.pk, owner_id=upload_set.owner_id)
    except DomainError as error:
        return Readiness(is_ready=False, reasons=[error.message])
    return Readiness(is_ready=bool(result.is_ready), reasons=[str(reason) for reason in result.reasons])


def _slots_context(upload_set: UploadSet) -> dict[str, Any]:
    uploads = list(upload_set.uploads.select_related("recording").order_by("created_at", "id"))
    latest = upload_set.generations.order_by("-created_at").first()
    return {
        "upload_set": upload_set,
        "uploads": uploads,
        "empty_slots": range(max(settings.UPLOAD_SET_SIZE - len(uploads), 0)),
        "set_size": settings.UPLOAD_SET_SIZE,
        "is_identifying": any(u.status == Upload.Status.IDENTIFYING for u in uploads),
        "readiness": _readiness(upload_set),
        "active_generation": latest if latest is not None and latest.status in ACTIVE_STATUSES else None,
        "finished_generation": latest if latest is not None and latest.status == Generation.Status.SUCCEEDED else None,
    }


@login_required
@require_GET
def song_list(request: HttpRequest) -> HttpResponse:
    upload_sets = UploadSet.objects.filter(owner_id=owner_id(request)).prefetch_related("generations")
    return render(request, "generation/song_list.html", {"upload_sets": upload_sets})


@login_required
@require_POST
def upload_set_new(request: HttpRequest) -> HttpResponse:
    try:
        upload_set = upload_set_create(owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "generation:song_list")
    return redirect("generation:upload_set_detail", upload_set.pk)


@login_required
@require_GET
def upload_set_detail(request: HttpRequest, pk: int) -> HttpResponse:
    upload_set = _owned_set(request, pk)
    context = _slots_context(upload_set)
    context["form"] = UploadForm()
    context["max_bytes"] = settings.UPLOAD_MAX_BYTES
    return render(request, "generation/upload_set.html", context)


@login_required
@require_GET
def upload_set_slots(request: HttpRequest, pk: int) -> HttpResponse:
    """The ten slots with their identification status; polled by htmx while any is identifying."""
    upload_set = _owned_set(request, pk)
    return render(request, "generation/_slots.html", _slots_context(upload_set))


@login_required
@require_POST
def upload_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Receives files from the upload widget (one per request) or from the plain form."""
    upload_set = _owned_set(request, pk)
    form = UploadForm(request.POST, request.FILES)
    as_json = wants_json(request)
    if not form.is_valid():
        message = "Choose an audio file to upload."
        if as_json:
            return JsonResponse({"code": "no_file", "message": message}, status=400)
        messages.error(request, message)
        return redirect("generation:upload_set_detail", upload_set.pk)
    added: list[Upload] = []
    try:
        for file in request.FILES.getlist("file"):
            added.append(upload_add(upload_set_id=upload_set.pk, file=file, owner_id=owner_id(request)))
    except DomainError as error:
        if as_json:
            return JsonResponse(error.as_dict(), status=error.http_status)
        for upload in added:
            messages.success(request, f"Uploaded {upload.original_name}.")
        return error_redirect(request, error, "generation:upload_set_detail", upload_set.pk)
    if as_json:
        return JsonResponse(
            {"uploads": [{"id": u.pk, "name": u.original_name, "status": u.status} for u in added]}, status=201
        )
    messages.success(request, f"Uploaded {len(added)} file(s); identifying them now.")
    return redirect("generation:upload_set_detail", upload_set.pk)


@login_required
@require_GET
def upload_search(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Catalog search to fix one upload's match by hand (an htmx partial, or a page without JS)."""
    upload = _owned_upload(request, pk)
    form = RecordingSearchForm(request.GET or None)
    results: list[Any] = []
    error = ""
    if form.is_valid() and form.cleaned_data["q"]:
        try:
            results = list(recording_search(query=form.cleaned_data["q"], limit=10))
        except DomainError as exc:
            error = exc.message
    context = {"upload": upload, "form": form, "results": results, "error": error, "searched": form.is_valid()}
    if request.htmx and request.htmx.target == "search-results":
        return render(request, "generation/_search_results.html", context)
    if request.htmx:
        return render(request, "generation/_search_panel.html", context)
    return render(request, "generation/upload_search.html", context)


@login_required
@require_POST
def upload_match(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _owned_upload(request, pk)
    try:
        recording_id = int(request.POST.get("recording_id", ""))
    except ValueError:
        messages.error(request, "Pick a recording from the search results.")
        return redirect("generation:upload_set_detail", upload.upload_set_id)
    try:
        matched = upload_match_manually(upload_id=upload.pk, recording_id=recording_id, owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "generation:upload_set_detail", upload.upload_set_id)
    recording = getattr(matched, "recording", None)
    messages.success(request, f"{upload.original_name} is now matched to {recording or 'the chosen recording'}.")
    return redirect("generation:upload_set_detail", upload.upload_set_id)


@login_required
@require_POST
def upload_remove(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _owned_upload(request, pk)
    try:
        upload_delete(upload_id=upload.pk, owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "generation:upload_set_detail", upload.upload_set_id)
    messages.success(request, f"Deleted {upload.original_name}.")
    return redirect("generation:upload_set_detail", upload.upload_set_id)


@login_required
@require_POST
def upload_reidentify(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _owned_upload(request, pk)
    try:
        upload_identify_again(upload_id=upload.pk, owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "generation:upload_set_detail", upload.upload_set_id)
    messages.success(request, f"Identifying {upload.original_name} again.")
    return redirect("generation:upload_set_detail", upload.upload_set_id)


@login_required
@require_POST
def generation_create(request: HttpRequest, pk: int) -> HttpResponse:
    upload_set = _owned_set(request, pk)
    try:
        generation = generation_start(upload_set_id=upload_set.pk, owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "generation:upload_set_detail", upload_set.pk)
    return redirect("generation:generation_detail", generation.pk)


def _elapsed_seconds(generation: Generation) -> int:
    if generation.started_at is None:
        return 0
    end = generation.finished_at or timezone.now()
    return max(int((end - generation.started_at).total_seconds()), 0)


def _source_labels(generation: Generation) -> dict[int, str]:
    """Each upload of the set named by its matched recording (or its file name)."""
    labels = {}
    for upload in generation.upload_set.uploads.select_related("recording"):
        recording = upload.recording
        labels[upload.pk] = f"{recording.artist} – {recording.title}" if recording else upload.original_name
    return labels


def _report_facts(report: GenerationReport) -> dict[str, Any]:
    """The figures the song page shows; measured values from synthesis win over the composed ones."""
    return {
        "tempo_bpm": report.shown_tempo_bpm,
        "key": report.shown_key,
        "length_s": report.shown_length_s,
        "loudness_lufs": report.loudness_lufs,
        "true_peak_dbtp": report.true_peak_dbtp,
    }


@dataclass(frozen=True)
class Originality:
    longest_shared_notes: int | None
    threshold: int | None
    with_catalog: int | None
    attempts: int
    per_source: list[tuple[str, int]]


def _originality(report: GenerationReport, labels: dict[int, str]) -> Originality | None:
    """The guard's figures (generation.ml.originality), with each source named."""
    figures = report.originality
    if figures is None:
        return None
    return Originality(
        longest_shared_notes=figures.longest_shared_notes,
        threshold=figures.max_shared_notes,
        with_catalog=figures.longest_shared_with_catalog,
        attempts=figures.attempts,
        per_source=[
            (labels.get(upload_id, f"Upload {upload_id}"), notes)
            for upload_id, notes in figures.longest_shared_with_uploads
        ],
    )


def _audio_url(generation: Generation) -> str:
    """The range-request URL of the listening file ("" while there is none)."""
    kind = "m4a" if generation.listen_m4a else "mp3" if generation.listen_mp3 else ""
    if not kind:
        return ""
    return reverse("generation:generation_audio", args=[generation.pk, kind])


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
    report = GenerationReport.from_json(generation.report)
    influences = generation_source_lines(generation_id=generation.pk)  # the shares that are paid
    context.update(
        {
            "facts": _report_facts(report),
            "originality": _originality(report, _source_labels(generation)),
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
