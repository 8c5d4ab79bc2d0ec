import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from distribution.errors import GenerationNotPublishable, InvalidArtwork, InvalidReleaseMetadata
from distribution.models import DeliveryEvent, IsrcCounter, Release
from distribution.services import publish as publishing
from generation.models import Generation
from royalties.models import SplitSheet
from songforge.errors import NotFound


def image_upload(
    *, size: tuple[int, int] = (3000, 3000), image_format: str = "PNG", name: str = "cover.png"
) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 90)).save(buffer, format=image_format)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{image_format.lower()}")


def publish(song: Any, fields: dict[str, Any], **overrides: Any) -> Release:
    arguments = {"generation_id": song.generation.pk, "owner_id": song.owner.pk, "artwork": None, **fields}
    arguments.update(overrides)
    return publishing.release_publish(**arguments)


@pytest.mark.django_db
def test_it_publishes_a_finished_original_song(song, publish_fields, django_capture_on_commit_callbacks, settings):
    settings.ISRC_REGISTRANT = "QZ-S8F"
    with django_capture_on_commit_callbacks() as callbacks:
        release = publish(song, publish_fields)
    release.refresh_from_db()
    assert release.status == Release.Status.QUEUED
    assert release.title == "Night Drive"
    assert release.artist_name == "Ada Vale"
    assert release.genre == "Electronic"
    assert release.language == "en"
    assert release.distributor == "outbox"
    assert release.isrc.startswith("QZS8F")
    assert len(release.isrc) == 12
    assert release.duration_ms == 500
    assert len(release.audio_sha256) == 64
    assert release.is_artwork_generated is True
    with release.artwork.open("rb") as artwork, Image.open(artwork) as image:
        assert (image.format, image.size) == ("JPEG", (3000, 3000))
    sheet = SplitSheet.objects.get(release=release)
    assert sum(sheet.lines.values_list("ppb", flat=True)) == 1_000_000_000
    assert list(release.events.values_list("kind", "status")) == [("published", "ok")]
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_publishing_twice_returns_the_same_release(song, publish_fields, django_capture_on_commit_callbacks):
    first = publish(song, publish_fields)
    with django_capture_on_commit_callbacks() as callbacks:
        second = publish(song, {**publish_fields, "title": "Another title"})
    assert second.pk == first.pk
    assert second.title == "Night Drive"
    assert Release.objects.count() == 1
    assert IsrcCounter.objects.get().last_designation == 1
    assert SplitSheet.objects.count() == 1
    assert callbacks == []


@pytest.mark.django_db
def test_generated_artwork_is_deterministic(song):
    from distribution.artwork import artwork_generate

    report = song.generation.report
    assert artwork_generate(seed=1, report=report, title="A") == artwork_generate(seed=1, report=report, title="A")
    assert artwork_generate(seed=1, report=report, title="A") != artwork_generate(seed=2, report=report, title="A")


@pytest.mark.django_db
def test_it_keeps_a_valid_uploaded_cover(song, publish_fields):
    release = publish(song, publish_fields, artwork=image_upload())
    assert release.is_artwork_generated is False
    assert release.artwork.name.endswith(".png")
    with release.artwork.open("rb") as artwork, Image.open(artwork) as image:
        assert image.size == (3000, 3000)


def assert_nothing_published() -> None:
    assert Release.objects.count() == 0
    assert SplitSheet.objects.count() == 0
    assert DeliveryEvent.objects.count() == 0
    assert IsrcCounter.objects.filter(last_designation__gt=0).count() == 0


@pytest.mark.django_db
def test_it_refuses_a_cover_of_the_wrong_size(song, publish_fields):
    with pytest.raises(InvalidArtwork) as refusal:
        publish(song, publish_fields, artwork=image_upload(size=(1200, 800)))
    assert "1200×800" in refusal.value.message
    assert "3000×3000" in refusal.value.message
    assert refusal.value.extra == {"width": 1200, "height": 800}
    assert_nothing_published()


@pytest.mark.django_db
def test_it_refuses_a_cover_that_is_not_jpeg_or_png(song, publish_fields):
    with pytest.raises(InvalidArtwork) as refusal:
        publish(song, publish_fields, artwork=image_upload(image_format="GIF", name="cover.gif"))
    assert "GIF" in refusal.value.message
    with pytest.raises(InvalidArtwork):
        publish(song, publish_fields, artwork=SimpleUploadedFile("cover.png", b"not an image"))
    assert_nothing_published()


@pytest.mark.django_db
def test_it_hides_other_owners_songs(song, outsider, publish_fields):
    with pytest.raises(NotFound):
        publish(song, publish_fields, owner_id=outsider.pk)
    assert_nothing_published()


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Generation.Status.QUEUED, Generation.Status.RUNNING, Generation.Status.FAILED])
def test_it_refuses_an_unfinished_song(make_song, owner, publish_fields, status):
    song = make_song(owner=owner, status=status)
    with pytest.raises(GenerationNotPublishable) as refusal:
        publish(song, publish_fields)
    assert "only a finished song" in refusal.value.message
    assert_nothing_published()


@pytest.mark.django_db
@pytest.mark.parametrize(("is_original", "words"), [(False, "failed"), (None, "has not been run")])
def test_it_refuses_a_song_that_failed_the_originality_check(make_song, owner, publish_fields, is_original, words):
    song = make_song(owner=owner, is_original=is_original)
    with pytest.raises(GenerationNotPublishable) as refusal:
        publish(song, publish_fields)
    assert words in refusal.value.message
    assert_nothing_published()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"), [("title", "  "), ("artist_name", ""), ("language", "English"), ("ai_disclosure", "")]
)
def test_it_refuses_missing_or_bad_metadata(song, publish_fields, field, value):
    with pytest.raises(InvalidReleaseMetadata):
        publish(song, {**publish_fields, field: value})
    assert_nothing_published()


@pytest.mark.django_db
def test_split_preview_matches_the_stored_sheet(song, publish_fields):
    preview = publishing.release_split_preview(generation_id=song.generation.pk, owner_id=song.owner.pk)
    release = publish(song, publish_fields)
    stored = dict(SplitSheet.objects.get(release=release).lines.values_list("holder_id", "ppb"))
    assert preview.ppb_by_holder() == stored


@pytest.mark.django_db
def test_the_training_manifest_feeds_the_split_sheet(song, publish_fields):
    from generation.models import TrainingRecording

    common = {"collection": "demo", "licence": "CC0", "is_commercial_ok": True, "model_version": "abc"}
    TrainingRecording.objects.create(source_id="catalog:a", token_count=300, recording=song.recordings[0], **common)
    TrainingRecording.objects.create(source_id="folk:b", token_count=100, **common)
    TrainingRecording.objects.create(source_id="folk:c", token_count=900, is_held_out=True, **common)
    release = publish(song, publish_fields)
    sheet = SplitSheet.objects.get(release=release)
    assert sheet.inputs["training"] == [[song.recordings[0].pk, 300], [None, 100]]
    escrow_ppb = sheet.lines.get(holder__kind="escrow").ppb
    assert escrow_ppb == 330_000_000 // 4  # the unknown item's quarter of the 33% training pool
