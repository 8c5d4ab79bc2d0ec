"""Prometheus metrics: ``/metrics`` on the web process, a loopback or pod port on workers.

Three sources, all with low-cardinality labels (statuses, methods, stage names, queue names,
currencies, actor names; never ids, users or paths):

- HTTP requests and latency: django-prometheus' middleware (``django_http_*``).
- Jobs: :class:`JobMetricsMiddleware` counts every Dramatiq message by queue, actor and outcome and
  times it (``songforge_jobs_total``, ``songforge_job_duration_seconds``).
- Business state, read from the database and the broker at scrape time by :class:`StateCollector`
  (identification outcomes, manual-match queue, generation funnel and stage durations, queue
  backlog and oldest message age, statement lines, suspense and escrow balances per currency,
  payout runs awaiting approval, ledger trial balance, dependency health). Computing them when
  Prometheus asks keeps the apps' services free of metric code and the numbers exact after a
  restart.

Several processes (gunicorn workers, ``rundramatiq --processes N``) share counters through
prometheus-client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (the entrypoint
sets it); otherwise the process registry is used.

``/metrics`` answers a request with ``Authorization: Bearer $SONGFORGE_METRICS_TOKEN``; with no
token configured it answers only direct loopback requests (local runs, CI), and 404 otherwise.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import dramatiq
from django.apps import apps
from django.conf import settings
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.module_loading import autodiscover_modules
from dramatiq.broker import MessageProxy
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

JOBS = Counter(
    "songforge_jobs",
    "Dramatiq messages processed, by queue, actor and outcome (done, failed, skipped).",
    ["queue", "actor", "outcome"],
)
JOB_SECONDS = Histogram(
    "songforge_job_duration_seconds",
    "Time an actor took, by queue and actor.",
    ["queue", "actor"],
    buckets=(0.05, 0.25, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
)

IDENTIFICATIONS = Counter(
    "songforge_identifications",
    "Identification runs that settled an upload, by outcome (matched, unmatched, failed) and method "
    "(isrc, fingerprint, shazam; none).",
    ["outcome", "method"],
)
IDENTIFICATION_SECONDS = Histogram(
    "songforge_identification_seconds",
    "From enqueueing an upload's identification to its outcome (queue wait, retries and work), by outcome.",
    ["outcome"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600, 6 * 3600),
)
IDENTIFY_ACTOR = "upload_identify_task"  # uploads.tasks: its first argument is the upload id

# The full ledger check (ledger_check: per-transaction balance, single legs, carries) scans every entry;
# each process runs it at most this often and reports the last result in between.
LEDGER_CHECK_EVERY_SECONDS = 300.0
_ledger_check: dict[str, Any] = {}  # "at": monotonic time, "problems": {name: count}, "seconds": cost

# Where each business gauge's rows live. Upload moves from generation to its own app; both are tried.
UPLOAD_MODELS = ("uploads.Upload", "generation.Upload")


def _model(*labels: str) -> Any:
    for label in labels:
        try:
            return apps.get_model(label)
        except (LookupError, ValueError):
            continue
    raise LookupError(f"none of {labels} is installed")


class StateCollector(Collector):
    """Gauges computed from the database and the broker each time Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "songforge_metrics_family_up", "1 when a metric family could be computed at this scrape.", labels=["family"]
        )
        for name, family in (
            ("uploads", self._uploads),
            ("generations", self._generations),
            ("queues", self._queues),
            ("royalties", self._royalties),
            ("health", self._health),
        ):
            try:
                yield from family()
            except Exception:  # one family failing must not hide the others
                logger.exception("metrics family %s failed", name)
                up.add_metric([name], 0)
            else:
                up.add_metric([name], 1)
        yield up

    def _uploads(self) -> Iterable[Metric]:
        upload = _model(*UPLOAD_MODELS)
        outcomes = GaugeMetricFamily(
            "songforge_uploads",
            "Uploads by identification status and match method (isrc, fingerprint, shazam, manual; none).",
            labels=["status", "method"],
        )
        for row in upload.objects.values("status", "match_method").annotate(n=Count("id")).order_by():
            outcomes.add_metric([row["status"], row["match_method"] or "none"], row["n"])
        yield outcomes
        waiting = upload.objects.filter(status="unmatched").count()
        yield GaugeMetricFamily(
            "songforge_manual_match_queue", "Uploads left unmatched, waiting for a manual match.", value=waiting
        )

    def _generations(self) -> Iterable[Metric]:
        generation = _model("generation.Generation")
        stage = _model("generation.GenerationStage")
        funnel = GaugeMetricFamily(
            "songforge_generations", "Generations (songs, not their takes) by status.", labels=["status"]
        )
        # Every status is reported, 0 included, so rates and ratios have both sides from the first scrape.
        by_status = dict.fromkeys(_choices(generation, "status"), 0)
        # A song's row (take 1) carries the job's status; further takes point back to it with take_of.
        songs = generation.objects.filter(take_of__isnull=True)
        for row in songs.values("status").annotate(n=Count("id")).order_by():
            by_status[row["status"]] = row["n"]
        for status, n in sorted(by_status.items()):
            funnel.add_metric([status], n)
        yield funnel
        stages = GaugeMetricFamily(
            "songforge_generation_stages",
            "Generation stages by name and status (every status of each stage name seen, 0 included).",
            labels=["stage", "status"],
        )
        counts: dict[tuple[str, str], int] = {}
        for row in stage.objects.values("name", "status").annotate(n=Count("id")).order_by():
            counts[(row["name"], row["status"])] = row["n"]
        for name in sorted({name for name, _ in counts}):
            for status in _choices(stage, "status"):
                stages.add_metric([name, status], counts.get((name, status), 0))
        yield stages
        durations = SummaryMetricFamily(
            "songforge_generation_stage_duration_seconds",
            "Wall time of finished stages, by stage (sum and count over all finished stages).",
            labels=["stage"],
        )
        elapsed = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        rows = (
            stage.objects.filter(status="done", started_at__isnull=False, finished_at__isnull=False)
            .values("name")
            .annotate(n=Count("id"), total=Sum(elapsed), mean=Avg(elapsed))
            .order_by()
        )
        for row in rows:
            total = row["total"].total_seconds() if row["total"] is not None else 0.0
            durations.add_metric([row["name"]], count_value=row["n"], sum_value=total)
        yield durations
        now = time.time()
        stale = stage.objects.filter(status="running", claimed_until__lt=_aware(now)).count()
        yield GaugeMetricFamily(
            "songforge_generation_stages_stale",
            "Running stages whose claim has expired (their worker died and nobody took them over yet).",
            value=stale,
        )

    def _queues(self) -> Iterable[Metric]:
        # Every app's actors, as a worker loads them, so the web process knows every queue.
        autodiscover_modules(*settings.DRAMATIQ_AUTODISCOVER_MODULES)
        broker = dramatiq.get_broker()
        backlog = GaugeMetricFamily("songforge_queue_messages", "Messages waiting in a queue.", labels=["queue"])
        oldest = GaugeMetricFamily(
            "songforge_queue_oldest_message_age_seconds",
            "Age of the oldest waiting message in a queue (0 when empty).",
            labels=["queue"],
        )
        now_ms = time.time() * 1000
        for queue in sorted(q for q in broker.get_declared_queues() if not q.endswith((".DQ", ".XQ"))):
            count, first_ms = _queue_state(broker, queue)
            backlog.add_metric([queue], count)
            oldest.add_metric([queue], max(now_ms - first_ms, 0) / 1000 if first_ms else 0.0)
        yield backlog
        yield oldest

    def _royalties(self) -> Iterable[Metric]:
        from royalties import selectors

        statement = _model("royalties.Statement")
        lines = statement.objects.aggregate(lines=Sum("line_count"), n=Count("id"))
        yield GaugeMetricFamily(
            "songforge_statement_lines_imported", "Statement lines imported, all time.", value=lines["lines"] or 0
        )
        yield GaugeMetricFamily("songforge_statements_imported", "Statements imported, all time.", value=lines["n"])
        balances = GaugeMetricFamily(
            "songforge_ledger_balance_minor",
            "Balance of the suspense and escrow accounts in minor units, by account kind and currency.",
            labels=["kind", "currency"],
        )
        for (kind, currency), total in sorted(selectors.balances_by_kind().items()):
            if kind in {"suspense", "escrow", "payable"}:
                # Credit-normal accounts hold negative (credit) balances; report what they hold.
                balances.add_metric([kind, currency], -total)
        yield balances
        totals = selectors.trial_balance()
        yield GaugeMetricFamily(
            "songforge_ledger_balanced",
            "1 when every currency's entries sum to zero (the ledger_check trial balance), else 0.",
            value=1 if all(total == 0 for total in totals.values()) else 0,
        )
        problems = GaugeMetricFamily(
            "songforge_ledger_check_problems",
            "What the last full ledger_check found, by problem (0 everywhere when clean; counts stop at 100).",
            labels=["problem"],
        )
        result = _full_ledger_check()
        for problem, count in sorted(result["problems"].items()):
            problems.add_metric([problem], count)
        yield problems
        yield GaugeMetricFamily(
            "songforge_ledger_check_age_seconds",
            "Seconds since this process last ran the full ledger check.",
            value=time.monotonic() - result["at"],
        )
        yield GaugeMetricFamily(
            "songforge_ledger_check_duration_seconds",
            "How long the last full ledger check took in this process.",
            value=result["seconds"],
        )
        drafts = _model("royalties.PayoutRun").objects.filter(status="draft").count()
        yield GaugeMetricFamily(
            "songforge_payout_runs_awaiting_approval", "Payout runs drafted and not approved yet.", value=drafts
        )

    def _health(self) -> Iterable[Metric]:
        from songforge import health

        up = GaugeMetricFamily(
            "songforge_dependency_up", "1 when /healthz reaches the dependency, else 0.", labels=["dependency", "kind"]
        )
        seconds = GaugeMetricFamily(
            "songforge_dependency_check_seconds", "Time the health probe took.", labels=["dependency"]
        )
        for check in health.run_all():
            up.add_metric([check.name, check.kind], 1 if check.is_ok else 0)
            seconds.add_metric([check.name], check.milliseconds / 1000)
        yield up
        yield seconds


def _full_ledger_check() -> dict[str, Any]:
    """``royalties.ledger.check()`` (what ``manage.py ledger_check`` runs), at most every LEDGER_CHECK_EVERY_SECONDS."""
    if _ledger_check and time.monotonic() - _ledger_check["at"] < LEDGER_CHECK_EVERY_SECONDS:
        return _ledger_check
    from royalties import ledger

    started = time.monotonic()
    result = ledger.check()
    _ledger_check.update(
        at=time.monotonic(),
        seconds=time.monotonic() - started,
        problems={
            "unbalanced_transactions": len(result.unbalanced),
            "single_leg_transactions": len(result.single_leg),
            "non_integer_entries": len(result.non_integer),
            "carry_mismatches": len(result.carry_mismatch),
            "nonzero_currency_totals": sum(1 for total in result.totals.values() if total != 0),
        },
    )
    return _ledger_check


def _choices(model: Any, field: str) -> list[str]:
    return [str(value) for value, _ in model._meta.get_field(field).choices or []]


def _aware(epoch: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, tz=UTC)


def _queue_state(broker: dramatiq.Broker, queue: str) -> tuple[int, float]:
    """(waiting messages, enqueue time in ms of the oldest one or 0) for the Redis and in-process brokers."""
    client = getattr(broker, "client", None)
    if client is not None:  # RedisBroker: a list of message ids plus a hash of their bodies
        key = f"{broker.namespace}:{queue}"  # type: ignore[attr-defined]
        count = int(client.llen(key))
        first_id = client.lindex(key, 0) if count else None
        body = client.hget(f"{key}.msgs", first_id) if first_id else None
        return count, float(json.loads(body)["message_timestamp"]) if body else 0.0
    queues = getattr(broker, "queues", None)
    if isinstance(queues, dict) and queue in queues:  # StubBroker (embedded): a queue.Queue of encoded messages
        pending = list(queues[queue].queue)
        first = dramatiq.Message.decode(pending[0]) if pending else None
        return len(pending), float(first.message_timestamp) if first else 0.0
    return 0, 0.0


class JobMetricsMiddleware(dramatiq.Middleware):
    """Counts and times every message; on a ``rundramatiq`` worker, serves them on the worker metrics port."""

    def __init__(self) -> None:
        self._started: dict[str, float] = {}  # message id -> start; dict updates are atomic under the GIL
        self._identifying: set[str] = set()  # identify messages whose upload was waiting for an outcome

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._started[message.message_id] = time.perf_counter()
        if message.actor_name == IDENTIFY_ACTOR and _upload_outcome(message) is None:
            self._identifying.add(message.message_id)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        started = self._started.pop(message.message_id, None)
        JOBS.labels(message.queue_name, message.actor_name, "failed" if exception else "done").inc()
        if started is not None:
            JOB_SECONDS.labels(message.queue_name, message.actor_name).observe(time.perf_counter() - started)
        if message.message_id in self._identifying:
            self._identifying.discard(message.message_id)
            outcome = _upload_outcome(message)
            if outcome is not None:  # this run settled it (a duplicate or a lost claim settles nothing)
                status, method = outcome
                IDENTIFICATIONS.labels(status, method).inc()
                waited = max(time.time() - message.message_timestamp / 1000, 0.0)
                IDENTIFICATION_SECONDS.labels(status).observe(waited)

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        JOBS.labels(message.queue_name, message.actor_name, "skipped").inc()

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        port = settings.METRICS_WORKER_PORT
        if port and settings.DRAMATIQ_BROKER_KIND != "embedded":
            serve_worker_metrics(settings.METRICS_WORKER_ADDR, port)


def _upload_outcome(message: MessageProxy) -> tuple[str, str] | None:
    """(status, match method) of the upload an identify message names, or None while it is identifying.

    Read around the actor (one indexed query each side), so the identification code has no metric
    code in it. A failure here is logged and never fails the job.
    """
    try:
        upload_id = int(message.args[0])
        row = _model(*UPLOAD_MODELS).objects.filter(pk=upload_id).values_list("status", "match_method").first()
    except Exception:
        logger.exception("identification metrics: could not read the upload of message %s", message.message_id)
        return None
    if row is None or row[0] == "identifying":
        return None
    return str(row[0]), str(row[1] or "none")


def registry() -> CollectorRegistry:
    """The registry to expose: every process's files in multiprocess mode, else this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        return combined
    return REGISTRY


def serve_worker_metrics(addr: str, port: int) -> bool:
    """Starts the exposition server in the first worker process that binds the port; False in the others."""
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=addr, registry=registry())
    except OSError:
        return False
    logger.info("worker metrics on http://%s:%d/metrics", addr, port)
    return True


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())
    remote = request.META.get("REMOTE_ADDR", "")
    return remote in {"127.0.0.1", "::1"} and "X-Forwarded-For" not in request.headers


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of the HTTP, job and business metrics."""
    if not _allowed(request):
        raise Http404
    exposition = CollectorRegistry()
    exposition.register(_Delegate(registry()))
    exposition.register(StateCollector())
    return HttpResponse(generate_latest(exposition), content_type=CONTENT_TYPE_LATEST)


class _Delegate(Collector):
    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()
