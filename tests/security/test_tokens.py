"""Finding 7: API tokens were stored in plaintext (and shown in the admin), never expired, and could
not be rotated by their holder."""

from __future__ import annotations

import datetime

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apitokens.models import ApiToken
from apitokens.services import api_token_create, api_token_revoke
from tests.security.conftest import grant

pytestmark = pytest.mark.django_db

SCHEMA = "/api/schema/"  # any endpoint a signed-in user may read


def api(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture(autouse=True)
def _fresh_throttles():
    from django.core.cache import cache

    cache.clear()


def test_only_a_digest_is_stored(owner):
    made = api_token_create(user_id=owner.pk, name="accounting export")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM apitokens_apitoken")
        stored = [str(value) for row in cursor.fetchall() for value in row]
    assert made.token not in stored
    assert not any(made.token[10:] in value for value in stored)
    assert api(made.token).get(SCHEMA).status_code == 200


def test_the_token_is_shown_once_on_the_account_page(client, owner):
    client.force_login(owner)
    made = client.post(reverse("apitokens:token_list"), {"name": "accounting", "expires_in_days": 30})
    token = made.context["new_token"]
    assert token.startswith("sf_")
    assert token in made.content.decode()
    assert made["Cache-Control"] == "no-store"
    again = client.get(reverse("apitokens:token_list")).content.decode()
    assert token not in again
    assert "accounting" in again
    assert token[:10] in again


def test_an_expired_token_is_refused(owner):
    made = api_token_create(user_id=owner.pk, name="old", expires_in_days=1)
    a_day_ago = timezone.now() - datetime.timedelta(days=1)
    ApiToken.objects.filter(pk=made.api_token.pk).update(
        created_at=a_day_ago, expires_at=a_day_ago + datetime.timedelta(hours=23)
    )
    response = api(made.token).get("/api/upload-sets/1/")
    assert response.status_code == 403
    assert response.json()["code"] == "authentication_failed"
    assert response.json()["message"].startswith("Invalid, expired or revoked token")


def test_a_lifetime_past_the_maximum_is_refused(owner, settings):
    from apitokens.errors import TokenError

    with pytest.raises(TokenError):
        api_token_create(user_id=owner.pk, name="forever", expires_in_days=settings.API_TOKEN_MAX_DAYS + 1)
    assert not ApiToken.objects.exists()


def test_the_holder_revokes_their_token_and_it_stops_working(client, owner):
    made = api_token_create(user_id=owner.pk, name="leaked")
    client.force_login(owner)
    response = client.post(reverse("apitokens:token_revoke", args=[made.api_token.pk]), follow=True)
    assert "Revoked leaked" in response.content.decode()
    assert api(made.token).get(SCHEMA).status_code == 403
    revoked = ApiToken.objects.get(pk=made.api_token.pk)
    assert revoked.revoked_by_id == owner.pk
    assert revoked.revoked_at is not None


def test_nobody_revokes_another_holders_token_from_the_account_page(client, owner, outsider):
    made = api_token_create(user_id=owner.pk, name="mine")
    client.force_login(outsider)
    assert client.post(reverse("apitokens:token_revoke", args=[made.api_token.pk])).status_code == 404
    assert api(made.token).get(SCHEMA).status_code == 200


def test_staff_with_the_permission_revoke_any_token(client, owner, staff_without_permissions):
    made = api_token_create(user_id=owner.pk, name="label")
    client.force_login(staff_without_permissions)
    changelist = reverse("admin:apitokens_apitoken_changelist")
    client.post(changelist, {"action": "revoke", "_selected_action": [made.api_token.pk]})
    assert ApiToken.objects.get(pk=made.api_token.pk).revoked_at is None  # no permission, no action
    staff = grant(staff_without_permissions, "view_apitoken", "revoke_apitoken")
    client.force_login(staff)
    page = client.get(changelist).content.decode()
    assert made.api_token.digest not in page
    client.post(changelist, {"action": "revoke", "_selected_action": [made.api_token.pk]})
    assert ApiToken.objects.get(pk=made.api_token.pk).revoked_by_id == staff.pk
    assert api(made.token).get(SCHEMA).status_code == 403


def test_each_token_has_its_own_rate(owner, monkeypatch):
    from songforge.throttling import TokenRateThrottle

    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "3/minute"})
    busy = api_token_create(user_id=owner.pk, name="busy").token
    other = api_token_create(user_id=owner.pk, name="other").token
    statuses = [api(busy).get(SCHEMA).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3] == 429
    assert api(other).get(SCHEMA).status_code != 429


def test_tokens_from_before_hashing_keep_working_until_their_grace_ends(owner, settings):
    from importlib import import_module

    legacy = Token.objects.create(user=owner)
    key = legacy.key
    migration = import_module("apitokens.migrations.0002_hash_existing_drf_tokens")
    migration.hash_tokens(apps, None)
    assert not Token.objects.exists()  # no plaintext key is left
    migrated = ApiToken.objects.get(user=owner)
    assert migrated.name == "Token from before hashing"
    assert migrated.expires_at.date() == (timezone.now() + datetime.timedelta(days=90)).date()
    assert api(key).get(SCHEMA).status_code == 200
    api_token_revoke(token_id=migrated.pk, by_user_id=owner.pk)
    assert api(key).get(SCHEMA).status_code == 403
