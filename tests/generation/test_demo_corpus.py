from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo.catalog_build import arrange_entry, build_demo_catalog
from demo.corpus import build_demo_corpus
from generation.ml import tokenizer
from generation.ml.corpus import load_corpus


@pytest.mark.slow
def test_arrange_entry_matches_the_rendered_entry_and_tokenises(tmp_path: Path) -> None:
    build_demo_catalog(tmp_path / "built", size=2, seconds=4.0, seed=7, workers=1)
    built = json.loads((tmp_path / "built" / "entries" / "demo-00002.json").read_text())
    midi, record = arrange_entry(1, 7, size=2, seconds=4.0)
    assert record["entry"] == built["entry"]
    assert record["arrangement"] == {**built["arrangement"], "programs": record["arrangement"]["programs"]}
    assert {str(k): v for k, v in record["arrangement"]["programs"].items()} == built["arrangement"]["programs"]
    assert {"melody", "chords", "bass", "drums"} <= {i.name for i in midi.instruments}

    summary = build_demo_corpus(tmp_path / "tokens", count=2, seed=7, size=2, seconds=4.0)
    tokens, items = load_corpus(tmp_path / "tokens")
    assert summary["items"] == 2
    assert [i.source_id for i in items] == ["catalog:demo-00001", "catalog:demo-00002"]
    assert tokens.size == sum(i.token_count for i in items)
    piece = tokenizer.decode(tokens[items[1].offset : items[1].offset + items[1].token_count].tolist())
    assert {tokenizer.ROLES[n.role] for n in piece.notes} == {"melody", "chords", "bass", "drums"}
