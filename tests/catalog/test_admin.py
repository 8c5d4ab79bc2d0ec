from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from catalog.models import Recording, RecordingShare, ShareChange
from catalog.services import recording_shares_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("desk", "desk@example.com", "pw")
    client.force_login(user)
    return user


def change_form(recording: Recording, shares: list[tuple[str, int, int]], **fields: Any) -> dict[str, Any]:
    existing = list(RecordingShare.objects.filter(recording=recording).order_by("id"))
    history = list(ShareChange.objects.filter(recording=recording))
    data: dict[str, Any] = {
        "provider": recording.provider,
        "title": recording.title,
        "artist": recording.artist,
        "album": recording.album,
        "isrc": recording.isrc or "",
        "genre": recording.genre,
        "shares-TOTAL_FORMS": str(len(existing) + len(shares)),
        "shares-INITIAL_FORMS": str(len(existing)),
        "shares-MIN_NUM_FORMS": "0",
        "shares-MAX_NUM_FORMS": "1000",
        "share_changes-TOTAL_FORMS": str(len(history)),
        "share_changes-INITIAL_FORMS": str(len(history)),
        "share_changes-MIN_NUM_FORMS": "0",
        "share_changes-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for i, change in enumerate(history):
        data[f"share_changes-{i}-id"] = str(change.id)
        data[f"share_changes-{i}-recording"] = str(recording.id)
    for i, share in enumerate(existing):  # existing rows are deleted; the new list replaces them
        data.update(
            {
                f"shares-{i}-id": str(share.id),
                f"shares-{i}-recording": str(recording.id),
                f"shares-{i}-side": share.side,
                f"shares-{i}-holder": str(share.holder_id),
                f"shares-{i}-share_bps": str(share.share_bps),
                f"shares-{i}-DELETE": "on",
            }
        )
    for j, (side, holder_id, bps) in enumerate(shares, start=len(existing)):
        data.update(
            {
                f"shares-{j}-recording": str(recording.id),
                f"shares-{j}-side": side,
                f"shares-{j}-holder": str(holder_id),
                f"shares-{j}-share_bps": str(bps),
            }
        )
    return data


def test_staff_edit_shares_and_history_names_them(client, staff, recording, holders):
    label, writer, publisher = holders
    url = reverse("admin:catalog_recording_change", args=[recording.id])
    data = change_form(
        recording, [("master", label.id, 10_000), ("publishing", writer.id, 6000), ("publishing", publisher.id, 4000)]
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert sorted(RecordingShare.objects.values_list("side", "holder__name", "share_bps")) == [
        ("master", "North Label", 10_000),
        ("publishing", "Ann Writer", 6000),
        ("publishing", "Blue Publishing", 4000),
    ]
    assert sorted(ShareChange.objects.values_list("side", "changed_by__username", "source")) == [
        ("master", "desk", "staff"),
        ("publishing", "desk", "staff"),
    ]
    recording.refresh_from_db()
    assert recording.rights_status == "complete"


def test_the_form_refuses_shares_not_adding_to_10000(client, staff, recording, holders):
    label, writer, publisher = holders
    recording_shares_set(recording_id=recording.id, side="master", shares=[(label.id, 10_000)], by_user_id=None)
    url = reverse("admin:catalog_recording_change", args=[recording.id])
    data = change_form(
        recording, [("master", label.id, 10_000), ("publishing", writer.id, 6000), ("publishing", publisher.id, 3000)]
    )
    response = client.post(url, data)
    assert response.status_code == 200
    assert (
        "Publishing shares add up to 9,000 bps (90.00%); they must add up to exactly 10,000 bps (100%). "
        "Adjust them by +1,000." in response.content.decode()
    )
    assert list(RecordingShare.objects.values_list("side", "share_bps")) == [("master", 10_000)]
    assert ShareChange.objects.count() == 1


def test_the_bulk_action_verifies_only_complete_recordings(client, staff, recording, holders):
    from catalog.services import recording_upsert

    label, writer, _ = holders
    other, _ = recording_upsert(external_id="rec-2", title="Other", artist="Someone")
    recording_shares_set(recording_id=recording.id, side="master", shares=[(label.id, 10_000)], by_user_id=None)
    recording_shares_set(recording_id=recording.id, side="publishing", shares=[(writer.id, 10_000)], by_user_id=None)
    response = client.post(
        reverse("admin:catalog_recording_changelist"),
        {"action": "mark_rights_verified", "_selected_action": [recording.id, other.id]},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "1 recordings marked verified." in page
    assert "1 recordings were not changed" in page
    assert dict(Recording.objects.values_list("external_id", "rights_status")) == {
        "rec-1": "verified",
        "rec-2": "unknown",
    }
    assert Recording.objects.get(external_id="rec-1").rights_verified_by == staff


def test_the_rights_filter_and_search_work(client, staff, recording, holders):
    changelist = reverse("admin:catalog_recording_changelist")
    assert "Blue Moon" in client.get(changelist, {"rights": "incomplete"}).content.decode()
    assert "Blue Moon" not in client.get(changelist, {"rights": "verified"}).content.decode()
    assert "Blue Moon" in client.get(changelist, {"q": "ella"}).content.decode()


def test_holder_page_lists_the_recordings_they_hold(client, staff, recording, holders):
    label = holders[0]
    recording_shares_set(recording_id=recording.id, side="master", shares=[(label.id, 10_000)], by_user_id=None)
    page = client.get(reverse("admin:catalog_rightsholder_change", args=[label.id])).content.decode()
    assert "Ella Example – Blue Moon</a>: master 100.00%" in page
    assert client.get(reverse("admin:catalog_rightsholder_changelist")).status_code == 200


def test_share_history_is_read_only(client, staff, recording, holders):
    recording_shares_set(recording_id=recording.id, side="master", shares=[(holders[0].id, 10_000)], by_user_id=None)
    change = ShareChange.objects.get()
    url = reverse("admin:catalog_sharechange_change", args=[change.id])
    assert client.get(url).status_code == 200
    client.post(url, {"side": "publishing"})
    assert ShareChange.objects.get().side == "master"
    assert (
        client.post(reverse("admin:catalog_sharechange_delete", args=[change.id]), {"post": "yes"}).status_code == 403
    )
    assert ShareChange.objects.count() == 1


def test_staff_add_a_recording_with_its_shares(client, staff, holders):
    label, writer, _ = holders
    data = {
        "external_id": "desk-1",
        "provider": "local",
        "title": "Café Nights",
        "artist": "Zoë Example",
        "album": "",
        "isrc": "GBAYE0601499",
        "genre": "Jazz",
        "shares-TOTAL_FORMS": "2",
        "shares-INITIAL_FORMS": "0",
        "shares-MIN_NUM_FORMS": "0",
        "shares-MAX_NUM_FORMS": "1000",
        "shares-0-side": "master",
        "shares-0-holder": str(label.id),
        "shares-0-share_bps": "10000",
        "shares-1-side": "publishing",
        "shares-1-holder": str(writer.id),
        "shares-1-share_bps": "10000",
        "share_changes-TOTAL_FORMS": "0",
        "share_changes-INITIAL_FORMS": "0",
        "share_changes-MIN_NUM_FORMS": "0",
        "share_changes-MAX_NUM_FORMS": "1000",
    }
    response = client.post(reverse("admin:catalog_recording_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    recording = Recording.objects.get(external_id="desk-1")
    assert (recording.title, recording.isrc, recording.search_text, recording.rights_status) == (
        "Café Nights",
        "GBAYE0601499",
        "cafe nights zoe example",
        "complete",
    )
    assert ShareChange.objects.filter(recording=recording, changed_by=staff).count() == 2
