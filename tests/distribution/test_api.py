import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from distribution.clients.platoon import SIGNATURE_HEADER, sign
from distribution.models import DeliveryEvent, Release
from distribution.services import delivery, publish


@pytest.fixture
def api(owner):
    client = APIClient()
    client.force_authenticate(owner)
    return client


def body(song: Any, fields: dict[str, Any]) -> dict[str, Any]:
    return {"generation_id": song.generation.pk, **fields}


@pytest.mark.django_db
def test_it_publishes_and_then_returns_the_same_release(api, song, publish_fields):
    first = api.post("/api/releases/", body(song, publish_fields), format="multipart")
    assert first.status_code == 201, first.json()
    data = first.json()
    assert data["status"] == "queued"
    assert data["title"] == "Night Drive"
    assert sum(line["ppb"] for line in data["splits"]) == 1_000_000_000
    assert [e["kind"] for e in data["events"]] == ["published"]
    again = api.post("/api/releases/", body(song, publish_fields), format="multipart")
    assert again.status_code == 200
    assert again.json()["release_id"] == data["release_id"]


@pytest.mark.django_db
def test_refusals_come_back_as_domain_errors(api, make_song, owner, publish_fields):
    song = make_song(owner=owner, is_original=False)
    response = api.post("/api/releases/", body(song, publish_fields), format="multipart")
    assert response.status_code == 409
    assert response.json()["code"] == "generation_not_publishable"
    assert Release.objects.count() == 0


@pytest.mark.django_db
def test_outsiders_see_nothing(song, outsider, publish_fields):
    client = APIClient()
    client.force_authenticate(outsider)
    response = client.post("/api/releases/", body(song, publish_fields), format="multipart")
    assert response.status_code == 404
    release = publish.release_publish(
        generation_id=song.generation.pk, owner_id=song.owner.pk, artwork=None, **publish_fields
    )
    assert client.get(f"/api/releases/{release.pk}/").status_code == 404
    assert APIClient().get(f"/api/releases/{release.pk}/").status_code == 403


@pytest.mark.django_db
def test_detail_shows_delivery_status(api, song, publish_fields, settings):
    release = publish.release_publish(
        generation_id=song.generation.pk, owner_id=song.owner.pk, artwork=None, **publish_fields
    )
    delivery.release_deliver(release_id=release.pk)
    data = api.get(f"/api/releases/{release.pk}/").json()
    assert data["status"] == "submitted"
    assert data["distributor"] == "outbox"
    assert data["distributor_release_id"] == release.isrc
    assert [e["kind"] for e in data["events"]] == ["published", "delivery"]


@pytest.fixture
def delivered_to_platoon(song, publish_fields, platoon_settings):
    release = publish.release_publish(
        generation_id=song.generation.pk, owner_id=song.owner.pk, artwork=None, **publish_fields
    )
    return delivery.release_deliver(release_id=release.pk)


def post_webhook(
    payload: dict[str, Any],
    *,
    secret: str = "whsec-test",  # noqa: S107
    signature: str | None = None,
) -> Any:
    raw = json.dumps(payload).encode()
    header = signature if signature is not None else sign(raw, secret)
    return APIClient().post(
        "/api/distribution/platoon/webhook/", raw, content_type="application/json", headers={SIGNATURE_HEADER: header}
    )


@pytest.mark.django_db
def test_a_signed_webhook_moves_the_release_live_with_store_links(delivered_to_platoon):
    release = delivered_to_platoon
    assert release.status == "submitted"
    assert post_webhook({"release_id": "plt_1", "status": "in_review"}).status_code == 200
    links = {"spotify": "https://open.spotify.com/track/1", "apple_music": "https://music.apple.com/1"}
    response = post_webhook({"release_id": "plt_1", "status": "live", "store_links": links})
    assert response.json() == {"release_id": release.pk, "status": "live"}
    release.refresh_from_db()
    assert (release.status, release.store_links) == ("live", links)
    assert post_webhook({"release_id": "plt_1", "status": "live", "store_links": links}).status_code == 200
    assert release.events.filter(kind="webhook").count() == 2


@pytest.mark.django_db
def test_a_rejection_keeps_the_reasons(delivered_to_platoon):
    post_webhook({"release_id": "plt_1", "status": "rejected", "reasons": ["Artwork contains text", "Silence"]})
    delivered_to_platoon.refresh_from_db()
    assert delivered_to_platoon.status == "rejected"
    assert delivered_to_platoon.rejection_reasons == ["Artwork contains text", "Silence"]


@pytest.mark.django_db
def test_a_stale_webhook_is_logged_and_ignored(delivered_to_platoon):
    post_webhook({"release_id": "plt_1", "status": "live"})
    post_webhook({"release_id": "plt_1", "status": "in_review"})
    delivered_to_platoon.refresh_from_db()
    assert delivered_to_platoon.status == "live"
    assert delivered_to_platoon.events.filter(status=DeliveryEvent.Outcome.IGNORED).count() == 1


@pytest.mark.django_db
def test_a_badly_signed_webhook_changes_nothing(delivered_to_platoon):
    events = DeliveryEvent.objects.count()
    response = post_webhook({"release_id": "plt_1", "status": "live"}, secret="wrong")
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_webhook_signature"
    assert post_webhook({"release_id": "plt_1", "status": "live"}, signature="").status_code == 403
    delivered_to_platoon.refresh_from_db()
    assert delivered_to_platoon.status == "submitted"
    assert DeliveryEvent.objects.count() == events


@pytest.mark.django_db
def test_a_webhook_for_an_unknown_release_is_not_found(delivered_to_platoon):
    assert post_webhook({"release_id": "plt_99", "status": "live"}).status_code == 404


@pytest.mark.django_db
def test_a_webhook_with_an_unknown_status_is_refused(delivered_to_platoon):
    response = post_webhook({"release_id": "plt_1", "status": "exploded"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_webhook_body"
    delivered_to_platoon.refresh_from_db()
    assert delivered_to_platoon.status == "submitted"


@pytest.mark.django_db
def test_a_wrong_size_cover_is_refused_with_its_size(api, song, publish_fields):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 640)).save(buffer, format="JPEG")
    cover = SimpleUploadedFile("cover.jpg", buffer.getvalue(), content_type="image/jpeg")
    response = api.post("/api/releases/", {**body(song, publish_fields), "artwork": cover}, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_artwork"
    assert "640×640" in response.json()["message"]
    assert Release.objects.count() == 0
