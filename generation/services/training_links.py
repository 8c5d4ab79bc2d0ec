"""Which catalog recording a training item pays: changed by staff only through here, and audited.

The 33% training pool is paid to the holders of each item's ``recording``; pointing an
item at another recording moves money, so every change records who, when, and the old
and new recording (``staff.services.audit_record``).
"""

from __future__ import annotations

from django.db import transaction

from catalog.selectors import recording_exists
from generation.errors import TrainingLinkInvalid
from generation.models import TrainingRecording
from songforge.errors import NotFound
from staff.services import audit_record


@transaction.atomic
def training_recording_link(*, training_id: int, recording_id: int | None, by_id: int | None) -> TrainingRecording:
    """Point training item ``training_id`` at ``recording_id`` (None: unknown holders, paid to escrow).

    Nothing changes (and nothing is recorded) when it already points there. Locks the item.
    """
    item = TrainingRecording.objects.select_for_update().filter(pk=training_id).first()
    if item is None:
        raise NotFound(f"Training item {training_id} does not exist.", extra={"training_id": training_id})
    if item.recording_id == recording_id:
        return item
    if recording_id is not None and not recording_exists(recording_id=recording_id):
        raise TrainingLinkInvalid(
            f"Recording {recording_id} does not exist; pick a catalog recording or leave it empty for escrow.",
            extra={"recording_id": recording_id},
        )
    old = {"recording_id": item.recording_id}
    item.recording_id = recording_id
    item.save(update_fields=["recording", "updated_at"])
    audit_record(
        actor_id=by_id, action="training_recording.link", target=item, old=old, new={"recording_id": recording_id}
    )
    return item
