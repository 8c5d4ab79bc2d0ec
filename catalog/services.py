"""All writes to the catalog: recordings, rights holders and shares.

Shares are basis points per side (master, publishing); a side is either empty
(holders unknown: its money goes to the escrow holder) or sums to exactly 10,000.
Every change to a side writes one ``ShareChange`` row, so staff can see who moved
money and when. ``RecordingShare`` rows are written here and nowhere else.
"""

from __future__ import annotations

import datetime
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from catalog import identify, indexing
from catalog.errors import AudioUnreadable, RecordingInvalid, SharesInvalid
from catalog.fingerprint.audio import AudioDecodeError
from catalog.identify import IdentifyResult
from catalog.models import Recording, RecordingShare, RightsHolder, ShareChange
from catalog.text import search_text_for
from songforge.codes import ISRC_RE
from songforge.errors import Conflict, NotFound
from staff.services import audit_record

__all__ = [
    "ESCROW_HOLDER_NAME",
    "IdentifyResult",
    "SideSharesCheck",
    "escrow_holder",
    "recording_identify",
    "recording_shares_set",
    "recording_upsert",
    "recordings_mark_rights_verified",
    "recordings_notify_imported",
    "rights_holder_get_or_create",
    "rights_holder_payout_details_set",
    "rights_holder_user_link",
    "search_vocabulary_refresh",
    "share_bps_is_valid",
    "side_shares_check",
]

ESCROW_HOLDER_NAME = "Unclaimed (escrow)"
SIDE_TOTAL_BPS = 10_000

# Fields recording_upsert may set; anything else is a programming error.
UPSERT_FIELDS = frozenset(
    {
        "provider",
        "apple_music_id",
        "apple_music_ids",
        "title",
        "artist",
        "album",
        "isrc",
        "duration_ms",
        "genre",
        "release_year",
        "artwork_url",
        "audio",
        "audio_sha256",
        "preview_url",
        "preview_audio",
        "composer",
        "source",
        "license",
        "manifest_sha256",
        "is_demo",
    }
)


def share_bps_is_valid(bps: object) -> TypeGuard[int]:
    """A share is a whole number of basis points from 1 to 10,000."""
    return isinstance(bps, int) and not isinstance(bps, bool) and 1 <= bps <= SIDE_TOTAL_BPS


@dataclass(frozen=True)
class SideSharesCheck:
    """The share-sum rule applied to one side's (holder, bps) rows; holders may be ids or names."""

    total_bps: int
    duplicate_holders: tuple[Hashable, ...]
    is_empty: bool

    @property
    def is_total_ok(self) -> bool:
        """An empty side (holders unknown: escrow) or one adding up to exactly 10,000 bps."""
        return self.is_empty or self.total_bps == SIDE_TOTAL_BPS

    @property
    def adjustment_bps(self) -> int:
        return SIDE_TOTAL_BPS - self.total_bps


def side_shares_check(shares: Sequence[tuple[Hashable, int]]) -> SideSharesCheck:
    """The one home of the share-sum rule: each holder once per side, and a side with shares sums to 10,000 bps.

    The service, the manifest reader and the admin form all ask this and word the answer for their reader.
    """
    seen: set[Hashable] = set()
    duplicates: list[Hashable] = []
    for holder, _ in shares:
        if holder in seen and holder not in duplicates:
            duplicates.append(holder)
        seen.add(holder)
    return SideSharesCheck(
        total_bps=sum(bps for _, bps in shares), duplicate_holders=tuple(duplicates), is_empty=not shares
    )


def escrow_holder() -> RightsHolder:
    """The single holder that collects money of sides whose holders are unknown (created on first use)."""
    holder = RightsHolder.objects.filter(kind=RightsHolder.Kind.ESCROW).first()
    if holder is not None:
        return holder
    try:
        with transaction.atomic():
            return RightsHolder.objects.create(name=ESCROW_HOLDER_NAME, kind=RightsHolder.Kind.ESCROW)
    except IntegrityError:  # another process created it first
        return RightsHolder.objects.get(kind=RightsHolder.Kind.ESCROW)


def rights_holder_get_or_create(
    *, name: str, kind: str, is_demo: bool = False, contact_email: str = ""
) -> tuple[RightsHolder, bool]:
    """Holders are identified by name; an existing holder keeps its kind and contact."""
    name = " ".join(name.split())
    if not name:
        raise SharesInvalid("A rights holder needs a name.", extra={"field": "name"})
    if kind not in RightsHolder.Kind.values or kind == RightsHolder.Kind.ESCROW:
        raise SharesInvalid(
            f"Holder kind {kind!r} is not one of label, publisher, writer, artist.", extra={"field": "kind"}
        )
    holder, created = RightsHolder.objects.get_or_create(
        name=name, defaults={"kind": kind, "is_demo": is_demo, "contact_email": contact_email}
    )
    return holder, created


def _validate_side_shares(side: str, shares: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    if side not in RecordingShare.Side.values:
        raise SharesInvalid(f"Side {side!r} is not master or publishing.", extra={"side": side})
    for holder_id, bps in shares:
        if not share_bps_is_valid(bps):
            raise SharesInvalid(
                f"A {side} share must be a whole number of basis points from 1 to 10,000 (got {bps!r}).",
                extra={"side": side, "holder_id": holder_id},
            )
    cleaned = [(int(holder_id), bps) for holder_id, bps in shares]
    check = side_shares_check(cleaned)
    if check.duplicate_holders:
        duplicate = check.duplicate_holders[0]
        raise SharesInvalid(
            f"Holder {duplicate} appears twice on the {side} side; merge the two shares into one.",
            extra={"side": side, "holder_id": duplicate},
        )
    if not check.is_total_ok:
        total = check.total_bps
        raise SharesInvalid(
            f"The {side} shares add up to {total} basis points ({total / 100:.2f}%); "
            f"they must add up to exactly 10,000 (100%). Adjust them by {check.adjustment_bps:+d}.",
            extra={"side": side, "total_bps": total},
        )
    seen = {holder_id for holder_id, _ in cleaned}
    known = set(RightsHolder.objects.filter(id__in=seen).values_list("id", flat=True))
    missing = sorted(seen - known)
    if missing:
        raise SharesInvalid(f"Rights holders {missing} do not exist.", extra={"side": side, "holder_ids": missing})
    return sorted(cleaned)


def _side_snapshot(recording_id: int, side: str) -> list[dict[str, Any]]:
    rows = RecordingShare.objects.filter(recording_id=recording_id, side=side).select_related("holder")
    return [
        {"holder_id": row.holder_id, "holder": row.holder.name, "share_bps": row.share_bps}
        for row in sorted(rows, key=lambda r: r.holder_id)
    ]


def _rights_status_for(recording_id: int, previous: str) -> str:
    sides = set(RecordingShare.objects.filter(recording_id=recording_id).values_list("side", flat=True).distinct())
    if sides != set(RecordingShare.Side.values):
        return Recording.RightsStatus.UNKNOWN
    if previous == Recording.RightsStatus.VERIFIED:
        return Recording.RightsStatus.VERIFIED
    return Recording.RightsStatus.COMPLETE


@transaction.atomic
def recording_shares_set(
    *,
    recording_id: int,
    side: str,
    shares: Sequence[tuple[int, int]],
    by_user_id: int | None,
    source: str = ShareChange.Source.STAFF,
) -> ShareChange | None:
    """Replace one side of a recording's shares with ``shares`` [(holder_id, bps), …].

    An empty list marks the side unknown (its money goes to escrow). Otherwise the bps
    must sum to exactly 10,000. Returns the history row, or None when nothing changed.
    A change to a verified recording sends it back to "complete": staff re-verify.
    Locks the recording row.
    """
    cleaned = _validate_side_shares(side, shares)
    recording = Recording.objects.select_for_update().filter(pk=recording_id).first()
    if recording is None:
        raise NotFound(f"Recording {recording_id} does not exist.", extra={"recording_id": recording_id})
    old = _side_snapshot(recording_id, side)
    if [(row["holder_id"], row["share_bps"]) for row in old] == cleaned:
        return None
    RecordingShare.objects.filter(recording_id=recording_id, side=side).delete()
    RecordingShare.objects.bulk_create(
        [RecordingShare(recording_id=recording_id, side=side, holder_id=hid, share_bps=bps) for hid, bps in cleaned]
    )
    change = ShareChange.objects.create(
        recording_id=recording_id,
        side=side,
        old_shares=old,
        new_shares=_side_snapshot(recording_id, side),
        source=source,
        changed_by_id=by_user_id,
    )
    audit_record(
        actor_id=by_user_id,
        action="recording.shares_set",
        target=recording,
        old={"side": side, "shares": old},
        new={"side": side, "shares": change.new_shares},
    )
    status = _rights_status_for(recording_id, Recording.RightsStatus.COMPLETE)
    if status != recording.rights_status or recording.rights_verified_at is not None:
        recording.rights_status = status
        recording.rights_verified_at = None
        recording.rights_verified_by = None
        recording.save(update_fields=["rights_status", "rights_verified_at", "rights_verified_by", "updated_at"])
    return change


@transaction.atomic
def recordings_mark_rights_verified(*, recording_ids: Sequence[int], by_user_id: int | None) -> int:
    """Mark complete recordings verified; recordings with an unknown side are left alone. Returns how many changed."""
    now: datetime.datetime = timezone.now()
    return Recording.objects.filter(id__in=list(recording_ids), rights_status=Recording.RightsStatus.COMPLETE).update(
        rights_status=Recording.RightsStatus.VERIFIED,
        rights_verified_at=now,
        rights_verified_by_id=by_user_id,
        updated_at=now,
    )


@transaction.atomic
def recording_upsert(*, external_id: str, **fields: Any) -> tuple[Recording, bool]:
    """Create or update the recording ``external_id`` with ``fields``; returns (recording, changed).

    Only fields in ``UPSERT_FIELDS`` are accepted; unchanged values write nothing.
    ``search_text`` is derived here. Locks the row when it exists.
    """
    unknown = set(fields) - UPSERT_FIELDS
    if unknown:
        raise TypeError(f"recording_upsert got unknown fields: {sorted(unknown)}")
    if not external_id or len(external_id) > 100:
        raise RecordingInvalid("A recording needs an external id of 1 to 100 characters.", extra={"field": "id"})
    isrc = fields.get("isrc")
    if isrc is not None and not ISRC_RE.match(isrc):
        raise RecordingInvalid(
            f"Recording {external_id}: ISRC {isrc!r} is not 12 characters like GBAYE0601498.",
            extra={"external_id": external_id, "field": "isrc"},
        )
    recording = Recording.objects.select_for_update().filter(external_id=external_id).first()
    created = recording is None
    if recording is None:
        recording = Recording(external_id=external_id)
    changed_fields = []
    for name, value in fields.items():
        if getattr(recording, name) != value:
            setattr(recording, name, value)
            changed_fields.append(name)
    search_text = search_text_for(title=recording.title, artist=recording.artist, album=recording.album)
    if recording.search_text != search_text:
        recording.search_text = search_text
        changed_fields.append("search_text")
    if not created and not changed_fields:
        return recording, False
    try:
        recording.full_clean(exclude=["audio", "preview_audio", "artwork"], validate_unique=False)
    except ValidationError as exc:
        field, problems = next(iter(exc.message_dict.items()))
        raise RecordingInvalid(
            f"Recording {external_id}: {field}: {' '.join(problems)}",
            extra={"external_id": external_id, "field": field, "errors": exc.message_dict},
        ) from None
    if created:
        recording.save()
    else:
        recording.save(update_fields=[*changed_fields, "updated_at"])
    if "search_text" in changed_fields or created:
        _search_vocabulary_add(recording.search_text.split())
    return recording, True


def _search_vocabulary_add(words: Sequence[str]) -> None:
    """PostgreSQL keeps the words of search_text in catalog_search_word for typo correction (migration 0003)."""
    if connection.vendor != "postgresql" or not words:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO catalog_search_word (word) SELECT DISTINCT unnest(%s::text[]) ON CONFLICT DO NOTHING",
            [sorted(set(words))],
        )


def search_vocabulary_refresh() -> None:
    """Rebuild the typo-correction vocabulary from every recording (after bulk loads that bypass the service)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO catalog_search_word (word) "
            "SELECT word FROM ts_stat('SELECT search_vector FROM catalog_recording') ON CONFLICT DO NOTHING"
        )


def recordings_notify_imported(recording_ids: Sequence[int]) -> None:
    """After the current transaction commits, hand these recordings to identification indexing."""
    ids = list(recording_ids)
    if ids:
        transaction.on_commit(lambda: indexing.recordings_imported(ids))


def recording_identify(*, path: Path) -> IdentifyResult | None:
    """Which catalog recording ``path`` holds, by the identification chain (ISRC tag, fingerprint, Shazam).

    None when no step knows the audio. Raises AudioUnreadable when the file does not decode, and
    IdentificationUnavailable (retryable) when a step such as Shazam cannot answer right now.
    """
    try:
        return identify.default_chain().identify(path)
    except AudioDecodeError as exc:
        raise AudioUnreadable(str(exc)) from exc


def _holder_locked(holder_id: int) -> RightsHolder:
    holder = RightsHolder.objects.select_for_update().filter(pk=holder_id).first()
    if holder is None:
        raise NotFound(f"Rights holder {holder_id} does not exist.", extra={"holder_id": holder_id})
    return holder


@transaction.atomic
def rights_holder_payout_details_set(*, holder_id: int, payout_details: str, by_id: int | None) -> RightsHolder:
    """Change where a holder's money is sent; the audit trail keeps the old and new details.

    Nothing changes (and nothing is recorded) when the details are the same. Locks the holder.
    """
    holder = _holder_locked(holder_id)
    if holder.payout_details == payout_details:
        return holder
    old = {"payout_details": holder.payout_details}
    holder.payout_details = payout_details
    holder.save(update_fields=["payout_details", "updated_at"])
    audit_record(
        actor_id=by_id,
        action="rights_holder.payout_details_set",
        target=holder,
        old=old,
        new={"payout_details": payout_details},
    )
    return holder


@transaction.atomic
def rights_holder_user_link(*, holder_id: int, user_id: int | None, by_id: int | None) -> RightsHolder:
    """Link a holder to the user account whose token reads its statements (None: unlink); audited.

    Refused when that account already belongs to another holder (unlink it there first).
    Locks the holder.
    """
    holder = _holder_locked(holder_id)
    if holder.user_id == user_id:
        return holder
    if user_id is not None:
        other = RightsHolder.objects.filter(user_id=user_id).exclude(pk=holder_id).first()
        if other is not None:
            raise Conflict(
                f"That account already reads the statements of {other.name}; unlink it there first.",
                code="holder_user_taken",
                extra={"user_id": user_id, "holder_id": other.pk},
            )
    old = {"user_id": holder.user_id}
    holder.user_id = user_id
    holder.save(update_fields=["user", "updated_at"])
    audit_record(actor_id=by_id, action="rights_holder.user_link", target=holder, old=old, new={"user_id": user_id})
    return holder
