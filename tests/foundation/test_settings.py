import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_check(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SONGFORGE_", "DATABASE_URL", "DRAMATIQ_"))}
    clean.pop("DEBUG", None)
    clean.pop("SECRET_KEY", None)
    clean["SONGFORGE_DATA_DIR"] = str(tmp_path)
    clean["SONGFORGE_TESTING"] = "0"
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "SECRET_KEY"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DEBUG": "1", "DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"DEBUG": "1", "DRAMATIQ_BROKER_URL": "kafka://x"}, "DRAMATIQ_BROKER_URL"),
        ({"DEBUG": "1", "SONGFORGE_STORAGE": "s3"}, "SONGFORGE_S3_BUCKET"),
        ({"DEBUG": "1", "SONGFORGE_STORAGE": "ftp"}, "SONGFORGE_STORAGE"),
        ({"DEBUG": "1", "SONGFORGE_DISTRIBUTOR": "platoon"}, "SONGFORGE_PLATOON_BASE_URL"),
        ({"DEBUG": "1", "SONGFORGE_UPLOAD_MAX_BYTES": "lots"}, "SONGFORGE_UPLOAD_MAX_BYTES"),
    ],
)
def test_misconfiguration_stops_start_up_naming_the_variable(env, variable, tmp_path):
    result = run_check(env, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr


def test_defaults_start_with_sqlite_local_storage_and_embedded_broker(tmp_path):
    result = run_check({"DEBUG": "1"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_settings_accept_a_secret_key(tmp_path):
    result = run_check({"SECRET_KEY": "x" * 50, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}, tmp_path)
    assert result.returncode == 0, result.stderr
