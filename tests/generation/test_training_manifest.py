from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from catalog.models import Recording
from generation.models import TrainingRecording
from generation.services.training import training_manifest_load
from royalties.money import largest_remainder

pytestmark = pytest.mark.django_db


def _manifest(folder: Path, items: list[dict[str, Any]]) -> Path:
    (folder / "catalog_model.pt").write_bytes(b"weights")
    path = folder / "training_manifest.json"
    path.write_text(json.dumps({"items": items}))
    return path


def _item(source_id: str, tokens: int, *, commercial: bool = True) -> dict[str, Any]:
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
    assert largest_remainder(10_000, {0: 1, 1: 1, 2: 1}) == {0: 3334, 1: 3333, 2: 3333}
    assert sum(largest_remainder(10_000, {0: 1234, 1: 5000, 2: 3766}).values()) == 10_000


def test_music21_items_link_to_the_recording_arranged_from_their_score(tmp_path: Path) -> None:
    arranged = Recording.objects.create(
        external_id="demo-00007", title="Lux", artist="A", source="music21:essenFolksong/lux.abc#222"
    )
    chorale = Recording.objects.create(external_id="demo-00004", title="C", artist="B", source="music21:bach/x.mxl")
    items = [
        {**_item("music21:essenFolksong/lux.abc#221", 50), "score_source": "music21:essenFolksong/lux.abc#222"},
        _item("music21:essenFolksong/lux.abc#222", 40),  # the 223rd tune: another X: number, no link
        _item("music21:bach/x.mxl", 30),  # source id equal to Recording.source
    ]
    items[1]["score_source"] = "music21:essenFolksong/lux.abc#223"
    training_manifest_load(manifest_path=_manifest(tmp_path, items))
    links = dict(TrainingRecording.objects.values_list("source_id", "recording_id"))
    assert links == {
        "music21:essenFolksong/lux.abc#221": arranged.pk,
        "music21:essenFolksong/lux.abc#222": None,
        "music21:bach/x.mxl": chorale.pk,
    }


def test_corpus_ids_map_to_the_scores_catalog_recordings_name() -> None:
    from generation.ml.corpus import score_source

    # lux.abc numbers its tunes X:1, X:2, ... so the corpus's 0-based index 221 is X:222
    assert score_source("music21:essenFolksong/lux.abc#221") == "music21:essenFolksong/lux.abc#222"
    assert score_source("music21:bach/bwv10.7.mxl#0") == "music21:bach/bwv10.7.mxl"
    assert score_source("catalog:demo-00001") is None


def test_a_catalog_imported_after_the_manifest_gets_linked(tmp_path: Path, settings) -> None:
    from generation.services.training import training_recordings_link

    path = _manifest(tmp_path, [_item("catalog:demo-00002", 70), _item("music21:bach/y.mxl", 20)])
    settings.GENERATION_CHECKPOINT = str(tmp_path / "catalog_model.pt")
    training_manifest_load(manifest_path=path)
    assert not TrainingRecording.objects.filter(recording__isnull=False).exists()
    later = Recording.objects.create(external_id="demo-00002", title="Later", artist="A", source="music21:bach/y.mxl")
    assert training_recordings_link([later.pk]) == 2
    assert training_recordings_link([later.pk]) == 0  # idempotent
    assert set(TrainingRecording.objects.values_list("recording_id", flat=True)) == {later.pk}
    assert training_manifest_load(manifest_path=path) == 2  # a reload keeps the links
    assert set(TrainingRecording.objects.values_list("recording_id", flat=True)) == {later.pk}
