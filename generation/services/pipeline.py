"""The generation pipeline: start, cancel, and advance one persisted stage at a time.

A generation makes ``TAKES_PER_GENERATION`` takes (two seeds). The song's row is take 1; each
further take is a ``Generation`` row with ``take_of`` pointing at it. The expensive common stages
(``stages.SHARED_STAGES``: analyse, transcribe, fine-tune) run once, on the song's row; the
others (``stages.TAKE_STAGES``: compose, guard, synthesise, master, report) run per take, on the
take's row, take 1 first. The song (its row's status, stage and progress) is the job: it has
succeeded once every take has; each further take's row follows its own steps.

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

from generation.errors import (
    GenerationLimitError,
    GenerationRequestError,
    GenerationStateError,
    UploadSetNotReadyError,
)
from generation.models import Generation, GenerationStage
from generation.services import stages
from songforge import jobs
from songforge.errors import DomainError, NotFound
from uploads.selectors import upload_set_owned, upload_set_readiness

logger = logging.getLogger(__name__)

STAGE_NAMES = tuple(name for name, _, _ in stages.STAGES)
ACTIVE = (Generation.Status.QUEUED, Generation.Status.RUNNING)
TAKES_PER_GENERATION = 2
LENGTH_CHOICES_S = (60, 120, 180)  # the generate form's "about 1, 2 or 3 minutes"
MIN_SECONDS, MAX_SECONDS = 10, 600

Step = tuple[int, str]  # (the take's generation id, stage name)


def _song_rows(song_id: int) -> Q:
    """The rows of a song: its own (take 1) and its further takes'."""
    return Q(pk=song_id) | Q(take_of_id=song_id)


def song_id_of(generation_id: int) -> int | None:
    """The song a generation row belongs to (itself for a first take), or None if there is no such row."""
    row = Generation.objects.filter(pk=generation_id).values_list("pk", "take_of_id").first()
    if row is None:
        return None
    return int(row[1] or row[0])


def take_ids(song_id: int) -> list[int]:
    """The song's takes' generation ids, take 1 (the song's own row) first."""
    return list(Generation.objects.filter(_song_rows(song_id)).order_by("take_number").values_list("pk", flat=True))


def song_steps(song_id: int) -> list[Step]:
    """Every step of the song in the order it runs: the shared stages once, then each take's own."""
    steps: list[Step] = [(song_id, name) for name in stages.SHARED_STAGES]
    for take_id in take_ids(song_id):
        steps += [(take_id, name) for name in stages.TAKE_STAGES]
    return steps


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
    songs = Generation.objects.filter(take_of__isnull=True)
    running = songs.filter(upload_set_id=upload_set_id, status__in=ACTIVE).order_by("pk").first()
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
        songs.filter(upload_set__owner_id=owner_id, created_at__gt=now - timedelta(days=1))
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


def take_seed(seed: int, take_number: int) -> int:
    """The seed of take ``take_number`` (take 1 plays the generation's own seed)."""
    return (seed + 1_000_003 * (take_number - 1)) % 2**62


def generation_start(
    *,
    upload_set_id: int,
    owner_id: int | None = None,
    seed: int | None = None,
    seconds: int | None = None,
    takes: int | None = None,
    enqueue: bool = True,
) -> Generation:
    """Create a queued generation (the song, its take 1, and its further takes) and enqueue it after commit.

    Refuses (UploadSetNotReadyError) unless all ten uploads are matched, and (GenerationLimitError)
    past :func:`generation_limits_check`. ``owner_id``, when given, must own the set. ``seconds``
    is the requested length (``MIN_SECONDS``..``MAX_SECONDS``; default ``GENERATION_SECONDS``);
    ``takes`` how many takes (1 or 2; default ``SONGFORGE_GENERATION_TAKES``) are composed, each with
    its own seed. A song of one take has it kept. ``enqueue=False`` leaves running it to the caller
    (``manage.py generate`` calls ``generation_run`` in its own process). Returns the song's row (take 1).
    """
    from generation.tasks import generation_run_task

    if seconds is not None and not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise GenerationRequestError(
            f"A song can be {MIN_SECONDS} to {MAX_SECONDS} seconds long; {seconds} seconds was asked for.",
            extra={"seconds": seconds},
        )
    takes = settings.GENERATION_TAKES if takes is None else takes
    if not 1 <= takes <= TAKES_PER_GENERATION:
        raise GenerationRequestError(
            f"A generation makes 1 to {TAKES_PER_GENERATION} takes; {takes} were asked for.", extra={"takes": takes}
        )
    with transaction.atomic():
        upload_set = upload_set_owned(upload_set_id=upload_set_id, owner_id=owner_id, lock=True)
        generation_limits_check(upload_set_id=upload_set_id, owner_id=owner_id)
        problems = _readiness_problems(upload_set_id)
        if problems:
            raise UploadSetNotReadyError(
                "All ten songs must be uploaded and matched before generating: " + " ".join(problems),
                extra={"upload_set_id": upload_set_id, "problems": problems},
            )
        chosen_seed = seed if seed is not None else random.SystemRandom().randrange(1, 2**31)
        report = {"requested_seconds": seconds or settings.GENERATION_SECONDS, "takes": takes}
        generation = Generation.objects.create(
            upload_set=upload_set, seed=chosen_seed, report=report, is_kept=takes == 1
        )
        for number in range(2, takes + 1):
            Generation.objects.create(
                upload_set=upload_set,
                take_of=generation,
                take_number=number,
                seed=take_seed(chosen_seed, number),
                report=report,
            )
        generation_id = generation.pk
        if enqueue:
            transaction.on_commit(lambda: generation_run_task.send(generation_id))
    return generation


def _song_locked(generation_id: int) -> Generation | None:
    """The song of ``generation_id`` (any of its takes' ids), its row locked."""
    song_id = song_id_of(generation_id)
    if song_id is None:
        return None
    return Generation.objects.select_for_update(of=("self",)).select_related("upload_set").filter(pk=song_id).first()


def generation_cancel(*, generation_id: int, owner_id: int | None = None) -> Generation:
    """Cancel a queued or running generation (every take of it); the running stage's result is discarded."""
    with transaction.atomic():
        generation = _song_locked(generation_id)
        if generation is None or (owner_id is not None and generation.upload_set.owner_id != owner_id):
            raise NotFound("That generation does not exist.", extra={"generation_id": generation_id})
        if generation.status not in ACTIVE:
            raise GenerationStateError(
                f"A {generation.get_status_display().lower()} generation cannot be cancelled.",
                extra={"generation_id": generation_id, "status": generation.status},
            )
        now = timezone.now()
        Generation.objects.filter(_song_rows(generation.pk), status__in=ACTIVE).update(
            status=Generation.Status.CANCELLED, finished_at=now, updated_at=now
        )
        generation.refresh_from_db()
    return generation


def _outputs(song_id: int, take_id: int) -> dict[str, dict[str, Any]]:
    """The finished outputs a take's stage reads: the song's shared stages and the take's own."""
    rows = GenerationStage.objects.filter(
        Q(generation_id=song_id, name__in=stages.SHARED_STAGES) | Q(generation_id=take_id, name__in=stages.TAKE_STAGES),
        status=GenerationStage.Status.DONE,
    )
    return {row.name: row.output for row in rows}


def next_step(song_id: int) -> Step | None:
    """The song's first unfinished step, or None when every take is finished."""
    steps = song_steps(song_id)
    done = set(
        GenerationStage.objects.filter(
            generation_id__in={take_id for take_id, _ in steps}, status=GenerationStage.Status.DONE
        ).values_list("generation_id", "name")
    )
    return next((step for step in steps if step not in done), None)


def next_stage(generation_id: int) -> str | None:
    """The name of the next unfinished stage of the generation's song (any take), or None."""
    song_id = song_id_of(generation_id)
    step = next_step(song_id) if song_id is not None else None
    return step[1] if step is not None else None


def _percent_before(steps: list[Step], index: int) -> int:
    weights = {name: weight for name, _, weight in stages.STAGES}
    total = sum(weights[name] for _, name in steps)
    return int(100 * sum(weights[name] for _, name in steps[:index]) / total)


def _claim(generation_id: int, name: str, song_id: int) -> GenerationStage | None:
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
        _fail(song_id, _exhausted_message(exhausted))
    return None


def _exhausted_message(row: GenerationStage) -> str:
    last = f" The last error was: {row.error}" if row.error else ""
    take = Generation.objects.filter(pk=row.generation_id).values_list("take_number", flat=True).first() or 1
    where = f" of take {take}" if row.name in stages.TAKE_STAGES else ""
    return (
        f"The {row.get_name_display().lower()} stage{where} stopped {row.attempts} times (its worker crashed, was "
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
    """Fail the song of ``generation_id`` and every take of it still active (Retry resumes where it stopped)."""
    song_id = song_id_of(generation_id)
    if song_id is None:
        return
    Generation.objects.filter(_song_rows(song_id), status__in=ACTIVE).update(
        status=Generation.Status.FAILED, error=message[:2000], finished_at=timezone.now(), updated_at=timezone.now()
    )


def generation_advance(*, generation_id: int) -> str | None:
    """Run the next unfinished step of an active generation's song; return its stage name, or None if idle.

    ``generation_id`` may be any take's id: the song's steps run in order (shared stages, then take
    1's, then take 2's). Nothing runs for a finished, failed or cancelled song, or while another
    worker holds the step's claim. While the stage runs, a heartbeat renews its claim; the result
    is stored only if the claim is still ours. Domain errors fail the song (or, if retryable, are
    re-raised); anything else (crashes, Dramatiq's time limit, worker shutdown, which are
    BaseExceptions) releases the claim and is re-raised for the job's retries, and fails the song
    after ``SONGFORGE_JOB_MAX_ATTEMPTS`` attempts.
    """
    song_id = song_id_of(generation_id)
    if song_id is None:
        return None
    generation = Generation.objects.filter(pk=song_id).first()
    if generation is None or generation.status not in ACTIVE:
        return None
    steps = song_steps(song_id)
    step = next_step(song_id)
    if step is None:
        return None
    take_id, name = step
    row = _claim(take_id, name, song_id)
    if row is None:
        return None
    index = steps.index(step)
    now = timezone.now()
    Generation.objects.filter(pk=song_id, status__in=ACTIVE).update(
        status=Generation.Status.RUNNING,
        stage=name,
        progress_percent=_percent_before(steps, index),
        started_at=generation.started_at or now,
        updated_at=now,
    )
    if take_id != song_id:
        Generation.objects.filter(pk=take_id, status__in=ACTIVE).update(
            status=Generation.Status.RUNNING, stage=name, updated_at=now
        )
        Generation.objects.filter(pk=take_id, started_at__isnull=True).update(started_at=now)
    take = Generation.objects.get(pk=take_id)
    function = next(fn for stage_name, fn, _ in stages.STAGES if stage_name == name)
    assert row.claimed_until is not None
    heartbeat = jobs.Heartbeat(token=row.claimed_until, renew=_renew(row.pk), what=f"generation {take_id} {name}")
    try:
        with heartbeat:
            output = function(take, _outputs(song_id, take_id))
    except BaseException as error:
        message = error.message if isinstance(error, DomainError) else f"{type(error).__name__}: {error}".rstrip(": ")
        GenerationStage.objects.filter(pk=row.pk, claimed_until=heartbeat.token).update(
            status=GenerationStage.Status.FAILED, error=message[:2000], claimed_until=None, finished_at=timezone.now()
        )
        is_permanent = isinstance(error, DomainError) and error.permanent
        has_takes = len(steps) > len(stages.SHARED_STAGES) + len(stages.TAKE_STAGES)
        where = f"take {take.take_number} {name}" if name in stages.TAKE_STAGES and has_takes else name
        if is_permanent:
            _fail(song_id, f"{where}: {message}")
        elif row.attempts >= jobs.max_attempts():
            row.error = message
            _fail(song_id, _exhausted_message(row))
        logger.warning("generation %s stage %s failed (attempt %d): %s", take_id, name, row.attempts, message)
        raise
    with transaction.atomic():
        current = Generation.objects.select_for_update().get(pk=song_id)
        finished = GenerationStage.objects.filter(
            pk=row.pk, status=GenerationStage.Status.RUNNING, claimed_until=heartbeat.token
        ).update(status=GenerationStage.Status.DONE, output=output, claimed_until=None, finished_at=timezone.now())
        if not finished:
            logger.warning("generation %s stage %s was taken over while it ran; result dropped", take_id, name)
            return None
        if current.status not in ACTIVE:
            return name  # cancelled meanwhile: the output is kept, nothing more runs
        _record_step(current, take_id, name, output, is_last=index == len(steps) - 1)
        if index < len(steps) - 1:
            current.progress_percent = _percent_before(steps, index + 1)
            current.save(update_fields=["progress_percent", "updated_at"])
    return name


def _record_step(song: Generation, take_id: int, name: str, output: dict[str, Any], *, is_last: bool) -> None:
    """What a finished step changes on its take's row and the song's (the caller holds the song's lock)."""
    take = song if take_id == song.pk else Generation.objects.select_for_update().get(pk=take_id)
    fields: set[str] = {"updated_at"}
    if name == "guard":
        take.is_original = bool(output.get("is_original"))
        fields.add("is_original")
    if name == stages.TAKE_STAGES[-1]:  # the take is finished
        take.report = {**take.report, **output}
        fields.add("report")
        if take is not song:
            take.status = Generation.Status.SUCCEEDED
            take.stage = name
            take.progress_percent = 100
            take.finished_at = timezone.now()
            fields |= {"status", "stage", "progress_percent", "finished_at"}
    if take is not song:
        take.save(update_fields=sorted(fields))
        fields = {"updated_at"}
    if is_last:
        song.status = Generation.Status.SUCCEEDED
        song.stage = name
        song.progress_percent = 100
        song.finished_at = timezone.now()
        fields |= {"status", "stage", "progress_percent", "finished_at"}
    song.save(update_fields=sorted(fields))


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
        generation = _song_locked(generation_id)
        if generation is None or (owner_id is not None and generation.upload_set.owner_id != owner_id):
            raise NotFound("That generation does not exist.", extra={"generation_id": generation_id})
        generation_id = generation.pk
        if generation.status != Generation.Status.FAILED:
            raise GenerationStateError(
                f"Only a failed generation can be retried; this one is {generation.get_status_display().lower()}.",
                extra={"generation_id": generation_id, "status": generation.status},
            )
        GenerationStage.objects.filter(generation_id__in=take_ids(generation_id)).exclude(
            status=GenerationStage.Status.DONE
        ).update(status=GenerationStage.Status.FAILED, attempts=0, claimed_until=None)
        Generation.objects.filter(_song_rows(generation_id), status=Generation.Status.FAILED).update(
            status=Generation.Status.QUEUED, error="", finished_at=None, updated_at=timezone.now()
        )
        generation.refresh_from_db()
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
            song_id = song_id_of(row.generation_id)
            if song_id is not None and song_id not in ids:
                ids.append(song_id)
    live = GenerationStage.objects.filter(status=GenerationStage.Status.RUNNING, claimed_until__gte=now)
    live_songs = Generation.objects.filter(pk__in=live.values("generation_id")).values_list("pk", "take_of_id")
    busy = {int(take_of or pk) for pk, take_of in live_songs}
    lost = (
        Generation.objects.filter(status__in=ACTIVE, take_of__isnull=True, updated_at__lt=now - jobs.orphan_after())
        .exclude(pk__in=busy)
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
    song_id = song_id_of(generation_id)
    if song_id is None or not Generation.objects.filter(pk=song_id, status__in=ACTIVE).exists():
        return None
    step = next_step(song_id)
    if step is None:
        return None
    row = GenerationStage.objects.filter(
        generation_id=step[0], name=step[1], status=GenerationStage.Status.RUNNING
    ).first()
    if row is None or row.claimed_until is None:
        return None
    remaining = (row.claimed_until - timezone.now()).total_seconds()
    return int(max(0.0, remaining) * 1000) + 1000


def unfinished_generation_ids() -> list[int]:
    """The songs still queued or running (each song once, by its first take's id)."""
    songs = Generation.objects.filter(status__in=ACTIVE, take_of__isnull=True)
    return list(songs.order_by("pk").values_list("pk", flat=True))
