"""``python -m songforge.numba_cache`` warms the deployment's cache, not the shared site-packages one.

Settings are lazy: before the fix, ``main`` imported librosa first and read settings only to print the
folder, so numba had already chosen its default cache (``site-packages/librosa/**/__pycache__``), the
shared folder whose concurrent writes crashed workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# warm() replaced by a probe: it reports where numba would write at the moment warm() runs.
PROBE = """
import os
import songforge.numba_cache as numba_cache
numba_cache.warm = lambda: [print("NUMBA_CACHE_DIR=" + os.environ.get("NUMBA_CACHE_DIR", "<unset>"))][1:]
numba_cache.main()
"""


def test_the_warm_command_points_numba_at_the_data_dir_before_it_imports_librosa(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env.update(SONGFORGE_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="songforge.settings", DEBUG="1")
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    expected = (tmp_path / "numba-cache").resolve()
    assert f"NUMBA_CACHE_DIR={expected}" in done.stdout, done.stdout + done.stderr
    assert f"numba cache warm in {expected}" in done.stdout
