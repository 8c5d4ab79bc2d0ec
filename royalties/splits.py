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

The training items fall in three classes (``TRAINING_CLASSES``): items of a catalog
recording (its holders; a side without shares → escrow), items whose holders exist
but are unknown (recording ``None`` → escrow), and public-domain items that have no
rights to pay. ``TRAINING_PUBLIC_DOMAIN_POLICY`` "exclude" (default) leaves the
public-domain tokens out of the pool's denominator, so the 33% is shared among the
items that have holders; "escrow" counts them and escrows their share.

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

from catalog.selectors import recording_share_rows
from catalog.services import escrow_holder
from generation.selectors import generation_sources
from royalties.errors import SplitSheetConflict, SplitSheetInvalid
from royalties.models import SplitSheet, SplitSheetLine
from royalties.money import BPS, PPB, fractions_to_ppb, refuse_float

SOURCE = "source"
TRAINING = "training"
MASTER = "master"
PUBLISHING = "publishing"

# training item classes, in display order
HOLDERS = "holders"
UNKNOWN_HOLDERS = "unknown_holders"
PUBLIC_DOMAIN = "public_domain"
TRAINING_CLASSES = {
    HOLDERS: "Catalog recordings with holders",
    UNKNOWN_HOLDERS: "Holders not yet known (escrow)",
    PUBLIC_DOMAIN: "Public domain (no rights to pay)",
}
PUBLIC_DOMAIN_EXCLUDE = "exclude"
PUBLIC_DOMAIN_ESCROW = "escrow"


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
class TrainingClass:
    """One class of training items: its tokens and the exact share of the whole sheet it carries."""

    name: str
    tokens: int
    share: Fraction  # of the whole sheet; 0 for excluded public-domain items

    @property
    def label(self) -> str:
        return TRAINING_CLASSES[self.name]

    def as_json(self) -> dict[str, Any]:
        return {"class": self.name, "label": self.label, "tokens": self.tokens, "ppm": _ppm(self.share)}


@dataclass(frozen=True)
class TrainingPoolSummary:
    """How the training pool reached holders: classes with token counts and the named-holder share."""

    policy: str
    classes: tuple[TrainingClass, ...]
    pool: Fraction  # share of the sheet that is the training pool
    named: Fraction  # share of the sheet reaching named (non-escrow) holders through the training pool

    @property
    def named_of_pool(self) -> Fraction:
        """Fraction of the training pool that reaches named holders (1 = all of it)."""
        return self.named / self.pool if self.pool else Fraction(0)

    def as_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "classes": [c.as_json() for c in self.classes],
            "named_of_pool_ppm": _ppm(self.named_of_pool),
            "escrow_of_pool_ppm": 1_000_000 - _ppm(self.named_of_pool) if self.pool else 0,
        }


def _ppm(share: Fraction) -> int:
    """Parts per million, rounded down (display only)."""
    return int(share * 1_000_000)


def percent_of(ppm: int, decimals: int = 2) -> str:
    """ "97.31%" from parts per million, rounded down."""
    scale = 10 ** (4 - decimals)
    value = ppm // scale
    return f"{value // 10**decimals}.{value % 10**decimals:0{decimals}d}%" if decimals else f"{value}%"


def training_summary(
    *,
    training: Sequence[tuple[int | None, int]],
    public_domain_tokens: int,
    policy: str,
    source_share_bps: int,
    paths: Sequence[tuple[int, SplitPath]],
    escrow_holder_id: int,
) -> TrainingPoolSummary:
    """The training pool's classes and named share from a sheet's inputs and its (holder, path) list."""
    pool = 1 - Fraction(source_share_bps, BPS)
    holder_tokens = sum(t for r, t in training if r is not None)
    unknown_tokens = sum(t for r, t in training if r is None)
    counted_public = public_domain_tokens if policy == PUBLIC_DOMAIN_ESCROW else 0
    denominator = holder_tokens + unknown_tokens + counted_public
    classes = tuple(
        TrainingClass(name, tokens, pool * Fraction(counted, denominator) if denominator else Fraction(0))
        for name, tokens, counted in (
            (HOLDERS, holder_tokens, holder_tokens),
            (UNKNOWN_HOLDERS, unknown_tokens, unknown_tokens),
            (PUBLIC_DOMAIN, public_domain_tokens, counted_public),
        )
    )
    named = sum(
        (p.share for holder_id, p in paths if p.pool == TRAINING and holder_id != escrow_holder_id), Fraction(0)
    )
    return TrainingPoolSummary(policy=policy, classes=classes, pool=pool, named=named)


@dataclass(frozen=True)
class SplitSheetData:
    lines: tuple[SplitLineData, ...]
    source_share_bps: int
    master_share_bps: int
    influence_split: str
    training: TrainingPoolSummary | None = None

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
    public_domain_tokens: int = 0,
    public_domain_policy: str = PUBLIC_DOMAIN_EXCLUDE,
) -> SplitSheetData:
    """Pure split computation; see the module docstring. Inputs must be exact (no floats).

    ``training`` lists the items that have rights holders (recording None: holders unknown);
    ``public_domain_tokens`` counts the items with no rights to pay, handled by ``public_domain_policy``.
    """
    for source_id, weight in sources:
        refuse_float(weight)
        if Fraction(weight) < 0:
            raise SplitSheetInvalid(f"Influence of recording {source_id} is negative; weights must be ≥ 0.")
    for training_id, count in training:
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise SplitSheetInvalid(f"Token count of training item {training_id} must be a non-negative integer.")
    if not isinstance(public_domain_tokens, int) or isinstance(public_domain_tokens, bool) or public_domain_tokens < 0:
        raise SplitSheetInvalid("The public-domain token count must be a non-negative integer.")
    if public_domain_policy not in (PUBLIC_DOMAIN_EXCLUDE, PUBLIC_DOMAIN_ESCROW):
        raise SplitSheetInvalid(
            f"Public-domain policy {public_domain_policy!r} is not one of exclude, escrow; "
            "fix SONGFORGE_TRAINING_PUBLIC_DOMAIN."
        )
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

    counted_public = public_domain_tokens if public_domain_policy == PUBLIC_DOMAIN_ESCROW else 0
    token_sum = sum(tokens for _, tokens in training) + counted_public
    if token_sum == 0:
        to_escrow(TRAINING, None, None, training_pool)
    else:
        for training_id, tokens in training:
            split_recording(TRAINING, training_id, training_pool * Fraction(tokens, token_sum))
        to_escrow(TRAINING, None, PUBLIC_DOMAIN, training_pool * Fraction(counted_public, token_sum))

    exact = {holder_id: sum((p.share for p in holder_paths), Fraction(0)) for holder_id, holder_paths in paths.items()}
    ppb = fractions_to_ppb(exact)
    lines = []
    for holder_id in sorted(exact, key=lambda h: (-exact[h], h)):
        pools = {p.pool for p in paths[holder_id]}
        pool = pools.pop() if len(pools) == 1 else "both"
        lines.append(SplitLineData(holder_id, ppb[holder_id], exact[holder_id], pool, tuple(paths[holder_id])))
    summary = training_summary(
        training=training,
        public_domain_tokens=public_domain_tokens,
        policy=public_domain_policy,
        source_share_bps=source_share_bps,
        paths=[(holder_id, p) for holder_id, holder_paths in paths.items() for p in holder_paths],
        escrow_holder_id=escrow_holder_id,
    )
    result = SplitSheetData(tuple(lines), source_share_bps, master_share_bps, influence_split, summary)
    assert result.total_ppb == PPB
    return result


def split_sheet_compute(
    *,
    sources: Sequence[tuple[int, Fraction]],  # (recording_id, influence weight)
    training: Sequence[tuple[int | None, int]],  # (recording_id or None, token_count)
    public_domain_tokens: int = 0,
) -> SplitSheetData:
    """Compute a split sheet from the catalog's current rights and the settings."""
    recording_ids = {r for r, _ in sources} | {r for r, _ in training if r is not None}
    rights = recording_share_rows(sorted(recording_ids))
    return compute_split(
        sources=sources,
        training=training,
        rights=rights,
        escrow_holder_id=escrow_holder().pk,
        source_share_bps=settings.SOURCE_SHARE_BPS,
        master_share_bps=settings.MASTER_SHARE_BPS,
        influence_split=settings.INFLUENCE_SPLIT,
        public_domain_tokens=public_domain_tokens,
        public_domain_policy=settings.TRAINING_PUBLIC_DOMAIN_POLICY,
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


def _inputs_json(
    sources: Sequence[tuple[int, Fraction]], training: Sequence[tuple[int | None, int]], public_domain_tokens: int
) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "sources": [[r, f"{Fraction(w).numerator}/{Fraction(w).denominator}"] for r, w in sources],
        "training": [[r, t] for r, t in training],
    }
    if public_domain_tokens:  # absent when zero, so sheets stored before the policy keep their inputs
        inputs["public_domain"] = {"tokens": public_domain_tokens, "policy": settings.TRAINING_PUBLIC_DOMAIN_POLICY}
    return inputs


@transaction.atomic
def split_sheet_create(
    *,
    release_id: int,
    sources: Sequence[tuple[int, Fraction]],
    training: Sequence[tuple[int | None, int]],
    public_domain_tokens: int = 0,
) -> SplitSheet:
    """Compute and store the immutable split sheet of a release.

    Calling it again with the same inputs returns the stored sheet; other inputs
    raise ``SplitSheetConflict`` (a sheet is never edited). The public-domain token
    count and the policy in force are kept in ``inputs``.
    """
    inputs = _inputs_json(sources, training, public_domain_tokens)
    existing = SplitSheet.objects.filter(release_id=release_id).first()
    if existing is not None:
        if existing.inputs == inputs:
            return existing
        raise SplitSheetConflict(
            f"Release {release_id} already has a split sheet computed from other inputs; split sheets never change.",
            extra={"release_id": release_id, "split_sheet_id": existing.pk},
        )
    data = split_sheet_compute(sources=sources, training=training, public_domain_tokens=public_domain_tokens)
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


def stored_training_summary(sheet: SplitSheet, lines: Sequence[SplitSheetLine]) -> TrainingPoolSummary:
    """The training-pool summary of a stored sheet, from its inputs and its lines' provenance."""
    inputs = sheet.inputs or {}
    public = inputs.get("public_domain") or {}
    escrow_ids = {line.holder_id for line in lines if line.holder.kind == "escrow"}
    paths = [
        (
            line.holder_id,
            SplitPath(str(p["pool"]), p.get("recording_id"), p.get("side"), Fraction(str(p["share"]))),
        )
        for line in lines
        for p in (line.provenance or [])
    ]
    return training_summary(
        training=[(r, int(t)) for r, t in inputs.get("training", [])],
        public_domain_tokens=int(public.get("tokens", 0)),
        policy=str(public.get("policy", PUBLIC_DOMAIN_EXCLUDE)),
        source_share_bps=sheet.source_share_bps,
        paths=[(holder_id, path) for holder_id, path in paths if holder_id not in escrow_ids]
        + [(-1, path) for holder_id, path in paths if holder_id in escrow_ids],
        escrow_holder_id=-1,
    )


def split_sheet_as_json(sheet: SplitSheet) -> dict[str, Any]:
    lines = list(sheet.lines.select_related("holder").order_by("-ppb", "holder_id"))
    return {
        "release_id": sheet.release_id,
        "isrc": sheet.release.isrc,
        "source_share_bps": sheet.source_share_bps,
        "master_share_bps": sheet.master_share_bps,
        "influence_split": sheet.influence_split,
        "total_ppb": sum(line.ppb for line in lines),
        "training_pool": stored_training_summary(sheet, lines).as_json(),
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
