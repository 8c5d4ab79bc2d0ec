"""`manage.py identify FILE... --json` and `manage.py index_rebuild`."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from catalog.indexing import get_index, recordings_imported, unindexed_recording_ids
from tests.uploads.conftest import excerpt, song, write_audio

pytestmark = pytest.mark.django_db


def test_identify_prints_one_json_object_per_file(tmp_path, indexed_catalog, capsys):
    clip = write_audio(tmp_path / "clip.mp3", excerpt(3, 2.0, 5.0))
    stranger = write_audio(tmp_path / "stranger.wav", song(88, 5.0))
    missing = tmp_path / "missing.mp3"
    call_command("identify", str(clip), str(stranger), str(missing), "--json")
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["file"] for row in rows] == [str(clip), str(stranger), str(missing)]
    matched, unmatched, failed = rows
    assert matched["status"] == "matched"
    assert matched["recording"] == {"id": "demo-3", "isrc": "QZS8F2600003", "title": "Song 3", "artist": "Demo Band"}
    assert matched["offset_s"] == pytest.approx(2.0, abs=0.1)
    assert 0 < matched["confidence"] <= 1
    assert unmatched == {
        "file": str(stranger),
        "status": "unmatched",
        "recording": None,
        "confidence": None,
        "offset_s": None,
    }
    assert (failed["status"], failed["recording"], failed["reason"]) == ("failed", None, "no such file")


def test_identify_without_json_prints_a_sentence(tmp_path, indexed_catalog, capsys):
    clip = write_audio(tmp_path / "clip.wav", excerpt(1, 0.5, 5.0))
    call_command("identify", str(clip))
    assert capsys.readouterr().out.startswith(f"{clip}: Demo Band – Song 1 [demo-1] via fingerprint (confidence ")


def test_index_rebuild_indexes_every_recording_with_audio(make_recording, capsys):
    recordings = [make_recording(seed) for seed in (1, 2)]
    make_recording(3, with_audio=False)
    assert unindexed_recording_ids() == [r.pk for r in recordings]
    call_command("index_rebuild")
    assert "indexed 2 recordings" in capsys.readouterr().out
    assert get_index().recording_ids() == {r.pk for r in recordings}
    assert unindexed_recording_ids() == []


def test_imported_recordings_are_indexed_at_once_in_small_batches(make_recording):
    recording = make_recording(4)
    recordings_imported([recording.pk])
    assert get_index().recording_ids() == {recording.pk}


def test_large_imports_go_to_the_indexing_actor(make_recording, stub_broker, settings):
    recordings = [make_recording(seed, with_audio=False) for seed in range(6)]
    recordings_imported([r.pk for r in recordings])
    (message,) = stub_broker.queues["indexing"].queue
    assert json.loads(message)["args"] == [[r.pk for r in recordings]]
