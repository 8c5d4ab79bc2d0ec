"""What the distribution app may know about a song it is about to release.

Distribution never queries or locks ``Generation`` rows itself: it asks here for the owner's song
(``generation_for_release``) or, inside its publish transaction, for the locked row
(``generation_lock_for_release``), and asks ``generation_is_finished`` instead of reading status values.
"""

from __future__ import annotations

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
    """The owner's song, its row locked until the caller's transaction ends (only the generation row).

    Precondition: the caller holds an open ``transaction.atomic()``; publishing the same song twice
    at once then queues on this lock, so the second publish finds the first one's release.
    """
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


def training_items_for_split() -> list[tuple[int | None, int]]:
    """(recording id or None, token count) of every item the catalog model trained on, for the 33% pool.

    Held-out evaluation items were not trained on and earn nothing.
    """
    rows = TrainingRecording.objects.filter(is_held_out=False).order_by("id")
    return [(recording_id, int(tokens)) for recording_id, tokens in rows.values_list("recording_id", "token_count")]
