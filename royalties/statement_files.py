"""Statement files uploaded through the API, imported by a background job.

A ten-million-line file takes minutes to import, longer than an HTTP request
should live: the upload is streamed to ``DATA_DIR/statement_uploads/`` and a
``StatementUpload`` row queues ``statement_upload_import_task``. The job claims the
row with a conditional UPDATE, runs ``statement_import`` and records the result
(or the refusal with its line number). A statement whose keys overlap earlier
statements is *held* (``StatementHeld``): the upload keeps its file and shows the
overlap until staff decide (``statement_upload_decide``): import it as a correction
(queued again) or reject it. The file stays on the importing host's
disk, so the worker must run where the web process stored it (one host, or a
shared ``SONGFORGE_DATA_DIR``).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from royalties.errors import StatementHeld, StatementUploadDecisionInvalid
from royalties.imports import COPY_BUFFER, statement_import
from royalties.models import StatementUpload
from songforge.errors import DomainError

DECISIONS = ("import", "reject")


def upload_dir() -> Path:
    folder = Path(settings.DATA_DIR) / "statement_uploads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def statement_upload_create(
    *, file: IO[bytes], name: str, reference: str | None = None, by_id: int | None
) -> StatementUpload:
    """Store the file and queue its import (enqueued after commit)."""
    from royalties.tasks import statement_upload_import_task

    target = upload_dir() / f"{uuid.uuid4().hex}{Path(name).suffix or '.csv'}"
    with target.open("wb") as handle:
        while chunk := file.read(COPY_BUFFER):
            handle.write(chunk)
    with transaction.atomic():
        upload = StatementUpload.objects.create(
            path=str(target), original_name=name, reference=reference or Path(name).name, uploaded_by_id=by_id
        )
        transaction.on_commit(lambda: statement_upload_import_task.send(upload.pk))
    return upload


def statement_upload_process(*, upload_id: int) -> StatementUpload:
    """Import a queued upload. Idempotent: done or refused uploads are returned unchanged.

    The claim is a conditional UPDATE (queued or running → running), so a
    duplicate message for a finished upload does nothing; a rerun of an
    interrupted one is safe because ``statement_import`` is idempotent per file.
    """
    claimed = StatementUpload.objects.filter(
        pk=upload_id, status__in=[StatementUpload.Status.QUEUED, StatementUpload.Status.RUNNING]
    ).update(status=StatementUpload.Status.RUNNING)
    upload = StatementUpload.objects.get(pk=upload_id)
    if not claimed:
        return upload
    try:
        result = statement_import(
            path=Path(upload.path),
            reference=upload.reference,
            by_id=upload.uploaded_by_id,
            accept_overlap=upload.is_correction,
        )
    except StatementHeld as exc:
        upload.status = StatementUpload.Status.HELD
        upload.error = exc.as_dict()
        upload.save(update_fields=["status", "error", "updated_at"])
        return upload
    except DomainError as exc:
        upload.status = StatementUpload.Status.FAILED
        upload.error = exc.as_dict()
        upload.save(update_fields=["status", "error", "updated_at"])
        Path(upload.path).unlink(missing_ok=True)
        return upload
    upload.status = StatementUpload.Status.DONE
    upload.statement = result.statement
    upload.save(update_fields=["status", "statement", "updated_at"])
    Path(upload.path).unlink(missing_ok=True)
    return upload


def statement_upload_decide(*, upload_id: int, decision: str, by_id: int | None) -> StatementUpload:
    """Staff decision on a held upload: ``import`` it as a correction (queued again) or ``reject`` it.

    Records who decided and when. Locks the upload row, so two staff deciding at once act once.
    """
    from royalties.tasks import statement_upload_import_task

    if decision not in DECISIONS:
        raise StatementUploadDecisionInvalid(
            f"Decide {' or '.join(DECISIONS)}, not {decision!r}.", extra={"decision": decision}
        )
    with transaction.atomic():
        upload = StatementUpload.objects.select_for_update().get(pk=upload_id)
        if upload.status != StatementUpload.Status.HELD:
            raise StatementUploadDecisionInvalid(
                f"Upload {upload_id} is {upload.status}, not held; only a held upload awaits a decision.",
                extra={"upload_id": upload_id, "status": upload.status},
            )
        upload.decided_by_id = by_id
        upload.decided_at = timezone.now()
        if decision == "import":
            upload.status = StatementUpload.Status.QUEUED
            upload.is_correction = True
            transaction.on_commit(lambda: statement_upload_import_task.send(upload.pk))
        else:
            upload.status = StatementUpload.Status.FAILED
            upload.error = {**upload.error, "decision": "rejected"}
            transaction.on_commit(lambda: Path(upload.path).unlink(missing_ok=True))
        upload.save(update_fields=["status", "is_correction", "error", "decided_by", "decided_at", "updated_at"])
    return upload
