"""Short pieces, fake uploads and one mastered render shared by the synthesis tests.

The uploads are rendered with other instruments and a strong EQ tilt, so that adapting
toward them is a measurable move. Everything is a few seconds long to keep the suite fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from generation.synthesis import demo, profile_from_audio, render, render_and_master
from generation.synthesis.adapt import apply_fir, eq_filter

MAX_SECONDS = 600.0  # SONGFORGE_SYNTHESIS_MAX_SECONDS's default
TEMPO = 120.0
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(64)
TAGS = {"title": "First Light", "artist": "Test Artist", "isrc": "QZS8F2600001", "artwork": PNG_BYTES}


def write_upload(path: Path, *, seed: int, programs: tuple[int, int, int], with_drums: bool) -> Path:
    midi = demo.build_piece(
        path.with_suffix(".mid"), seconds=8, tempo=100 + 7 * seed, seed=seed, programs=programs, with_drums=with_drums
    )
    piece = render.load_piece(midi, max_seconds=600)
    audio = render.render(piece, render.plan_tracks(piece, {}), seed=seed, profile={})
    tilt = np.interp(np.arange(27), [0, 8, 18, 26], [6.0, -3.0, 4.0, 8.0])
    audio = apply_fir(audio, eq_filter(tilt))
    soundfile.write(str(path), (audio / np.abs(audio).max() * 0.8).T, 44100)
    return path


@pytest.fixture(scope="session")
def synthesis_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("synthesis")


@pytest.fixture(scope="session")
def upload_paths(synthesis_dir: Path) -> list[Path]:
    return [
        write_upload(synthesis_dir / "upload0.wav", seed=0, programs=(25, 33, 4), with_drums=True),
        write_upload(synthesis_dir / "upload1.wav", seed=1, programs=(27, 33, 25), with_drums=True),
    ]


@pytest.fixture(scope="session")
def target_profile(upload_paths: list[Path]) -> dict[str, Any]:
    return profile_from_audio(upload_paths)


@pytest.fixture(scope="session")
def short_piece(synthesis_dir: Path) -> Path:
    return demo.build_piece(synthesis_dir / "piece.mid", seconds=10, tempo=TEMPO, seed=7)


@pytest.fixture(scope="session")
def mastered(short_piece: Path, target_profile: dict[str, Any], synthesis_dir: Path) -> dict[str, Any]:
    return render_and_master(
        short_piece,
        target_profile=target_profile,
        out_dir=synthesis_dir / "out",
        seed=3,
        max_seconds=MAX_SECONDS,
        tags=TAGS,
    )
