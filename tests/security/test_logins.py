"""Finding 8 (40 wrong admin passwords, then the right one: in; allauth's limit was per process and
not proxy-aware) and finding 9 (an unverified sign-up uploaded and generated)."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from songforge.clientip import client_ip
from tests.uploads.conftest import encode, song, uploaded
from uploads import services
from uploads.models import Upload

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-Passphrase-42"


@pytest.fixture(autouse=True)
def _fresh_limits():
    from django.core.cache import cache
    from django.core.management import call_command

    cache.clear()
    call_command("axes_reset", verbosity=0)


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("boss", "boss@example.com", PASSWORD)


def test_forty_wrong_admin_passwords_lock_the_address_out(client, admin_user, settings):
    for _ in range(40):
        client.post(reverse("admin:login"), {"username": "boss", "password": "guess"})
    response = client.post(reverse("admin:login"), {"username": "boss", "password": PASSWORD})
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_login_attempts"
    assert "_auth_user_id" not in client.session


def test_a_changing_x_forwarded_for_does_not_escape_the_lockout(client, admin_user, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse("admin:login"), {"username": "boss", "password": "guess"}, HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}"
        )
    response = client.post(
        reverse("admin:login"), {"username": "boss", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="10.9.9.9"
    )
    assert response.status_code == 429


def test_allauth_sign_in_is_limited_too(client, admin_user):
    for _ in range(12):
        client.post(reverse("account_login"), {"login": "boss@example.com", "password": "guess"})
    response = client.post(reverse("account_login"), {"login": "boss@example.com", "password": PASSWORD})
    # allauth's own limit answers first (a form error); past it, axes locks the address (429)
    assert response.status_code in {200, 429}
    if response.status_code == 200:
        assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_client_address_comes_from_the_trusted_proxy_only(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.2"  # no proxy: the header is the client's own words
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.7"  # what our proxy appended, not what the client wrote
    settings.TRUSTED_PROXY_COUNT = 3
    assert client_ip(request) == "10.0.0.2"  # fewer hops than proxies: trust only the socket


def test_an_unverified_artist_cannot_upload(db):
    artist = get_user_model().objects.create_user("new", "new@example.com", PASSWORD)
    api = APIClient()
    api.force_authenticate(artist)
    upload_set = services.upload_set_create(owner_id=artist.pk)
    response = api.post(
        reverse("api-upload-add", args=[upload_set.pk]),
        {"file": uploaded("one.mp3", encode(song(1, 2.0), "mp3"))},
        format="multipart",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "email_not_verified"
    assert response.json()["message"].startswith("Confirm your e-mail address before uploading")
    assert not Upload.objects.exists()


@override_settings(UPLOAD_REQUIRES_VERIFIED_EMAIL=True)
def test_the_upload_page_says_why_for_an_unverified_artist(client):
    artist = get_user_model().objects.create_user("new", "new@example.com", PASSWORD)
    upload_set = services.upload_set_create(owner_id=artist.pk)
    client.force_login(artist)
    response = client.post(
        reverse("uploads:upload_create", args=[upload_set.pk]),
        {"file": uploaded("one.wav", encode(song(1, 2.0), "wav"))},
        follow=True,
    )
    assert "Confirm your e-mail address before uploading" in response.content.decode()
    assert not Upload.objects.exists()


LOCKOUT_PREFIX = f"test-lockouts-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def redis_lockouts(settings, redis_url):
    """Django's cache on Redis and axes keeping its lockouts there (SONGFORGE_CACHE_URL set)."""
    import redis
    from axes.handlers.proxy import AxesProxyHandler  # type: ignore[import-untyped]

    # Under its own key prefix, never flushdb: the test Redis database is shared with the production
    # stack and the fleet, whose queued messages run in other processes at the same time.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": LOCKOUT_PREFIX,
        }
    }
    settings.AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
    AxesProxyHandler.implementation = None
    server = redis.Redis.from_url(redis_url)
    yield server
    AxesProxyHandler.implementation = None
    for key in server.scan_iter(f"{LOCKOUT_PREFIX}:*"):
        server.delete(key)


def test_lockouts_live_in_redis_so_every_process_sees_them(client, admin_user, redis_lockouts, settings):
    from django.test import Client

    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("admin:login"), {"username": "boss", "password": "guess"})
    assert list(redis_lockouts.scan_iter(f"{LOCKOUT_PREFIX}:*"))  # the failures are counted in the shared cache
    other_process = Client()  # no shared session or memory: only the address and Redis
    response = other_process.post(reverse("admin:login"), {"username": "boss", "password": PASSWORD})
    assert response.status_code == 429
