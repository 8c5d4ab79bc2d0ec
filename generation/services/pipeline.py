"""The generation pipeline: start, cancel, and advance one persisted stage at a time.

Stages run in order (see ``stages.STAGES``). Each stage's output is stored in a GenerationStage
row the moment it finishes, and a finished stage never runs again, so a worker killed anywhere
resumes from the last finished stage. A stage is claimed with a conditional UPDATE (status not
done, no live claim, attempts left), so a duplicate message cannot run it twice at the same time.

While a stage runs, a heartbeat renews its claim (``songforge.jobs.Heartbeat``); a killed worker's
claim goes stale within ``SONGFORGE_JOB_STALE_AFTER_SECONDS`` and the reaper in every worker
process (:func:`generations_reap`) releases it and re-enqueues the generation. Every attempt
counts, crashes and time limits included; after ``SONGFORGE_JOB_MAX_ATTEMPTS`` the generation fails
with a message, and :func:`generation_retry` (the Retry button) runs it again from that stage.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from generation.errors import GenerationLimitError, GenerationStateError, UploadSetNotReadyError
from generation.models import Generation, GenerationStage
from generation.services import stages
from songforge import jobs
from songforge.errors import DomainError, NotFound
from uploads.selectors import upload_set_owned, upload_set_readiness

logger = logging.getLogger(__name__)

STAGE_NAMES = tuple(name for name, _, _ in stages.STAGES)
ACTIVE = (Generation.Status.QUEUED, Generation.Status.RUNNING)


def _readiness_problems(upload_set_id: int) -> list[str]:
    """The uploads app's readiness rule (uploads.selectors.upload_set_readiness) as a list of reasons."""
    readiness = upload_set_readiness(upload_set_id=upload_set_id)
    return [] if readiness.is_ready else [str(reason) for reason in readiness.reasons] or ["The set is not ready."]


def generation_limits_check(*, upload_set_id: int, owner_id: int | None, now: datetime | None = None) -> None:
    """Refuse a new generation (GenerationLimitError, HTTP 429) past the limits; the caller holds the set's lock.

    At most one queued or running generation per set (always), and at most
    ``GENERATIONS_PER_DAY`` started by an artist in any 24 hours (when ``owner_id`` is given, i.e.
    the artist asked; local commands and benchmarks pass no owner). The set's row lock serialises
    starts on one set; the owner's row lock serialises an artist's starts across sets.
    """
    running = Generation.objects.filter(upload_set_id=upload_set_id, status__in=ACTIVE).order_by("pk").first()
    if running is not None:
        raise GenerationLimitError(
            f"Generation #{running.pk} is still {running.get_status_display().lower()} for this set; wait for it "
            "to finish or cancel it before starting another.",
            code="generation_already_running",
            extra={"upload_set_id": upload_set_id, "generation_id": running.pk},
        )
    if owner_id is None:
        return
    limit = settings.GENERATIONS_PER_DAY
    now = now or timezone.now()
    get_user_model().objects.select_for_update().filter(pk=owner_id).first()
    recent = list(
        Generation.objects.filter(upload_set__owner_id=owner_id, created_at__gt=now - timedelta(days=1))
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )
    if len(recent) >= limit:
        next_at = recent[len(recent) - limit] + timedelta(days=1)
        raise GenerationLimitError(
            f"You can start {limit} generations in 24 hours and have used them all; the next one is possible "
            f"at {next_at:%Y-%m-%d %H:%M} UTC.",
            code="generation_daily_limit",
            extra={"limit": limit, "retry_after": next_at.isoformat()},
        )


def generation_start(
    *,
    upload_set_id: int,
    owner_id: int | None = None,
    seed: int | None = None,
    seconds: int | None = None,
    enqueue: bool = True,
) -> Generation:
    """Create a queued generation for a ready upload set and enqueue its pipeline after commit.

    Refuses (UploadSetNotReadyError) unless all ten uploads are matched, and (GenerationLimitError)
    past :func:`generation_limits_check`. ``owner_id``, when given,
    must own the set. ``enqueue=False`` leaves running it to the caller (``manage.py generate``
    calls ``generation_run`` in its own process).
    """
    from generation.tasks import generation_run_task

    with transaction.atomic():
        upload_set = upload_set_owned(upload_set_id=upload_set_id, owner_id=owner_id, lock=True)
        generation_limits_check(upload_set_id=upload_set_id, owner_id=owner_id)
        problems = _readiness_problems(upload_set_id)
        if problems:
            raise UploadSetNotReadyError(
                "All ten songs must be uploaded and matched before generating: " + " ".join(problems),
                extra={"upload_set_id": upload_set_id, "problems": problems},
            )
        generation = Generation.objects.create(
            upload_set=upload_set,
            seed=seed if seed is not None else random.SystemRandom().randrange(1, 2**31),
            report={"requested_seconds": seconds or settings.GENERATION_SECONDS},
        )
        generation_id = generation.pk
        if enqueue:
            transaction.on_commit(lambda: generation_run_task.send(generation_id))
    return generation


def generation_cancel(*, generation_id: int, owner_id: int | None = None) -> Generation:
    """Cancel a queued or running generation; the running stage's result is discarded."""
    with transaction.atomic():
        generation = (
            Generation.objects.select_for_update().select_related("upload_set").filter(pk=generation_id).first()
        )
        if generation is None or (owner_id is not None and generation.upload_set.owner_id != owner_id):
            raise NotFound("That generation does not exist.", extra={"generation_id": generation_id})
        if generation.status not in ACTIVE:
            raise GenerationStateError(
                f"A {generation.get_status_display().lower()} generation cannot be cancelled.",
                extra={"generation_id": generation_id, "status": generation.status},
            )
        generation.status = Generation.Status.CANCELLED
        generation.finished_at = timezone.now()
        generation.save(update_fields=["status", "finished_at", "updated_at"])
    return generation


def _outputs(generation_id: int) -> dict[str, dict[str, Any]]:
    rows = GenerationStage.objects.filter(generation_id=generation_id, status=GenerationStage.Status.DONE)
    return {row.name: row.output for row in rows}


def next_stage(generation_id: int) -> str | None:
    done = set(
        GenerationStage.objects.filter(generation_id=generation_id, status=GenerationStage.Status.DONE).values_list(
            "name", flat=True
        )
    )
    return next((name for name in STAGE_NAMES if name not in done), None)


def _percent_before(name: str) -> int:
    total = sum(w for _, _, w in stages.STAGES)
    before = 0
    for stage_name, _, weight in stages.STAGES:
        if stage_name == name:
            break
        before += weight
    return int(100 * before / total)


def _claim(generation_id: int, name: str) -> GenerationStage | None:
    """Claim the stage with a conditional UPDATE: not done, no live claim, attempts left.

    A stage left running by a killed worker (its heartbeat stopped) is retaken, and the retake
    counts as an attempt; when no attempt is left the generation fails with a message.
    """
    now = timezone.now()
    row, _ = GenerationStage.objects.get_or_create(
        generation_id=generation_id, name=name, defaults={"status": GenerationStage.Status.FAILED}
    )
    claimable = (
        GenerationStage.objects.filter(pk=row.pk)
        .exclude(status=GenerationStage.Status.DONE)
        .filter(Q(status=GenerationStage.Status.FAILED) | Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    )
    claimed = claimable.filter(attempts__lt=jobs.max_attempts()).update(
        status=GenerationStage.Status.RUNNING,
        claimed_until=now + jobs.stale_after(),
        attempts=F("attempts") + 1,
        started_at=now,
        error="",
    )
    if claimed == 1:
        row.refresh_from_db()
        logger.info("generation %s stage %s claimed (attempt %d)", generation_id, name, row.attempts)
        return row
    exhausted = claimable.filter(attempts__gte=jobs.max_attempts()).first()
    if exhausted is not None:
        _fail(generation_id, _exhausted_message(exhausted))
    return None


def _exhausted_message(row: GenerationStage) -> str:
    last = f" The last error was: {row.error}" if row.error else ""
    return (
        f"The {row.get_name_display().lower()} stage stopped {row.attempts} times (its worker crashed, was "
        f"killed or ran out of time), so the generation was stopped.{last} Press Retry to run it again from "
        "this stage; if it stops again, contact support."
    )


def _renew(stage_id: int) -> Callable[[datetime], datetime | None]:
    def renew(token: datetime) -> datetime | None:
        fresh = timezone.now() + jobs.stale_after()
        renewed = GenerationStage.objects.filter(
            pk=stage_id, status=GenerationStage.Status.RUNNING, claimed_until=token
        ).update(claimed_until=fresh)
        return fresh if renewed else None

    return renew


def _fail(generation_id: int, message: str) -> None:
    Generation.objects.filter(pk=generation_id, status__in=ACTIVE).update(
        status=Generation.Status.FAILED, error=message[:2000], finished_at=timezone.now(), updated_at=timezone.now()
    )


def generation_advance(*, generation_id: int) -> str | None:
    """Run the next unfinished stage of an active generation; return its name, or None if idle.

    Nothing runs for a finished, failed or cancelled generation, or while another worker holds
    the stage's claim. While the stage runs, a heartbeat renews its claim; the result is stored
    only if the claim is still ours. Domain errors fail the generation (or, if retryable, are
    re-raised); anything else (crashes, Dramatiq's time limit, worker shutdown, which are
    BaseExceptions) releases the claim and is re-raised for the job's retries, and fails the
    generation after ``SONGFORGE_JOB_MAX_ATTEMPTS`` attempts.
    """
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None or generation.status not in ACTIVE:
        return None
    name = next_stage(generation_id)
    if name is None:
        return None
    row = _claim(generation_id, name)
    if row is None:
        return None
    now = timezone.now()
    Generation.objects.filter(pk=generation_id, status__in=ACTIVE).update(
        status=Generation.Status.RUNNING,
        stage=name,
        progress_percent=_percent_before(name),
        started_at=generation.started_at or now,
        updated_at=now,
    )
    generation.refresh_from_db()
    function = next(fn for stage_name, fn, _ in stages.STAGES if stage_name == name)
    assert row.claimed_until is not None
    heartbeat = jobs.Heartbeat(token=row.claimed_until, renew=_renew(row.pk), what=f"generation {generation_id} {name}")
    try:
        with heartbeat:
            output = function(generation, _outputs(generation_id))
    except BaseException as error:
        message = error.message if isinstance(error, DomainError) else f"{type(error).__name__}: {error}".rstrip(": ")
        GenerationStage.objects.filter(pk=row.pk, claimed_until=heartbeat.token).update(
            status=GenerationStage.Status.FAILED, error=message[:2000], claimed_until=None, finished_at=timezone.now()
        )
        is_permanent = isinstance(error, DomainError) and error.permanent
        if is_permanent:
            _fail(generation_id, f"{name}: {message}")
        elif row.attempts >= jobs.max_attempts():
            row.error = message
            _fail(generation_id, _exhausted_message(row))
        logger.warning("generation %s stage %s failed (attempt %d): %s", generation_id, name, row.attempts, message)
        raise
    with transaction.atomic():
        current = Generation.objects.select_for_update().get(pk=generation_id)
        finished = GenerationStage.objects.filter(
            pk=row.pk, status=GenerationStage.Status.RUNNING, claimed_until=heartbeat.token
        ).update(status=GenerationStage.Status.DONE, output=output, claimed_until=None, finished_at=timezone.now())
        if not finished:
            logger.warning("generation %s stage %s was taken over while it ran; result dropped", generation_id, name)
            return None
        if current.status not in ACTIVE:
            return name  # cancelled meanwhile: the output is kept, nothing more runs
        is_last = name == STAGE_NAMES[-1]
        current.progress_percent = 100 if is_last else _percent_before(STAGE_NAMES[STAGE_NAMES.index(name) + 1])
        fields = ["progress_percent", "updated_at"]
        if name == "guard":
            current.is_original = bool(output.get("is_original"))
            fields.append("is_original")
        if is_last:
            current.report = {**current.report, **output}
            current.status = Generation.Status.SUCCEEDED
            current.stage = name
            current.finished_at = timezone.now()
            fields += ["report", "status", "stage", "finished_at"]
        current.save(update_fields=fields)
    return name


def generation_run(*, generation_id: int, stop_after: str | None = None) -> Generation:
    """Run the remaining stages in this process (commands, benchmarks, tests)."""
    while True:
        name = generation_advance(generation_id=generation_id)
        if name is None or name == stop_after:
            break
    return Generation.objects.get(pk=generation_id)


def generation_retry(*, generation_id: int, owner_id: int | None = None) -> Generation:
    """Run a failed generation again from its first unfinished stage, with fresh attempts."""
    from generation.tasks import generation_run_task

    with transaction.atomic():
        generation = (
            Generation.objects.select_for_update().select_related("upload_set").filter(pk=generation_id).first()
        )
        if generation is None or (owner_id is not None and generation.upload_set.owner_id != owner_id):
            raise NotFound("That generation does not exist.", extra={"generation_id": generation_id})
        if generation.status != Generation.Status.FAILED:
            raise GenerationStateError(
                f"Only a failed generation can be retried; this one is {generation.get_status_display().lower()}.",
                extra={"generation_id": generation_id, "status": generation.status},
            )
        GenerationStage.objects.filter(generation_id=generation_id).exclude(status=GenerationStage.Status.DONE).update(
            status=GenerationStage.Status.FAILED, attempts=0, claimed_until=None
        )
        generation.status = Generation.Status.QUEUED
        generation.error = ""
        generation.finished_at = None
        generation.save(update_fields=["status", "error", "finished_at", "updated_at"])
        transaction.on_commit(lambda: generation_run_task.send(generation_id))
    return generation


def generations_reap(*, now: datetime | None = None) -> list[int]:
    """Release stale stage claims and find active generations whose message was lost.

    Returns the ids of generations to re-enqueue. Safe in many processes at once: a stale claim is
    released with a conditional UPDATE on its stale value and a lost generation is marked with a
    conditional UPDATE on its ``updated_at``, so each is returned by exactly one caller. A stale
    stage with no attempt left fails its generation instead.
    """
    now = now or timezone.now()
    ids: list[int] = []
    stale = GenerationStage.objects.filter(
        status=GenerationStage.Status.RUNNING, claimed_until__lt=now, generation__status__in=ACTIVE
    ).order_by("pk")
    for row in stale:
        released = GenerationStage.objects.filter(
            pk=row.pk, status=GenerationStage.Status.RUNNING, claimed_until=row.claimed_until
        ).update(
            status=GenerationStage.Status.FAILED,
            claimed_until=None,
            finished_at=now,
            error="Its worker stopped responding (killed, crashed or out of memory).",
        )
        if not released:
            continue
        logger.warning("generation %s stage %s: stale claim released", row.generation_id, row.name)
        if row.attempts >= jobs.max_attempts():
            row.error = "Its worker stopped responding."
            _fail(row.generation_id, _exhausted_message(row))
        else:
            ids.append(row.generation_id)
    live = GenerationStage.objects.filter(status=GenerationStage.Status.RUNNING, claimed_until__gte=now)
    lost = (
        Generation.objects.filter(status__in=ACTIVE, updated_at__lt=now - jobs.orphan_after())
        .exclude(pk__in=live.values("generation_id"))
        .exclude(pk__in=ids)
        .order_by("pk")
        .values_list("pk", "updated_at")
    )
    for generation_id, updated_at in lost:
        if Generation.objects.filter(pk=generation_id, updated_at=updated_at).update(updated_at=now):
            ids.append(generation_id)
    return ids


def claim_wait_ms(generation_id: int) -> int | None:
    """Milliseconds until another worker's claim on the next stage lapses, or None if none is held.

    A worker killed mid-stage leaves its claim behind; the job re-checks once it lapses.
    """
    if not Generation.objects.filter(pk=generation_id, status__in=ACTIVE).exists():
        return None
    name = next_stage(generation_id)
    row = GenerationStage.objects.filter(
        generation_id=generation_id, name=name, status=GenerationStage.Status.RUNNING
    ).first()
    if row is None or row.claimed_until is None:
        return None
    remaining = (row.claimed_until - timezone.now()).total_seconds()
    return int(max(0.0, remaining) * 1000) + 1000


def unfinished_generation_ids() -> list[int]:
    return list(Generation.objects.filter(status__in=ACTIVE).order_by("pk").values_list("pk", flat=True))
