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
from django.db.models import Prefetch, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST, require_safe
from django_htmx.http import HttpResponseClientRefresh

from generation.forms import GenerateForm
from generation.models import Generation, GenerationStage
from generation.report import GenerationReport
from generation.selectors import ACTIVE_STATUSES, SourceLine, generation_source_lines
from generation.services import generation_cancel, generation_start
from generation.services.pipeline import generation_retry, song_steps
from generation.services.stages import SHARED_STAGES
from generation.services.takes import generation_take_keep, song_takes
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
    songs = Prefetch("generations", queryset=Generation.objects.filter(take_of__isnull=True))
    upload_sets = upload_sets_of_owner(owner_id=owner_id(request)).prefetch_related(songs)
    return render(request, "generation/song_list.html", {"upload_sets": upload_sets})


@login_required
@require_POST
def generation_create(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        upload_set = upload_set_owned(upload_set_id=pk, owner_id=owner_id(request))
    except NotFound:
        raise Http404("No such upload set.") from None
    form = GenerateForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("uploads:upload_set_detail", upload_set.pk)
    try:
        generation = generation_start(
            upload_set_id=upload_set.pk,
            owner_id=owner_id(request),
            seconds=form.seconds(),
        )
    except DomainError as error:
        return error_redirect(request, error, "uploads:upload_set_detail", upload_set.pk)
    return redirect("generation:generation_detail", generation.pk)


def _elapsed_seconds(generation: Generation) -> int:
    if generation.started_at is None:
        return 0
    end = generation.finished_at or timezone.now()
    return max(int((end - generation.started_at).total_seconds()), 0)


def _source_labels(generation: Generation) -> dict[int, str]:
    """Each upload of the set named by its matched recording (or its file name)."""
    return upload_labels(upload_set_id=generation.upload_set_id)


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
    """The song's steps in order (shared stages, then each take's), with what their stage rows say."""
    steps = song_steps(generation.pk)
    recorded = {
        (row.generation_id, row.name): row.status
        for row in GenerationStage.objects.filter(generation_id__in={take_id for take_id, _ in steps})
    }
    numbers = dict(Generation.objects.filter(pk__in={take_id for take_id, _ in steps}).values_list("pk", "take_number"))
    has_takes = len(numbers) > 1
    rows = []
    for take_id, name in steps:
        label = str(GenerationStage.Name(name).label)
        if has_takes and name not in SHARED_STAGES:
            label = f"{label} (take {numbers[take_id]})"
        rows.append(StageRow(label=label, status=recorded.get((take_id, name), "waiting")))
    return rows


def _stage_label(generation: Generation) -> str:
    """The running stage's name, with the take it works on when the song has several."""
    if generation.stage not in GenerationStage.Name.values:
        return generation.stage
    label = str(GenerationStage.Name(generation.stage).label)
    if generation.stage in SHARED_STAGES:
        return label
    take = (
        Generation.objects.filter(Q(pk=generation.pk) | Q(take_of_id=generation.pk), status=Generation.Status.RUNNING)
        .order_by("-take_number")
        .values_list("take_number", flat=True)
        .first()
    )
    if generation.other_takes.exists():
        return f"{label} (take {take or 1})"
    return label


def _generation_context(generation: Generation) -> dict[str, Any]:
    return {
        "generation": generation,
        "stage_label": _stage_label(generation),
        "stages": _stages(generation),
        "elapsed_s": _elapsed_seconds(generation),
        "is_active": generation.status in ACTIVE_STATUSES,
        "can_cancel": generation.status in ACTIVE_STATUSES,
    }


@dataclass(frozen=True)
class TakeView:
    """One take as the song page shows it: its player, figures, originality and influence."""

    generation: Generation
    number: int
    is_kept: bool
    facts: dict[str, Any]
    originality: Originality | None
    influences: list[SourceLine]
    influence_items: list[tuple[str, float]]
    release: Any
    audio_url: str
    has_peaks: bool


def _take_view(take: Generation, labels: dict[int, str]) -> TakeView:
    report = GenerationReport.from_json(take.report)
    influences = generation_source_lines(generation_id=take.pk)  # the shares that are paid
    return TakeView(
        generation=take,
        number=take.take_number,
        is_kept=take.is_kept,
        facts=_report_facts(report),
        originality=_originality(report, labels),
        influences=influences,
        influence_items=[(row.label, row.share) for row in influences],
        release=getattr(take, "release", None),
        audio_url=_audio_url(take),
        has_peaks=bool(take.peaks),
    )


@login_required
@require_GET
def generation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """While it runs, the live progress page; once finished, the song's takes with players and reports.

    A further take's own address shows its song's page (at that take).
    """
    generation = _owned_generation(request, pk)
    if generation.take_of_id is not None:
        return redirect(reverse("generation:generation_detail", args=[generation.take_of_id]) + f"#take-{pk}")
    context = _generation_context(generation)
    if generation.status != Generation.Status.SUCCEEDED:
        return render(request, "generation/generating.html", context)
    labels = _source_labels(generation)
    takes = [_take_view(take, labels) for take in song_takes(song_id=generation.pk)]
    kept = next((take for take in takes if take.is_kept), None)
    context.update(
        {
            "takes": takes,
            "kept": kept if len(takes) > 1 else takes[0],
            "has_choice": len(takes) > 1,
            "release": next((take.release for take in takes if take.release is not None), None),
        }
    )
    return render(request, "generation/song.html", context)


@login_required
@require_POST
def generation_keep(request: HttpRequest, pk: int) -> HttpResponse:
    """Keep this take of its song (the one that can be published)."""
    take = _owned_generation(request, pk)
    try:
        kept = generation_take_keep(generation_id=take.pk, owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "generation:generation_detail", take.song_id)
    messages.success(request, f"You kept take {kept.take_number}; it is the one you can publish.")
    return redirect("generation:generation_detail", kept.song_id)


@login_required
@require_GET
def generation_progress(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The polled progress partial; reloads the page once the job has ended."""
    generation = _owned_generation(request, pk)
    if generation.take_of_id is not None:  # a take's progress is its song's
        generation = _owned_generation(request, generation.take_of_id)
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
