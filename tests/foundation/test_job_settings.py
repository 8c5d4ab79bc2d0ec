"""Job recovery settings as production reads them: claims go stale in seconds, every worker reaps.

The settings module is imported in a fresh interpreter with a production-like environment (it
imports neither Django's apps nor torch, so this takes about a second).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READ = (
    "import json, songforge.settings as s; print(json.dumps({'heartbeat': s.SONGFORGE_JOB_HEARTBEAT_SECONDS, "
    "'stale': s.SONGFORGE_JOB_STALE_AFTER_SECONDS, 'attempts': s.SONGFORGE_JOB_MAX_ATTEMPTS, "
    "'middleware': s.DRAMATIQ_BROKER['MIDDLEWARE']}))"
)


def read_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SONGFORGE_", "DATABASE_URL", "DRAMATIQ_"))}
    clean.update({"DEBUG": "1", "SONGFORGE_DATA_DIR": str(tmp_path), "SONGFORGE_TESTING": "0", **env})
    return subprocess.run([sys.executable, "-c", READ], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_claims_go_stale_in_seconds_and_every_worker_runs_the_reaper(tmp_path):
    for broker_url in ("", "redis://127.0.0.1:6379/0"):
        result = read_settings(tmp_path, DRAMATIQ_BROKER_URL=broker_url)
        assert result.returncode == 0, result.stderr
        values = json.loads(result.stdout)
        assert (values["heartbeat"], values["stale"], values["attempts"]) == (5, 20, 3)
        assert "songforge.jobs.ReaperMiddleware" in values["middleware"]


def test_a_stale_time_under_two_heartbeats_stops_start_up(tmp_path):
    """Such a setting would let another worker take over a live job between two of its heartbeats."""
    result = read_settings(tmp_path, SONGFORGE_JOB_HEARTBEAT_SECONDS="5", SONGFORGE_JOB_STALE_AFTER_SECONDS="9")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SONGFORGE_JOB_STALE_AFTER_SECONDS must be at least twice" in result.stderr


def test_takes_per_generation_are_one_or_two(tmp_path):
    """A third take is refused at start-up rather than at the first generate button."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SONGFORGE_", "DATABASE_URL", "DRAMATIQ_"))}
    clean.update({"DEBUG": "1", "SONGFORGE_DATA_DIR": str(tmp_path), "SONGFORGE_TESTING": "0"})
    code = "import songforge.settings as s; print(s.GENERATION_TAKES, s.GENERATION_SECONDS)"
    run = functools.partial(subprocess.run, [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run(env=clean, timeout=60).stdout.split() == ["2", "120"]
    assert run(env={**clean, "SONGFORGE_GENERATION_TAKES": "1"}, timeout=60).stdout.split() == ["1", "120"]
    refused = run(env={**clean, "SONGFORGE_GENERATION_TAKES": "3"}, timeout=60)
    assert refused.returncode != 0
    assert "SONGFORGE_GENERATION_TAKES=3 must be at most 2" in refused.stderr
