"""Identification whose worker dies is retaken by the reaper, at most SONGFORGE_JOB_MAX_ATTEMPTS times."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from dramatiq.middleware.time_limit import TimeLimitExceeded

from tests.uploads.conftest import encode, excerpt, uploaded
from uploads import services
from uploads.models import Upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def upload(owner, stub_broker):
    upload_set = services.upload_set_create(owner_id=owner.pk)
    found = services.upload_add(
        upload_set_id=upload_set.pk, file=uploaded("clip.mp3", encode(excerpt(2, 0.0, 5.0), "mp3"))
    )
    stub_broker.flush_all()
    return found


def killed(upload: Upload, *, attempts: int, ago_s: int = 60) -> None:
    """What a worker killed during identification leaves behind: a claim whose heartbeat stopped."""
    Upload.objects.filter(pk=upload.pk).update(
        identify_claimed_at=timezone.now() - datetime.timedelta(seconds=ago_s), identify_attempts=attempts
    )


def test_the_reaper_releases_a_stale_claim_once(upload):
    killed(upload, attempts=1)
    assert services.uploads_identify_reap() == [upload.pk]
    assert services.uploads_identify_reap() == []
    upload.refresh_from_db()
    assert (upload.status, upload.identify_claimed_at) == ("identifying", None)


def test_a_fresh_heartbeat_keeps_the_reaper_away(upload):
    Upload.objects.filter(pk=upload.pk).update(identify_claimed_at=timezone.now(), identify_attempts=1)
    assert services.uploads_identify_reap() == []
    assert services.upload_identify(upload_id=upload.pk) is False


def test_an_identification_whose_message_was_lost_is_re_enqueued_once(upload):
    Upload.objects.filter(pk=upload.pk).update(updated_at=timezone.now() - datetime.timedelta(minutes=10))
    assert services.uploads_identify_reap() == [upload.pk]
    assert services.uploads_identify_reap() == []


def test_past_its_attempts_an_upload_fails_with_what_to_do_and_can_be_identified_again(
    upload, indexed_catalog, settings, stub_broker
):
    settings.SONGFORGE_JOB_MAX_ATTEMPTS = 3
    killed(upload, attempts=3)
    assert services.upload_identify(upload_id=upload.pk) is False
    upload.refresh_from_db()
    assert upload.status == "failed"
    assert "stopped 3 times" in upload.failure_reason
    assert "Identify again" in upload.failure_reason

    services.upload_identify_again(upload_id=upload.pk)
    assert services.upload_identify(upload_id=upload.pk) is True
    upload.refresh_from_db()
    assert (upload.status, upload.identify_attempts, upload.identify_claimed_at) == ("matched", 1, None)


def test_the_reaper_fails_a_stale_upload_with_no_attempt_left(upload, settings):
    settings.SONGFORGE_JOB_MAX_ATTEMPTS = 2
    killed(upload, attempts=2)
    assert services.uploads_identify_reap() == []
    upload.refresh_from_db()
    assert upload.status == "failed"
    assert "worker stopped responding" in upload.failure_reason


def test_a_time_limit_counts_as_an_attempt(upload, settings, monkeypatch):
    import catalog.identify

    settings.SONGFORGE_JOB_MAX_ATTEMPTS = 2

    class TooSlow:
        def identify(self, path):
            raise TimeLimitExceeded()

    monkeypatch.setattr(catalog.identify, "default_chain", lambda: TooSlow())
    for _ in range(2):
        with pytest.raises(TimeLimitExceeded):
            services.upload_identify(upload_id=upload.pk)
    upload.refresh_from_db()
    assert (upload.status, upload.identify_attempts) == ("failed", 2)
    assert "TimeLimitExceeded" in upload.failure_reason


def test_an_outage_gives_its_attempt_back(upload, settings, monkeypatch):
    import catalog.identify
    from catalog.identify import IdentificationUnavailable

    settings.SONGFORGE_JOB_MAX_ATTEMPTS = 1

    class Down:
        def identify(self, path):
            raise IdentificationUnavailable("Shazam is rate limiting; try again later.")

    monkeypatch.setattr(catalog.identify, "default_chain", lambda: Down())
    for _ in range(3):
        with pytest.raises(IdentificationUnavailable):
            services.upload_identify(upload_id=upload.pk)
    upload.refresh_from_db()
    assert (upload.status, upload.identify_attempts, upload.identify_claimed_at) == ("identifying", 0, None)
    assert upload.failure_reason == "Waiting to retry: Shazam is rate limiting; try again later."
    Upload.objects.filter(pk=upload.pk).update(updated_at=timezone.now() - datetime.timedelta(hours=1))
    assert services.uploads_identify_reap() == []  # its retry is backed off; the reaper does not hurry it
