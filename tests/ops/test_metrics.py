"""/metrics: who may read it, and that the HTTP, job and business series are there."""

from __future__ import annotations

from typing import Any

import dramatiq
import pytest
from django.db import connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from songforge.metrics import JOBS, JobMetricsMiddleware

pytestmark = pytest.mark.django_db


def _samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_it_answers_loopback_without_a_token(client: Client) -> None:
    client.get("/healthz")
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = _samples(response.content)
    for family in ("uploads", "generations", "queues", "royalties", "health"):
        assert samples[("songforge_metrics_family_up", (("family", family),))] == 1.0
    assert samples[("songforge_manual_match_queue", ())] == 0.0
    for queue in ("default", "identify", "ml"):
        assert samples[("songforge_queue_messages", (("queue", queue),))] == 0.0
        assert samples[("songforge_queue_oldest_message_age_seconds", (("queue", queue),))] == 0.0
    assert samples[("songforge_ledger_balanced", ())] == 1.0
    assert samples[("songforge_payout_runs_awaiting_approval", ())] == 0.0
    kind = connection.vendor  # sqlite locally, postgresql in CI
    assert samples[("songforge_dependency_up", (("dependency", "database"), ("kind", kind)))] in (0.0, 1.0)
    assert any(name == "django_http_requests_total_by_method_total" for name, _ in samples)


def test_it_hides_from_a_forwarded_request_without_a_token(client: Client) -> None:
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert response.status_code == 404


def test_it_hides_from_other_addresses_without_a_token(client: Client) -> None:
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404


def test_it_wants_the_bearer_token_when_one_is_set(client: Client, settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", REMOTE_ADDR="10.1.2.3").status_code == 404
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    assert b"songforge_ledger_balanced" in response.content


def test_it_counts_jobs_by_outcome() -> None:
    broker = dramatiq.brokers.stub.StubBroker()
    broker.add_middleware(JobMetricsMiddleware())

    @dramatiq.actor(broker=broker, queue_name="metrics-test", max_retries=0, actor_name="metrics_probe")
    def probe(fail: bool) -> None:
        if fail:
            raise ValueError("boom")

    done = JOBS.labels("metrics-test", "metrics_probe", "done")._value.get()
    failed = JOBS.labels("metrics-test", "metrics_probe", "failed")._value.get()
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        probe.send(False)
        probe.send(True)
        broker.join("metrics-test", fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    assert JOBS.labels("metrics-test", "metrics_probe", "done")._value.get() == done + 1
    assert JOBS.labels("metrics-test", "metrics_probe", "failed")._value.get() == failed + 1


def test_it_reports_a_waiting_message_and_its_age(client: Client) -> None:
    from songforge.tasks import echo_task

    broker = dramatiq.get_broker()
    broker.flush_all()
    try:
        echo_task.send("/nonexistent/never-run.txt", "x")
        response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
        samples = _samples(response.content)
        assert samples[("songforge_queue_messages", (("queue", "default"),))] == 1.0
        age = samples[("songforge_queue_oldest_message_age_seconds", (("queue", "default"),))]
        assert 0.0 <= age < 60.0
    finally:
        broker.flush_all()


def test_it_counts_a_song_of_two_takes_once(client: Client) -> None:
    """Take 2 is its own row pointing at the song; the funnel counts songs, as artists and alerts see them."""
    from tests.factories import GenerationFactory

    song = GenerationFactory()
    GenerationFactory(upload_set=song.upload_set, take_of=song, take_number=2)
    samples = _samples(client.get("/metrics", REMOTE_ADDR="127.0.0.1").content)
    assert samples[("songforge_generations", (("status", "succeeded"),))] == 1.0
