"""Every write of the distribution app: publish, deliver, status updates, takedown.

A release is created once per generation inside one transaction that also
takes the next ISRC and stores the split sheet; delivery runs afterwards in a
job (``release_deliver_task``) because it talks to the outside world and must
not hold database locks while it does.
"""

from __future__ import annotations

import hashlib
import logging
import re
import wave
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from distribution.artwork import artwork_check, artwork_generate
from distribution.clients import distributor_for
from distribution.clients.base import DeliveryResult, DistributorError, RemoteStatus
from distribution.clients.platoon import is_signature_valid, parse_webhook
from distribution.errors import (
    GenerationNotPublishable,
    IllegalReleaseTransition,
    InvalidReleaseMetadata,
    InvalidWebhookBody,
    InvalidWebhookSignature,
    IsrcExhausted,
    ReleaseNotFound,
)
from distribution.models import DeliveryEvent, IsrcCounter, Release
from distribution.selectors import generation_split_inputs, release_package
from songforge.errors import NotFound

if TYPE_CHECKING:
    from royalties.splits import SplitSheetData

logger = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 8
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}$")
REGISTRANT_PATTERN = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}$")


# --- ISRC -------------------------------------------------------------------
def isrc_prefix() -> str:
    """``settings.ISRC_REGISTRANT`` ("QZ-S8F") as the five-character ISRC prefix ("QZS8F")."""
    prefix = settings.ISRC_REGISTRANT.replace("-", "").strip().upper()
    if not REGISTRANT_PATTERN.match(prefix):
        raise InvalidReleaseMetadata(
            f"SONGFORGE_ISRC_REGISTRANT={settings.ISRC_REGISTRANT!r} is not a country code plus a 3-character "
            "registrant code (e.g. QZ-S8F); fix the setting."
        )
    return prefix


def isrc_allocate(*, year: int | None = None) -> str:
    """The next unused ISRC: prefix + 2-digit year + 5-digit designation code.

    Precondition: the caller's transaction is open (``transaction.atomic``). The
    counter row stays locked until it commits, so concurrent publishes queue on
    it and never read the same number; codes already held by a release (for
    example imported by hand) are skipped.
    """
    prefix = isrc_prefix()
    year_of_reference = (year if year is not None else timezone.now().year) % 100
    IsrcCounter.objects.get_or_create(prefix=prefix, year=year_of_reference)
    counter = IsrcCounter.objects.select_for_update().get(prefix=prefix, year=year_of_reference)
    while True:
        if counter.last_designation >= 99_999:
            raise IsrcExhausted(
                f"All 99,999 ISRCs of {prefix} for 20{year_of_reference:02d} are used; "
                "ask the ISRC agency for another registrant code and set SONGFORGE_ISRC_REGISTRANT."
            )
        counter.last_designation += 1
        isrc = f"{prefix}{year_of_reference:02d}{counter.last_designation:05d}"
        if not Release.objects.filter(isrc=isrc).exists():
            break
    counter.save(update_fields=["last_designation", "updated_at"])
    return isrc


# --- publish ----------------------------------------------------------------
def _audio_facts(file: IO[bytes]) -> tuple[int, str]:
    """(duration in ms, SHA-256) of a WAV file."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: file.read(1024 * 1024), b""):
        digest.update(chunk)
    file.seek(0)
    try:
        with wave.open(file, "rb") as reader:
            duration_ms = round(reader.getnframes() * 1000 / reader.getframerate())
    except (wave.Error, EOFError):
        import soundfile

        file.seek(0)
        info = soundfile.info(file)
        duration_ms = round(info.frames * 1000 / info.samplerate)
    return duration_ms, digest.hexdigest()


def _clean(value: str, field: str, limit: int) -> str:
    text = " ".join((value or "").split())
    if not text:
        raise InvalidReleaseMetadata(f"The {field} is required.", extra={"field": field})
    if len(text) > limit:
        raise InvalidReleaseMetadata(f"The {field} is at most {limit} characters.", extra={"field": field})
    return text


def _log(release: Release, kind: str, status: str, detail: str) -> None:
    DeliveryEvent.objects.create(release=release, kind=kind, status=status, detail=detail[:5000])


def release_publish(
    *,
    generation_id: int,
    owner_id: int,
    title: str,
    artist_name: str,
    genre: str,
    language: str,
    artwork: UploadedFile | None,
    ai_disclosure: str,
) -> Release:
    """Publish the owner's finished, original song; the same song again returns its release.

    Creates the release with the next ISRC, its artwork (checked, or generated)
    and the split sheet in one transaction, and queues delivery after commit.
    """
    title = _clean(title, "title", 300)
    artist_name = _clean(artist_name, "artist name", 300)
    genre = _clean(genre, "genre", 100)
    ai_disclosure = _clean(ai_disclosure, "AI-generation disclosure", 2000)
    language = (language or "").strip().lower()
    if not LANGUAGE_PATTERN.match(language):
        raise InvalidReleaseMetadata(
            f"The language {language!r} is not an ISO 639 code such as 'en' or 'fr'.", extra={"field": "language"}
        )
    checked_artwork = artwork_check(artwork) if artwork is not None else None

    from generation.models import Generation
    from royalties.splits import split_sheet_create

    with transaction.atomic():
        generation = (
            Generation.objects.select_for_update(of=("self",))
            .select_related("upload_set")
            .filter(pk=generation_id, upload_set__owner_id=owner_id)
            .first()
        )
        if generation is None:
            raise NotFound(f"No song {generation_id} of yours exists.")
        existing = Release.objects.filter(generation_id=generation.pk).first()
        if existing is not None:
            return existing
        if generation.status != Generation.Status.SUCCEEDED:
            raise GenerationNotPublishable(
                f"Song {generation.pk} is {generation.get_status_display().lower()}; only a finished song can be "
                "published.",
                extra={"status": generation.status},
            )
        if generation.is_original is not True:
            state = "has not been run" if generation.is_original is None else "failed"
            raise GenerationNotPublishable(
                f"The originality check of song {generation.pk} {state}; only a song that passed it can be published.",
                extra={"is_original": generation.is_original},
            )
        if not generation.master_wav:
            raise GenerationNotPublishable(f"Song {generation.pk} has no master WAV to deliver.")
        sources, training = generation_split_inputs(generation=generation)
        with generation.master_wav.open("rb") as master:
            duration_ms, audio_sha256 = _audio_facts(master)

        release = Release.objects.create(
            generation=generation,
            title=title,
            artist_name=artist_name,
            isrc=isrc_allocate(),
            genre=genre,
            language=language,
            ai_disclosure=ai_disclosure,
            duration_ms=duration_ms,
            audio_sha256=audio_sha256,
            status=Release.Status.QUEUED,
            distributor=settings.DISTRIBUTOR,
        )
        if checked_artwork is not None:
            content, extension, generated = checked_artwork.content, checked_artwork.extension, False
        else:
            content = artwork_generate(seed=generation.seed, report=generation.report or {}, title=title)
            extension, generated = ".jpg", True
        release.artwork.save(f"{release.isrc}{extension}", ContentFile(content), save=False)
        release.is_artwork_generated = generated
        release.save(update_fields=["artwork", "is_artwork_generated", "updated_at"])
        split_sheet_create(release_id=release.pk, sources=sources, training=training)
        _log(
            release,
            DeliveryEvent.Kind.PUBLISHED,
            DeliveryEvent.Outcome.OK,
            f"ISRC {release.isrc}; {'generated' if generated else 'uploaded'} artwork; "
            f"queued for {release.get_distributor_display()}",
        )
        transaction.on_commit(lambda: _enqueue_delivery(release.pk))
    return release


def _enqueue_delivery(release_id: int) -> None:
    from distribution.tasks import release_deliver_task

    release_deliver_task.send(release_id)


def release_split_preview(*, generation_id: int, owner_id: int | None = None) -> SplitSheetData:
    """The split sheet the song would get if published now (computed, not stored).

    ``owner_id`` restricts it to the owner's songs (others get not-found).
    """
    from generation.models import Generation
    from royalties.splits import split_sheet_compute

    generations = Generation.objects.select_related("upload_set").filter(pk=generation_id)
    if owner_id is not None:
        generations = generations.filter(upload_set__owner_id=owner_id)
    generation = generations.first()
    if generation is None:
        raise NotFound(f"No song {generation_id} of yours exists.")
    sources, training = generation_split_inputs(generation=generation)
    return split_sheet_compute(sources=sources, training=training)


# --- transitions ------------------------------------------------------------
def _move(release: Release, to: str) -> None:
    """Precondition: ``release`` is locked by the caller's transaction."""
    if to not in Release.ALLOWED[release.status]:
        raise IllegalReleaseTransition(
            f"Release {release.pk} cannot go from {release.get_status_display().lower()} to "
            f"{Release.Status(to).label.lower()}.",
            extra={"from": release.status, "to": to},
        )
    release.status = to


def _locked(release_id: int) -> Release:
    release = Release.objects.select_for_update().filter(pk=release_id).first()
    if release is None:
        raise ReleaseNotFound(f"No release {release_id} exists.")
    return release


def release_deliver(*, release_id: int) -> Release:
    """Hand a queued release to its distributor; a release in any other state is left alone.

    Distributor calls are idempotent (outbox folder per ISRC, Platoon
    idempotency keys), so a duplicate job at worst repeats a no-op. A permanent
    error fails the release; a retryable one is re-raised for the job to retry
    until ``MAX_DELIVERY_ATTEMPTS``, after which the release fails too.
    """
    with transaction.atomic():
        release = _locked(release_id)
        if release.status != Release.Status.QUEUED:
            return release
        Release.objects.filter(pk=release.pk).update(delivery_attempts=F("delivery_attempts") + 1)
        release.refresh_from_db(fields=["delivery_attempts"])
        package = release_package(release=release)
    if not package.splits:
        result: DeliveryResult | DistributorError = DistributorError(
            f"Release {release_id} has no stored split sheet; it cannot be delivered without one.", permanent=True
        )
    else:
        try:
            result = distributor_for(release.distributor).deliver(package)
        except DistributorError as exc:
            result = exc
    with transaction.atomic():
        release = _locked(release_id)
        if release.status != Release.Status.QUEUED:
            return release  # a concurrent duplicate finished first
        if isinstance(result, DistributorError):
            is_last = result.permanent or release.delivery_attempts >= MAX_DELIVERY_ATTEMPTS
            if is_last:
                _move(release, Release.Status.FAILED)
                release.save(update_fields=["status", "updated_at"])
            _log(
                release,
                DeliveryEvent.Kind.DELIVERY,
                DeliveryEvent.Outcome.FAILED if is_last else DeliveryEvent.Outcome.RETRY,
                f"attempt {release.delivery_attempts}: {result.message}",
            )
        else:
            _move(release, result.status)
            release.distributor_release_id = result.distributor_release_id
            release.outbox_path = result.location if release.distributor == Release.Distributor.OUTBOX else ""
            release.delivered_at = timezone.now()
            release.save(
                update_fields=["status", "distributor_release_id", "outbox_path", "delivered_at", "updated_at"]
            )
            _log(
                release,
                DeliveryEvent.Kind.DELIVERY,
                DeliveryEvent.Outcome.OK,
                f"delivered to {release.get_distributor_display()} as {result.distributor_release_id}"
                + (f" at {result.location}" if result.location else "")
                + (f" ({result.detail})" if result.detail else ""),
            )
    if isinstance(result, DistributorError) and not result.permanent and release.status == Release.Status.QUEUED:
        raise result
    return release


def release_requeue(*, release_id: int) -> Release:
    """Send a failed release to its distributor again (staff action)."""
    with transaction.atomic():
        release = _locked(release_id)
        _move(release, Release.Status.QUEUED)
        release.delivery_attempts = 0
        release.save(update_fields=["status", "delivery_attempts", "updated_at"])
        _log(release, DeliveryEvent.Kind.DELIVERY, DeliveryEvent.Outcome.OK, "queued again by staff")
        transaction.on_commit(lambda: _enqueue_delivery(release.pk))
    return release


def _apply_remote_status(release: Release, remote: RemoteStatus, *, kind: str) -> Release:
    """Precondition: ``release`` is locked. Repeats and stale updates are logged and ignored."""
    if remote.status == release.status:
        changed = False
        if remote.store_links and remote.store_links != release.store_links:
            release.store_links = dict(remote.store_links)
            changed = True
        if changed:
            release.save(update_fields=["store_links", "updated_at"])
        return release
    if remote.status not in Release.ALLOWED[release.status]:
        _log(
            release,
            kind,
            DeliveryEvent.Outcome.IGNORED,
            f"{remote.status} ignored: the release is already {release.status}",
        )
        return release
    _move(release, remote.status)
    fields = ["status", "updated_at"]
    if remote.status == Release.Status.LIVE:
        release.store_links = dict(remote.store_links)
        fields.append("store_links")
    if remote.status == Release.Status.REJECTED:
        release.rejection_reasons = list(remote.reasons)
        fields.append("rejection_reasons")
    if remote.status == Release.Status.TAKEN_DOWN:
        release.taken_down_at = timezone.now()
        fields.append("taken_down_at")
    release.save(update_fields=fields)
    detail = remote.status
    if remote.store_links:
        detail += ": " + ", ".join(f"{store} {url}" for store, url in sorted(remote.store_links.items()))
    if remote.reasons:
        detail += ": " + "; ".join(remote.reasons)
    _log(release, kind, DeliveryEvent.Outcome.OK, detail)
    return release


def release_status_refresh(*, release_id: int) -> Release:
    """Ask the distributor for the release's status and record any change."""
    release = Release.objects.select_related("generation").filter(pk=release_id).first()
    if release is None:
        raise ReleaseNotFound(f"No release {release_id} exists.")
    remote = distributor_for(release.distributor).status(release_package(release=release))
    with transaction.atomic():
        return _apply_remote_status(_locked(release_id), remote, kind=DeliveryEvent.Kind.STATUS)


def release_webhook_receive(*, body: bytes, signature: str) -> Release:
    """Apply a signed Platoon status webhook; a bad signature changes nothing."""
    if not is_signature_valid(body, signature, settings.PLATOON["WEBHOOK_SECRET"]):
        raise InvalidWebhookSignature("The X-Platoon-Signature header does not match the body.")
    try:
        event = parse_webhook(body)
    except DistributorError as exc:
        raise InvalidWebhookBody(exc.message) from None
    with transaction.atomic():
        release = (
            Release.objects.select_for_update()
            .filter(distributor=Release.Distributor.PLATOON, distributor_release_id=event.platoon_release_id)
            .first()
        )
        if release is None:
            raise ReleaseNotFound(f"No release is known under Platoon id {event.platoon_release_id}.")
        remote = RemoteStatus(status=event.status, store_links=event.store_links, reasons=event.reasons)
        return _apply_remote_status(release, remote, kind=DeliveryEvent.Kind.WEBHOOK)


def release_takedown(*, release_id: int) -> Release:
    """Take a delivered release down through the distributor that delivered it."""
    with transaction.atomic():
        release = _locked(release_id)
        if Release.Status.TAKEN_DOWN not in Release.ALLOWED[release.status]:
            raise IllegalReleaseTransition(
                f"Release {release.pk} is {release.get_status_display().lower()}; only a delivered release can be "
                "taken down.",
                extra={"from": release.status, "to": Release.Status.TAKEN_DOWN},
            )
        package = release_package(release=release)
    try:
        result = distributor_for(release.distributor).takedown(package)
    except DistributorError as exc:
        with transaction.atomic():
            _log(_locked(release_id), DeliveryEvent.Kind.TAKEDOWN, DeliveryEvent.Outcome.FAILED, exc.message)
        raise
    with transaction.atomic():
        release = _locked(release_id)
        remote = RemoteStatus(status=Release.Status.TAKEN_DOWN)
        release = _apply_remote_status(release, remote, kind=DeliveryEvent.Kind.TAKEDOWN)
        if result.location:
            _log(release, DeliveryEvent.Kind.TAKEDOWN, DeliveryEvent.Outcome.OK, f"takedown sent: {result.location}")
    return release
