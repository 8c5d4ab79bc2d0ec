"""A generation's sources: each upload's exact share of the 67% source pool, as GenerationSource rows.

This is the only writer of ``GenerationSource``. Weights (measured influence, or 1 each for an
equal split) become integer parts per billion with the one largest-remainder helper,
``royalties.money.largest_remainder``, so a generation's shares always sum to exactly 10⁹; on
PostgreSQL a deferred constraint trigger re-checks the sum at commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from django.db import transaction

from generation.errors import GenerationStateError, InfluenceInvalidError
from generation.models import Generation, GenerationSource
from royalties.services import PPB, largest_remainder
from songforge.errors import NotFound
from uploads.selectors import uploads_of_set


def _shares_ppb(weights: Mapping[int, int | Fraction]) -> dict[int, int]:
    """Exact non-negative weights -> parts per billion summing to 10⁹ (ties to the lowest upload id)."""
    for upload_id, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int | Fraction):
            raise InfluenceInvalidError(
                f"The influence weight of upload {upload_id} is {weight!r}; weights must be exact "
                "(an int or a Fraction), never a float.",
                extra={"upload_id": upload_id},
            )
        if weight < 0:
            raise InfluenceInvalidError(
                f"The influence weight of upload {upload_id} is negative; weights must be 0 or more.",
                extra={"upload_id": upload_id},
            )
    if not any(weights.values()):
        raise InfluenceInvalidError("Every influence weight is 0; at least one source must have a positive weight.")
    shares = largest_remainder(PPB, weights)
    if sum(shares.values()) != PPB:  # the rule this table keeps; largest_remainder guarantees it
        raise InfluenceInvalidError(f"The shares sum to {sum(shares.values())} ppb, not {PPB}.")
    return shares


@transaction.atomic
def generation_sources_record(*, generation_id: int, weights: Mapping[int, int | Fraction]) -> list[GenerationSource]:
    """Store each upload's share of the source pool, in proportion to ``weights`` (upload id -> weight).

    Every upload must belong to the generation's set and be matched to a catalog recording. Rows of
    an earlier attempt of the report stage are replaced; once the generation has succeeded its
    sources are fixed (its split sheet may already be paid from them): the same shares again
    return the stored rows, other shares raise ``GenerationStateError``.
    """
    generation = Generation.objects.select_for_update().filter(pk=generation_id).first()
    if generation is None:
        raise NotFound("That generation does not exist.", extra={"generation_id": generation_id})
    if not weights:
        raise InfluenceInvalidError(
            f"Generation {generation_id} needs at least one source upload to share the source pool.",
            extra={"generation_id": generation_id},
        )
    shares = _shares_ppb(weights)
    set_recordings = {u.pk: u.recording_id for u in uploads_of_set(upload_set_id=generation.upload_set_id)}
    recordings: dict[int, int] = {}
    for upload_id in sorted(shares):
        if upload_id not in set_recordings:
            raise InfluenceInvalidError(
                f"Upload {upload_id} is not in the upload set of generation {generation_id}.",
                extra={"generation_id": generation_id, "upload_id": upload_id},
            )
        recording_id = set_recordings[upload_id]
        if recording_id is None:
            raise InfluenceInvalidError(
                f"Upload {upload_id} is not matched to a catalog recording; match it before it can earn.",
                extra={"generation_id": generation_id, "upload_id": upload_id},
            )
        recordings[upload_id] = recording_id
    existing = list(GenerationSource.objects.filter(generation_id=generation_id).order_by("upload_id"))
    if existing and generation.status == Generation.Status.SUCCEEDED:
        if {row.upload_id: row.share_ppb for row in existing} == shares:
            return existing
        raise GenerationStateError(
            f"The sources of finished song {generation_id} are fixed; its earnings may already be split by them.",
            extra={"generation_id": generation_id},
        )
    GenerationSource.objects.filter(generation_id=generation_id).delete()
    return GenerationSource.objects.bulk_create(
        GenerationSource(
            generation_id=generation_id,
            upload_id=upload_id,
            recording_id=recordings[upload_id],
            share_ppb=shares[upload_id],
        )
        for upload_id in sorted(shares)
    )
