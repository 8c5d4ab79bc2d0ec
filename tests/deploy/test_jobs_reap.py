"""``manage.py jobs_reap``, the CronJob backstop for the reaper every worker process runs."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from songforge import jobs
from tests.uploads.conftest import encode, excerpt, indexed_catalog, make_recording, owner, uploaded
from uploads import services
from uploads.models import Upload

__all__ = ["indexed_catalog", "make_recording", "owner"]  # fixtures used here

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_identification_whose_worker_died_is_recovered_without_any_worker(
    stub_broker: Any, indexed_catalog: Any, owner: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A worker claimed an upload and was killed; no worker reaper runs. The command takes it over."""
    upload_set = services.upload_set_create(owner_id=owner.pk)
    upload = services.upload_add(
        upload_set_id=upload_set.pk, file=uploaded("clip.mp3", encode(excerpt(2, 0.0, 5.0), "mp3"))
    )
    stub_broker.flush_all()  # its message went with the dead worker
    Upload.objects.filter(pk=upload.pk).update(
        identify_claimed_at=timezone.now() - datetime.timedelta(hours=1), identify_attempts=1
    )

    call_command("jobs_reap")
    assert "Re-enqueued 1 job(s)." in capsys.readouterr().out

    upload.refresh_from_db()
    assert (upload.status, upload.recording_id, upload.match_method) == (
        "matched",
        indexed_catalog[1].pk,
        "fingerprint",
    )
    call_command("jobs_reap")  # nothing left to recover
    assert "Re-enqueued 0 job(s)." in capsys.readouterr().out


def test_a_live_claim_is_left_to_its_worker(stub_broker: Any, indexed_catalog: Any, owner: Any) -> None:
    upload_set = services.upload_set_create(owner_id=owner.pk)
    upload = services.upload_add(
        upload_set_id=upload_set.pk, file=uploaded("clip.mp3", encode(excerpt(1, 0.0, 5.0), "mp3"))
    )
    stub_broker.flush_all()
    claimed = timezone.now()
    Upload.objects.filter(pk=upload.pk).update(identify_claimed_at=claimed, identify_attempts=1)

    call_command("jobs_reap")

    upload.refresh_from_db()
    assert (upload.status, upload.identify_claimed_at) == ("identifying", claimed)


def test_a_failing_reaper_fails_the_command_and_the_others_still_run(
    stub_broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CronJob's pod fails (and Kubernetes reports it) instead of hiding a broken reaper."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("tasks")  # the apps' reapers are registered before the list is swapped
    ran: list[str] = []

    def broken() -> int:
        raise RuntimeError("database is locked")

    def working() -> int:
        ran.append("working")
        return 0

    monkeypatch.setattr(jobs, "_reapers", [broken, working])
    with pytest.raises(CommandError, match="1 reaper\\(s\\) failed"):
        call_command("jobs_reap")
    assert ran == ["working"]
