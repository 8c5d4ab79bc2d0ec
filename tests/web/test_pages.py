"""Page tests with Django's client: what an artist sees, and every refusal as a readable page."""

from __future__ import annotations

import datetime
import json

import pytest
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from generation.models import Generation
from tests.web.conftest import PEAKS, finished_generation, make_upload
from uploads.models import Upload, UploadSet

pytestmark = pytest.mark.django_db


def test_pages_send_visitors_to_sign_in(client, matched_set):
    generation = finished_generation(matched_set)
    for url in (
        reverse("generation:song_list"),
        reverse("uploads:upload_set_detail", args=[matched_set.pk]),
        reverse("generation:generation_detail", args=[generation.pk]),
        reverse("distribution:publish", args=[generation.pk]),
        reverse("royalties:earnings"),
        reverse("catalog:search"),
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


def test_another_artists_pages_are_not_found(client, outsider, matched_set):
    generation = finished_generation(matched_set)
    upload = matched_set.uploads.first()
    client.force_login(outsider)
    for url in (
        reverse("uploads:upload_set_detail", args=[matched_set.pk]),
        reverse("uploads:upload_set_slots", args=[matched_set.pk]),
        reverse("uploads:upload_search", args=[upload.pk]),
        reverse("generation:generation_detail", args=[generation.pk]),
        reverse("generation:generation_progress", args=[generation.pk]),
        reverse("generation:generation_peaks", args=[generation.pk]),
        reverse("distribution:publish", args=[generation.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"Page not found" in response.content
    for url in (
        reverse("uploads:upload_remove", args=[upload.pk]),
        reverse("uploads:upload_match", args=[upload.pk]),
        reverse("generation:generation_create", args=[matched_set.pk]),
        reverse("generation:generation_stop", args=[generation.pk]),
    ):
        assert client.post(url, {"recording_id": upload.recording_id}).status_code == 404, url
    assert Upload.objects.filter(pk=upload.pk, status=Upload.Status.MATCHED).exists()


def test_set_page_shows_each_slot_state_and_keeps_generate_disabled(owner_client, owner, recordings):
    upload_set = UploadSet.objects.create(owner=owner)
    make_upload(upload_set, 0, status=Upload.Status.MATCHED, recording=recordings[0])
    make_upload(upload_set, 1, status=Upload.Status.IDENTIFYING)
    make_upload(upload_set, 2, status=Upload.Status.UNMATCHED)
    make_upload(upload_set, 3, status=Upload.Status.FAILED)
    response = owner_client.get(reverse("uploads:upload_set_detail", args=[upload_set.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Tiny Song 00" in html
    assert "Band A" in html
    assert "Confidence 93%" in html
    assert "Identifying…" in html
    assert "No match in the catalog" in html
    assert "Identification failed: The file is not audio." in html
    assert html.count('class="slot slot-empty"') == 6
    assert 'id="generate-button" disabled' in html
    assert 'id="generate-reason"' in html
    assert "every 1500ms" in html  # polls while one is identifying


def test_slots_stop_polling_once_nothing_is_identifying(owner_client, matched_set):
    response = owner_client.get(reverse("uploads:upload_set_slots", args=[matched_set.pk]))
    assert response.status_code == 200
    assert "every 1500ms" not in response.content.decode()
    assert response.content.decode().count('class="slot slot-matched"') == 10


def test_generating_page_shows_stage_progress_and_elapsed_time(owner_client, matched_set):
    generation = Generation.objects.create(
        upload_set=matched_set,
        status=Generation.Status.RUNNING,
        stage="finetune",
        progress_percent=42,
        started_at=timezone.now() - datetime.timedelta(seconds=75),
    )
    response = owner_client.get(reverse("generation:generation_detail", args=[generation.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Fine-tune" in html
    assert 'value="42"' in html
    assert "1:15" in html or "1:16" in html
    assert 'hx-trigger="every 1s"' in html
    # the set page links back to the running job ("leaving and coming back shows the same job")
    set_page = owner_client.get(reverse("uploads:upload_set_detail", args=[matched_set.pk])).content.decode()
    assert reverse("generation:generation_detail", args=[generation.pk]) in set_page


def test_progress_partial_reloads_the_page_when_the_job_ends(owner_client, matched_set):
    generation = finished_generation(matched_set)
    url = reverse("generation:generation_progress", args=[generation.pk])
    response = owner_client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"


def test_failed_generation_shows_its_reason(owner_client, matched_set):
    generation = Generation.objects.create(
        upload_set=matched_set, status=Generation.Status.FAILED, stage="compose", error="the model file is missing"
    )
    html = owner_client.get(reverse("generation:generation_detail", args=[generation.pk])).content.decode()
    assert "The generation failed during “compose”: the model file is missing." in html


def test_song_page_shows_report_influence_and_originality(owner_client, matched_set):
    generation = finished_generation(matched_set)
    response = owner_client.get(reverse("generation:generation_detail", args=[generation.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "118.0 BPM" in html
    assert "A minor" in html
    assert "2:32" in html
    assert "-14.1 LUFS" in html
    assert "Passed." in html
    assert "<dt>Longest run of notes shared with a source</dt><dd>5</dd>" in html
    assert "<dt>Allowed at most</dt><dd>8</dd>" in html
    assert "Band A – Tiny Song 00" in html
    assert "19.0%" in html
    assert "<svg" in html
    assert 'role="img"' in html
    assert reverse("distribution:publish", args=[generation.pk]) in html
    try:
        audio_url = reverse("generation:generation_audio", args=[generation.pk, "mp3"])
    except NoReverseMatch:  # the streaming view is not deployed: the page says so instead of a broken player
        assert "The audio of this song is not available yet." in html
    else:
        assert f'src="{audio_url}"' in html
        assert reverse("generation:generation_peaks", args=[generation.pk]) in html


def test_peaks_are_served_to_the_owner(owner_client, matched_set):
    generation = finished_generation(matched_set)
    response = owner_client.get(reverse("generation:generation_peaks", args=[generation.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json.loads(b"".join(response.streaming_content)) == PEAKS


def test_unknown_page_is_a_readable_404(owner_client):
    response = owner_client.get("/songs/999999/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b"My songs" in response.content


def test_error_pages_render_without_context():
    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html
    assert "Traceback" not in html
    assert "You can't do that" in render_to_string("403.html")


def test_song_list_lists_sets_and_their_songs(owner_client, matched_set):
    generation = finished_generation(matched_set)
    html = owner_client.get(reverse("generation:song_list")).content.decode()
    assert reverse("uploads:upload_set_detail", args=[matched_set.pk]) in html
    assert "Morning Forge" in html
    assert reverse("generation:generation_detail", args=[generation.pk]) in html


def test_generate_before_all_are_matched_is_refused_with_the_reason(owner_client, owner, recordings):
    upload_set = UploadSet.objects.create(owner=owner)
    make_upload(upload_set, 0, status=Upload.Status.MATCHED, recording=recordings[0])
    make_upload(upload_set, 1, status=Upload.Status.UNMATCHED)
    response = owner_client.post(reverse("generation:generation_create", args=[upload_set.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("uploads:upload_set_detail", args=[upload_set.pk])
    assert "must be uploaded and matched before generating" in response.content.decode()
    assert not Generation.objects.exists()


def test_generate_starts_the_job_and_shows_it(owner_client, matched_set, django_capture_on_commit_callbacks):
    response = owner_client.post(reverse("generation:generation_create", args=[matched_set.pk]))
    generation = Generation.objects.get(take_of__isnull=True)  # the song; its take 2 is another row
    assert response["Location"] == reverse("generation:generation_detail", args=[generation.pk])
    page = owner_client.get(response["Location"]).content.decode()
    assert "Generating your song" in page
    assert "Cancel" in page


def test_cancel_stops_a_running_job(owner_client, matched_set):
    generation = Generation.objects.create(upload_set=matched_set, status=Generation.Status.RUNNING, stage="compose")
    response = owner_client.post(reverse("generation:generation_stop", args=[generation.pk]), follow=True)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED
    assert "Generation cancelled." in response.content.decode()
    again = owner_client.post(reverse("generation:generation_stop", args=[generation.pk]), follow=True)
    assert "A cancelled generation cannot be cancelled." in again.content.decode()


def test_an_expired_form_gets_a_readable_page(owner):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(reverse("uploads:upload_set_new"))
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()


def test_the_set_page_leads_to_the_finished_song(owner_client, matched_set):
    generation = finished_generation(matched_set)
    html = owner_client.get(reverse("uploads:upload_set_detail", args=[matched_set.pk])).content.decode()
    assert reverse("generation:generation_detail", args=[generation.pk]) in html
    assert "Generate another" in html
