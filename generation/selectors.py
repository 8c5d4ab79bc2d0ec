"""Reads of the generation app for its own and other apps' pages, split sheets and commands."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F

from generation.models import Generation, GenerationSource
from generation.report import GenerationReport

__all__ = [
    "ACTIVE_STATUSES",
    "GenerationReport",
    "LatestGeneration",
    "SourceLine",
    "SourceShare",
    "generation_report",
    "generation_source_lines",
    "generation_sources",
    "upload_set_latest_generation",
]

ACTIVE_STATUSES = (Generation.Status.QUEUED, Generation.Status.RUNNING)


_UPLOAD_ORDER = (F("upload_id").asc(nulls_last=True), "id")  # deleted uploads last, on every database


@dataclass(frozen=True)
class SourceShare:
    """One upload's exact share of a generation's source pool (parts per billion; a generation's sum to 10⁹)."""

    upload_id: int | None  # None once the artist deleted the upload; the share stays
    recording_id: int
    share_ppb: int


@dataclass(frozen=True)
class SourceLine:
    """A source share named for people: the recording's artist and title."""

    label: str
    recording_id: int
    share_ppb: int

    @property
    def share(self) -> float:
        """The share as a fraction of the pool (0..1), for charts and percentages only, never for money."""
        return self.share_ppb / 1_000_000_000


def generation_sources(*, generation_id: int) -> list[SourceShare]:
    """The generation's shares of the source pool, by upload id; empty until its report stage ran."""
    rows = GenerationSource.objects.filter(generation_id=generation_id).order_by(*_UPLOAD_ORDER)
    return [
        SourceShare(upload_id=upload_id, recording_id=recording_id, share_ppb=share_ppb)
        for upload_id, recording_id, share_ppb in rows.values_list("upload_id", "recording_id", "share_ppb")
    ]


def generation_source_lines(*, generation_id: int) -> list[SourceLine]:
    """The generation's source shares, each named "artist – title", in upload order."""
    rows = GenerationSource.objects.filter(generation_id=generation_id).select_related("recording")
    return [
        SourceLine(
            label=f"{row.recording.artist} – {row.recording.title}",
            recording_id=row.recording_id,
            share_ppb=row.share_ppb,
        )
        for row in rows.order_by(*_UPLOAD_ORDER)
    ]


def generation_report(*, generation_id: int) -> GenerationReport:
    """The typed report of a generation (empty figures for an unknown one)."""
    report = Generation.objects.filter(pk=generation_id).values_list("report", flat=True).first()
    return GenerationReport.from_json(report)


@dataclass(frozen=True)
class LatestGeneration:
    """The newest generation of an upload set, as the set's page shows it."""

    pk: int
    status: str
    is_active: bool
    is_finished: bool


def upload_set_latest_generation(*, upload_set_id: int) -> LatestGeneration | None:
    songs = Generation.objects.filter(upload_set_id=upload_set_id, take_of__isnull=True)  # a song's takes count once
    latest = songs.order_by("-created_at", "-pk").first()
    if latest is None:
        return None
    return LatestGeneration(
        pk=latest.pk,
        status=latest.status,
        is_active=latest.status in ACTIVE_STATUSES,
        is_finished=latest.status == Generation.Status.SUCCEEDED,
    )


def generations_per_day() -> list[dict[str, object]]:
    """Staff dashboard: generations (songs, whatever their number of takes) per day and status, newest first."""
    from django.db.models import Count
    from django.db.models.functions import TruncDate

    rows = (
        Generation.objects.filter(take_of__isnull=True)
        .annotate(day=TruncDate("created_at"))
        .values("day", "status")
        .annotate(count=Count("id"))
        .order_by("-day", "status")
    )
    return [{"day": str(r["day"]), "status": r["status"], "count": r["count"]} for r in rows]


def generation_stage_durations() -> list[dict[str, object]]:
    """Staff dashboard: per pipeline stage, runs, failures and mean duration in seconds (finished runs)."""
    from django.db.models import Avg, Count, DurationField, ExpressionWrapper, Q

    from generation.models import GenerationStage

    rows = (
        GenerationStage.objects.annotate(
            took=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        )
        .values("name")
        .annotate(runs=Count("id"), failed=Count("id", filter=Q(status="failed")), mean=Avg("took"))
        .order_by("name")
    )
    return [
        {
            "stage": r["name"],
            "runs": r["runs"],
            "failed": r["failed"],
            "mean_s": round(r["mean"].total_seconds(), 1) if r["mean"] is not None else None,
        }
        for r in rows
    ]
