from __future__ import annotations

import hashlib
from typing import Any

import pytest

from generation.errors import GenerationStateError, UploadSetNotReadyError
from generation.models import Generation, GenerationStage, UploadFeatures
from generation.selectors import generation_sources
from generation.services import generation_cancel, generation_run, generation_start
from generation.services import stages as stage_module
from generation.services.pipeline import STAGE_NAMES
from royalties.money import PPB
from uploads.models import Upload

pytestmark = pytest.mark.django_db


def _start(ready_set: Any, django_capture_on_commit_callbacks: Any, seed: int = 11) -> Generation:
    with django_capture_on_commit_callbacks(execute=False):
        return generation_start(upload_set_id=ready_set.pk, owner_id=ready_set.owner_id, seed=seed)


@pytest.mark.slow
def test_it_runs_every_stage_and_reports_influence(
    ready_set: Any, engine_settings: Any, fake_audio: Any, fake_synthesis: Any, django_capture_on_commit_callbacks: Any
) -> None:
    base_hash = hashlib.sha256(engine_settings.GENERATION_CHECKPOINT.read_bytes()).hexdigest()
    generation = generation_run(generation_id=_start(ready_set, django_capture_on_commit_callbacks).pk)

    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.progress_percent == 100
    assert generation.is_original is True
    assert list(generation.stages.values_list("name", flat=True)) == list(STAGE_NAMES)
    influence = generation.report["influence"]
    uploads = list(Upload.objects.filter(upload_set=ready_set).order_by("created_at", "id"))
    assert [row["upload_id"] for row in influence] == [u.pk for u in uploads]
    assert [row["recording_id"] for row in influence] == [u.recording_id for u in uploads]
    assert sum(row["share_bps"] for row in influence) == 10_000
    assert abs(sum(row["share"] for row in influence) - 1.0) < 1e-4
    sources = generation_sources(generation_id=generation.pk)
    assert [(s.upload_id, s.recording_id) for s in sources] == [(u.pk, u.recording_id) for u in uploads]
    assert sum(s.share_ppb for s in sources) == PPB
    assert [row["share_ppb"] for row in influence] == [s.share_ppb for s in sources]
    assert generation.report["influence_method"]["method"] == "likelihood-gain n-gram attribution"
    assert generation.master_wav.name.endswith("master.wav")
    assert generation.report["originality"]["longest_shared_notes"] <= 8
    assert hashlib.sha256(engine_settings.GENERATION_CHECKPOINT.read_bytes()).hexdigest() == base_hash


def test_fine_tune_draws_two_thirds_from_the_songs(
    ready_set: Any, engine_settings: Any, fake_audio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    generation = generation_run(
        generation_id=_start(ready_set, django_capture_on_commit_callbacks).pk, stop_after="finetune"
    )
    output = generation.stages.get(name="finetune").output
    assert output["upload_fraction_setting"] == 0.67
    assert output["upload_fraction_drawn"] == pytest.approx(4 / 6, abs=0.01)  # 4 of 6 rows per batch
    assert len(output["per_song"]) == 10
    assert sum(row["tokens"] for row in output["per_song"]) == output["upload_tokens"]
    assert output["steps"] == 3


@pytest.mark.slow
def test_a_crash_resumes_without_redoing_finished_stages(
    ready_set: Any,
    engine_settings: Any,
    fake_audio: Any,
    fake_synthesis: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    generation = _start(ready_set, django_capture_on_commit_callbacks)
    calls: list[str] = []
    real_finetune = stage_module.stage_finetune

    def counting_finetune(*args: Any) -> Any:
        calls.append("finetune")
        return real_finetune(*args)

    def crashing_compose(*args: Any) -> Any:
        raise RuntimeError("worker killed")

    original = stage_module.STAGES
    table = tuple(
        (name, {"finetune": counting_finetune, "compose": crashing_compose}.get(name, fn), w)
        for name, fn, w in stage_module.STAGES
    )
    monkeypatch.setattr(stage_module, "STAGES", table)
    with pytest.raises(RuntimeError):
        generation_run(generation_id=generation.pk)
    assert set(generation.stages.filter(status="done").values_list("name", flat=True)) == {
        "analyse",
        "transcribe",
        "finetune",
    }
    analysed, transcribed = len(fake_audio.analysed), len(fake_audio.transcribed)

    monkeypatch.setattr(
        stage_module, "STAGES", tuple((n, counting_finetune if n == "finetune" else f, w) for n, f, w in original)
    )
    generation = generation_run(generation_id=generation.pk)

    assert generation.status == Generation.Status.SUCCEEDED
    assert calls == ["finetune"]
    assert (len(fake_audio.analysed), len(fake_audio.transcribed)) == (analysed, transcribed)
    assert generation.stages.get(name="compose").attempts == 2
    assert generation.stages.get(name="analyse").attempts == 1


def test_features_are_computed_once_per_upload(
    ready_set: Any, engine_settings: Any, fake_audio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    for seed in (1, 2):
        generation = _start(ready_set, django_capture_on_commit_callbacks, seed=seed)
        generation_run(generation_id=generation.pk, stop_after="transcribe")
        generation_cancel(generation_id=generation.pk)  # one active generation per set
    assert len(fake_audio.analysed) == 10
    assert len(fake_audio.transcribed) == 10
    assert UploadFeatures.objects.filter(transcribed_at__isnull=False).count() == 10


def test_start_refuses_a_set_with_an_unmatched_upload(
    ready_set: Any, engine_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    Upload.objects.filter(pk=ready_set.uploads.first().pk).update(status=Upload.Status.UNMATCHED, recording=None)
    with pytest.raises(UploadSetNotReadyError), django_capture_on_commit_callbacks(execute=False) as callbacks:
        generation_start(upload_set_id=ready_set.pk, owner_id=ready_set.owner_id)
    assert Generation.objects.count() == 0
    assert callbacks == []


def test_cancel_stops_the_pipeline(
    ready_set: Any, engine_settings: Any, fake_audio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    generation = _start(ready_set, django_capture_on_commit_callbacks)
    generation_run(generation_id=generation.pk, stop_after="analyse")
    generation_cancel(generation_id=generation.pk, owner_id=ready_set.owner_id)
    generation = generation_run(generation_id=generation.pk)
    assert generation.status == Generation.Status.CANCELLED
    assert list(GenerationStage.objects.filter(generation=generation).values_list("name", flat=True)) == ["analyse"]
    with pytest.raises(GenerationStateError):
        generation_cancel(generation_id=generation.pk)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_actor_chains_every_stage(
    ready_set: Any, engine_settings: Any, fake_audio: Any, fake_synthesis: Any, stub_broker: Any, stub_worker: Any
) -> None:
    generation = generation_start(upload_set_id=ready_set.pk, seed=3)
    stub_broker.join("ml", fail_fast=True)
    stub_worker.join()
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    assert GenerationStage.objects.filter(generation=generation, status="done").count() == len(STAGE_NAMES)


def test_a_stage_left_running_by_a_killed_worker_is_retaken_after_its_claim_lapses(
    ready_set: Any, engine_settings: Any, fake_audio: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from generation.services.pipeline import claim_wait_ms, generation_advance

    generation = _start(ready_set, django_capture_on_commit_callbacks)
    GenerationStage.objects.create(
        generation=generation,
        name="analyse",
        status=GenerationStage.Status.RUNNING,
        attempts=1,
        claimed_until=timezone.now() + timedelta(minutes=5),
    )
    assert generation_advance(generation_id=generation.pk) is None
    assert fake_audio.analysed == []
    wait = claim_wait_ms(generation.pk)
    assert wait is not None
    assert 290_000 < wait <= 301_000

    GenerationStage.objects.filter(generation=generation).update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert generation_advance(generation_id=generation.pk) == "analyse"
    assert len(fake_audio.analysed) == 10
    assert GenerationStage.objects.get(generation=generation, name="analyse").attempts == 2


@pytest.mark.slow
def test_an_equal_split_setting_gives_every_upload_the_same_share(
    ready_set: Any,
    engine_settings: Any,
    fake_audio: Any,
    fake_synthesis: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    engine_settings.INFLUENCE_SPLIT = "equal"
    generation = generation_run(generation_id=_start(ready_set, django_capture_on_commit_callbacks).pk)
    assert generation.status == Generation.Status.SUCCEEDED
    assert [s.share_ppb for s in generation_sources(generation_id=generation.pk)] == [100_000_000] * 10
    assert [row["share_bps"] for row in generation.report["influence"]] == [1_000] * 10
    assert generation.report["influence_method"] == {"method": "equal (SONGFORGE_INFLUENCE_SPLIT=equal)"}
