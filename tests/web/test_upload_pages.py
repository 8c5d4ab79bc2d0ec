"""The new-song page's writes: uploads (widget and plain form), refusals, manual match, delete."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.web.conftest import tone_wav
from uploads.models import Upload, UploadSet

pytestmark = pytest.mark.django_db

JSON = {"Accept": "application/json"}


def wav_file(name: str, frequency: float = 440.0) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, tone_wav(seconds=1.5, frequency=frequency), content_type="audio/wav")


def test_new_song_creates_a_set_for_the_artist(owner_client, owner):
    response = owner_client.post(reverse("uploads:upload_set_new"))
    upload_set = UploadSet.objects.get()
    assert upload_set.owner == owner
    assert response["Location"] == reverse("uploads:upload_set_detail", args=[upload_set.pk])


def test_the_widget_uploads_a_file_and_gets_json(owner_client, owner):
    upload_set = UploadSet.objects.create(owner=owner)
    url = reverse("uploads:upload_create", args=[upload_set.pk])
    response = owner_client.post(url, {"file": wav_file("first.wav")}, headers=JSON)
    upload = Upload.objects.get()
    assert response.status_code == 201
    assert response.json() == {"uploads": [{"id": upload.pk, "name": "first.wav", "status": "identifying"}]}
    page = owner_client.get(reverse("uploads:upload_set_detail", args=[upload_set.pk])).content.decode()
    assert "first.wav" in page
    assert "Upload 9 more song(s): a set needs exactly 10." in page
    assert 'id="generate-button" disabled' in page


def test_a_corrupt_file_is_refused_with_a_readable_message(owner_client, owner):
    upload_set = UploadSet.objects.create(owner=owner)
    url = reverse("uploads:upload_create", args=[upload_set.pk])
    corrupt = SimpleUploadedFile("song.mp3", b"ID3" + b"\x00garbage" * 300, content_type="audio/mpeg")
    response = owner_client.post(url, {"file": corrupt}, headers=JSON)
    assert response.status_code == 400
    assert response.json()["code"] == "corrupt_audio" or "damaged" in response.json()["message"]
    assert "re-upload" in response.json()["message"]
    assert not Upload.objects.exists()


def test_an_eleventh_upload_is_refused(owner_client, matched_set):
    url = reverse("uploads:upload_create", args=[matched_set.pk])
    response = owner_client.post(url, {"file": wav_file("eleventh.wav", 880.0)}, headers=JSON)
    assert response.status_code in (400, 409)
    assert "holds exactly 10 songs and this one is full; delete one first" in response.json()["message"]
    assert matched_set.uploads.count() == 10


def test_the_plain_form_reports_a_refusal_on_the_page(owner_client, owner):
    upload_set = UploadSet.objects.create(owner=owner)
    url = reverse("uploads:upload_create", args=[upload_set.pk])
    text = SimpleUploadedFile("notes.wav", b"just some text, not audio at all", content_type="audio/wav")
    response = owner_client.post(url, {"file": text}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("uploads:upload_set_detail", args=[upload_set.pk])
    assert "is not MP3, M4A/AAC, FLAC, WAV or Ogg audio" in response.content.decode()
    assert not Upload.objects.exists()


def test_uploading_without_a_file_says_so(owner_client, owner):
    upload_set = UploadSet.objects.create(owner=owner)
    response = owner_client.post(reverse("uploads:upload_create", args=[upload_set.pk]), {}, headers=JSON)
    assert response.status_code == 400
    assert response.json()["message"] == "Choose an audio file to upload."


def test_a_wrong_match_is_disputed_by_hand_and_waits_for_review(owner_client, matched_set, recordings):
    upload = matched_set.uploads.order_by("id").first()
    response = owner_client.post(
        reverse("uploads:upload_match", args=[upload.pk]), {"recording_id": recordings[5].pk}, follow=True
    )
    upload.refresh_from_db()
    assert upload.recording == recordings[5]
    assert (upload.status, upload.match_method) == (Upload.Status.REVIEW, Upload.Method.MANUAL)
    html = response.content.decode()
    assert "your match to Band F – Tiny Song 05 is waiting for review by SongForge staff." in html
    assert "Waiting for review" in html
    assert 'id="generate-button" disabled' in html


def test_picking_nothing_is_refused(owner_client, matched_set):
    upload = matched_set.uploads.order_by("id").first()
    response = owner_client.post(reverse("uploads:upload_match", args=[upload.pk]), {}, follow=True)
    assert "Pick a recording from the search results." in response.content.decode()


def test_deleting_frees_a_slot(owner_client, matched_set):
    upload = matched_set.uploads.order_by("id").first()
    response = owner_client.post(reverse("uploads:upload_remove", args=[upload.pk]), follow=True)
    html = response.content.decode()
    assert f"Deleted {upload.original_name}." in html
    assert matched_set.uploads.count() == 9
    assert html.count('class="slot slot-empty"') == 1


def test_another_artist_cannot_upload_into_a_set(client, outsider, matched_set):
    client.force_login(outsider)
    response = client.post(reverse("uploads:upload_create", args=[matched_set.pk]), {"file": wav_file("x.wav")})
    assert response.status_code == 404
    assert matched_set.uploads.count() == 10
