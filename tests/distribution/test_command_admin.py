from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from distribution.models import Release
from distribution.services import delivery, publish


@pytest.mark.django_db
def test_publish_prints_the_release_isrc_outbox_and_split_sheet(song, settings):
    out = StringIO()
    call_command(
        "publish", "--generation", str(song.generation.pk), "--title", "Night Drive", "--artist", "Ada Vale", stdout=out
    )
    release = Release.objects.get()
    text = out.getvalue()
    assert f"ISRC:        {release.isrc}" in text
    assert f"Outbox:      {Path(settings.OUTBOX_DIR) / release.isrc}" in text
    assert "Status:      Submitted (outbox)" in text
    assert "1,000,000,000 ppb" in text
    assert "North Label (label)" in text
    assert (Path(settings.OUTBOX_DIR) / release.isrc / f"{release.isrc}.xml").exists()


@pytest.mark.django_db
def test_publish_reports_a_refusal(make_song, owner):
    song = make_song(owner=owner, is_original=False)
    with pytest.raises(CommandError, match="originality check"):
        call_command("publish", "--generation", str(song.generation.pk), "--title", "T", "--artist", "A")


@pytest.fixture
def staff_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("staff", "staff@example.com")
    client.force_login(admin)
    return client


@pytest.mark.django_db
def test_staff_see_the_release_split_sheet_and_log(staff_client, song, publish_fields):
    release = publish.release_publish(
        generation_id=song.generation.pk, owner_id=song.owner.pk, artwork=None, **publish_fields
    )
    assert staff_client.get("/admin/distribution/release/").status_code == 200
    page = staff_client.get(f"/admin/distribution/release/{release.pk}/change/").content.decode()
    assert "North Label" in page
    assert "published" in page


@pytest.mark.django_db
def test_staff_take_a_release_down_through_its_distributor(staff_client, song, publish_fields, settings):
    release = publish.release_publish(
        generation_id=song.generation.pk, owner_id=song.owner.pk, artwork=None, **publish_fields
    )
    delivery.release_deliver(release_id=release.pk)
    response = staff_client.post(
        "/admin/distribution/release/", {"action": "take_down", "_selected_action": [release.pk]}, follow=True
    )
    assert response.status_code == 200
    release.refresh_from_db()
    assert release.status == Release.Status.TAKEN_DOWN
    assert release.taken_down_at is not None
    assert (Path(settings.OUTBOX_DIR) / f"{release.isrc}_takedown" / f"{release.isrc}.xml").exists()
    assert list(release.events.values_list("kind", flat=True)) == ["published", "delivery", "takedown", "takedown"]


@pytest.mark.django_db
def test_a_queued_release_cannot_be_taken_down(staff_client, song, publish_fields):
    release = publish.release_publish(
        generation_id=song.generation.pk, owner_id=song.owner.pk, artwork=None, **publish_fields
    )
    response = staff_client.post(
        "/admin/distribution/release/", {"action": "take_down", "_selected_action": [release.pk]}, follow=True
    )
    assert "only a delivered release can be taken down" in response.content.decode()
    release.refresh_from_db()
    assert release.status == Release.Status.QUEUED


@pytest.mark.django_db
def test_staff_refresh_the_status_from_platoon(staff_client, song, publish_fields, platoon_settings):
    release = publish.release_publish(
        generation_id=song.generation.pk, owner_id=song.owner.pk, artwork=None, **publish_fields
    )
    delivery.release_deliver(release_id=release.pk)
    platoon_settings.releases["plt_1"].update(status="live", store_links={"deezer": "https://deezer.com/t/1"})
    staff_client.post("/admin/distribution/release/", {"action": "refresh_status", "_selected_action": [release.pk]})
    release.refresh_from_db()
    assert (release.status, release.store_links) == ("live", {"deezer": "https://deezer.com/t/1"})
    assert release.events.filter(kind="status").count() == 1


@pytest.mark.django_db
def test_staff_deliver_a_failed_release_again(staff_client, song, publish_fields, platoon_settings):
    platoon_settings.faults["POST /v1/releases"] = ["400"]
    release = publish.release_publish(
        generation_id=song.generation.pk, owner_id=song.owner.pk, artwork=None, **publish_fields
    )
    delivery.release_deliver(release_id=release.pk)
    release.refresh_from_db()
    assert release.status == Release.Status.FAILED
    staff_client.post("/admin/distribution/release/", {"action": "deliver_again", "_selected_action": [release.pk]})
    release.refresh_from_db()
    assert (release.status, release.delivery_attempts) == (Release.Status.QUEUED, 0)
    delivery.release_deliver(release_id=release.pk)
    release.refresh_from_db()
    assert release.status == Release.Status.SUBMITTED
