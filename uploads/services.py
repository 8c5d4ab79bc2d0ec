"""Upload sets: an artist's ten songs, each stored, checked, identified and, if need be, matched by hand.

States of an upload (``Upload.Status``) and who moves them::

    identifying ──(upload_identify: chain answered)──────▶ matched
    identifying ──(upload_identify: nobody knows it)─────▶ unmatched
    identifying ──(upload_identify: unreadable file)─────▶ failed (failure_reason says why)
    unmatched/matched ──(upload_match_claim: artist)──────▶ review (a pending MatchClaim)
    review      ──(match_claim_approve: another person)──▶ matched (method "manual")
    review      ──(match_claim_reject)────────────────────▶ unmatched
    any state   ──(upload_match_manually: staff, CLI)────▶ matched (method "manual")
    unmatched/failed/matched/review ──(upload_identify_again)──▶ identifying

A match picked by an artist decides who is paid from the new song (the 67% pool), so it is a claim:
it needs evidence (identification ran and found nothing, or found a recording the artist disputes)
and a staff reviewer's approval before the set can generate.

Identification is claimed with a conditional UPDATE on ``identify_claimed_at`` and finished with
another conditional UPDATE that still requires ``status='identifying'`` and the same claim, so a
duplicate message, a rerun or a manual match made meanwhile can never be overwritten.

``owner_id`` on the services is optional: API views and pages pass it and get NotFound for other
people's sets; staff tools and workers leave it out.
"""

from __future__ import annotations

import datetime
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from catalog.errors import AudioUnreadable
from catalog.selectors import recording_exists
from catalog.services import recording_identify
from songforge import jobs
from songforge.errors import DomainError, NotFound
from songforge.storage import local_copy
from uploads import audio
from uploads.errors import (
    ClaimReviewError,
    ClaimReviewForbiddenError,
    DuplicateUploadError,
    EmailNotVerifiedError,
    UnsupportedAudioError,
    UploadSetFullError,
    UploadStateError,
)
from uploads.models import MatchClaim, Upload, UploadSet
from uploads.selectors import (
    owner_has_verified_email,
    upload_owned,
    upload_set_count,
    upload_set_owned,
    upload_with_same_audio,
)

logger = logging.getLogger(__name__)

ALLOWED: dict[str, set[str]] = {
    Upload.Status.IDENTIFYING: {Upload.Status.MATCHED, Upload.Status.UNMATCHED, Upload.Status.FAILED},
    Upload.Status.MATCHED: {Upload.Status.MATCHED, Upload.Status.IDENTIFYING, Upload.Status.REVIEW},
    Upload.Status.REVIEW: {Upload.Status.MATCHED, Upload.Status.UNMATCHED, Upload.Status.IDENTIFYING},
    Upload.Status.UNMATCHED: {Upload.Status.MATCHED, Upload.Status.IDENTIFYING, Upload.Status.REVIEW},
    Upload.Status.FAILED: {Upload.Status.MATCHED, Upload.Status.IDENTIFYING},
}


# --- upload sets ---------------------------------------------------------------------------------


def upload_set_create(*, owner_id: int, title: str = "") -> UploadSet:
    return UploadSet.objects.create(owner_id=owner_id, title=title[:200])


def upload_add(*, upload_set_id: int, file: IO[bytes] | Any, owner_id: int | None = None) -> Upload:
    """Store one song in the set and queue its identification.

    ``file`` is a Django ``UploadedFile`` (or any binary file object with ``name``); it is streamed
    through a temporary file, never read whole into memory. Refusals store nothing: a full set (the
    set holds ``UPLOAD_SET_SIZE`` songs), a file over ``UPLOAD_MAX_BYTES``, bytes that are not MP3,
    M4A/AAC, FLAC, WAV or Ogg, audio that does not decode or runs past ``UPLOAD_MAX_SECONDS``, the
    same audio twice in one set, and (when ``owner_id`` is given, i.e. the artist uploads) an artist
    whose e-mail address is not confirmed yet.
    """
    upload_set_owned(upload_set_id=upload_set_id, owner_id=owner_id)
    if owner_id is not None:
        _refuse_unverified(owner_id)
    original_name = Path(str(getattr(file, "name", "") or "upload")).name[:255]
    declared = getattr(file, "size", None)
    if isinstance(declared, int):
        audio.refuse_if_too_large(declared, original_name)
    _refuse_if_full(upload_set_id)
    with tempfile.NamedTemporaryFile(prefix="songforge-upload-") as temporary:
        spooled = audio.spool(file, temporary, name=original_name)
        audio_format = audio.sniff_audio_format(spooled.head)
        if audio_format is None:
            raise UnsupportedAudioError(
                f"{original_name} is not MP3, M4A/AAC, FLAC, WAV or Ogg audio (judging by its contents, not its "
                "name). Export the song in one of those formats.",
                extra={"first_bytes": spooled.head[:8].hex()},
            )
        duration = audio.check_decodes(spooled.path, audio_format)
        return _store(upload_set_id, owner_id, original_name, audio_format, spooled, duration)


def _refuse_unverified(owner_id: int) -> None:
    if settings.UPLOAD_REQUIRES_VERIFIED_EMAIL and not owner_has_verified_email(owner_id=owner_id):
        raise EmailNotVerifiedError(
            "Confirm your e-mail address before uploading: open the link we sent you, or ask for a new one "
            "on the E-mail page of your account.",
            extra={"resend_url": reverse("account_email")},
        )


def _refuse_if_full(upload_set_id: int) -> None:
    if upload_set_count(upload_set_id=upload_set_id) >= settings.UPLOAD_SET_SIZE:
        raise UploadSetFullError(
            f"A set holds exactly {settings.UPLOAD_SET_SIZE} songs and this one is full; delete one first.",
            extra={"upload_set_id": upload_set_id, "size": settings.UPLOAD_SET_SIZE},
        )


def _refuse_duplicate(upload_set_id: int, sha256: str, original_name: str) -> None:
    twin = upload_with_same_audio(upload_set_id=upload_set_id, sha256=sha256)
    if twin is not None:
        raise DuplicateUploadError(
            f"{original_name} is the same audio as {twin.original_name}, already in this set; pick another song.",
            extra={"upload_id": twin.pk},
        )


def _store(
    upload_set_id: int,
    owner_id: int | None,
    original_name: str,
    audio_format: str,
    spooled: audio.Spooled,
    duration: float,
) -> Upload:
    stored_name = ""
    try:
        with transaction.atomic():
            # the set's row lock serialises concurrent adds to one set
            upload_set_owned(upload_set_id=upload_set_id, owner_id=owner_id, lock=True)
            _refuse_if_full(upload_set_id)
            _refuse_duplicate(upload_set_id, spooled.sha256, original_name)
            upload = Upload(
                upload_set_id=upload_set_id,
                original_name=original_name,
                audio_format=audio_format,
                size_bytes=spooled.size,
                sha256=spooled.sha256,
                duration_s=round(duration, 3),
                status=Upload.Status.IDENTIFYING,
            )
            with open(spooled.path, "rb") as handle:
                upload.audio.save(f"{spooled.sha256[:24]}.{audio_format}", File(handle), save=False)
            stored_name = upload.audio.name or ""
            upload.save()
            _enqueue_identify(upload.pk)
    except IntegrityError as exc:  # a concurrent add of the same audio won the race
        _delete_stored(stored_name)
        raise DuplicateUploadError(
            f"{original_name} is the same audio as a song already in this set; pick another song."
        ) from exc
    except BaseException:
        _delete_stored(stored_name)
        raise
    return upload


def _delete_stored(name: str) -> None:
    if name:
        default_storage.delete(name)


def _enqueue_identify(upload_id: int) -> None:
    # uploads.tasks imports this module (its actor calls upload_identify): a true import-time cycle.
    from uploads.tasks import upload_identify_task

    transaction.on_commit(lambda: upload_identify_task.send(upload_id))


@transaction.atomic
def upload_delete(*, upload_id: int, owner_id: int | None = None) -> None:
    """Delete the upload and, once committed, its stored audio."""
    upload = upload_owned(upload_id=upload_id, owner_id=owner_id, lock=True)
    name = upload.audio.name or ""
    upload.delete()
    transaction.on_commit(lambda: _delete_stored(name))


@transaction.atomic
def upload_match_claim(*, upload_id: int, recording_id: int, owner_id: int) -> MatchClaim:
    """The artist claims the upload is this catalog recording; the upload waits for a staff review.

    Evidence is required: identification must have run and either found nothing (``unmatched``) or
    found a recording the artist disputes (``matched``). An upload still being identified, or one
    whose audio could not be read, has no evidence to review. The claim and what identification
    found are stored for the reviewer; nothing is paid on a claim until it is approved.
    """
    upload = upload_owned(upload_id=upload_id, owner_id=owner_id, lock=True)
    if not recording_exists(recording_id=recording_id):
        raise NotFound("No such catalog recording; search the catalog and pick one of its results.")
    if upload.status not in (Upload.Status.UNMATCHED, Upload.Status.MATCHED, Upload.Status.REVIEW):
        raise UploadStateError(
            f"{upload.original_name} is {upload.get_status_display().lower()}: a match can be claimed only after "
            "identification has finished (wait for it, or delete the upload and upload it again).",
            extra={"from": upload.status, "to": Upload.Status.REVIEW},
        )
    if upload.status == Upload.Status.MATCHED and upload.recording_id == recording_id:
        raise UploadStateError(
            f"{upload.original_name} is already matched to that recording.",
            extra={"upload_id": upload.pk, "recording_id": recording_id},
        )
    evidence = _claim_evidence(upload)
    MatchClaim.objects.filter(upload_id=upload.pk, status=MatchClaim.Status.PENDING).update(
        status=MatchClaim.Status.WITHDRAWN, updated_at=timezone.now()
    )
    claim = MatchClaim.objects.create(
        upload_id=upload.pk, recording_id=recording_id, claimed_by_id=owner_id, evidence=evidence
    )
    upload.status = Upload.Status.REVIEW
    upload.recording_id = recording_id
    upload.match_method = Upload.Method.MANUAL
    upload.confidence = None
    upload.offset_s = None
    upload.failure_reason = ""
    upload.identify_claimed_at = None
    upload.save(update_fields=[*_MATCH_FIELDS, "updated_at"])
    return claim


_MATCH_FIELDS = [
    "status",
    "recording",
    "match_method",
    "confidence",
    "offset_s",
    "failure_reason",
    "identify_claimed_at",
]


def _claim_evidence(upload: Upload) -> dict[str, Any]:
    """What identification said about the upload, for the reviewer (a claim made on top of a claim
    keeps the original automatic evidence)."""
    if upload.status == Upload.Status.REVIEW:
        previous = upload.match_claims.filter(status=MatchClaim.Status.PENDING).order_by("-pk").first()
        if previous is not None:
            return dict(previous.evidence)
    if upload.status == Upload.Status.UNMATCHED:
        return {"identification": "nothing_found", "identified_at": upload.updated_at.isoformat()}
    return {
        "identification": "disputed",
        "recording_id": upload.recording_id,
        "method": upload.match_method,
        "confidence": upload.confidence,
        "identified_at": upload.updated_at.isoformat(),
    }


def _locked_pending_claim(claim_id: int, reviewer_id: int) -> MatchClaim:
    reviewer = get_user_model().objects.filter(pk=reviewer_id, is_active=True, is_staff=True).first()
    if reviewer is None or not reviewer.has_perm("uploads.review_matchclaim"):
        raise ClaimReviewForbiddenError(
            "Only staff with the permission to review matches can approve or reject a claim.",
            extra={"claim_id": claim_id},
        )
    claim = MatchClaim.objects.select_for_update().filter(pk=claim_id).first()
    if claim is None:
        raise NotFound("No such match claim.", extra={"claim_id": claim_id})
    if claim.status != MatchClaim.Status.PENDING:
        raise ClaimReviewError(
            f"This claim is already {claim.get_status_display().lower()}; only pending claims can be decided.",
            extra={"claim_id": claim_id, "status": claim.status},
        )
    if claim.claimed_by_id == reviewer_id:
        raise ClaimReviewError(
            "A claim is reviewed by someone other than the person who made it; ask another reviewer.",
            code="claim_review_own",
            extra={"claim_id": claim_id},
        )
    return claim


def _decide(claim: MatchClaim, *, status: str, reviewer_id: int, note: str) -> None:
    claim.status = status
    claim.reviewed_by_id = reviewer_id
    claim.reviewed_at = timezone.now()
    claim.review_note = note
    claim.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "updated_at"])


@transaction.atomic
def match_claim_approve(*, claim_id: int, reviewer_id: int, note: str = "") -> MatchClaim:
    """A reviewer (not the claimant) confirms the claim: the upload becomes matched to the recording."""
    claim = _locked_pending_claim(claim_id, reviewer_id)
    upload = Upload.objects.select_for_update().get(pk=claim.upload_id)
    _check_transition(upload, Upload.Status.MATCHED)
    _decide(claim, status=MatchClaim.Status.APPROVED, reviewer_id=reviewer_id, note=note.strip())
    upload.status = Upload.Status.MATCHED
    upload.recording_id = claim.recording_id
    upload.match_method = Upload.Method.MANUAL
    upload.save(update_fields=["status", "recording", "match_method", "updated_at"])
    return claim


@transaction.atomic
def match_claim_reject(*, claim_id: int, reviewer_id: int, note: str) -> MatchClaim:
    """A reviewer refuses the claim; the upload goes back to unmatched with the reviewer's reason."""
    if not note.strip():
        raise ClaimReviewError(
            "Say why the claim is rejected; the artist sees the reason.",
            code="claim_reason_missing",
            extra={"claim_id": claim_id},
        )
    claim = _locked_pending_claim(claim_id, reviewer_id)
    upload = Upload.objects.select_for_update().get(pk=claim.upload_id)
    _check_transition(upload, Upload.Status.UNMATCHED)
    _decide(claim, status=MatchClaim.Status.REJECTED, reviewer_id=reviewer_id, note=note.strip())
    upload.status = Upload.Status.UNMATCHED
    upload.recording_id = None
    upload.match_method = ""
    upload.failure_reason = f"Your match was not accepted: {note.strip()}"[:2000]
    upload.save(update_fields=["status", "recording", "match_method", "failure_reason", "updated_at"])
    return claim


def _withdraw_pending_claims(upload_id: int) -> None:
    MatchClaim.objects.filter(upload_id=upload_id, status=MatchClaim.Status.PENDING).update(
        status=MatchClaim.Status.WITHDRAWN, updated_at=timezone.now()
    )


@transaction.atomic
def upload_match_manually(*, upload_id: int, recording_id: int, owner_id: int | None = None) -> Upload:
    """Match the upload to a catalog recording directly: for staff tools and local commands only.

    Artists' pages and API call :func:`upload_match_claim` instead, which waits for a review. A
    pending claim on the upload is withdrawn (staff decided instead).
    """
    upload = upload_owned(upload_id=upload_id, owner_id=owner_id, lock=True)
    if not recording_exists(recording_id=recording_id):
        raise NotFound("No such catalog recording; search the catalog and pick one of its results.")
    _check_transition(upload, Upload.Status.MATCHED)
    upload.status = Upload.Status.MATCHED
    upload.recording_id = recording_id
    upload.match_method = Upload.Method.MANUAL
    upload.confidence = None
    upload.offset_s = None
    upload.failure_reason = ""
    upload.identify_claimed_at = None
    upload.save(update_fields=[*_MATCH_FIELDS, "updated_at"])
    _withdraw_pending_claims(upload.pk)
    return upload


@transaction.atomic
def upload_identify_again(*, upload_id: int, owner_id: int | None = None) -> Upload:
    """Forget the current result and run identification again (e.g. after the catalog grew)."""
    upload = upload_owned(upload_id=upload_id, owner_id=owner_id, lock=True)
    _check_transition(upload, Upload.Status.IDENTIFYING)
    upload.status = Upload.Status.IDENTIFYING
    upload.recording_id = None
    upload.match_method = ""
    upload.confidence = None
    upload.offset_s = None
    upload.failure_reason = ""
    upload.identify_claimed_at = None
    upload.identify_attempts = 0
    upload.save()
    _withdraw_pending_claims(upload.pk)
    _enqueue_identify(upload.pk)
    return upload


def _check_transition(upload: Upload, target: str) -> None:
    if target not in ALLOWED.get(upload.status, set()):
        raise UploadStateError(
            f"An upload cannot go from {upload.get_status_display()} to {Upload.Status(target).label}.",
            extra={"from": upload.status, "to": target},
        )


# --- identification ------------------------------------------------------------------------------


def upload_identify(*, upload_id: int, now: datetime.datetime | None = None) -> bool:
    """Run the identification chain for one upload; returns whether this call did the work.

    Claims the upload with a conditional UPDATE (only ``identifying`` uploads without a live claim
    and with attempts left), so duplicate deliveries and reruns do nothing. While the chain runs, a
    heartbeat renews the claim; the result is stored only if the claim is still ours. Every claim
    counts as an attempt (crashes and time limits included); past ``SONGFORGE_JOB_MAX_ATTEMPTS`` the
    upload fails with a message. Raises IdentificationUnavailable (retryable) when a step such as
    Shazam is temporarily unreachable; the claim is released and the attempt given back, so the
    retry can take it.
    """
    now = now or timezone.now()
    claimable = Upload.objects.filter(
        Q(identify_claimed_at__isnull=True) | Q(identify_claimed_at__lt=now - jobs.stale_after()),
        pk=upload_id,
        status=Upload.Status.IDENTIFYING,
    )
    claim = claimable.filter(identify_attempts__lt=jobs.max_attempts()).update(
        identify_claimed_at=now, identify_attempts=F("identify_attempts") + 1
    )
    if claim != 1:
        _fail_if_exhausted(claimable.filter(identify_attempts__gte=jobs.max_attempts()))
        return False
    upload = Upload.objects.get(pk=upload_id)
    logger.info("upload %s identification claimed (attempt %d)", upload_id, upload.identify_attempts)
    heartbeat = jobs.Heartbeat(token=now, renew=_renew_identify_claim(upload_id), what=f"identification of {upload_id}")
    fields: dict[str, Any]
    try:
        with heartbeat, local_copy(upload.audio) as path:
            result = recording_identify(path=path)
    except AudioUnreadable as exc:
        fields = {
            "status": Upload.Status.FAILED,
            "failure_reason": f"The audio could not be read: {exc.message}"[:2000],
        }
    except OSError as exc:
        fields = {"status": Upload.Status.FAILED, "failure_reason": f"The audio could not be read: {exc}"[:2000]}
    except BaseException as exc:
        # IdentificationUnavailable (retryable), a crash, a time limit or a worker shutdown: release the
        # claim so that the retry (or the reaper) can take the upload at once. Only an outage gives the
        # attempt back: it is nobody's fault and has its own retry budget.
        outage = exc if isinstance(exc, DomainError) and not exc.permanent else None
        released = Upload.objects.filter(pk=upload_id, identify_claimed_at=heartbeat.token)
        if outage is not None:  # the failure reason marks it as waiting for Dramatiq's backed-off retry, not lost
            released.update(
                identify_claimed_at=None,
                identify_attempts=F("identify_attempts") - 1,
                failure_reason=f"Waiting to retry: {outage.message}"[:2000],
            )
        else:
            released.update(identify_claimed_at=None)
            _fail_if_exhausted(
                Upload.objects.filter(
                    pk=upload_id, status=Upload.Status.IDENTIFYING, identify_attempts__gte=jobs.max_attempts()
                ),
                error=f"{type(exc).__name__}: {exc}".rstrip(": "),
            )
        raise
    else:
        if result is None:
            fields = {"status": Upload.Status.UNMATCHED, "failure_reason": ""}
        else:
            fields = {
                "status": Upload.Status.MATCHED,
                "recording_id": result.recording_id,
                "match_method": result.method,
                "confidence": result.confidence,
                "offset_s": result.offset_s,
                "failure_reason": "",
            }
    finished = Upload.objects.filter(
        pk=upload_id, status=Upload.Status.IDENTIFYING, identify_claimed_at=heartbeat.token
    ).update(**fields, identify_claimed_at=None, updated_at=timezone.now())
    if finished:
        logger.info("upload %s identified: %s", upload_id, fields["status"])
    else:
        logger.info("upload %s changed while it was being identified; result %s dropped", upload_id, fields)
    return bool(finished)


def _renew_identify_claim(upload_id: int) -> Callable[[datetime.datetime], datetime.datetime | None]:
    def renew(token: datetime.datetime) -> datetime.datetime | None:
        fresh = timezone.now()
        renewed = Upload.objects.filter(
            pk=upload_id, status=Upload.Status.IDENTIFYING, identify_claimed_at=token
        ).update(identify_claimed_at=fresh)
        return fresh if renewed else None

    return renew


def _fail_if_exhausted(uploads: QuerySet[Upload], error: str = "") -> int:
    """Mark failed the given identifying uploads (already filtered to those with no attempt left)."""
    last = f" (last error: {error[:500]})" if error else ""
    return uploads.update(
        status=Upload.Status.FAILED,
        identify_claimed_at=None,
        failure_reason=(
            f"Identification stopped {jobs.max_attempts()} times before it finished{last}. Press "
            "“Identify again” to retry, or pick the recording by hand."
        ),
        updated_at=timezone.now(),
    )


def uploads_identify_reap(*, now: datetime.datetime | None = None) -> list[int]:
    """Release stale identification claims and find identifying uploads whose message was lost.

    Returns the ids of uploads to re-enqueue. Safe in many processes at once: each stale claim is
    released, and each lost upload marked, with a conditional UPDATE on the value just read, so
    exactly one caller returns it. A stale upload with no attempt left is marked failed instead.
    """
    now = now or timezone.now()
    ids: list[int] = []
    stale = Upload.objects.filter(
        status=Upload.Status.IDENTIFYING, identify_claimed_at__lt=now - jobs.stale_after()
    ).values_list("pk", "identify_claimed_at", "identify_attempts")
    for upload_id, claimed_at, attempts in stale.order_by("pk"):
        mine = Upload.objects.filter(pk=upload_id, status=Upload.Status.IDENTIFYING, identify_claimed_at=claimed_at)
        if attempts >= jobs.max_attempts():
            _fail_if_exhausted(mine, error="its worker stopped responding")
        elif mine.update(identify_claimed_at=None, updated_at=now):
            logger.warning("upload %s: stale identification claim released", upload_id)
            ids.append(upload_id)
    lost = Upload.objects.filter(
        status=Upload.Status.IDENTIFYING,
        identify_claimed_at__isnull=True,
        failure_reason="",  # not one waiting out an outage's backoff
        updated_at__lt=now - jobs.orphan_after(),
    ).values_list("pk", "updated_at")
    for upload_id, updated_at in lost.order_by("pk"):
        if Upload.objects.filter(pk=upload_id, identify_claimed_at__isnull=True, updated_at=updated_at).update(
            updated_at=now
        ):
            ids.append(upload_id)
    return ids
