"""Upload sets: an artist's ten songs, each stored, checked, identified and, if need be, matched by hand.

States of an upload (``Upload.Status``) and who moves them::

    identifying ──(upload_identify: chain answered)──────▶ matched
    identifying ──(upload_identify: nobody knows it)─────▶ unmatched
    identifying ──(upload_identify: unreadable file)─────▶ failed (failure_reason says why)
    any state   ──(upload_match_manually)────────────────▶ matched (method "manual")
    unmatched/failed/matched ──(upload_identify_again)───▶ identifying

Identification is claimed with a conditional UPDATE on ``identify_claimed_at`` and finished with
another conditional UPDATE that still requires ``status='identifying'`` and the same claim, so a
duplicate message, a rerun or a manual match made meanwhile can never be overwritten.

``owner_id`` on the services is optional: API views pass it and get NotFound for other people's
sets; pages that already loaded the set for ``request.user`` may leave it out.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import av
from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import Recording
from generation.errors import (
    CorruptAudioError,
    DuplicateUploadError,
    UnsupportedAudioError,
    UploadSetFullError,
    UploadStateError,
    UploadTooLargeError,
)
from generation.models import Upload, UploadSet
from songforge.errors import NotFound
from songforge.storage import local_copy

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
CLAIM_STALE_AFTER = datetime.timedelta(minutes=15)
MIN_AUDIO_SECONDS = 1.0
FORMAT_NAMES = {"mp3": "MP3", "aac": "AAC", "m4a": "M4A", "flac": "FLAC", "wav": "WAV", "ogg": "Ogg"}

ALLOWED: dict[str, set[str]] = {
    Upload.Status.IDENTIFYING: {Upload.Status.MATCHED, Upload.Status.UNMATCHED, Upload.Status.FAILED},
    Upload.Status.MATCHED: {Upload.Status.MATCHED, Upload.Status.IDENTIFYING},
    Upload.Status.UNMATCHED: {Upload.Status.MATCHED, Upload.Status.IDENTIFYING},
    Upload.Status.FAILED: {Upload.Status.MATCHED, Upload.Status.IDENTIFYING},
}


# --- reading the bytes ---------------------------------------------------------------------------


def sniff_audio_format(head: bytes) -> str | None:
    """The container type from a file's first bytes (never its name), or None if it is not one we take."""
    if head.startswith(b"ID3"):
        return "mp3"
    if head.startswith(b"fLaC"):
        return "flac"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head.startswith(b"OggS"):
        return "ogg"
    if head[4:8] == b"ftyp":
        return "m4a"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:  # ADTS: 12 sync bits, layer 00
            return "aac"
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0:  # MPEG audio frame sync, layer I-III
            return "mp3"
    return None


def check_decodes(path: Path, audio_format: str) -> float:
    """Decode the whole file once; return its duration in seconds or raise CorruptAudioError saying why."""
    name = FORMAT_NAMES[audio_format]
    decoded = 0.0
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                raise CorruptAudioError(
                    f"The file looks like {name} but holds no audio stream. Export the song again and re-upload it."
                )
            stream = container.streams.audio[0]
            for frame in container.decode(stream):
                decoded += frame.samples / float(frame.sample_rate or 1)
    except CorruptAudioError:
        raise
    except (av.FFmpegError, ValueError, IndexError) as exc:
        where = f" after {decoded:.1f} s" if decoded else ""
        # FFmpeg's message names our temporary file; the artist only needs the reason.
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise CorruptAudioError(
            f"The {name} file is damaged{where} ({reason}). Export the song again and re-upload it.",
            extra={"decoded_seconds": round(decoded, 1)},
        ) from exc
    if decoded < MIN_AUDIO_SECONDS:
        raise CorruptAudioError(
            f"The {name} file holds no playable audio ({decoded:.1f} s decoded). "
            "Export the song again and re-upload it.",
            extra={"decoded_seconds": round(decoded, 1)},
        )
    return decoded


@dataclass
class _Spooled:
    path: Path
    size: int
    sha256: str
    head: bytes


def _spool(file: IO[bytes], temporary: IO[bytes]) -> _Spooled:
    """Copy ``file`` to ``temporary`` chunk by chunk, hashing it and refusing it past the size limit."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    if hasattr(file, "seek"):
        file.seek(0)
    while True:
        chunk = file.read(CHUNK_BYTES)
        if not chunk:
            break
        if len(head) < 64:
            head += chunk[: 64 - len(head)]
        size += len(chunk)
        if size > settings.UPLOAD_MAX_BYTES:
            raise UploadTooLargeError(
                f"A song may be at most {settings.UPLOAD_MAX_BYTES // (1024 * 1024)} MB; this file is bigger. "
                "Upload a compressed version (MP3, M4A or FLAC).",
                extra={"max_bytes": settings.UPLOAD_MAX_BYTES},
            )
        digest.update(chunk)
        temporary.write(chunk)
    temporary.flush()
    return _Spooled(Path(temporary.name), size, digest.hexdigest(), head)


# --- upload sets ---------------------------------------------------------------------------------


def upload_set_create(*, owner_id: int, title: str = "") -> UploadSet:
    return UploadSet.objects.create(owner_id=owner_id, title=title[:200])


def _owned_set(upload_set_id: int, owner_id: int | None, *, lock: bool = False) -> UploadSet:
    queryset = UploadSet.objects.select_for_update() if lock else UploadSet.objects.all()
    if owner_id is not None:
        queryset = queryset.filter(owner_id=owner_id)
    found = queryset.filter(pk=upload_set_id).first()
    if found is None:
        raise NotFound("No such upload set.", extra={"upload_set_id": upload_set_id})
    return found


def _owned_upload(upload_id: int, owner_id: int | None, *, lock: bool = False) -> Upload:
    queryset = Upload.objects.select_for_update() if lock else Upload.objects.all()
    if owner_id is not None:
        queryset = queryset.filter(upload_set__owner_id=owner_id)
    found = queryset.filter(pk=upload_id).first()
    if found is None:
        raise NotFound("No such upload.", extra={"upload_id": upload_id})
    return found


def upload_add(*, upload_set_id: int, file: Any, owner_id: int | None = None) -> Upload:
    """Store one song in the set and queue its identification.

    ``file`` is a Django ``UploadedFile`` (or any binary file object with ``name``); it is streamed
    through a temporary file, never read whole into memory. Refusals store nothing: a full set (the
    set holds ``UPLOAD_SET_SIZE`` songs), a file over ``UPLOAD_MAX_BYTES``, bytes that are not MP3,
    M4A/AAC, FLAC, WAV or Ogg, audio that does not decode, and the same audio twice in one set.
    """
    _owned_set(upload_set_id, owner_id)
    original_name = Path(str(getattr(file, "name", "") or "upload")).name[:255]
    declared = getattr(file, "size", None)
    if isinstance(declared, int) and declared > settings.UPLOAD_MAX_BYTES:
        raise UploadTooLargeError(
            f"A song may be at most {settings.UPLOAD_MAX_BYTES // (1024 * 1024)} MB; {original_name} is bigger. "
            "Upload a compressed version (MP3, M4A or FLAC).",
            extra={"max_bytes": settings.UPLOAD_MAX_BYTES},
        )
    _refuse_if_full(upload_set_id)
    with tempfile.NamedTemporaryFile(prefix="songforge-upload-") as temporary:
        spooled = _spool(file, temporary)
        audio_format = sniff_audio_format(spooled.head)
        if audio_format is None:
            raise UnsupportedAudioError(
                f"{original_name} is not MP3, M4A/AAC, FLAC, WAV or Ogg audio (judging by its contents, not its "
                "name). Export the song in one of those formats.",
                extra={"first_bytes": spooled.head[:8].hex()},
            )
        duration = check_decodes(spooled.path, audio_format)
        return _store(upload_set_id, owner_id, original_name, audio_format, spooled, duration)


def _refuse_if_full(upload_set_id: int) -> None:
    count = Upload.objects.filter(upload_set_id=upload_set_id).count()
    if count >= settings.UPLOAD_SET_SIZE:
        raise UploadSetFullError(
            f"A set holds exactly {settings.UPLOAD_SET_SIZE} songs and this one is full; delete one first.",
            extra={"upload_set_id": upload_set_id, "size": settings.UPLOAD_SET_SIZE},
        )


def _refuse_duplicate(upload_set_id: int, sha256: str, original_name: str) -> None:
    twin = Upload.objects.filter(upload_set_id=upload_set_id, sha256=sha256).first()
    if twin is not None:
        raise DuplicateUploadError(
            f"{original_name} is the same audio as {twin.original_name}, already in this set; pick another song.",
            extra={"upload_id": twin.pk},
        )


def _store(
    upload_set_id: int, owner_id: int | None, original_name: str, audio_format: str, spooled: _Spooled, duration: float
) -> Upload:
    stored_name = ""
    try:
        with transaction.atomic():
            _owned_set(upload_set_id, owner_id, lock=True)  # serialises concurrent adds to one set
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
        from django.core.files.storage import default_storage

        default_storage.delete(name)


def _enqueue_identify(upload_id: int) -> None:
    from generation.tasks import upload_identify_task

    transaction.on_commit(lambda: upload_identify_task.send(upload_id))


@transaction.atomic
def upload_delete(*, upload_id: int, owner_id: int | None = None) -> None:
    """Delete the upload and, once committed, its stored audio."""
    upload = _owned_upload(upload_id, owner_id, lock=True)
    name = upload.audio.name or ""
    upload.delete()
    transaction.on_commit(lambda: _delete_stored(name))


@transaction.atomic
def upload_match_manually(*, upload_id: int, recording_id: int, owner_id: int | None = None) -> Upload:
    """Match the upload to a catalog recording picked by the artist (also overrides a wrong automatic match)."""
    upload = _owned_upload(upload_id, owner_id, lock=True)
    if not Recording.objects.filter(pk=recording_id).exists():
        raise NotFound("No such catalog recording; search the catalog and pick one of its results.")
    _check_transition(upload, Upload.Status.MATCHED)
    upload.status = Upload.Status.MATCHED
    upload.recording_id = recording_id
    upload.match_method = Upload.Method.MANUAL
    upload.confidence = None
    upload.offset_s = None
    upload.failure_reason = ""
    upload.identify_claimed_at = None
    upload.save(
        update_fields=[
            "status",
            "recording",
            "match_method",
            "confidence",
            "offset_s",
            "failure_reason",
            "identify_claimed_at",
            "updated_at",
        ]
    )
    return upload


@transaction.atomic
def upload_identify_again(*, upload_id: int, owner_id: int | None = None) -> Upload:
    """Forget the current result and run identification again (e.g. after the catalog grew)."""
    upload = _owned_upload(upload_id, owner_id, lock=True)
    _check_transition(upload, Upload.Status.IDENTIFYING)
    upload.status = Upload.Status.IDENTIFYING
    upload.recording_id = None
    upload.match_method = ""
    upload.confidence = None
    upload.offset_s = None
    upload.failure_reason = ""
    upload.identify_claimed_at = None
    upload.save()
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

    Claims the upload with a conditional UPDATE (only ``identifying`` uploads without a fresh claim),
    so duplicate deliveries and reruns do nothing. Raises IdentificationUnavailable (retryable) when a
    step such as Shazam is temporarily unreachable; the claim is released so the retry can take it.
    """
    from catalog.fingerprint.audio import AudioDecodeError
    from catalog.identify import default_chain

    now = now or timezone.now()
    claim = Upload.objects.filter(
        Q(identify_claimed_at__isnull=True) | Q(identify_claimed_at__lt=now - CLAIM_STALE_AFTER),
        pk=upload_id,
        status=Upload.Status.IDENTIFYING,
    ).update(identify_claimed_at=now)
    if claim != 1:
        return False
    upload = Upload.objects.get(pk=upload_id)
    fields: dict[str, Any]
    try:
        with local_copy(upload.audio) as path:
            result = default_chain().identify(path)
    except (AudioDecodeError, OSError) as exc:
        fields = {"status": Upload.Status.FAILED, "failure_reason": f"The audio could not be read: {exc}"[:2000]}
    except BaseException:
        # IdentificationUnavailable (retryable) or an unexpected crash: release the claim so that the
        # retry, or the resumer after a restart, can take the upload at once instead of in 15 minutes.
        Upload.objects.filter(pk=upload_id, identify_claimed_at=now).update(identify_claimed_at=None)
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
    finished = Upload.objects.filter(pk=upload_id, status=Upload.Status.IDENTIFYING, identify_claimed_at=now).update(
        **fields, updated_at=timezone.now()
    )
    if not finished:
        logger.info("upload %s changed while it was being identified; result %s dropped", upload_id, fields)
    return bool(finished)


def uploads_pending_identification() -> list[int]:
    """Uploads still waiting for identification with no live claim (for the resumer)."""
    stale = timezone.now() - CLAIM_STALE_AFTER
    return list(
        Upload.objects.filter(status=Upload.Status.IDENTIFYING)
        .exclude(identify_claimed_at__gte=stale)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


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
    _owned_set(upload_set_id, owner_id)
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
