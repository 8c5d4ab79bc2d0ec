"""A real scrape: Debian's prometheus against the gunicorn web process and a rundramatiq worker, on loopback.

The stack (tests/deploy/stack.py, shared as the session's ``production``: tests/deploy/production.py)
runs on PostgreSQL, Redis and S3. Prometheus scrapes it every 5 s from its start; the flow on it
(the browser test's, or the API's when that test is not run) marks the moments after its uploads
were identified and after its generation finished. The test asserts through Prometheus' HTTP API that
the HTTP, job and business series exist, and compares them at those moments: they move after
requests, ten uploads identified by the worker, and a generation it runs.
"""

from __future__ import annotations

import pytest

from tests.deploy.production import Production, query, value

pytestmark = [
    pytest.mark.slow,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.s3,
    pytest.mark.xdist_group("production"),
    pytest.mark.timeout(3600),
]


def test_prometheus_sees_uploads_identified_and_a_generation_run_by_the_worker(production: Production) -> None:
    prometheus = production.prometheus
    start = production.marks["start"]
    # Both targets up (the web one with the token), every metric family computed.
    assert value(prometheus, 'sum(up{job=~"songforge-.*"})', at=start) == 2
    for series in (
        "songforge_ledger_balanced",
        'songforge_dependency_up{dependency="storage",kind="s3"}',
        'songforge_dependency_up{dependency="broker"}',
        'songforge_queue_messages{queue="identify"}',
        'songforge_queue_oldest_message_age_seconds{queue="ml"}',
        'songforge_generations{status="succeeded"}',
    ):
        assert query(prometheus, series, at=start), f"no {series}"
    assert value(prometheus, "min(songforge_metrics_family_up)", at=start) == 1.0
    assert value(prometheus, "min(songforge_dependency_up)", at=start) == 1.0
    before = value(prometheus, "sum(django_http_requests_total_by_method_total)", at=start) or 0.0
    assert (value(prometheus, "sum(songforge_identifications_total)", at=start) or 0) == 0

    production.require_flow()

    # Ten uploads: the worker identified them; the request, outcome and latency counters moved.
    identified = production.marks["identified"]
    assert (value(prometheus, "sum(django_http_requests_total_by_method_total)", at=identified) or 0) >= before + 11
    assert value(prometheus, "sum(songforge_identifications_total)", at=identified) == 10
    matched = (
        value(prometheus, 'sum(songforge_identifications_total{outcome="matched",method="fingerprint"})', at=identified)
        or 0
    )
    assert matched >= 1
    assert value(prometheus, "sum(songforge_identification_seconds_count)", at=identified) == 10
    assert value(prometheus, 'sum(songforge_uploads{status="matched"})', at=identified) == matched
    assert value(prometheus, 'sum(songforge_jobs_total{queue="identify",outcome="done"})', at=identified) >= 10  # type: ignore[operator]
    assert value(prometheus, 'songforge_queue_messages{queue="identify"}', at=identified) == 0
    assert value(prometheus, 'songforge_generations{status="succeeded"}', at=identified) == 0

    # A generation the worker ran on the ml queue: the funnel, stage durations and failures moved.
    generated = production.marks["generated"]
    assert value(prometheus, 'songforge_generations{status="succeeded"}', at=generated) == 1
    stages = query(prometheus, "songforge_generation_stage_duration_seconds_count", at=generated)
    assert {row["metric"]["stage"] for row in stages} >= {"finetune", "compose", "synthesise", "master"}, stages
    assert all(float(row["value"][1]) == 1 for row in stages)
    finetune = 'sum(songforge_generation_stage_duration_seconds_sum{stage="finetune"})'
    assert (value(prometheus, finetune, at=generated) or 0) > 0
    assert (value(prometheus, finetune, at=identified) or 0) == 0
    assert value(prometheus, 'sum(songforge_generation_stages{status="failed"})', at=generated) == 0  # exists, at 0
    assert value(prometheus, 'sum(songforge_generation_stages{status="done"})', at=generated) == len(stages)
    # Several stages may run in one message, so the ml jobs moved, not one per stage.
    assert (value(prometheus, 'sum(songforge_jobs_total{queue="ml",outcome="done"})', at=generated) or 0) >= 1
    assert value(prometheus, 'songforge_queue_messages{queue="ml"}', at=generated) == 0
    assert value(prometheus, "songforge_generation_stages_stale", at=generated) == 0
