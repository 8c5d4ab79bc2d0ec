"""The publish page (split preview, refusals) and the release status page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from distribution.models import Release
from tests.web.conftest import finished_generation

pytestmark = pytest.mark.django_db


def test_publish_page_previews_the_split_down_to_each_holder(owner_client, matched_set):
    generation = finished_generation(matched_set)
    response = owner_client.get(reverse("distribution:publish", args=[generation.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="title"' in html
    assert 'value="Morning Forge"' in html
    assert 'name="artist_name"' in html
    assert 'name="artwork"' in html
    for holder in ("Tiny Label", "Tiny Publishing", "Ada Writer"):
        assert holder in html
    assert "rights holders — 67.0%" in html
    assert "Catalog (training data) — 33.0%" in html
    assert "100.0000%" in html  # the table's total


def test_publishing_an_unoriginal_song_is_refused_with_a_message(owner_client, matched_set):
    generation = finished_generation(matched_set, is_original=False)
    response = owner_client.post(
        reverse("distribution:publish", args=[generation.pk]),
        {"title": "Copy", "artist_name": "Me", "genre": "Pop", "language": "en", "ai_disclosure": "Made with AI."},
    )
    assert response.status_code == 400
    assert "only a song that passed it can be published" in response.content.decode()
    assert not Release.objects.exists()


def test_publish_form_errors_are_shown_next_to_fields(owner_client, matched_set):
    generation = finished_generation(matched_set)
    response = owner_client.post(reverse("distribution:publish", args=[generation.pk]), {"title": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not Release.objects.exists()


def test_publishing_creates_the_release_and_shows_its_status_and_split_sheet(
    owner_client, matched_set, django_capture_on_commit_callbacks
):
    generation = finished_generation(matched_set)
    response = owner_client.post(
        reverse("distribution:publish", args=[generation.pk]),
        {
            "title": "Morning Forge",
            "artist_name": "Owner",
            "genre": "Pop",
            "language": "en",
            "ai_disclosure": "Made with generative AI.",
        },
    )
    release = Release.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("distribution:release_detail", args=[release.pk])
    page = owner_client.get(response["Location"]).content.decode()
    assert release.isrc in page
    assert "Tiny Label" in page
    assert "100.0000%" in page
    # publishing again goes to the same release
    again = owner_client.get(reverse("distribution:publish", args=[generation.pk]))
    assert again["Location"] == reverse("distribution:release_detail", args=[release.pk])


def test_another_artists_release_is_not_found(client, outsider, matched_set):
    generation = finished_generation(matched_set)
    release = Release.objects.create(generation=generation, title="X", artist_name="Y", isrc="QZS8F2600001")
    client.force_login(outsider)
    assert client.get(reverse("distribution:release_detail", args=[release.pk])).status_code == 404
    assert "QZS8F2600001" not in client.get(reverse("distribution:release_list")).content.decode()
