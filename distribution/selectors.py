"""Reads of the distribution app: releases for their owner, status, split lines, packages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import IO, Any, cast

from django.db.models import QuerySet

from distribution.clients.base import ReleasePackage, SplitLine
from distribution.errors import GenerationNotPublishable, ReleaseNotFound
from distribution.models import DeliveryEvent, Release
from generation.services.release import training_items_for_split
from royalties.selectors import split_sheet_json

LABEL_NAME = "SongForge"


def releases_for_owner(*, owner_id: int) -> QuerySet[Release]:
    return Release.objects.filter(generation__upload_set__owner_id=owner_id).select_related("generation")


def queued_release_ids() -> list[int]:
    return list(Release.objects.filter(status=Release.Status.QUEUED).order_by("id").values_list("id", flat=True))


def release_get_for_owner(*, release_id: int, owner_id: int) -> Release:
    """The owner's release; anyone else gets the same not-found as for a missing id."""
    release = releases_for_owner(owner_id=owner_id).filter(pk=release_id).first()
    if release is None:
        raise ReleaseNotFound(f"No release {release_id} of yours exists.")
    return release


def release_for_generation(*, generation_id: int, owner_id: int) -> Release | None:
    return releases_for_owner(owner_id=owner_id).filter(generation_id=generation_id).first()


def release_split_sheet(*, release_id: int) -> dict[str, Any] | None:
    """The stored split sheet of a release as plain data (``royalties`` owns it), or None before publishing."""
    return split_sheet_json(release_id=release_id)


@dataclass(frozen=True)
class DeliveryEventRow:
    kind: str
    status: str
    detail: str
    created_at: datetime


@dataclass(frozen=True)
class ReleaseStatus:
    release_id: int
    generation_id: int
    isrc: str
    title: str
    artist_name: str
    status: str
    status_label: str
    distributor: str
    distributor_release_id: str
    store_links: dict[str, str]
    rejection_reasons: list[str]
    outbox_path: str
    delivered_at: datetime | None
    splits: tuple[SplitLine, ...]
    events: tuple[DeliveryEventRow, ...]


def release_status(*, release: Release) -> ReleaseStatus:
    """Everything the API and pages show about one release (three queries)."""
    events = tuple(
        DeliveryEventRow(kind=e.kind, status=e.status, detail=e.detail, created_at=e.created_at)
        for e in DeliveryEvent.objects.filter(release_id=release.pk).order_by("created_at", "id")
    )
    return ReleaseStatus(
        release_id=release.pk,
        generation_id=release.generation_id,
        isrc=release.isrc,
        title=release.title,
        artist_name=release.artist_name,
        status=release.status,
        status_label=release.get_status_display(),
        distributor=release.distributor,
        distributor_release_id=release.distributor_release_id,
        store_links=dict(release.store_links or {}),
        rejection_reasons=list(release.rejection_reasons or []),
        outbox_path=release.outbox_path,
        delivered_at=release.delivered_at,
        splits=release_split_lines(release_id=release.pk),
        events=events,
    )


def release_split_lines(*, release_id: int) -> tuple[SplitLine, ...]:
    """The stored split sheet of a release as (holder, ppb) lines, largest share first.

    The sheet belongs to ``royalties``; empty until it has been stored.
    """
    sheet = split_sheet_json(release_id=release_id)
    if sheet is None:
        return ()
    return tuple(
        SplitLine(
            holder_id=int(line["holder_id"]),
            holder_name=str(line["holder"]),
            holder_kind=str(line["kind"]),
            ppb=int(line["ppb"]),
        )
        for line in sheet["lines"]
    )


def generation_split_inputs(*, generation: Any) -> tuple[list[tuple[int, Fraction]], list[tuple[int | None, int]]]:
    """The inputs ``royalties.splits.split_sheet_create`` needs for a generation.

    Sources: each catalog recording's exact share of the source pool, from the generation's
    integer shares (``royalties.services.split_sources``); a generation without any, every matched
    upload of the set weighs the same. Training: (recording id or None, token count) for each row
    of the training manifest.
    """
    from royalties.services import split_sources

    sources = split_sources(generation_id=generation.pk)
    if not sources:
        weights: dict[int, Fraction] = defaultdict(Fraction)
        for upload in generation.upload_set.uploads.exclude(recording__isnull=True).order_by("id"):
            weights[upload.recording_id] += 1
        sources = [(recording_id, weight) for recording_id, weight in sorted(weights.items()) if weight > 0]
    if not sources:
        raise GenerationNotPublishable(
            "This song has no catalog source recordings to share earnings with; match its uploads first."
        )
    return sources, training_manifest()


def training_manifest() -> list[tuple[int | None, int]]:
    """(recording id or None, token count) for every item the catalog model was trained on.

    Held-out evaluation items were not trained on and earn nothing.
    """
    return training_items_for_split()


def release_package(*, release: Release, splits: Sequence[SplitLine] | None = None) -> ReleasePackage:
    """Plain data a distributor client needs; files are opened fresh on each call."""
    master = release.generation.master_wav
    audio_storage, audio_name = master.storage, master.name
    artwork_storage, artwork_name = release.artwork.storage, release.artwork.name
    if not audio_name or not artwork_name:
        raise GenerationNotPublishable(f"Release {release.pk} lacks its audio or artwork file.")
    artwork_extension = "." + artwork_name.rsplit(".", 1)[-1].lower() if "." in artwork_name else ".jpg"
    return ReleasePackage(
        release_id=release.pk,
        delivery_key=str(release.delivery_key),
        isrc=release.isrc,
        title=release.title,
        artist_name=release.artist_name,
        genre=release.genre,
        language=release.language,
        ai_disclosure=release.ai_disclosure,
        duration_ms=release.duration_ms,
        release_date=release.created_at.date(),
        label_name=LABEL_NAME,
        audio_name=f"{release.isrc}.wav",
        audio_sha256=release.audio_sha256,
        artwork_name=f"{release.isrc}_cover{artwork_extension}",
        open_audio=lambda: cast(IO[bytes], audio_storage.open(audio_name, "rb")),
        open_artwork=lambda: cast(IO[bytes], artwork_storage.open(artwork_name, "rb")),
        splits=tuple(splits) if splits is not None else release_split_lines(release_id=release.pk),
        distributor_release_id=release.distributor_release_id,
    )


def release_ids_by_isrc(*, isrcs: Sequence[str]) -> dict[str, int]:
    """Release id of each ISRC that names a release (unknown ISRCs are left out)."""
    wanted = sorted(set(isrcs))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        found.update(Release.objects.filter(isrc__in=wanted[start : start + 500]).values_list("isrc", "id"))
    return found
