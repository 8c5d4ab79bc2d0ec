from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from catalog.fingerprint.matcher import Candidate
from catalog.models import Recording, RightsHolder


def candidate(**values: object) -> Candidate:
    """A matcher candidate with plain defaults: measured candidates are replayed through it."""
    fields: dict[str, object] = {
        "recording_id": 7,
        "offset_frames": 100,
        "aligned": 20,
        "runner_up": 10,
        "query_hashes": 1700,
        "speed": 1.0,
    }
    fields.update(values)
    return Candidate(**fields)  # type: ignore[arg-type]


def write_tone(path: Path, *, hz: float = 440.0, seconds: float = 0.5, rate: int = 8000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(str(path), 0.3 * np.sin(2 * np.pi * hz * t), rate)
    return path


@pytest.fixture
def make_manifest(tmp_path: Path) -> Callable[..., Path]:
    """Writes manifest.json (and a tone per entry unless the audio file exists) under tmp_path/manifest."""
    folder = tmp_path / "manifest"
    folder.mkdir()

    def make(entries: list[dict[str, Any]], **top: Any) -> Path:
        for index, entry in enumerate(entries):
            audio = entry.get("audio")
            if audio == f"audio/{entry['id']}.wav" and not (folder / audio).exists():
                (folder / audio).parent.mkdir(parents=True, exist_ok=True)
                write_tone(folder / audio, hz=220.0 + 110 * index)
        path = folder / "manifest.json"
        path.write_text(json.dumps({"entries": entries, **top}))
        return path

    return make


def entry(entry_id: str = "demo-1", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": entry_id,
        "title": f"Song {entry_id}",
        "artist": "The Examples",
        "album": "First Album",
        "isrc": "GBAYE0601498" if entry_id == "demo-1" else None,
        "audio": f"audio/{entry_id}.wav",
        "genre": "folk",
        "year": 1999,
        "rights": {
            "master": [{"holder": "North Label", "share_bps": 10_000}],
            "publishing": [
                {"holder": "Ann Writer", "share_bps": 6_700},
                {"holder": "Blue Publishing", "share_bps": 3_300},
            ],
        },
    }
    base.update(overrides)
    return base


@pytest.fixture
def recording(db: None) -> Recording:
    from catalog.services import recording_upsert

    rec, _ = recording_upsert(external_id="rec-1", title="Blue Moon", artist="Ella Example", album="Nights")
    return rec


@pytest.fixture
def holders(db: None) -> list[RightsHolder]:
    return [
        RightsHolder.objects.create(name="North Label", kind="label"),
        RightsHolder.objects.create(name="Ann Writer", kind="writer"),
        RightsHolder.objects.create(name="Blue Publishing", kind="publisher"),
    ]
