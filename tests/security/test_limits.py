"""Finding 6 (five POSTs queued five generations) and finding 10 (a 361 KB FLAC decoding to 10 hours
was accepted; a 250 MB body spooled 257 MB before its 413)."""

from __future__ import annotations

import datetime
import io
import json
import math
import struct

import numpy as np
import pytest
from django.core.exceptions import RequestDataTooBig
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from generation.errors import GenerationLimitError
from generation.models import Generation
from generation.services import generation_start
from songforge.limits import CountingUploadHandler, RequestBodyLimitMiddleware
from tests.uploads.conftest import encode, uploaded
from tests.web.conftest import make_upload
from uploads import services
from uploads.errors import UploadTooLongError
from uploads.models import Upload, UploadSet

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready_set(owner, recordings):
    upload_set = UploadSet.objects.create(owner=owner)
    for index, recording in enumerate(recordings):
        make_upload(upload_set, index, status=Upload.Status.MATCHED, recording=recording)
    return upload_set


def test_five_generate_posts_queue_one_generation(client, owner, ready_set):
    client.force_login(owner)
    url = reverse("generation:generation_create", args=[ready_set.pk])
    responses = [client.post(url, follow=True) for _ in range(5)]
    assert Generation.objects.filter(upload_set=ready_set, take_of__isnull=True).count() == 1  # one song (two takes)
    first = Generation.objects.get(take_of__isnull=True)
    html = responses[-1].content.decode()
    assert f"Generation #{first.pk} is still queued for this set; wait for it to finish or cancel it" in html


def test_the_daily_limit_is_a_429_with_the_time_of_the_next_chance(owner, recordings, settings):
    settings.GENERATIONS_PER_DAY = 2
    sets = []
    for _ in range(3):
        upload_set = UploadSet.objects.create(owner=owner)
        for index, recording in enumerate(recordings):
            make_upload(upload_set, index, status=Upload.Status.MATCHED, recording=recording)
        sets.append(upload_set)
    first = generation_start(upload_set_id=sets[0].pk, owner_id=owner.pk, enqueue=False)
    generation_start(upload_set_id=sets[1].pk, owner_id=owner.pk, enqueue=False)
    with pytest.raises(GenerationLimitError) as refused:
        generation_start(upload_set_id=sets[2].pk, owner_id=owner.pk, enqueue=False)
    assert (refused.value.code, refused.value.http_status) == ("generation_daily_limit", 429)
    next_at = Generation.objects.get(pk=first.pk).created_at + datetime.timedelta(days=1)
    assert refused.value.message == (
        "You can start 2 generations in 24 hours and have used them all; the next one is possible at "
        f"{next_at:%Y-%m-%d %H:%M} UTC."
    )
    assert Generation.objects.filter(take_of__isnull=True).count() == 2  # songs count, not their takes
    # a day later the oldest no longer counts
    Generation.objects.filter(pk=first.pk).update(created_at=timezone.now() - datetime.timedelta(days=1, minutes=1))
    generation_start(upload_set_id=sets[2].pk, owner_id=owner.pk, enqueue=False)


def test_the_limit_error_renders_as_json_429(rf):
    from songforge.errors import api_exception_handler

    response = api_exception_handler(GenerationLimitError("Too many.", code="generation_daily_limit"), {})
    assert response is not None
    assert (response.status_code, response.data["code"]) == (429, "generation_daily_limit")


def flac_seconds(seconds: float, rate: int = 8000) -> bytes:
    return encode(np.zeros(int(seconds * rate), dtype=np.float32), "flac", rate=rate)


def test_a_song_longer_than_the_limit_is_refused_from_its_header(owner, settings):
    settings.UPLOAD_MAX_SECONDS = 60
    upload_set = services.upload_set_create(owner_id=owner.pk)
    with pytest.raises(UploadTooLongError) as refused:
        services.upload_add(
            upload_set_id=upload_set.pk, owner_id=owner.pk, file=uploaded("long.flac", flac_seconds(90))
        )
    assert refused.value.code == "upload_too_long"
    assert refused.value.message == (
        "A song may be at most 1 min 00 s long; this FLAC file runs 1 min 30 s. Upload a shorter version."
    )
    assert not Upload.objects.exists()


def _without_declared_length(flac: bytes) -> bytes:
    """Zero STREAMINFO's 36-bit total-samples field: the header then says nothing about the length."""
    offset = 4 + 4 + 10  # "fLaC", block header, min/max block and frame sizes
    (packed,) = struct.unpack(">Q", flac[offset : offset + 8])
    packed &= ~((1 << 36) - 1)
    return flac[:offset] + struct.pack(">Q", packed) + flac[offset + 8 :]


def test_a_header_that_hides_the_length_is_cut_off_while_decoding(owner, settings):
    settings.UPLOAD_MAX_SECONDS = 60
    upload_set = services.upload_set_create(owner_id=owner.pk)
    lying = _without_declared_length(flac_seconds(90))
    with pytest.raises(UploadTooLongError) as refused:
        services.upload_add(upload_set_id=upload_set.pk, owner_id=owner.pk, file=uploaded("lying.flac", lying))
    assert refused.value.extra["seconds"] <= 90
    assert not Upload.objects.exists()


def test_a_song_within_the_limit_is_accepted(owner, settings):
    settings.UPLOAD_MAX_SECONDS = 60
    upload_set = services.upload_set_create(owner_id=owner.pk)
    samples = (0.2 * np.sin(2 * math.pi * 220 * np.arange(8000 * 30) / 8000)).astype(np.float32)
    upload = services.upload_add(
        upload_set_id=upload_set.pk, owner_id=owner.pk, file=uploaded("ok.flac", encode(samples, "flac", rate=8000))
    )
    assert upload.duration_s == 30.0


class _Unreadable(io.RawIOBase):
    def read(self, *args, **kwargs):
        raise AssertionError("the body was read")


def test_a_body_over_the_limit_is_refused_before_a_byte_is_read(settings):
    settings.MAX_REQUEST_BYTES = 1024 * 1024
    request = RequestFactory().post("/api/upload-sets/1/uploads/", data=b"", content_type="application/octet-stream")
    request.META["CONTENT_LENGTH"] = str(250 * 1024 * 1024)
    request._stream = _Unreadable()  # type: ignore[assignment]
    response = RequestBodyLimitMiddleware(lambda r: pytest.fail("the view ran"))(request)
    assert response.status_code == 413
    assert not hasattr(request, "_body")
    assert json.loads(response.content)["code"] == "request_too_large"
    assert json.loads(response.content)["message"] == (
        "The request is larger than 1 MB, the most SongForge accepts; send a smaller file."
    )


def test_a_big_upload_through_the_api_is_413_with_nothing_stored(owner_api, owner, settings):
    settings.MAX_REQUEST_BYTES = 64 * 1024
    upload_set = services.upload_set_create(owner_id=owner.pk)
    response = owner_api.post(
        reverse("api-upload-add", args=[upload_set.pk]),
        {"file": uploaded("big.wav", b"RIFF" + bytes(128 * 1024))},
        format="multipart",
    )
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert not Upload.objects.exists()


def test_a_body_without_a_length_is_stopped_once_it_passes_the_limit(settings):
    settings.MAX_REQUEST_BYTES = 1000
    handler = CountingUploadHandler()
    assert handler.receive_data_chunk(b"x" * 600, 0) == b"x" * 600
    with pytest.raises(RequestDataTooBig):
        handler.receive_data_chunk(b"x" * 600, 600)
