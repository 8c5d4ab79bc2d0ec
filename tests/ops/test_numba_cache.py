"""The audio analysis in several fresh processes at once, from an empty numba cache.

Without the compile lock this crashed: four processes compiling librosa into one empty cache left
gufunc wrappers and kernels with different ABI tags side by side (2 of 4 processes and every later
one died with SIGSEGV; see docs/operations.md). With it, every process finishes, they agree, the
cache is consistent, and processes started afterwards load it.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from songforge.numba_cache import abi_mismatches

pytestmark = [pytest.mark.xdist_group("numba-cache")]

REPO = Path(__file__).resolve().parents[2]
ANALYSIS = """
import json, sys
from pathlib import Path
import django
django.setup()
from generation.features import analyse_audio
from generation.synthesis.features import instrumentation_features
import librosa, numpy as np
features = analyse_audio(Path(sys.argv[1]))
y, sr = librosa.load(sys.argv[1], sr=None, mono=True)
extra = instrumentation_features(np.stack([y, y]).astype(np.float64))
peaks = [int(librosa.util.localmax(np.arange(40, dtype=dt) % 7).sum()) for dt in (np.int16, np.float32, np.float64)]
print(json.dumps({"tempo": round(float(features["tempo_bpm"]), 3), "beats": len(features["beat_times"]),
                  "chroma": [round(float(c), 4) for c in features["chroma_mean"]], "peaks": peaks,
                  "extra": sorted(extra)}))
"""


def _song(path: Path) -> Path:
    sr = 22050
    t = np.arange(sr * 6) / sr
    beat = (np.sin(2 * np.pi * 2 * t) > 0.7).astype(np.float64)
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.4 + 0.6 * beat) + 0.2 * np.sin(2 * np.pi * 330 * t)
    soundfile.write(str(path), y.astype(np.float32), sr)
    return path


def _start(wav: Path, cache: Path, data: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "songforge.settings",
        "SONGFORGE_TESTING": "1",
        "SONGFORGE_DATA_DIR": str(data),
        "NUMBA_CACHE_DIR": str(cache),
        "DATABASE_URL": f"sqlite:///{data / 'db.sqlite3'}",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-c", ANALYSIS, str(wav)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(processes: list[subprocess.Popen[str]]) -> list[dict[str, object]]:
    results = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=1500)
            assert process.returncode == 0, f"analysis process exited {process.returncode}:\n{err[-3000:]}"
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    return results


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A folder outside pytest's base temp, which a concurrent pytest session may prune (lock file included)."""
    path = Path(tempfile.mkdtemp(prefix="songforge-numba-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


HOLD = """
import sys, time
from pathlib import Path
from songforge.numba_cache import compile_lock
with compile_lock(Path(sys.argv[1])):
    start = time.monotonic()
    time.sleep(0.4)
    print(start, time.monotonic())
"""


def test_the_compile_lock_lets_one_process_in_at_a_time(tmp_path: Path) -> None:
    processes = [
        subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    spans = sorted(tuple(map(float, p.communicate(timeout=60)[0].split())) for p in processes)
    assert all(p.returncode == 0 for p in processes)
    assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans)), spans


def test_threads_of_one_process_share_the_hold_without_waiting(tmp_path: Path) -> None:
    import threading
    import time

    from songforge.numba_cache import compile_lock

    inside = threading.Barrier(2, timeout=10)

    def enter() -> None:
        with compile_lock(tmp_path):
            inside.wait()  # both threads inside at once: neither waits for the other
            time.sleep(0.05)

    threads = [threading.Thread(target=enter) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads)
    with compile_lock(tmp_path):  # released: taken again at once
        pass


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_it_analyses_in_three_fresh_processes_at_once_from_an_empty_cache(tmp_path: Path) -> None:
    wav = _song(tmp_path / "song.wav")
    cache = tmp_path / "numba-cache"
    assert not cache.exists()

    first = _finish([_start(wav, cache, tmp_path / f"data{i}") for i in range(3)])

    assert all(result == first[0] for result in first), first
    assert int(str(first[0]["beats"])) > 0
    assert list(cache.rglob("guf-*.nbi")), "the processes wrote nothing to the deployment's cache"
    assert abi_mismatches(cache) == []

    # Processes started later load that cache and agree with the ones that wrote it.
    again = _finish([_start(wav, cache, tmp_path / f"again{i}") for i in range(2)])
    assert again == first[:2]
