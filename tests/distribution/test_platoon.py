import json

import pytest

from distribution import selectors
from distribution.clients.base import DistributorError, ReleasePackage
from distribution.clients.platoon import PlatoonClient, is_signature_valid, parse_webhook, sign
from distribution.models import Release
from distribution.services import publish


@pytest.fixture
def release(song, publish_fields, platoon_settings):
    return publish.release_publish(
        generation_id=song.generation.pk, owner_id=song.owner.pk, artwork=None, **publish_fields
    )


@pytest.fixture
def client(platoon_server):
    sleeps: list[float] = []
    client = PlatoonClient(
        base_url=platoon_server.base_url,
        token="test-token",
        read_timeout_s=0.3,
        max_attempts=3,
        backoff_s=0.01,
        sleep=sleeps.append,
    )
    client.sleeps = sleeps  # type: ignore[attr-defined]
    yield client
    client.close()


def package_of(release: Release) -> ReleasePackage:
    return selectors.release_package(release=Release.objects.get(pk=release.pk))


@pytest.mark.django_db
def test_it_creates_uploads_splits_and_submits(release, client, platoon_server):
    result = client.deliver(package_of(release))
    assert result.status == "submitted"
    assert result.distributor_release_id == "plt_1"
    stored = platoon_server.releases["plt_1"]
    assert stored["metadata"]["tracks"][0]["isrc"] == release.isrc
    assert stored["metadata"]["ai_disclosure"]["is_ai_generated"] is True
    with release.generation.master_wav.open("rb") as master:
        assert stored["audio"] == master.read()
    assert stored["artwork"][:3] == b"\xff\xd8\xff"
    assert sum(line["share_ppb"] for line in stored["splits"]) == 1_000_000_000
    assert platoon_server.requests == [
        "POST /v1/releases",
        "PUT /v1/releases/plt_1/audio",
        "PUT /v1/releases/plt_1/artwork",
        "POST /v1/releases/plt_1/splits",
        "POST /v1/releases/plt_1/submit",
    ]


@pytest.mark.django_db
def test_a_dropped_connection_after_create_does_not_make_a_second_release(release, client, platoon_server):
    platoon_server.faults["POST /v1/releases"] = ["drop"]
    result = client.deliver(package_of(release))
    assert result.distributor_release_id == "plt_1"
    assert list(platoon_server.releases) == ["plt_1"]
    assert platoon_server.requests[:2] == ["POST /v1/releases", "POST /v1/releases"]
    assert len(client.sleeps) == 1


@pytest.mark.django_db
def test_a_whole_second_delivery_reuses_the_idempotency_key(release, client, platoon_server):
    client.deliver(package_of(release))
    again = client.deliver(package_of(release))
    assert again.distributor_release_id == "plt_1"
    assert list(platoon_server.releases) == ["plt_1"]


@pytest.mark.django_db
def test_server_errors_are_retried_then_succeed(release, client, platoon_server):
    platoon_server.faults["POST /v1/releases"] = ["500", "503"]
    result = client.deliver(package_of(release))
    assert result.status == "submitted"
    assert client.sleeps == [0.01, 0.02]
    assert list(platoon_server.releases) == ["plt_1"]


@pytest.mark.django_db
def test_retries_are_bounded_and_reported_as_retryable(release, client, platoon_server):
    platoon_server.faults["POST /v1/releases"] = ["502", "502", "502", "502"]
    with pytest.raises(DistributorError) as failure:
        client.deliver(package_of(release))
    assert failure.value.permanent is False
    assert "after 3 attempts" in failure.value.message
    assert platoon_server.requests == ["POST /v1/releases"] * 3
    assert platoon_server.releases == {}


@pytest.mark.django_db
def test_a_timeout_is_retried_with_the_same_key(release, client, platoon_server):
    platoon_server.faults["POST /v1/releases"] = ["slow"]
    result = client.deliver(package_of(release))
    assert result.distributor_release_id == "plt_1"
    assert list(platoon_server.releases) == ["plt_1"]
    assert platoon_server.requests[:2] == ["POST /v1/releases", "POST /v1/releases"]


@pytest.mark.django_db
def test_a_client_error_is_permanent_and_not_retried(release, client, platoon_server):
    platoon_server.faults["POST /v1/releases"] = ["422"]
    with pytest.raises(DistributorError) as failure:
        client.deliver(package_of(release))
    assert failure.value.permanent is True
    assert failure.value.extra["http_status"] == 422
    assert "Platoon refused POST /v1/releases (422)" in failure.value.message
    assert platoon_server.requests == ["POST /v1/releases"]
    assert client.sleeps == []


@pytest.mark.django_db
def test_a_wrong_token_is_a_permanent_error(release, platoon_server):
    client = PlatoonClient(base_url=platoon_server.base_url, token="wrong", sleep=lambda s: None)
    with pytest.raises(DistributorError) as failure:
        client.deliver(package_of(release))
    assert failure.value.permanent is True
    assert failure.value.extra["http_status"] == 401


@pytest.mark.django_db
def test_an_unreachable_server_is_retryable(release):
    client = PlatoonClient(base_url="http://127.0.0.1:9", token="t", max_attempts=2, sleep=lambda s: None)
    with pytest.raises(DistributorError) as failure:
        client.deliver(package_of(release))
    assert failure.value.permanent is False


@pytest.mark.django_db
def test_status_and_takedown(release, client, platoon_server):
    delivered = client.deliver(package_of(release))
    Release.objects.filter(pk=release.pk).update(distributor_release_id=delivered.distributor_release_id)
    platoon_server.releases["plt_1"].update(status="live", store_links={"spotify": "https://open.spotify.com/t/1"})
    remote = client.status(package_of(release))
    assert (remote.status, remote.store_links) == ("live", {"spotify": "https://open.spotify.com/t/1"})
    result = client.takedown(package_of(release))
    assert result.status == "taken_down"
    assert platoon_server.releases["plt_1"]["status"] == "taken_down"


def test_webhook_signatures():
    body = json.dumps({"release_id": "plt_1", "status": "live"}).encode()
    signature = sign(body, "whsec")
    assert signature.startswith("sha256=")
    assert is_signature_valid(body, signature, "whsec") is True
    assert is_signature_valid(body + b" ", signature, "whsec") is False
    assert is_signature_valid(body, sign(body, "other"), "whsec") is False
    assert is_signature_valid(body, signature, "") is False
    assert is_signature_valid(body, "", "whsec") is False


def test_webhook_bodies_are_parsed_strictly():
    event = parse_webhook(b'{"event_id": "e1", "release_id": "plt_1", "status": "rejected", "reasons": ["blurry"]}')
    assert (event.platoon_release_id, event.status, event.reasons) == ("plt_1", "rejected", ("blurry",))
    with pytest.raises(DistributorError):
        parse_webhook(b'{"release_id": "plt_1", "status": "exploded"}')
    with pytest.raises(DistributorError):
        parse_webhook(b"not json")
