"""Royalties jobs: each loads a row by id and calls one service."""

from __future__ import annotations

import dramatiq

from royalties.models import StatementUpload
from royalties.statement_files import statement_upload_process
from songforge.errors import DomainError
from songforge.jobs import register_resumer

ROYALTIES_QUEUE = "royalties"


@dramatiq.actor(
    queue_name=ROYALTIES_QUEUE,
    max_retries=3,
    min_backoff=10_000,
    max_backoff=600_000,
    time_limit=60 * 60_000,
    throws=(DomainError,),
)
def statement_upload_import_task(upload_id: int) -> None:
    """Import an uploaded statement; a duplicate delivery of a finished upload does nothing."""
    statement_upload_process(upload_id=upload_id)


@register_resumer
def resume_statement_uploads() -> int:
    """Re-enqueue uploads that were queued or importing when the embedded broker stopped."""
    upload_ids = list(
        StatementUpload.objects.filter(
            status__in=[StatementUpload.Status.QUEUED, StatementUpload.Status.RUNNING]
        ).values_list("pk", flat=True)
    )
    for upload_id in upload_ids:
        statement_upload_import_task.send(upload_id)
    return len(upload_ids)
