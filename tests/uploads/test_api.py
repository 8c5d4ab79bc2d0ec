"""The upload API: each endpoint for its owner, and 404 for everybody else."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.uploads.conftest import encode, song, uploaded
from uploads import services
from uploads.models import Upload, UploadSet

pytestmark = pytest.mark.django_db


@pytest.fixture
def upload_set(owner):
    return services.upload_set_create(owner_id=owner.pk, title="First album")


@pytest.fixture
def upload(upload_set):
    return services.upload_add(upload_set_id=upload_set.pk, file=uploaded("one.mp3", encode(song(1, 2.0), "mp3")))


def test_it_creates_a_set(owner_api, owner):
    response = owner_api.post(reverse("api-upload-set-create"), {"title": "Demo"}, format="json")
    assert response.status_code == 201
    assert response.json()["title"] == "Demo"
    assert response.json()["uploads"] == []
    assert response.json()["readiness"]["is_ready"] is False
    assert UploadSet.objects.get().owner == owner


def test_it_uploads_a_file_as_multipart(owner_api, upload_set, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_api.post(
            reverse("api-upload-add", args=[upload_set.pk]),
            {"file": uploaded("track.flac", encode(song(2, 2.0), "flac"))},
            format="multipart",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["audio_format"], body["original_name"], body["recording"]) == (
        "identifying",
        "flac",
        "track.flac",
        None,
    )
    assert len(callbacks) == 1


def test_refusals_come_back_with_code_and_message(owner_api, upload_set):
    response = owner_api.post(
        reverse("api-upload-add", args=[upload_set.pk]),
        {"file": uploaded("notes.mp3", b"just some text, not audio" * 20)},
        format="multipart",
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_audio"
    assert "not MP3, M4A/AAC, FLAC, WAV or Ogg" in response.json()["message"]
    assert Upload.objects.count() == 0


def test_the_set_lists_each_upload_with_its_match(
    owner_api, upload_set, upload, make_recording, django_assert_num_queries
):
    recording = make_recording(1, isrc="QZS8F2600001", with_audio=False)
    Upload.objects.filter(pk=upload.pk).update(
        status="matched", recording=recording, match_method="fingerprint", confidence=0.83, offset_s=12.5
    )
    services.upload_add(upload_set_id=upload_set.pk, file=uploaded("two.wav", encode(song(2, 1.5), "wav")))
    with django_assert_num_queries(4):  # auth is forced: set, uploads+recordings, readiness set check, readiness rows
        response = owner_api.get(reverse("api-upload-set-detail", args=[upload_set.pk]))
    assert response.status_code == 200
    first, second = response.json()["uploads"]
    assert first["recording"] == {
        "id": recording.pk,
        "external_id": "demo-1",
        "isrc": "QZS8F2600001",
        "title": "Song 1",
        "artist": "Demo Band",
    }
    assert (first["status"], first["confidence"], first["offset_s"], first["match_method"]) == (
        "matched",
        0.83,
        12.5,
        "fingerprint",
    )
    assert (second["status"], second["recording"]) == ("identifying", None)
    assert response.json()["readiness"]["matched"] == 1


def test_manual_match_waits_for_review_then_counts_towards_readiness(
    owner_api, upload_set, upload, make_recording, reviewer
):
    Upload.objects.filter(pk=upload.pk).update(status="unmatched")  # identification found nothing
    recording = make_recording(3, with_audio=False)
    response = owner_api.post(
        reverse("api-upload-match", args=[upload.pk]), {"recording_id": recording.pk}, format="json"
    )
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["match_method"]) == ("review", "manual")
    readiness = owner_api.get(reverse("api-upload-set-readiness", args=[upload_set.pk])).json()
    assert (readiness["is_ready"], readiness["matched"], readiness["not_matched"][0]["status"]) == (False, 0, "review")
    services.match_claim_approve(claim_id=upload.match_claims.get().pk, reviewer_id=reviewer.pk)
    readiness = owner_api.get(reverse("api-upload-set-readiness", args=[upload_set.pk])).json()
    assert (readiness["is_ready"], readiness["uploaded"], readiness["matched"], readiness["not_matched"]) == (
        False,
        1,
        1,
        [],
    )
    assert readiness["reasons"] == ["Upload 9 more song(s): a set needs exactly 10."]


def test_manual_match_to_an_unknown_recording_is_404(owner_api, upload):
    response = owner_api.post(reverse("api-upload-match", args=[upload.pk]), {"recording_id": 4242}, format="json")
    assert response.status_code == 404
    upload.refresh_from_db()
    assert upload.status == "identifying"


def test_delete(owner_api, upload):
    response = owner_api.delete(reverse("api-upload-detail", args=[upload.pk]))
    assert response.status_code == 204
    assert not Upload.objects.filter(pk=upload.pk).exists()


def test_identify_again(owner_api, upload):
    Upload.objects.filter(pk=upload.pk).update(status="unmatched")
    response = owner_api.post(reverse("api-upload-identify", args=[upload.pk]))
    assert response.status_code == 202
    assert response.json()["status"] == "identifying"


def test_another_artist_gets_404_everywhere_and_changes_nothing(outsider_api, upload_set, upload, make_recording):
    recording = make_recording(5, with_audio=False)
    calls = [
        ("get", reverse("api-upload-set-detail", args=[upload_set.pk]), None),
        ("get", reverse("api-upload-set-readiness", args=[upload_set.pk]), None),
        ("post", reverse("api-upload-add", args=[upload_set.pk]), "file"),
        ("get", reverse("api-upload-detail", args=[upload.pk]), None),
        ("post", reverse("api-upload-match", args=[upload.pk]), {"recording_id": recording.pk}),
        ("post", reverse("api-upload-identify", args=[upload.pk]), None),
        ("delete", reverse("api-upload-detail", args=[upload.pk]), None),
    ]
    for method, url, data in calls:
        if data == "file":
            response = outsider_api.post(
                url, {"file": uploaded("x.mp3", encode(song(9, 1.5), "mp3"))}, format="multipart"
            )
        else:
            response = getattr(outsider_api, method)(url, data, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
    upload.refresh_from_db()
    assert (upload.status, upload.recording_id) == ("identifying", None)
    assert Upload.objects.count() == 1


def test_anonymous_requests_are_refused(client, upload_set):
    assert client.get(reverse("api-upload-set-detail", args=[upload_set.pk])).status_code == 403
