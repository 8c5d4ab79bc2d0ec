"""The identification actor: runs through a real worker, is idempotent, and never overwrites a manual fix."""

from __future__ import annotations

import datetime

import dramatiq
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from tests.uploads.conftest import encode, excerpt, song, uploaded
from uploads import services
from uploads.models import Upload
from uploads.tasks import resume_upload_identification, upload_identify_task

pytestmark = pytest.mark.django_db(transaction=True)


def run_queue(broker, worker) -> None:
    broker.join(upload_identify_task.queue_name)
    worker.join()


def add_clip(upload_set_id: int, samples, kind: str = "mp3", name: str = "clip.mp3") -> Upload:
    return services.upload_add(upload_set_id=upload_set_id, file=uploaded(name, encode(samples, kind)))


@pytest.fixture
def upload_set(owner):
    return services.upload_set_create(owner_id=owner.pk)


def test_an_upload_is_identified_by_the_worker_and_a_rerun_changes_nothing(
    stub_broker, stub_worker, indexed_catalog, upload_set
):
    upload = add_clip(upload_set.pk, excerpt(3, 1.5, 6.0))  # on_commit enqueues the actor
    run_queue(stub_broker, stub_worker)
    upload.refresh_from_db()
    assert (upload.status, upload.recording_id, upload.match_method) == (
        "matched",
        indexed_catalog[2].pk,
        "fingerprint",
    )
    assert upload.offset_s == pytest.approx(1.5, abs=0.1)
    assert upload.confidence is not None
    first = (upload.updated_at, upload.confidence, upload.offset_s, upload.identify_claimed_at)

    upload_identify_task.send(upload.pk)
    upload_identify_task.send(upload.pk)
    run_queue(stub_broker, stub_worker)
    upload.refresh_from_db()
    assert (upload.updated_at, upload.confidence, upload.offset_s, upload.identify_claimed_at) == first


def test_a_song_outside_the_catalog_ends_unmatched(stub_broker, stub_worker, indexed_catalog, upload_set):
    upload = add_clip(upload_set.pk, song(66, 5.0), "wav", "stranger.wav")
    run_queue(stub_broker, stub_worker)
    upload.refresh_from_db()
    assert (upload.status, upload.recording_id, upload.failure_reason) == ("unmatched", None, "")


def test_unreadable_stored_audio_fails_with_the_reason(stub_broker, indexed_catalog, upload_set):
    upload = add_clip(upload_set.pk, excerpt(1, 0.0, 4.0))
    stub_broker.flush_all()
    default_storage.delete(upload.audio.name)
    default_storage.save(upload.audio.name, uploaded("x", b"not audio any more" * 10))
    assert services.upload_identify(upload_id=upload.pk) is True
    upload.refresh_from_db()
    assert upload.status == "failed"
    assert upload.failure_reason.startswith("The audio could not be read")


def test_a_manual_match_made_meanwhile_is_not_overwritten(stub_broker, indexed_catalog, upload_set, make_recording):
    upload = add_clip(upload_set.pk, excerpt(2, 0.0, 5.0))
    stub_broker.flush_all()
    chosen = make_recording(99, with_audio=False)
    services.upload_match_manually(upload_id=upload.pk, recording_id=chosen.pk)
    assert services.upload_identify(upload_id=upload.pk) is False
    upload.refresh_from_db()
    assert (upload.status, upload.recording_id, upload.match_method) == ("matched", chosen.pk, "manual")


def test_a_fresh_claim_blocks_a_second_run_and_a_stale_one_is_retaken(stub_broker, indexed_catalog, upload_set):
    upload = add_clip(upload_set.pk, excerpt(2, 0.0, 5.0))
    stub_broker.flush_all()
    Upload.objects.filter(pk=upload.pk).update(identify_claimed_at=timezone.now())
    assert services.upload_identify(upload_id=upload.pk) is False
    assert resume_upload_identification() == 0
    Upload.objects.filter(pk=upload.pk).update(identify_claimed_at=timezone.now() - datetime.timedelta(hours=1))
    assert resume_upload_identification() == 1
    stub_broker.flush_all()
    assert services.upload_identify(upload_id=upload.pk) is True
    upload.refresh_from_db()
    assert upload.status == "matched"


def test_the_resumer_requeues_uploads_still_identifying(stub_broker, indexed_catalog, upload_set):
    upload = add_clip(upload_set.pk, excerpt(1, 1.0, 5.0))
    stub_broker.flush_all()  # the embedded broker lost the message (a restart)
    assert resume_upload_identification() == 1
    worker = dramatiq.Worker(stub_broker, worker_timeout=100, worker_threads=1)
    worker.start()
    try:
        run_queue(stub_broker, worker)
    finally:
        worker.stop()
    upload.refresh_from_db()
    assert upload.status == "matched"
    assert resume_upload_identification() == 0


def test_identify_again_requeues_a_finished_upload(stub_broker, stub_worker, indexed_catalog, upload_set):
    upload = add_clip(upload_set.pk, song(67, 4.0), "wav", "stranger.wav")
    run_queue(stub_broker, stub_worker)
    upload.refresh_from_db()
    assert upload.status == "unmatched"
    again = services.upload_identify_again(upload_id=upload.pk)
    assert again.status == "identifying"
    run_queue(stub_broker, stub_worker)
    upload.refresh_from_db()
    assert upload.status == "unmatched"


def test_an_unexpected_crash_releases_the_claim_for_the_retry(stub_broker, indexed_catalog, upload_set, monkeypatch):
    import catalog.identify

    upload = add_clip(upload_set.pk, excerpt(2, 0.0, 5.0))
    stub_broker.flush_all()

    class Crashing:
        def identify(self, path):
            raise RuntimeError("database is locked")

    monkeypatch.setattr(catalog.identify, "default_chain", lambda: Crashing())
    with pytest.raises(RuntimeError):
        services.upload_identify(upload_id=upload.pk)
    upload.refresh_from_db()
    assert upload.status == "identifying"
    assert upload.identify_claimed_at is None
    monkeypatch.undo()
    assert services.upload_identify(upload_id=upload.pk) is True
    upload.refresh_from_db()
    assert upload.status == "matched"
