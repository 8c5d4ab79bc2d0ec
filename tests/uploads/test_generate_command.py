"""`manage.py generate FILE...` fills its set through the upload services: refusals apply, placeholders are named."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Recording
from tests.uploads.conftest import excerpt, song, write_audio
from uploads.models import Upload, UploadSet

pytestmark = pytest.mark.django_db


def test_a_file_that_is_not_audio_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    notes = tmp_path / "notes.mp3"
    notes.write_bytes(b"these are my lyrics, not a song" * 10)
    with pytest.raises(CommandError, match=r"unsupported_audio: notes\.mp3 is not MP3"):
        call_command("generate", str(notes), "--out", str(tmp_path / "out"))
    assert Upload.objects.count() == 0
    assert Recording.objects.count() == 0


def test_files_the_catalog_does_not_know_get_named_placeholders_without_rights(tmp_path: Path) -> None:
    files = [write_audio(tmp_path / f"take-{seed}.wav", song(seed, 3.0)) for seed in (41, 42)]
    err = StringIO()
    with pytest.raises(CommandError, match=r"The set is not ready: Upload 8 more song\(s\)"):
        call_command("generate", *map(str, files), "--out", str(tmp_path / "out"), stderr=err)
    uploads = list(Upload.objects.order_by("original_name"))
    assert [(u.original_name, u.status, u.match_method) for u in uploads] == [
        ("take-41.wav", "matched", "manual"),
        ("take-42.wav", "matched", "manual"),
    ]
    placeholders = list(Recording.objects.filter(uploads__in=uploads).order_by("title"))
    assert [r.external_id for r in placeholders] == [f"cli-{u.sha256[:32]}" for u in uploads]
    assert [r.rights_status for r in placeholders] == ["unknown", "unknown"]
    assert [r.title for r in placeholders] == ["take-41", "take-42"]
    lines = err.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(
        f"take-41.wav: not in the catalog; matched to placeholder recording {placeholders[0].external_id}"
    )
    assert lines[0].endswith("which has no rights holders: its royalties would go to escrow.")
    assert UploadSet.objects.get().owner.username == "generate-cli"


def test_a_file_the_catalog_holds_is_identified_not_replaced_by_a_placeholder(
    tmp_path: Path, indexed_catalog: list[Recording]
) -> None:
    clip = write_audio(tmp_path / "clip.mp3", excerpt(2, 1.0, 5.0))
    err = StringIO()
    with pytest.raises(CommandError, match="The set is not ready"):
        call_command("generate", str(clip), "--out", str(tmp_path / "out"), stderr=err)
    upload = Upload.objects.get()
    assert (upload.status, upload.match_method, upload.recording_id) == (
        "matched",
        "fingerprint",
        indexed_catalog[1].pk,
    )
    assert err.getvalue() == ""
    assert Recording.objects.count() == 3
