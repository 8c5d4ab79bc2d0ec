"""Reads of upload sets and uploads, for this app's pages and API and for the generation app.

:func:`upload_set_owned` and :func:`upload_owned` are the one owner check: another artist's set or
upload is a ``NotFound`` (404), never a 403, so ids do not leak which sets exist. ``owner_id=None``
skips the check, for staff tools and workers that act on any set.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from songforge import jobs
from songforge.errors import NotFound
from uploads.models import MatchClaim, Upload, UploadSet

__all__ = ["Upload", "UploadSet"]  # the types the selectors return, for callers' annotations


def upload_set_owned(*, upload_set_id: int, owner_id: int | None, lock: bool = False) -> UploadSet:
    """The set, if ``owner_id`` owns it; ``lock`` takes its row lock (inside a transaction)."""
    queryset = UploadSet.objects.select_for_update() if lock else UploadSet.objects.all()
    if owner_id is not None:
        queryset = queryset.filter(owner_id=owner_id)
    found = queryset.filter(pk=upload_set_id).first()
    if found is None:
        raise NotFound("No such upload set.", extra={"upload_set_id": upload_set_id})
    return found


def upload_owned(*, upload_id: int, owner_id: int | None, lock: bool = False) -> Upload:
    """The upload (with its set), if ``owner_id`` owns its set; ``lock`` takes its row lock."""
    queryset = Upload.objects.select_for_update() if lock else Upload.objects.select_related("upload_set")
    if owner_id is not None:
        queryset = queryset.filter(upload_set__owner_id=owner_id)
    found = queryset.filter(pk=upload_id).first()
    if found is None:
        raise NotFound("No such upload.", extra={"upload_id": upload_id})
    return found


def owner_has_verified_email(*, owner_id: int) -> bool:
    """Whether the artist confirmed an e-mail address (allauth's EmailAddress)."""
    return bool(EmailAddress.objects.filter(user_id=owner_id, verified=True).exists())


def upload_sets_of_owner(*, owner_id: int) -> QuerySet[UploadSet]:
    """The artist's sets, newest first."""
    return UploadSet.objects.filter(owner_id=owner_id)


def uploads_of_set(*, upload_set_id: int) -> list[Upload]:
    """The set's uploads in upload order, with their matched recordings."""
    return list(
        Upload.objects.filter(upload_set_id=upload_set_id).select_related("recording").order_by("created_at", "id")
    )


def upload_get(*, upload_id: int) -> Upload:
    """One upload by id (any owner), with its recording; raises NotFound."""
    found = Upload.objects.select_related("recording").filter(pk=upload_id).first()
    if found is None:
        raise NotFound("No such upload.", extra={"upload_id": upload_id})
    return found


def upload_set_count(*, upload_set_id: int) -> int:
    return Upload.objects.filter(upload_set_id=upload_set_id).count()


def upload_with_same_audio(*, upload_set_id: int, sha256: str) -> Upload | None:
    return Upload.objects.filter(upload_set_id=upload_set_id, sha256=sha256).first()


def uploads_pending_identification(*, now: datetime.datetime | None = None) -> list[int]:
    """Uploads still waiting for identification with no live claim (for the resumer)."""
    stale = (now or timezone.now()) - jobs.stale_after()
    return list(
        Upload.objects.filter(status=Upload.Status.IDENTIFYING)
        .exclude(identify_claimed_at__gte=stale)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def upload_set_is_identifying(*, upload_set_id: int) -> bool:
    """Whether any upload of the set is still being identified."""
    return Upload.objects.filter(upload_set_id=upload_set_id, status=Upload.Status.IDENTIFYING).exists()


# --- readiness -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingUpload:
    upload_id: int
    original_name: str
    status: str
    failure_reason: str


@dataclass(frozen=True)
class Readiness:
    """Whether the set can be generated, and if not, why (``reasons``) and which uploads hold it back."""

    upload_set_id: int
    is_ready: bool
    size: int
    uploaded: int
    matched: int
    not_matched: list[PendingUpload] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def upload_set_readiness(*, upload_set_id: int, owner_id: int | None = None) -> Readiness:
    """Ready means exactly ``UPLOAD_SET_SIZE`` uploads, every one matched to a catalog recording."""
    upload_set_owned(upload_set_id=upload_set_id, owner_id=owner_id)
    uploads = list(
        Upload.objects.filter(upload_set_id=upload_set_id)
        .order_by("created_at", "pk")
        .values_list("pk", "original_name", "status", "failure_reason")
    )
    size = settings.UPLOAD_SET_SIZE
    pending = [PendingUpload(pk, name, state, reason) for pk, name, state, reason in uploads if state != "matched"]
    reasons: list[str] = []
    if len(uploads) < size:
        reasons.append(f"Upload {size - len(uploads)} more song(s): a set needs exactly {size}.")
    for item in pending:
        label = Upload.Status(item.status).label.lower()
        hint = {
            "identifying": "wait for identification to finish",
            "unmatched": "pick its catalog recording by hand or delete it",
            "review": "SongForge staff check a match picked by hand before the set can generate",
            "failed": f"{item.failure_reason or 'it could not be read'}; delete it and upload it again",
        }.get(item.status, "")
        reasons.append(f"{item.original_name} is {label}: {hint}.")
    return Readiness(
        upload_set_id=upload_set_id,
        is_ready=not reasons,
        size=size,
        uploaded=len(uploads),
        matched=len(uploads) - len(pending),
        not_matched=pending,
        reasons=reasons,
    )


# --- what the generation app reads ---------------------------------------------------------------


def matched_uploads_of_set(*, upload_set_id: int) -> list[Upload]:
    """The set's uploads in upload order (the pipeline runs only on ready sets, where all are matched)."""
    return uploads_of_set(upload_set_id=upload_set_id)


def upload_labels(*, upload_set_id: int) -> dict[int, str]:
    """Each upload of the set named by its matched recording ("Artist – Title"), else its file name."""
    labels = {}
    for upload in uploads_of_set(upload_set_id=upload_set_id):
        recording = upload.recording
        labels[upload.pk] = f"{recording.artist} – {recording.title}" if recording else upload.original_name
    return labels


def uploads_per_day() -> list[dict[str, object]]:
    """Staff dashboard: uploads per day, status and identification method (manual = picked by hand), newest first."""
    rows = (
        Upload.objects.annotate(day=TruncDate("created_at"))
        .values("day", "status", "match_method")
        .annotate(count=Count("id"))
        .order_by("-day", "status", "match_method")
    )
    return [
        {"day": str(r["day"]), "status": r["status"], "method": r["match_method"] or "-", "count": r["count"]}
        for r in rows
    ]


# --- match claims (staff review) -----------------------------------------------------------------


def match_claims_pending() -> QuerySet[MatchClaim]:
    """The review queue: pending claims, oldest first, with what the reviewer needs on one row."""
    return (
        MatchClaim.objects.filter(status=MatchClaim.Status.PENDING)
        .select_related("upload", "upload__upload_set", "recording", "claimed_by")
        .order_by("created_at", "pk")
    )


def match_claim_pending_of_upload(*, upload_id: int) -> MatchClaim | None:
    return MatchClaim.objects.filter(upload_id=upload_id, status=MatchClaim.Status.PENDING).first()
