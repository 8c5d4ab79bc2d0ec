"""Split sheets: who earns what share of a released song.

The whole (1) is divided exactly, with ``Fraction`` arithmetic, along paths:

* ``SOURCE_SHARE_BPS`` (67%) to the source songs, weighted by measured influence
  (the generation's integer shares, read by ``split_sources``; or equally when
  ``INFLUENCE_SPLIT == "equal"``); within a song,
  ``MASTER_SHARE_BPS`` to the master side and the rest to publishing; within a
  side, each holder by its basis points (if a side's shares total less than
  10,000 the rest is unclaimed; if more, they are scaled down pro rata).
* the rest (33%) to the training recordings, pro rata to their token counts, then
  split per recording exactly like a source song.

Whatever cannot reach a known holder (no sources, no training tokens, an item with
recording ``None``, a side without shares) goes to the single escrow holder. A
holder reached along several paths gets one line with the sum. Only at the end are
the exact shares rounded to parts per billion, with the largest-remainder method,
so the sheet always totals exactly 1,000,000,000.

``compute_split`` is pure (rights are passed in); ``split_sheet_compute`` loads the
rights from the catalog; ``split_sheet_create`` stores the sheet for a release.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.db import transaction

from catalog.models import RecordingShare
from catalog.services import escrow_holder
from generation.selectors import generation_sources
from royalties.errors import SplitSheetConflict, SplitSheetInvalid
from royalties.models import SplitSheet, SplitSheetLine
from royalties.money import BPS, PPB, fractions_to_ppb, refuse_float

SOURCE = "source"
TRAINING = "training"
MASTER = "master"
PUBLISHING = "publishing"


@dataclass(frozen=True)
class SplitPath:
    """One way a share reaches a holder: pool, recording (None = unknown), side, exact share."""

    pool: str
    recording_id: int | None
    side: str | None
    share: Fraction

    def as_json(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "recording_id": self.recording_id,
            "side": self.side,
            "share": f"{self.share.numerator}/{self.share.denominator}",
        }


@dataclass(frozen=True)
class SplitLineData:
    holder_id: int
    ppb: int
    exact: Fraction
    pool: str
    paths: tuple[SplitPath, ...]


@dataclass(frozen=True)
class SplitSheetData:
    lines: tuple[SplitLineData, ...]
    source_share_bps: int
    master_share_bps: int
    influence_split: str

    @property
    def total_ppb(self) -> int:
        return sum(line.ppb for line in self.lines)

    def ppb_by_holder(self) -> dict[int, int]:
        return {line.holder_id: line.ppb for line in self.lines}


# (holder_id, side, share_bps) for each share of a recording
Rights = Mapping[int, Sequence[tuple[int, str, int]]]


def compute_split(
    *,
    sources: Sequence[tuple[int, Fraction]],
    training: Sequence[tuple[int | None, int]],
    rights: Rights,
    escrow_holder_id: int,
    source_share_bps: int,
    master_share_bps: int,
    influence_split: str,
) -> SplitSheetData:
    """Pure split computation; see the module docstring. Inputs must be exact (no floats)."""
    for source_id, weight in sources:
        refuse_float(weight)
        if Fraction(weight) < 0:
            raise SplitSheetInvalid(f"Influence of recording {source_id} is negative; weights must be ≥ 0.")
    for training_id, count in training:
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise SplitSheetInvalid(f"Token count of training item {training_id} must be a non-negative integer.")
    if not 0 <= source_share_bps <= BPS or not 0 <= master_share_bps <= BPS:
        raise SplitSheetInvalid("SOURCE_SHARE_BPS and MASTER_SHARE_BPS must lie between 0 and 10,000.")

    paths: dict[int, list[SplitPath]] = defaultdict(list)
    master_fraction = Fraction(master_share_bps, BPS)

    def to_escrow(pool: str, recording_id: int | None, side: str | None, share: Fraction) -> None:
        if share:
            paths[escrow_holder_id].append(SplitPath(pool, recording_id, side, share))

    def split_recording(pool: str, recording_id: int | None, share: Fraction) -> None:
        if share == 0:
            return
        if recording_id is None:
            to_escrow(pool, None, None, share)
            return
        recording_rights = rights.get(recording_id, ())
        for side, side_fraction in ((MASTER, master_fraction), (PUBLISHING, 1 - master_fraction)):
            side_share = share * side_fraction
            if side_share == 0:
                continue
            holders = [(holder_id, bps) for holder_id, s, bps in recording_rights if s == side and bps > 0]
            total_bps = sum(bps for _, bps in holders)
            if total_bps == 0:
                to_escrow(pool, recording_id, side, side_share)
                continue
            denominator = max(total_bps, BPS)
            for holder_id, bps in holders:
                paths[holder_id].append(SplitPath(pool, recording_id, side, side_share * Fraction(bps, denominator)))
            if total_bps < BPS:
                to_escrow(pool, recording_id, side, side_share * Fraction(BPS - total_bps, BPS))

    source_pool = Fraction(source_share_bps, BPS)
    training_pool = 1 - source_pool

    weights = [
        (recording_id, Fraction(1) if influence_split == "equal" else Fraction(w)) for recording_id, w in sources
    ]
    weight_sum = sum((w for _, w in weights), Fraction(0))
    if weight_sum == 0:
        to_escrow(SOURCE, None, None, source_pool)
    else:
        for source_id, weight in weights:
            split_recording(SOURCE, source_id, source_pool * weight / weight_sum)

    token_sum = sum(tokens for _, tokens in training)
    if token_sum == 0:
        to_escrow(TRAINING, None, None, training_pool)
    else:
        for training_id, tokens in training:
            split_recording(TRAINING, training_id, training_pool * Fraction(tokens, token_sum))

    exact = {holder_id: sum((p.share for p in holder_paths), Fraction(0)) for holder_id, holder_paths in paths.items()}
    ppb = fractions_to_ppb(exact)
    lines = []
    for holder_id in sorted(exact, key=lambda h: (-exact[h], h)):
        pools = {p.pool for p in paths[holder_id]}
        pool = pools.pop() if len(pools) == 1 else "both"
        lines.append(SplitLineData(holder_id, ppb[holder_id], exact[holder_id], pool, tuple(paths[holder_id])))
    result = SplitSheetData(tuple(lines), source_share_bps, master_share_bps, influence_split)
    assert result.total_ppb == PPB
    return result


def split_sheet_compute(
    *,
    sources: Sequence[tuple[int, Fraction]],  # (recording_id, influence weight)
    training: Sequence[tuple[int | None, int]],  # (recording_id or None, token_count)
) -> SplitSheetData:
    """Compute a split sheet from the catalog's current rights and the settings."""
    recording_ids = {r for r, _ in sources} | {r for r, _ in training if r is not None}
    rights: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for recording_id, holder_id, side, bps in RecordingShare.objects.filter(recording_id__in=recording_ids).values_list(
        "recording_id", "holder_id", "side", "share_bps"
    ):
        rights[recording_id].append((holder_id, side, bps))
    return compute_split(
        sources=sources,
        training=training,
        rights=rights,
        escrow_holder_id=escrow_holder().pk,
        source_share_bps=settings.SOURCE_SHARE_BPS,
        master_share_bps=settings.MASTER_SHARE_BPS,
        influence_split=settings.INFLUENCE_SPLIT,
    )


def split_sources(*, generation_id: int) -> list[tuple[int, Fraction]]:
    """A generation's source weights for its split sheet: (recording_id, exact share of the source pool).

    Read from the generation's integer shares (``generation.selectors.generation_sources``, parts
    per billion summing to 10⁹); uploads of the same recording add up, recordings with a zero share
    are left out. Empty if the generation has no sources (its report stage has not run).
    """
    ppb: dict[int, int] = defaultdict(int)
    for source in generation_sources(generation_id=generation_id):
        ppb[source.recording_id] += source.share_ppb
    return [(recording_id, Fraction(share, PPB)) for recording_id, share in sorted(ppb.items()) if share > 0]


def _inputs_json(sources: Sequence[tuple[int, Fraction]], training: Sequence[tuple[int | None, int]]) -> dict[str, Any]:
    return {
        "sources": [[r, f"{Fraction(w).numerator}/{Fraction(w).denominator}"] for r, w in sources],
        "training": [[r, t] for r, t in training],
    }


@transaction.atomic
def split_sheet_create(
    *,
    release_id: int,
    sources: Sequence[tuple[int, Fraction]],
    training: Sequence[tuple[int | None, int]],
) -> SplitSheet:
    """Compute and store the immutable split sheet of a release.

    Calling it again with the same inputs returns the stored sheet; other inputs
    raise ``SplitSheetConflict`` (a sheet is never edited).
    """
    inputs = _inputs_json(sources, training)
    existing = SplitSheet.objects.filter(release_id=release_id).first()
    if existing is not None:
        if existing.inputs == inputs:
            return existing
        raise SplitSheetConflict(
            f"Release {release_id} already has a split sheet computed from other inputs; split sheets never change.",
            extra={"release_id": release_id, "split_sheet_id": existing.pk},
        )
    data = split_sheet_compute(sources=sources, training=training)
    sheet = SplitSheet.objects.create(
        release_id=release_id,
        source_share_bps=data.source_share_bps,
        master_share_bps=data.master_share_bps,
        influence_split=data.influence_split,
        inputs=inputs,
    )
    SplitSheetLine.objects.bulk_create(
        SplitSheetLine(
            sheet=sheet,
            holder_id=line.holder_id,
            ppb=line.ppb,
            pool=line.pool,
            provenance=[p.as_json() for p in line.paths],
        )
        for line in data.lines
    )
    return sheet


def split_sheet_as_json(sheet: SplitSheet) -> dict[str, Any]:
    lines = list(sheet.lines.select_related("holder").order_by("-ppb", "holder_id"))
    return {
        "release_id": sheet.release_id,
        "isrc": sheet.release.isrc,
        "source_share_bps": sheet.source_share_bps,
        "master_share_bps": sheet.master_share_bps,
        "influence_split": sheet.influence_split,
        "total_ppb": sum(line.ppb for line in lines),
        "lines": [
            {
                "holder_id": line.holder_id,
                "holder": line.holder.name,
                "kind": line.holder.kind,
                "ppb": line.ppb,
                "percent": f"{line.ppb // 10_000_000}.{line.ppb % 10_000_000:07d}",
                "pool": line.pool,
                "paths": line.provenance,
            }
            for line in lines
        ],
    }
