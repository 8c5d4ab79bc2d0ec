"""Staff pages for upload sets and uploads."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.uploads.conftest import encode, song, uploaded
from uploads import services
from uploads.models import Upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def upload(owner):
    upload_set = services.upload_set_create(owner_id=owner.pk, title="Staff view")
    return services.upload_add(upload_set_id=upload_set.pk, file=uploaded("a.mp3", encode(song(1, 1.5), "mp3")))


def test_the_lists_and_readiness_filter_load(admin_client, upload):
    for url in (
        reverse("admin:uploads_uploadset_changelist"),
        reverse("admin:uploads_uploadset_changelist") + "?ready=no",
        reverse("admin:uploads_uploadset_changelist") + "?ready=yes",
        reverse("admin:uploads_upload_changelist") + "?status=identifying",
        reverse("admin:uploads_upload_change", args=[upload.pk]),
    ):
        assert admin_client.get(url).status_code == 200, url


def test_the_identify_again_action_goes_through_the_service(admin_client, upload):
    Upload.objects.filter(pk=upload.pk).update(status=Upload.Status.UNMATCHED)
    response = admin_client.post(
        reverse("admin:uploads_upload_changelist"), {"action": "identify_again", "_selected_action": [upload.pk]}
    )
    assert response.status_code == 302
    upload.refresh_from_db()
    assert upload.status == Upload.Status.IDENTIFYING
