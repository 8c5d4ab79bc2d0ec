import json
import logging

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command

from apitokens.services import api_token_create

pytestmark = pytest.mark.django_db


def test_healthz_reports_each_dependency_to_staff(admin_client):
    response = admin_client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "storage", "broker"}
    assert body["checks"]["broker"]["kind"] == "embedded"
    assert all(check["ok"] for check in body["checks"].values())


def test_healthz_is_503_when_storage_is_unwritable(admin_client, settings, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    settings.MEDIA_ROOT = blocker / "media"
    response = admin_client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["ok"] is False
    assert response.json()["checks"]["storage"]["error"]


def test_doctor_prints_each_configured_part(capsys):
    call_command("doctor")
    out = capsys.readouterr().out
    for part in ("database", "storage", "broker", "catalog", "identifier", "distributor"):
        assert part in out
    assert "local fingerprint index" in out
    assert "embedded" in out


def test_it_signs_up_sends_verification_and_signs_in(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "ada@example.com", "password1": "a-long-Passphrase-42", "password2": "a-long-Passphrase-42"},
    )
    assert response.status_code == 302
    assert get_user_model().objects.filter(email="ada@example.com").exists()
    assert len(mail.outbox) == 1
    assert "confirm" in mail.outbox[0].body.lower()
    client.post("/accounts/logout/")
    response = client.post("/accounts/login/", {"login": "ada@example.com", "password": "a-long-Passphrase-42"})
    assert response.status_code == 302
    assert client.get("/").context["user"].email == "ada@example.com"


def test_wrong_password_shows_a_readable_error(client):
    get_user_model().objects.create_user("bo", "bo@example.com", "right-Passphrase-1")
    response = client.post("/accounts/login/", {"login": "bo@example.com", "password": "wrong"})
    assert response.status_code == 200
    assert b"not correct" in response.content


def test_staff_opens_admin_and_artist_does_not(client):
    staff = get_user_model().objects.create_user(
        "st", "st@example.com", "pw-Staff-123", is_staff=True, is_superuser=True
    )
    artist = get_user_model().objects.create_user("ar", "ar@example.com", "pw-Artist-123")
    client.force_login(artist)
    assert client.get("/admin/").status_code == 302
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200


def test_schema_and_docs_are_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["info"]["title"] == "SongForge API"
    assert client.get("/api/docs/").status_code == 200


def test_request_id_is_echoed_and_logged(client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get("/healthz", HTTP_X_REQUEST_ID="abc123")
    assert response["X-Request-ID"] == "abc123"


def test_json_log_lines_carry_the_context_id():
    from songforge.logging import ContextFilter, JsonFormatter, context_id

    token = context_id.set("req:xyz")
    try:
        record = logging.LogRecord("songforge", logging.INFO, __file__, 1, "hello %s", ("world",), None)
        ContextFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        context_id.reset(token)
    assert line["message"] == "hello world"
    assert line["context_id"] == "req:xyz"
    assert line["level"] == "INFO"


def test_token_authenticates_the_api_without_cookies(client):
    user = get_user_model().objects.create_user("tk", "tk@example.com", "pw-Token-123")
    made = api_token_create(user_id=user.pk, name="script")
    assert client.get("/api/schema/", HTTP_AUTHORIZATION=f"Token {made.token}").status_code == 200
