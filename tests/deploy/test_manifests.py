"""What the deployment files promise, read from their rendered form (deploy/check.sh validates the syntax)."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.conftest import skip_or_fail
from tests.deploy.conftest import REPO

DEPLOY = REPO / "deploy"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"needs {name} (deploy/check.sh says how to install it)")
    assert path is not None
    return path


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("compose") / "deploy"
    folder.mkdir()
    shutil.copy(DEPLOY / "compose.yaml", folder / "compose.yaml")
    shutil.copy(DEPLOY / ".env.example", folder / ".env")
    out = subprocess.run(
        [_tool("docker-compose"), "-f", str(folder / "compose.yaml"), "--profile", "gpu", "config"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(yaml.safe_load(out))


def _render(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [_tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def test_compose_runs_every_part_with_healthchecks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "postgres",
        "redis",
        "minio",
        "minio-bucket",
        "migrate",
        "web",
        "worker",
        "ml-worker",
        "ml-worker-gpu",
    }
    for name in ("postgres", "redis", "minio", "web", "worker", "ml-worker"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("web", "worker", "ml-worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert services[name]["environment"]["DRAMATIQ_BROKER_URL"] == "redis://redis:6379/0"
        assert services[name]["environment"]["SONGFORGE_STORAGE"] == "s3"
    assert services["worker"]["command"] == ["worker", "default", "identify", "catalog", "indexing"]
    assert services["ml-worker"]["command"] == ["worker", "ml"]
    gpu = services["ml-worker-gpu"]
    assert gpu["build"]["args"]["TORCH_VARIANT"] != "cpu"
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_compose_example_env_holds_no_real_secret() -> None:
    values = dict(
        line.split("=", 1) for line in (DEPLOY / ".env.example").read_text().splitlines() if line and line[0] != "#"
    )
    for key in ("SECRET_KEY", "POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "SONGFORGE_METRICS_TOKEN"):
        assert values[key].startswith("change-me"), key


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_k8s_workloads_are_locked_down_and_probed(overlay: str) -> None:
    docs = _render(overlay)
    deployments = _by_kind(docs, "Deployment")
    assert set(deployments) == {"web", "worker", "worker-ml"}
    pods = [d["spec"]["template"]["spec"] for d in deployments.values()]
    pods += [j["spec"]["template"]["spec"] for j in _by_kind(docs, "Job").values()]
    pods += [c["spec"]["jobTemplate"]["spec"]["template"]["spec"] for c in _by_kind(docs, "CronJob").values()]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]
            assert {"configMapRef": {"name": "songforge-config"}} in container["envFrom"]
            assert {"secretRef": {"name": "songforge-secrets"}} in container["envFrom"]
            assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp", "/data"}
    web = deployments["web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert "tcpSocket" in web["livenessProbe"]
    for name in ("worker", "worker-ml"):
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["port"] == "metrics"
    assert set(_by_kind(docs, "CronJob")) == {"payout-run", "index-compact", "ledger-check", "jobs-reap"}
    assert set(_by_kind(docs, "Service")) == {"web"}
    assert set(_by_kind(docs, "Ingress")) == {"web"}
    assert set(_by_kind(docs, "HorizontalPodAutoscaler")) == {"web"}
    assert set(_by_kind(docs, "PodDisruptionBudget")) == {"web"}
    assert set(_by_kind(docs, "NetworkPolicy")) == {"songforge-web", "songforge-workers"}


def test_k8s_reaps_stale_jobs_every_few_minutes_outside_the_workers() -> None:
    """The backstop for the reaper thread of every worker: a CronJob running ``manage jobs_reap``."""
    from django.core.management import get_commands

    reap = _by_kind(_render("prod"), "CronJob")["jobs-reap"]
    assert reap["spec"]["schedule"] == "*/5 * * * *"
    assert reap["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = reap["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["manage", "jobs_reap"]
    assert get_commands()["jobs_reap"] == "songforge"


def test_k8s_ingress_carries_no_configuration_snippet() -> None:
    """Snippet annotations run arbitrary nginx configuration (CVE-2021-25742; checkov CKV_K8S_153)."""
    (ingress,) = _by_kind(_render("prod"), "Ingress").values()
    assert not [key for key in ingress["metadata"].get("annotations", {}) if "snippet" in key]


def test_k8s_prod_references_its_secret_and_puts_ml_on_gpus() -> None:
    docs = _render("prod")
    assert _by_kind(docs, "Secret") == {}
    ml = _by_kind(docs, "Deployment")["worker-ml"]["spec"]["template"]["spec"]
    assert ml["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert ml["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] != "Namespace"} == {"songforge"}


def test_k8s_dev_generates_its_own_secret() -> None:
    docs = _render("dev")
    assert set(_by_kind(docs, "Secret")) == {"songforge-secrets"}
    assert {d["spec"]["replicas"] for d in _by_kind(docs, "Deployment").values()} == {1}


def test_dashboard_covers_requests_jobs_funnel_identification_and_money() -> None:
    dashboard = json.loads((DEPLOY / "monitoring" / "grafana" / "songforge.json").read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Requests", "Jobs", "Generation funnel", "Identification", "Money", "Dependencies"]
    panels = {p["title"]: p for p in dashboard["panels"] if p["type"] != "row"}
    assert {
        "Requests per second by status",
        "5xx share",
        "Jobs per minute by queue and outcome",
        "Queue backlog and oldest message age",
        "Generations by status",
        "Mean stage duration",
        "Uploads by outcome and method",
        "Manual-match queue",
        "Suspense, escrow and payable balances",
        "Payout runs awaiting approval",
        "Ledger balanced",
    } <= set(panels)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels.values():
        assert panel["targets"]
        assert all(t["expr"] for t in panel["targets"])


def test_dashboard_and_alerts_only_use_series_the_app_exports() -> None:
    """Every songforge_* name queried exists in songforge/metrics.py (a renamed series breaks no panel silently)."""
    import re

    source = (REPO / "songforge" / "metrics.py").read_text()
    exported = set(re.findall(r'"(songforge_[a-z_]+)"', source))
    texts = [
        (DEPLOY / "monitoring" / "grafana" / "songforge.json").read_text(),
        (DEPLOY / "monitoring" / "alerts.yml").read_text(),
    ]
    used = {name for text in texts for name in re.findall(r"songforge_[a-z_]+", text)}
    suffixes = ("_total", "_bucket", "_sum", "_count")
    missing = {n for n in used if n not in exported and not any(n.removesuffix(s) in exported for s in suffixes)}
    assert missing == set()


def test_kubernetes_scrape_job_keeps_annotated_pods_with_the_token() -> None:
    config = yaml.safe_load((DEPLOY / "monitoring" / "prometheus-kubernetes.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["authorization"]["credentials_file"]
    keep = job["relabel_configs"][0]
    assert keep["action"] == "keep"
    assert keep["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]


def test_hosted_ci_installs_what_ci_run_installs_and_runs_make_test() -> None:
    import re

    ci_run = (REPO / ".ci" / "run").read_text()
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    steps = workflow["jobs"]["test"]["steps"]
    scripts = "\n".join(step.get("run", "") for step in steps)
    packages: set[str] = set()
    for command in re.findall(r"apt-get install ([^)]*)\)", ci_run.replace("\\\n", " ")):
        packages |= {word for word in command.split() if not word.startswith("-")}
    assert {"prometheus", "docker-compose", "chromium"} <= packages
    assert all(package in scripts for package in packages), packages
    assert "make test" in scripts
    assert "make test" in ci_run
