"""A stage whose worker dies is retaken promptly, at most SONGFORGE_JOB_MAX_ATTEMPTS times, and can be retried."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from dramatiq.middleware.time_limit import TimeLimitExceeded

from generation.errors import GenerationStateError
from generation.models import Generation, GenerationStage
from generation.services import generation_advance, generation_start
from generation.services import stages as stage_module
from generation.services.pipeline import generation_retry, generations_reap
from songforge.errors import NotFound

pytestmark = pytest.mark.django_db


def _start(ready_set: Any, django_capture_on_commit_callbacks: Any) -> Generation:
    with django_capture_on_commit_callbacks(execute=False):
        return generation_start(upload_set_id=ready_set.pk, owner_id=ready_set.owner_id, seed=5)


def _killed_mid_stage(generation: Generation, *, attempts: int = 1, ago_s: int = 30) -> GenerationStage:
    """The row a worker leaves behind when it is killed: running, its heartbeat stopped ``ago_s`` ago."""
    return GenerationStage.objects.create(
        generation=generation,
        name="analyse",
        status=GenerationStage.Status.RUNNING,
        attempts=attempts,
        claimed_until=timezone.now() - timedelta(seconds=ago_s),
    )


def test_the_reaper_releases_a_stale_stage_once_however_many_workers_look(
    ready_set: Any, engine_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    generation = _start(ready_set, django_capture_on_commit_callbacks)
    _killed_mid_stage(generation)
    Generation.objects.filter(pk=generation.pk).update(updated_at=timezone.now())

    assert generations_reap() == [generation.pk]
    assert generations_reap() == []  # a second worker's reaper finds nothing left to take
    stage = GenerationStage.objects.get(generation=generation)
    assert (stage.status, stage.claimed_until) == (GenerationStage.Status.FAILED, None)
    assert "stopped responding" in stage.error


def test_a_live_heartbeat_keeps_the_stage_from_the_reaper(
    ready_set: Any, engine_settings: Any, django_capture_on_commit_callbacks: Any, fake_audio: Any
) -> None:
    generation = _start(ready_set, django_capture_on_commit_callbacks)
    stage = _killed_mid_stage(generation)
    GenerationStage.objects.filter(pk=stage.pk).update(claimed_until=timezone.now() + timedelta(seconds=15))
    Generation.objects.filter(pk=generation.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    assert generations_reap() == []
    assert generation_advance(generation_id=generation.pk) is None
    assert fake_audio.analysed == []


def test_a_generation_whose_message_was_lost_is_re_enqueued_once(
    ready_set: Any, engine_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    generation = _start(ready_set, django_capture_on_commit_callbacks)
    Generation.objects.filter(pk=generation.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert generations_reap() == [generation.pk]
    assert generations_reap() == []


def test_a_stage_killed_on_its_last_attempt_fails_the_generation_with_a_retry_hint(
    ready_set: Any, engine_settings: Any, django_capture_on_commit_callbacks: Any, fake_audio: Any, settings: Any
) -> None:
    settings.SONGFORGE_JOB_MAX_ATTEMPTS = 3
    generation = _start(ready_set, django_capture_on_commit_callbacks)
    _killed_mid_stage(generation, attempts=3)

    assert generation_advance(generation_id=generation.pk) is None  # an 8th claim never happens
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "stopped 3 times" in generation.error
    assert "Press Retry" in generation.error
    assert fake_audio.analysed == []

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        retried = generation_retry(generation_id=generation.pk, owner_id=ready_set.owner_id)
    assert retried.status == Generation.Status.QUEUED
    assert len(callbacks) == 1
    assert generation_advance(generation_id=generation.pk) == "analyse"
    assert GenerationStage.objects.get(generation=generation, name="analyse").attempts == 1


def test_the_reaper_fails_a_stale_stage_with_no_attempt_left(
    ready_set: Any, engine_settings: Any, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.SONGFORGE_JOB_MAX_ATTEMPTS = 2
    generation = _start(ready_set, django_capture_on_commit_callbacks)
    _killed_mid_stage(generation, attempts=2)
    assert generations_reap() == []
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "analyse stage stopped 2 times" in generation.error


def test_a_time_limit_counts_as_an_attempt_and_the_last_one_fails_the_generation(
    ready_set: Any,
    engine_settings: Any,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: Any,
    settings: Any,
) -> None:
    settings.SONGFORGE_JOB_MAX_ATTEMPTS = 2
    generation = _start(ready_set, django_capture_on_commit_callbacks)

    def too_slow(generation: Generation, outputs: Any) -> dict[str, Any]:
        raise TimeLimitExceeded()

    monkeypatch.setattr(stage_module, "STAGES", (("analyse", too_slow, 10), *stage_module.STAGES[1:]))
    for attempt in (1, 2):
        with pytest.raises(TimeLimitExceeded):
            generation_advance(generation_id=generation.pk)
        stage = GenerationStage.objects.get(generation=generation, name="analyse")
        assert (stage.status, stage.attempts, stage.claimed_until) == ("failed", attempt, None)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "TimeLimitExceeded" in generation.error
    assert generation_advance(generation_id=generation.pk) is None


def test_a_result_from_a_worker_whose_claim_was_taken_over_is_dropped(
    ready_set: Any, engine_settings: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    generation = _start(ready_set, django_capture_on_commit_callbacks)

    def slow_then_overtaken(generation: Generation, outputs: Any) -> dict[str, Any]:
        # meanwhile the reaper released this claim and another worker claimed the stage again
        GenerationStage.objects.filter(generation=generation, name="analyse").update(
            claimed_until=timezone.now() + timedelta(seconds=20), attempts=2
        )
        return {"from": "the overtaken worker"}

    monkeypatch.setattr(stage_module, "STAGES", (("analyse", slow_then_overtaken, 10), *stage_module.STAGES[1:]))
    assert generation_advance(generation_id=generation.pk) is None
    stage = GenerationStage.objects.get(generation=generation, name="analyse")
    assert (stage.status, stage.output) == ("running", {})


def test_only_a_failed_generation_of_ones_own_can_be_retried(
    ready_set: Any, engine_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    generation = _start(ready_set, django_capture_on_commit_callbacks)
    with pytest.raises(GenerationStateError):
        generation_retry(generation_id=generation.pk)
    with pytest.raises(NotFound):
        generation_retry(generation_id=generation.pk, owner_id=ready_set.owner_id + 1000)


def test_the_failed_page_offers_retry_and_the_button_restarts_the_generation(
    ready_set: Any, engine_settings: Any, django_capture_on_commit_callbacks: Any, client: Any
) -> None:
    generation = _start(ready_set, django_capture_on_commit_callbacks)
    _killed_mid_stage(generation, attempts=3)
    generation_advance(generation_id=generation.pk)
    client.force_login(ready_set.owner)
    page = client.get(f"/songs/{generation.pk}/progress")
    assert b"Press Retry" in page.content
    assert f'action="/songs/{generation.pk}/retry"'.encode() in page.content

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/songs/{generation.pk}/retry")
    assert response.status_code == 302
    assert len(callbacks) == 1
    generation.refresh_from_db()
    assert (generation.status, generation.error) == (Generation.Status.QUEUED, "")
