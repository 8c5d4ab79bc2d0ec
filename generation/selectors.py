"""Reads of the generation app for other apps' pages."""

from __future__ import annotations

from dataclasses import dataclass

from generation.models import Generation

ACTIVE_STATUSES = (Generation.Status.QUEUED, Generation.Status.RUNNING)


@dataclass(frozen=True)
class LatestGeneration:
    """The newest generation of an upload set, as the set's page shows it."""

    pk: int
    status: str
    is_active: bool
    is_finished: bool


def upload_set_latest_generation(*, upload_set_id: int) -> LatestGeneration | None:
    latest = Generation.objects.filter(upload_set_id=upload_set_id).order_by("-created_at").first()
    if latest is None:
        return None
    return LatestGeneration(
        pk=latest.pk,
        status=latest.status,
        is_active=latest.status in ACTIVE_STATUSES,
        is_finished=latest.status == Generation.Status.SUCCEEDED,
    )
