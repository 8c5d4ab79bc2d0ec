from __future__ import annotations

import os
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from catalog import indexing
from catalog.errors import ManifestInvalid
from catalog.manifest import catalog_import
from catalog.models import Recording, RightsHolder, ShareChange

from .conftest import entry, write_tone

pytestmark = pytest.mark.django_db


def stored_audio(settings) -> list[str]:
    folder = settings.MEDIA_ROOT / "catalog" / "audio"
    return sorted(os.listdir(folder)) if folder.exists() else []


def snapshot() -> list[tuple[Any, ...]]:
    return [
        (r.external_id, r.title, r.album, r.isrc, r.audio.name, r.rights_status, r.updated_at)
        for r in Recording.objects.order_by("external_id")
    ]


def test_it_imports_recordings_holders_shares_and_audio(make_manifest, settings):
    path = make_manifest(
        [entry("demo-1"), entry("demo-2", rights={"master": [{"holder": "North Label", "share_bps": 10_000}]})]
    )
    report = catalog_import(manifest_path=path)
    assert len(report.created) == 2
    one = Recording.objects.get(external_id="demo-1")
    assert (one.title, one.artist, one.album, one.isrc, one.genre, one.release_year, one.duration_ms) == (
        "Song demo-1",
        "The Examples",
        "First Album",
        "GBAYE0601498",
        "folk",
        1999,
        500,
    )
    assert one.rights_status == "complete"
    assert one.audio.name == f"catalog/audio/demo-1-{one.audio_sha256[:12]}.wav"
    assert default_storage.exists(one.audio.name)
    assert len(one.audio_sha256) == 64
    assert [(s.side, s.holder.name, s.share_bps) for s in one.shares.order_by("side", "share_bps")] == [
        ("master", "North Label", 10_000),
        ("publishing", "Blue Publishing", 3300),
        ("publishing", "Ann Writer", 6700),
    ]
    two = Recording.objects.get(external_id="demo-2")
    assert two.rights_status == "unknown"
    assert dict(RightsHolder.objects.values_list("name", "kind")) == {
        "North Label": "label",
        "Ann Writer": "publisher",
        "Blue Publishing": "publisher",
    }
    assert ShareChange.objects.filter(source="import").count() == 3
    assert len(stored_audio(settings)) == 2


def test_holder_kinds_come_from_the_holders_list(make_manifest):
    path = make_manifest([entry("demo-1")], holders=[{"name": "Ann Writer", "kind": "writer"}], is_demo=True)
    catalog_import(manifest_path=path)
    assert RightsHolder.objects.get(name="Ann Writer").kind == "writer"
    assert RightsHolder.objects.get(name="Ann Writer").is_demo is True
    assert Recording.objects.get().is_demo is True


def test_a_second_import_changes_nothing(make_manifest, settings):
    path = make_manifest([entry("demo-1"), entry("demo-2")])
    catalog_import(manifest_path=path)
    before = snapshot()
    report = catalog_import(manifest_path=path)
    assert (len(report.created), len(report.updated), len(report.unchanged)) == (0, 0, 2)
    assert snapshot() == before
    assert ShareChange.objects.count() == 4
    assert len(stored_audio(settings)) == 2


def test_an_updated_manifest_updates_in_place(make_manifest, settings, django_capture_on_commit_callbacks):
    path = make_manifest([entry("demo-1"), entry("demo-2")])
    catalog_import(manifest_path=path)
    first_id = Recording.objects.get(external_id="demo-1").id
    old_audio = Recording.objects.get(external_id="demo-2").audio.name
    write_tone(path.parent / "audio/demo-2-new.wav", hz=880.0, seconds=1.0)
    changed = entry(
        "demo-1",
        title="Song One (Remaster)",
        rights={
            "master": [{"holder": "North Label", "share_bps": 10_000}],
            "publishing": [{"holder": "Ann Writer", "share_bps": 10_000}],
        },
    )
    path = make_manifest([changed, entry("demo-2", audio="audio/demo-2-new.wav")])
    with django_capture_on_commit_callbacks(execute=True):
        report = catalog_import(manifest_path=path)
    assert (len(report.created), len(report.updated), len(report.unchanged)) == (0, 2, 0)
    one = Recording.objects.get(external_id="demo-1")
    assert (one.id, one.title) == (first_id, "Song One (Remaster)")
    assert [(s.holder.name, s.share_bps) for s in one.shares.filter(side="publishing")] == [("Ann Writer", 10_000)]
    change = ShareChange.objects.filter(recording=one, side="publishing").first()
    assert change is not None
    assert [row["share_bps"] for row in change.new_shares] == [10_000]
    two = Recording.objects.get(external_id="demo-2")
    assert two.duration_ms == 1000
    assert two.audio.name != old_audio
    assert not default_storage.exists(old_audio)
    assert len(stored_audio(settings)) == 2


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({"isrc": "XX-123"}, "isrc", "is not an ISRC"),
        ({"title": ""}, "title", "is required"),
        ({"year": "1999"}, "year", "must be a year"),
        ({"audio": "audio/missing.wav"}, "audio", "does not exist"),
        ({"audio": "../outside.wav"}, "audio", "must be a path inside"),
        ({"tempo": 120}, "tempo", "is not a manifest field"),
        (
            {"rights": {"master": [{"holder": "A", "share_bps": 6000}, {"holder": "B", "share_bps": 3000}]}},
            "rights.master",
            "shares add up to 9000 basis points, not 10000",
        ),
        ({"rights": {"master": [{"holder": "A", "share_bps": 1.5}]}}, "rights.master[0].share_bps", "whole number"),
    ],
)
def test_a_bad_entry_imports_nothing(make_manifest, settings, bad, field, message):
    path = make_manifest([entry("demo-1"), entry("demo-2")])
    catalog_import(manifest_path=path)
    before = snapshot()
    path = make_manifest([entry("demo-1", title="Changed"), entry("demo-3"), entry("demo-2", **bad)])
    with pytest.raises(ManifestInvalid) as excinfo:
        catalog_import(manifest_path=path)
    assert excinfo.value.extra["entry"] == "demo-2"
    assert excinfo.value.extra["field"] == field
    assert f"entry 'demo-2', field '{field}'" in excinfo.value.message
    assert message in excinfo.value.message
    assert snapshot() == before
    assert len(stored_audio(settings)) == 2
    assert RightsHolder.objects.filter(name__in=["A", "B"]).count() == 0


def test_unreadable_audio_is_refused(make_manifest):
    path = make_manifest([entry("demo-1")])
    (path.parent / "audio/demo-1.wav").write_bytes(b"not audio")
    with pytest.raises(ManifestInvalid, match="not a readable audio file"):
        catalog_import(manifest_path=path)
    assert Recording.objects.count() == 0


def test_files_copied_before_a_failure_are_removed(make_manifest, settings, monkeypatch):
    import catalog.manifest as manifest_module

    path = make_manifest([entry("demo-1"), entry("demo-2")])
    from catalog.services import recording_shares_set as real

    calls = {"n": 0}

    def failing(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("database went away")
        return real(**kwargs)

    monkeypatch.setattr(manifest_module, "recording_shares_set", failing)
    with pytest.raises(RuntimeError):
        catalog_import(manifest_path=path)
    assert Recording.objects.count() == 0
    assert stored_audio(settings) == []


def test_it_hands_new_audio_to_indexing_after_commit(make_manifest, django_capture_on_commit_callbacks, monkeypatch):
    seen: list[list[int]] = []
    monkeypatch.setattr(indexing, "recordings_imported", lambda ids: seen.append(sorted(ids)))
    path = make_manifest([entry("demo-1"), entry("demo-2")])
    with django_capture_on_commit_callbacks(execute=True):
        report = catalog_import(manifest_path=path)
    with django_capture_on_commit_callbacks(execute=True):
        catalog_import(manifest_path=path)
    assert seen == [sorted(report.created)]


def test_the_command_reports_counts_and_errors(make_manifest, capsys):
    path = make_manifest([entry("demo-1")])
    call_command("catalog_import", str(path))
    assert capsys.readouterr().out == "1 created, 0 updated, 0 unchanged\n"
    path = make_manifest([entry("demo-1", isrc="nope")])
    with pytest.raises(CommandError, match="entry 'demo-1', field 'isrc'"):
        call_command("catalog_import", str(path))


@pytest.mark.s3
def test_audio_lands_in_s3_storage_and_a_failed_import_leaves_no_objects(make_manifest, s3_storage, monkeypatch):
    import catalog.manifest as manifest_module
    from catalog.services import recording_shares_set as real

    path = make_manifest([entry("demo-1")])
    catalog_import(manifest_path=path)
    recording = Recording.objects.get()
    assert default_storage.__class__.__name__ == "S3Storage"
    assert default_storage.exists(recording.audio.name)
    assert default_storage.size(recording.audio.name) == (path.parent / "audio/demo-1.wav").stat().st_size

    calls = {"n": 0}

    def failing(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("database went away")
        return real(**kwargs)

    monkeypatch.setattr(manifest_module, "recording_shares_set", failing)
    path = make_manifest([entry("demo-1"), entry("demo-2")])
    with pytest.raises(RuntimeError):
        catalog_import(manifest_path=path)
    assert default_storage.listdir("catalog/audio")[1] == [recording.audio.name.rsplit("/", 1)[1]]


def _training_item(source_id: str):
    from generation.models import TrainingRecording

    return TrainingRecording.objects.create(
        source_id=source_id, collection="demo", licence="CC0", is_commercial_ok=True, token_count=10, model_version="x"
    )


def test_the_command_links_training_items_to_the_recordings_it_imports(make_manifest, settings, tmp_path, capsys):
    settings.GENERATION_CHECKPOINT = str(tmp_path / "catalog_model.pt")  # no committed manifest
    item = _training_item("catalog:demo-1")
    other = _training_item("catalog:demo-9")
    call_command("catalog_import", str(make_manifest([entry("demo-1")])))
    item.refresh_from_db()
    other.refresh_from_db()
    assert item.recording_id == Recording.objects.get(external_id="demo-1").pk
    assert other.recording_id is None
    assert capsys.readouterr().err == ""


def test_a_failed_link_keeps_the_import_and_says_how_to_retry(make_manifest, settings, tmp_path, capsys, monkeypatch):
    from generation.services import training

    settings.GENERATION_CHECKPOINT = str(tmp_path / "catalog_model.pt")
    item = _training_item("catalog:demo-1")

    def broken(recording_ids: list[int]) -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr(training, "training_recordings_link", broken)
    path = make_manifest([entry("demo-1")])
    call_command("catalog_import", str(path))
    captured = capsys.readouterr()
    assert captured.out == "1 created, 0 updated, 0 unchanged\n"
    assert "import again to retry" in captured.err
    item.refresh_from_db()
    assert item.recording_id is None
    monkeypatch.undo()
    call_command("catalog_import", str(path))  # unchanged, but linked this time
    item.refresh_from_db()
    assert item.recording_id == Recording.objects.get(external_id="demo-1").pk
