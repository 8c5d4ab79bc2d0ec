"""Range requests for the web player: /songs/<pk>/audio/<kind>, owner only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.urls import reverse

from generation.models import Generation
from generation.streaming import parse_range
from uploads.models import UploadSet

AUDIO = bytes(range(256)) * 400  # 102,400 bytes, every offset recognisable


@pytest.fixture
def owner(db: None) -> Any:
    return get_user_model().objects.create_user("owner", "owner@example.com", "a-long-Passphrase-42")


@pytest.fixture
def outsider(db: None) -> Any:
    return get_user_model().objects.create_user("outsider", "outsider@example.com", "a-long-Passphrase-42")


@pytest.fixture
def song(owner: Any) -> Generation:
    upload_set = UploadSet.objects.create(owner=owner, title="Set")
    generation = Generation.objects.create(upload_set=upload_set, status=Generation.Status.SUCCEEDED)
    generation.listen_mp3.save("listen.mp3", ContentFile(AUDIO), save=True)
    return generation


def url(song: Generation, kind: str = "mp3") -> str:
    return reverse("generation:generation_audio", args=[song.pk, kind])


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_it_serves_the_whole_file_with_accept_ranges(client, owner, song):
    client.force_login(owner)
    response = client.get(url(song))
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Type"] == "audio/mpeg"
    assert response["Content-Length"] == str(len(AUDIO))
    assert body(response) == AUDIO


def test_it_serves_a_closed_range_as_partial_content(client, owner, song):
    client.force_login(owner)
    response = client.get(url(song), HTTP_RANGE="bytes=1000-1999")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 1000-1999/{len(AUDIO)}"
    assert response["Content-Length"] == "1000"
    assert body(response) == AUDIO[1000:2000]


def test_it_serves_an_open_ended_range(client, owner, song):
    client.force_login(owner)
    response = client.get(url(song), HTTP_RANGE="bytes=100000-")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100000-{len(AUDIO) - 1}/{len(AUDIO)}"
    assert body(response) == AUDIO[100000:]


def test_it_serves_a_suffix_range(client, owner, song):
    client.force_login(owner)
    response = client.get(url(song), HTTP_RANGE="bytes=-500")
    assert response.status_code == 206
    assert body(response) == AUDIO[-500:]


def test_a_range_past_the_end_is_clamped(client, owner, song):
    client.force_login(owner)
    response = client.get(url(song), HTTP_RANGE="bytes=102000-999999")
    assert response.status_code == 206
    assert body(response) == AUDIO[102000:]


def test_an_unsatisfiable_range_is_416(client, owner, song):
    client.force_login(owner)
    response = client.get(url(song), HTTP_RANGE=f"bytes={len(AUDIO)}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(AUDIO)}"


def test_several_ranges_get_the_whole_file(client, owner, song):
    client.force_login(owner)
    response = client.get(url(song), HTTP_RANGE="bytes=0-10,20-30")
    assert response.status_code == 200
    assert body(response) == AUDIO


def test_an_outsider_gets_404(client, outsider, song):
    client.force_login(outsider)
    assert client.get(url(song), HTTP_RANGE="bytes=0-10").status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, song):
    response = client.get(url(song))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_missing_format_and_unknown_kind_are_404(client, owner, song):
    client.force_login(owner)
    assert client.get(url(song, "m4a")).status_code == 404
    assert client.get(url(song, "flac")).status_code == 404


def test_post_is_not_allowed(client, owner, song):
    client.force_login(owner)
    assert client.post(url(song)).status_code == 405


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", (0, 0)),
        ("bytes=5-", (5, 9)),
        ("bytes=-3", (7, 9)),
        ("bytes=-30", (0, 9)),
        ("bytes=-0", False),
        ("bytes=10-", False),
        ("bytes=4-2", None),
        ("items=0-1", None),
        ("bytes=a-b", None),
        (None, None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 10) == expected


@pytest.mark.s3
def test_ranges_stream_from_s3_storage(client, owner, s3_storage):
    upload_set = UploadSet.objects.create(owner=owner, title="Set")
    generation = Generation.objects.create(upload_set=upload_set, status=Generation.Status.SUCCEEDED)
    generation.listen_m4a.save("listen.m4a", ContentFile(AUDIO), save=True)
    client.force_login(owner)
    response = client.get(url(generation, "m4a"), HTTP_RANGE="bytes=50000-50999")
    assert response.status_code == 206
    assert response["Content-Type"] == "audio/mp4"
    assert body(response) == AUDIO[50000:51000]
