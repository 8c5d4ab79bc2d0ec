"""Upload rules: what a set takes, what it refuses (storing nothing), manual fixes and readiness."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from songforge.errors import NotFound
from tests.uploads.conftest import encode, song, uploaded
from uploads import audio, selectors, services
from uploads.errors import (
    CorruptAudioError,
    DuplicateUploadError,
    UnsupportedAudioError,
    UploadSetFullError,
    UploadTooLargeError,
)
from uploads.models import Upload

pytestmark = pytest.mark.django_db


def stored_files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT) / "uploads"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def upload_set(owner):
    return services.upload_set_create(owner_id=owner.pk, title="Summer")


def add(upload_set, seed: int, kind: str = "mp3", name: str | None = None, seconds: float = 2.0) -> Upload:
    return services.upload_add(
        upload_set_id=upload_set.pk,
        owner_id=upload_set.owner_id,
        file=uploaded(name or f"song-{seed}.{kind}", encode(song(seed, seconds), kind)),
    )


@pytest.mark.parametrize("kind", ["mp3", "m4a", "flac", "wav", "ogg"])
def test_it_takes_each_supported_format(upload_set, kind, settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        upload = add(upload_set, 1, kind)
    assert upload.status == Upload.Status.IDENTIFYING
    assert upload.audio_format == kind
    assert upload.duration_s == pytest.approx(2.0, abs=0.15)  # AAC adds priming frames
    assert upload.size_bytes == len(encode(song(1, 2.0), kind))
    assert default_storage.exists(upload.audio.name)
    assert len(callbacks) == 1  # identification is queued after commit


def test_the_type_comes_from_the_bytes_not_the_name(upload_set):
    upload = add(upload_set, 2, "flac", name="really-an-mp3.mp3")
    assert upload.audio_format == "flac"
    assert upload.original_name == "really-an-mp3.mp3"


def test_the_eleventh_song_is_refused(upload_set, settings):
    for seed in range(10):
        add(upload_set, seed, "wav", seconds=1.2)
    before = stored_files(settings)
    with pytest.raises(UploadSetFullError, match="exactly 10 songs") as raised:
        add(upload_set, 10, "wav", seconds=1.2)
    assert raised.value.http_status == 409
    assert Upload.objects.filter(upload_set=upload_set).count() == 10
    assert stored_files(settings) == before


def test_a_file_that_is_not_audio_is_refused(upload_set, settings):
    with pytest.raises(UnsupportedAudioError, match="not MP3, M4A/AAC, FLAC, WAV or Ogg"):
        services.upload_add(upload_set_id=upload_set.pk, file=uploaded("song.mp3", b"%PDF-1.7 definitely a pdf" * 50))
    assert Upload.objects.count() == 0
    assert stored_files(settings) == []


def test_a_corrupt_mp3_is_refused_with_the_reason_and_not_stored(upload_set, settings):
    good = encode(song(3, 2.0), "mp3")
    corrupt = good[:200] + bytes(range(256)) * 40  # a valid ID3 header, then garbage instead of frames
    with pytest.raises(CorruptAudioError) as raised:
        services.upload_add(upload_set_id=upload_set.pk, file=uploaded("broken.mp3", corrupt))
    assert "MP3 file" in raised.value.message
    assert "Export the song again" in raised.value.message
    assert "songforge-upload-" not in raised.value.message  # no server paths shown to the artist
    assert Upload.objects.count() == 0
    assert stored_files(settings) == []


def test_a_truncated_flac_is_refused(upload_set, settings):
    whole = encode(song(4, 2.0), "flac")
    with pytest.raises(CorruptAudioError):
        services.upload_add(upload_set_id=upload_set.pk, file=uploaded("cut.flac", whole[:120]))
    assert stored_files(settings) == []


def test_the_same_audio_twice_in_a_set_is_refused(upload_set, settings):
    first = add(upload_set, 5, "mp3", name="a.mp3")
    with pytest.raises(DuplicateUploadError, match=r"same audio as a\.mp3") as raised:
        add(upload_set, 5, "mp3", name="b.mp3")
    assert raised.value.extra == {"upload_id": first.pk}
    assert Upload.objects.count() == 1
    assert len(stored_files(settings)) == 1


def test_the_same_audio_in_another_set_is_fine(upload_set, owner):
    add(upload_set, 5)
    other = services.upload_set_create(owner_id=owner.pk)
    assert add(other, 5).upload_set_id == other.pk


def test_a_file_over_the_size_limit_is_refused(upload_set, settings):
    settings.UPLOAD_MAX_BYTES = 10_000
    content = encode(song(6, 2.0), "wav")
    assert len(content) > 10_000
    with pytest.raises(UploadTooLargeError) as raised:
        services.upload_add(upload_set_id=upload_set.pk, file=uploaded("big.wav", content))
    assert raised.value.http_status == 413
    assert Upload.objects.count() == 0
    assert stored_files(settings) == []


def test_the_size_limit_holds_even_when_the_declared_size_lies(upload_set, settings):
    settings.UPLOAD_MAX_BYTES = 10_000
    file = uploaded("big.wav", encode(song(6, 2.0), "wav"))
    file.size = 100  # the limit is enforced while streaming, not from the header
    with pytest.raises(UploadTooLargeError):
        services.upload_add(upload_set_id=upload_set.pk, file=file)
    assert stored_files(settings) == []


def test_another_artists_set_is_not_found(upload_set, outsider):
    with pytest.raises(NotFound):
        services.upload_add(
            upload_set_id=upload_set.pk, owner_id=outsider.pk, file=uploaded("x.mp3", encode(song(1, 2.0), "mp3"))
        )
    assert Upload.objects.count() == 0


def test_manual_match_fixes_an_unmatched_upload(upload_set, make_recording):
    upload = add(upload_set, 7)
    Upload.objects.filter(pk=upload.pk).update(status=Upload.Status.UNMATCHED)
    recording = make_recording(7, with_audio=False)
    matched = services.upload_match_manually(
        upload_id=upload.pk, owner_id=upload_set.owner_id, recording_id=recording.pk
    )
    assert (matched.status, matched.recording_id, matched.match_method) == ("matched", recording.pk, "manual")
    assert matched.confidence is None


def test_manual_match_overrides_a_wrong_automatic_match(upload_set, make_recording):
    upload = add(upload_set, 8)
    wrong, right = make_recording(80, with_audio=False), make_recording(81, with_audio=False)
    Upload.objects.filter(pk=upload.pk).update(
        status=Upload.Status.MATCHED, recording=wrong, match_method="fingerprint", confidence=0.4, offset_s=3.0
    )
    services.upload_match_manually(upload_id=upload.pk, recording_id=right.pk)
    upload.refresh_from_db()
    assert (upload.recording_id, upload.match_method, upload.confidence, upload.offset_s) == (
        right.pk,
        "manual",
        None,
        None,
    )


def test_manual_match_to_a_missing_recording_changes_nothing(upload_set):
    upload = add(upload_set, 9)
    with pytest.raises(NotFound):
        services.upload_match_manually(upload_id=upload.pk, recording_id=999_999)
    upload.refresh_from_db()
    assert (upload.status, upload.recording_id) == ("identifying", None)


def test_another_artist_cannot_match_or_delete(upload_set, outsider, make_recording):
    upload = add(upload_set, 9)
    recording = make_recording(9, with_audio=False)
    with pytest.raises(NotFound):
        services.upload_match_manually(upload_id=upload.pk, owner_id=outsider.pk, recording_id=recording.pk)
    with pytest.raises(NotFound):
        services.upload_delete(upload_id=upload.pk, owner_id=outsider.pk)
    with pytest.raises(NotFound):
        selectors.upload_set_readiness(upload_set_id=upload_set.pk, owner_id=outsider.pk)
    upload.refresh_from_db()
    assert upload.status == "identifying"


def test_delete_removes_the_row_and_the_stored_audio(upload_set, settings, django_capture_on_commit_callbacks):
    upload = add(upload_set, 10)
    name = upload.audio.name
    with django_capture_on_commit_callbacks(execute=True):
        services.upload_delete(upload_id=upload.pk, owner_id=upload_set.owner_id)
    assert not Upload.objects.filter(pk=upload.pk).exists()
    assert not default_storage.exists(name)


def test_a_deleted_slot_can_be_filled_again(upload_set):
    for seed in range(10):
        add(upload_set, seed, "wav", seconds=1.2)
    services.upload_delete(upload_id=Upload.objects.filter(upload_set=upload_set).earliest("pk").pk)
    assert add(upload_set, 20, "wav", seconds=1.2).upload_set_id == upload_set.pk


def test_readiness_lists_what_is_missing_and_unmatched(upload_set, make_recording):
    first, second, third = add(upload_set, 1, name="one.mp3"), add(upload_set, 2, name="two.mp3"), add(upload_set, 3)
    recording = make_recording(1, with_audio=False)
    services.upload_match_manually(upload_id=first.pk, recording_id=recording.pk)
    Upload.objects.filter(pk=second.pk).update(status=Upload.Status.UNMATCHED)
    Upload.objects.filter(pk=third.pk).update(status=Upload.Status.FAILED, failure_reason="The audio could not be read")
    readiness = selectors.upload_set_readiness(upload_set_id=upload_set.pk)
    assert (readiness.is_ready, readiness.uploaded, readiness.matched, readiness.size) == (False, 3, 1, 10)
    assert [(p.upload_id, p.status) for p in readiness.not_matched] == [(second.pk, "unmatched"), (third.pk, "failed")]
    assert readiness.reasons == [
        "Upload 7 more song(s): a set needs exactly 10.",
        "two.mp3 is no match: pick its catalog recording by hand or delete it.",
        "song-3.mp3 is failed: The audio could not be read; delete it and upload it again.",
    ]


def test_a_set_of_ten_matched_songs_is_ready(upload_set, make_recording):
    recording = make_recording(1, with_audio=False)
    for seed in range(10):
        upload = add(upload_set, seed, "wav", seconds=1.2)
        services.upload_match_manually(upload_id=upload.pk, recording_id=recording.pk)
    readiness = selectors.upload_set_readiness(upload_set_id=upload_set.pk, owner_id=upload_set.owner_id)
    assert (readiness.is_ready, readiness.matched, readiness.not_matched, readiness.reasons) == (True, 10, [], [])


def test_sniffing_recognises_each_container():
    assert audio.sniff_audio_format(b"ID3\x04") == "mp3"
    assert audio.sniff_audio_format(b"\xff\xfb\x90\x00") == "mp3"
    assert audio.sniff_audio_format(b"\xff\xf1\x50\x80") == "aac"
    assert audio.sniff_audio_format(b"fLaC\x00") == "flac"
    assert audio.sniff_audio_format(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "wav"
    assert audio.sniff_audio_format(b"RIFF\x00\x00\x00\x00AVI LIST") is None
    assert audio.sniff_audio_format(b"OggS\x00") == "ogg"
    assert audio.sniff_audio_format(b"\x00\x00\x00\x1cftypM4A ") == "m4a"
    assert audio.sniff_audio_format(b"\x89PNG\r\n") is None
