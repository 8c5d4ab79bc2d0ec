"""The takes of a generation: which ones a song has, and which one the artist keeps.

A generation composes and renders two takes (two seeds) from one fine-tune; the artist listens to
both on the song page and keeps one. Only the kept take can be published
(``generation.services.release.generation_publish_refusal``); once a take is published it stays
the kept one.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from generation.errors import TakeNotKeptError
from generation.models import Generation
from songforge.errors import NotFound


def song_takes(*, song_id: int) -> list[Generation]:
    """The song's takes in order (take 1 is the song's own row)."""
    return list(Generation.objects.filter(Q(pk=song_id) | Q(take_of_id=song_id)).order_by("take_number"))


def generation_take_keep(*, generation_id: int, owner_id: int | None = None) -> Generation:
    """Keep take ``generation_id`` of its song (the others are no longer kept); return the kept take.

    Refuses (``TakeNotKeptError``) until every take of the song has finished, and once another take
    of the song is published (its release pays from that take's shares, so it stays the kept one).
    Keeping the kept take again changes nothing. Anyone else's take is ``NotFound``.
    """
    with transaction.atomic():
        take = Generation.objects.filter(pk=generation_id).values_list("pk", "take_of_id").first()
        songs = Generation.objects.select_for_update(of=("self",)).filter(pk=int(take[1] or take[0]) if take else 0)
        if owner_id is not None:
            songs = songs.filter(upload_set__owner_id=owner_id)
        song = songs.first()
        if song is None:
            raise NotFound(f"No song {generation_id} of yours exists.", extra={"generation_id": generation_id})
        takes = list(
            Generation.objects.select_for_update().filter(Q(pk=song.pk) | Q(take_of_id=song.pk)).order_by("pk")
        )
        chosen = next(row for row in takes if row.pk == generation_id)
        if song.status != Generation.Status.SUCCEEDED:
            raise TakeNotKeptError(
                f"Song {song.pk} is {song.get_status_display().lower()}; you can keep a take once both are finished.",
                extra={"generation_id": generation_id, "status": song.status},
            )
        published = [
            row
            for row in Generation.objects.filter(pk__in=[row.pk for row in takes], release__isnull=False).order_by(
                "take_number"
            )
        ]
        if published and published[0].pk != chosen.pk:
            raise TakeNotKeptError(
                f"Take {published[0].take_number} of song {song.pk} is published, so it stays the kept take; "
                f"take {chosen.take_number} cannot replace it.",
                extra={"generation_id": generation_id, "published_generation_id": published[0].pk},
            )
        for row in takes:
            should_keep = row.pk == chosen.pk
            if row.is_kept != should_keep:
                row.is_kept = should_keep
                row.save(update_fields=["is_kept", "updated_at"])
    chosen.refresh_from_db()
    return chosen
