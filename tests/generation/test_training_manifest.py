from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog.models import Recording
from generation.ml.influence import largest_remainder_bps
from generation.models import TrainingRecording
from generation.services.training import training_manifest_load

pytestmark = pytest.mark.django_db


def _manifest(folder: Path, items: list[dict]) -> Path:
    (folder / "catalog_model.pt").write_bytes(b"weights")
    path = folder / "training_manifest.json"
    path.write_text(json.dumps({"items": items}))
    return path


def _item(source_id: str, tokens: int, *, commercial: bool = True) -> dict:
    return {
        "source_id": source_id,
        "title": source_id,
        "collection": "test",
        "licence": "public domain" if commercial else "non-commercial",
        "is_commercial_ok": commercial,
        "token_count": tokens,
        "recording_id": None,
        "held_out": False,
    }


def test_loading_twice_changes_nothing_and_links_catalog_items(tmp_path: Path) -> None:
    recording = Recording.objects.create(external_id="demo-00001", title="Demo", artist="A")
    path = _manifest(tmp_path, [_item("catalog:demo-00001", 120), _item("music21:essen/x#0", 80, commercial=False)])
    assert training_manifest_load(manifest_path=path) == 2
    first = list(TrainingRecording.objects.values_list("source_id", "token_count", "recording_id", "updated_at"))
    assert training_manifest_load(manifest_path=path) == 2
    assert (
        list(TrainingRecording.objects.values_list("source_id", "token_count", "recording_id", "updated_at")) == first
    )
    assert TrainingRecording.objects.get(source_id="catalog:demo-00001").recording_id == recording.pk
    assert TrainingRecording.objects.get(source_id="music21:essen/x#0").is_commercial_ok is False


def test_items_dropped_from_the_manifest_are_removed(tmp_path: Path) -> None:
    training_manifest_load(manifest_path=_manifest(tmp_path, [_item("a", 1), _item("b", 2)]))
    training_manifest_load(manifest_path=_manifest(tmp_path, [_item("b", 3)]))
    assert list(TrainingRecording.objects.values_list("source_id", "token_count")) == [("b", 3)]


def test_basis_points_always_sum_to_the_whole() -> None:
    assert largest_remainder_bps([1 / 3, 1 / 3, 1 / 3]) == [3334, 3333, 3333]
    assert sum(largest_remainder_bps([0.1234, 0.5, 0.3766])) == 10_000
