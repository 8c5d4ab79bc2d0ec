from pathlib import Path
from typing import Any

import pytest

from distribution import tasks
from distribution.clients.base import DistributorError
from distribution.models import DeliveryEvent, Release
from distribution.services import delivery
from distribution.services import publish as publishing


def publish(song: Any, fields: dict[str, Any]) -> Release:
    return publishing.release_publish(generation_id=song.generation.pk, owner_id=song.owner.pk, artwork=None, **fields)


@pytest.mark.django_db(transaction=True)
def test_the_actor_delivers_once_even_when_run_twice(song, publish_fields, stub_broker, stub_worker, settings):
    release = publish(song, publish_fields)  # on_commit enqueues the first message
    tasks.release_deliver_task.send(release.pk)  # a duplicate
    stub_broker.join(tasks.release_deliver_task.queue_name)
    stub_worker.join()
    release.refresh_from_db()
    assert release.status == Release.Status.SUBMITTED
    assert release.outbox_path == str(Path(settings.OUTBOX_DIR) / release.isrc)
    assert release.delivery_attempts == 1
    assert list(release.events.values_list("kind", "status")) == [("published", "ok"), ("delivery", "ok")]
    assert sorted(p.name for p in Path(settings.OUTBOX_DIR).iterdir()) == [release.isrc]


@pytest.mark.django_db
def test_a_permanent_error_fails_the_release_without_retrying(song, publish_fields, platoon_settings):
    platoon_settings.faults["POST /v1/releases"] = ["400"]
    release = publish(song, publish_fields)
    tasks.release_deliver_task.fn(release.pk)
    release.refresh_from_db()
    assert release.status == Release.Status.FAILED
    assert release.delivery_attempts == 1
    event = release.events.get(kind=DeliveryEvent.Kind.DELIVERY)
    assert event.status == DeliveryEvent.Outcome.FAILED
    assert "(400)" in event.detail
    assert tasks._is_retryable(0, DistributorError("x", permanent=True)) is False


@pytest.mark.django_db
def test_a_retryable_error_is_raised_for_dramatiq_and_logged(song, publish_fields, platoon_settings, monkeypatch):
    platoon_settings.faults["POST /v1/releases"] = ["503"] * 4
    release = publish(song, publish_fields)
    monkeypatch.setattr("distribution.clients.platoon.pause", lambda seconds: None)
    with pytest.raises(DistributorError) as failure:
        tasks.release_deliver_task.fn(release.pk)
    assert failure.value.permanent is False
    assert tasks._is_retryable(0, failure.value) is True
    release.refresh_from_db()
    assert release.status == Release.Status.QUEUED
    assert release.events.get(kind="delivery").status == DeliveryEvent.Outcome.RETRY
    tasks.release_deliver_task.fn(release.pk)  # Platoon is back
    release.refresh_from_db()
    assert release.status == Release.Status.SUBMITTED
    assert release.distributor_release_id == "plt_1"
    assert list(platoon_settings.releases) == ["plt_1"]


@pytest.mark.django_db
def test_the_last_attempt_fails_the_release(song, publish_fields, platoon_settings, monkeypatch):
    monkeypatch.setattr("distribution.clients.platoon.pause", lambda seconds: None)
    release = publish(song, publish_fields)
    Release.objects.filter(pk=release.pk).update(delivery_attempts=delivery.MAX_DELIVERY_ATTEMPTS - 1)
    platoon_settings.faults["POST /v1/releases"] = ["503"] * 4
    tasks.release_deliver_task.fn(release.pk)
    release.refresh_from_db()
    assert release.status == Release.Status.FAILED


@pytest.mark.django_db
def test_the_resumer_requeues_waiting_releases(song, publish_fields, stub_broker):
    release = publish(song, publish_fields)
    stub_broker.flush_all()
    assert tasks.resume_deliveries() == 1
    messages = list(stub_broker.queues[tasks.DELIVERY_QUEUE].queue)
    assert len(messages) == 1
    delivery.release_deliver(release_id=release.pk)
    assert tasks.resume_deliveries() == 0
