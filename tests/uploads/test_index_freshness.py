"""`manage.py identify` refuses an index behind the catalog; `catalog_import` indexes before it exits."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from catalog.indexing import SYNC_BATCH_LIMIT, get_index, unindexed_recording_ids
from catalog.models import Recording
from tests.catalog.conftest import entry
from tests.uploads.conftest import excerpt, song, write_audio

pytestmark = pytest.mark.django_db


def test_identify_refuses_an_index_behind_the_catalog_and_says_how_to_fix_it(tmp_path, make_recording):
    recording = make_recording(3)  # in the catalog, never indexed
    clip = write_audio(tmp_path / "clip.mp3", excerpt(3, 2.0, 5.0))
    with pytest.raises(CommandError, match=r"missing 1 catalog recordings .*index_rebuild"):
        call_command("identify", str(clip), "--json")
    assert unindexed_recording_ids() == [recording.pk]


def test_identify_answers_from_a_stale_index_when_told_to(tmp_path, make_recording, capsys):
    make_recording(3)
    clip = write_audio(tmp_path / "clip.mp3", excerpt(3, 2.0, 5.0))
    call_command("identify", str(clip), "--json", "--allow-stale-index")
    assert json.loads(capsys.readouterr().out)["status"] == "unmatched"


def test_identify_after_index_rebuild_finds_the_song(tmp_path, make_recording, capsys):
    make_recording(3)
    call_command("index_rebuild")
    clip = write_audio(tmp_path / "clip.mp3", excerpt(3, 2.0, 5.0))
    capsys.readouterr()
    call_command("identify", str(clip), "--json")
    assert json.loads(capsys.readouterr().out)["status"] == "matched"


@pytest.mark.django_db(transaction=True)  # the import enqueues indexing on commit
def test_catalog_import_indexes_a_large_import_before_it_exits(tmp_path, stub_broker, capsys):
    count = SYNC_BATCH_LIMIT + 1  # more than are indexed inline: they go through the indexing actor
    entries = []
    for k in range(count):
        write_audio(tmp_path / f"song-{k}.wav", song(40 + k, 4.0), "wav")
        entries.append(entry(f"fresh-{k}", isrc=None, audio=f"song-{k}.wav"))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"entries": entries}))
    call_command("catalog_import", str(manifest))
    out = capsys.readouterr().out
    assert "indexing: 1/1 jobs done" in out
    assert get_index().recording_ids() == set(Recording.objects.values_list("pk", flat=True))
    assert unindexed_recording_ids() == []
