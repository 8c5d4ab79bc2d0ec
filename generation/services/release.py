"""What the distribution app may know about a song it is about to release.

Distribution never queries or locks ``Generation`` rows itself: it asks here for the owner's song
(``generation_for_release``) or, inside its publish transaction, for the locked row
(``generation_lock_for_release``), and asks ``generation_is_finished`` instead of reading status values
and ``generation_publish_refusal`` whether the take is the one the artist kept.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q

from generation.models import Generation, TrainingRecording
from songforge.errors import NotFound


def _not_found(generation_id: int) -> NotFound:
    return NotFound(f"No song {generation_id} of yours exists.")


def generation_for_release(*, generation_id: int, owner_id: int | None) -> Generation:
    """The song ``generation_id`` with its upload set; ``owner_id`` (None: any owner) limits it to one owner's songs.

    Anyone else's song raises the same ``NotFound`` as a missing one.
    """
    generations = Generation.objects.select_related("upload_set").filter(pk=generation_id)
    if owner_id is not None:
        generations = generations.filter(upload_set__owner_id=owner_id)
    generation = generations.first()
    if generation is None:
        raise _not_found(generation_id)
    return generation


def generation_lock_for_release(*, generation_id: int, owner_id: int) -> Generation:
    """The owner's song (take), its row locked until the caller's transaction ends (only generation rows).

    Precondition: the caller holds an open ``transaction.atomic()``; publishing the same song twice
    at once then queues on this lock, so the second publish finds the first one's release. A take's
    song row is locked first, as ``generation_take_keep`` does, so which take is kept cannot
    change while it is being published.
    """
    take_of_id = Generation.objects.filter(pk=generation_id).values_list("take_of_id", flat=True).first()
    if take_of_id is not None:
        Generation.objects.select_for_update(of=("self",)).filter(pk=take_of_id).first()
    generation = (
        Generation.objects.select_for_update(of=("self",))
        .select_related("upload_set")
        .filter(pk=generation_id, upload_set__owner_id=owner_id)
        .first()
    )
    if generation is None:
        raise _not_found(generation_id)
    return generation


def generation_is_finished(generation: Generation) -> bool:
    """True once every stage of the song has run (the only state in which it can be released)."""
    return generation.status == Generation.Status.SUCCEEDED


def generation_publish_refusal(generation: Generation) -> str | None:
    """Why this take cannot be published because of which take the artist kept, or None if it can.

    Only the kept take of a song is published. A song of one take (every song made before takes
    existed) has that take kept.
    """
    if generation.is_kept:
        return None
    song_id = generation.take_of_id or generation.pk
    takes = list(
        Generation.objects.filter(Q(pk=song_id) | Q(take_of_id=song_id))
        .order_by("take_number")
        .values_list("pk", "take_number", "is_kept")
    )
    if len(takes) == 1:
        return None
    kept = next(((pk, number) for pk, number, is_kept in takes if is_kept), None)
    this = f"take {generation.take_number} of song {song_id}"
    if kept is None:
        return (
            f"This is {this}, and no take of it is kept yet: listen to the {len(takes)} takes on the song page, "
            "keep one, then publish the one you kept."
        )
    return (
        f"This is {this}, but you kept take {kept[1]} (#{kept[0]}); only the kept take can be published. Keep "
        f"take {generation.take_number} on the song page first if you want to publish it instead."
    )


def _is_public_domain(source_id: str) -> bool:
    return source_id.startswith(tuple(settings.TRAINING_PUBLIC_DOMAIN_PREFIXES))


def training_items_for_split() -> list[tuple[int | None, int]]:
    """(recording id or None, token count) of every trained-on item that has rights holders, for the 33% pool.

    An item linked to a catalog recording pays that recording's holders; an unlinked item of a
    rights-bearing catalog (``catalog:…``) has holders nobody has identified yet (None: escrow).
    Unlinked public-domain items (``TRAINING_PUBLIC_DOMAIN_PREFIXES``, e.g. music21's scores) have
    no rights to pay and are counted by ``training_public_domain_tokens`` instead. Held-out
    evaluation items were not trained on and earn nothing.
    """
    rows = TrainingRecording.objects.filter(is_held_out=False).order_by("id")
    return [
        (recording_id, int(tokens))
        for source_id, recording_id, tokens in rows.values_list("source_id", "recording_id", "token_count")
        if recording_id is not None or not _is_public_domain(source_id)
    ]


def training_public_domain_tokens() -> int:
    """Tokens of the trained-on items with no rights to pay (unlinked public-domain scores)."""
    rows = TrainingRecording.objects.filter(is_held_out=False, recording__isnull=True)
    return sum(
        int(tokens)
        for source_id, tokens in rows.values_list("source_id", "token_count")
        if _is_public_domain(source_id)
    )
