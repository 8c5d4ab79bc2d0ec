"""Publishing: a release is created once per song, in one transaction.

That transaction locks the song (through ``generation.services.release``), takes the next ISRC,
stores the artwork (checked, or generated) and the split sheet (``royalties.services``), and
queues delivery after commit.
"""

from __future__ import annotations

import hashlib
import re
import wave
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from distribution.artwork import artwork_check, artwork_generate
from distribution.errors import GenerationNotPublishable, InvalidReleaseMetadata
from distribution.models import DeliveryEvent, Release
from distribution.selectors import generation_split_inputs, training_public_domain_count
from distribution.services.delivery import delivery_enqueue, event_log
from distribution.services.isrc import isrc_allocate
from generation.services.release import (
    generation_for_release,
    generation_is_finished,
    generation_lock_for_release,
    generation_publish_refusal,
)
from royalties.services import SplitSheetData, split_sheet_compute, split_sheet_create

LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}$")


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
    """Publish the owner's finished, original song (the take they kept); the same song again returns its release.

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

    with transaction.atomic():
        generation = generation_lock_for_release(generation_id=generation_id, owner_id=owner_id)
        existing = Release.objects.filter(generation_id=generation.pk).first()
        if existing is not None:
            return existing
        if not generation_is_finished(generation):
            raise GenerationNotPublishable(
                f"Song {generation.pk} is {generation.get_status_display().lower()}; only a finished song can be "
                "published.",
                extra={"status": generation.status},
            )
        kept_refusal = generation_publish_refusal(generation)
        if kept_refusal is not None:
            raise GenerationNotPublishable(kept_refusal, extra={"generation_id": generation.pk, "is_kept": False})
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
        split_sheet_create(
            release_id=release.pk,
            sources=sources,
            training=training,
            public_domain_tokens=training_public_domain_count(),
        )
        event_log(
            release,
            DeliveryEvent.Kind.PUBLISHED,
            DeliveryEvent.Outcome.OK,
            f"ISRC {release.isrc}; {'generated' if generated else 'uploaded'} artwork; "
            f"queued for {release.get_distributor_display()}",
        )
        transaction.on_commit(lambda: delivery_enqueue(release.pk))
    return release


def release_split_preview(*, generation_id: int, owner_id: int | None = None) -> SplitSheetData:
    """The split sheet the song would get if published now (computed, not stored).

    ``owner_id`` restricts it to the owner's songs (others get not-found).
    """
    generation = generation_for_release(generation_id=generation_id, owner_id=owner_id)
    sources, training = generation_split_inputs(generation=generation)
    return split_sheet_compute(sources=sources, training=training, public_domain_tokens=training_public_domain_count())
