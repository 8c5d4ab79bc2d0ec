"""Finding 12: production settings. ``check --deploy`` warned; there was no Content-Security-Policy;
anonymous /healthz echoed exception text with hosts and paths; API errors on a locked database came
back as HTML 500."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import OperationalError
from django.urls import reverse
from rest_framework.test import APIClient

from tests.web.conftest import make_upload
from uploads.models import Upload, UploadSet

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SONGFORGE_TESTING": "0",
    "SECRET_KEY": "x7!Qm2#vR9@kLp4$wZ8&nB3*cT6^hJ1%yF5(dG0)sE-aU+iO=eW",
    "ALLOWED_HOSTS": "songforge.example",
    "CSRF_TRUSTED_ORIGINS": "https://songforge.example",
    "SONGFORGE_BEHIND_PROXY": "1",
    "SONGFORGE_EMBEDDED_WORKER": "0",
}


def run_manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SONGFORGE_", "DJANGO_")) and key not in {"DATABASE_URL", "DEBUG", "SECRET_KEY"}
    }
    env.update(PRODUCTION_ENV, SONGFORGE_DATA_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    result = run_manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_mode_trusts_the_tls_proxy_and_redirects_to_https(tmp_path):
    result = run_manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.CSRF_TRUSTED_ORIGINS)",
    )
    assert result.stdout.strip().splitlines()[-1] == (
        "('HTTP_X_FORWARDED_PROTO', 'https') True 31536000 True True ['https://songforge.example']"
    ), result.stderr


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
STYLE = re.compile(r"<style|\sstyle\s*=", re.IGNORECASE)


@pytest.mark.django_db
def test_every_page_sends_a_csp_and_carries_no_inline_script_or_style(client, owner, recordings):
    upload_set = UploadSet.objects.create(owner=owner)
    upload = make_upload(upload_set, 0, status=Upload.Status.UNMATCHED)
    anonymous = ["/", "/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"]
    signed_in = [
        reverse("generation:song_list"),
        reverse("uploads:upload_set_detail", args=[upload_set.pk]),
        reverse("uploads:upload_search", args=[upload.pk]) + "?q=Tiny",
        reverse("catalog:search") + "?q=Tiny",
        reverse("royalties:earnings"),
        reverse("apitokens:token_list"),
    ]
    for url in [*anonymous, "__login__", *signed_in]:
        if url == "__login__":
            client.force_login(owner)
            continue
        response = client.get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), (url, INLINE_SCRIPT.search(html))
        assert not EVENT_HANDLER.search(html), url
        assert not STYLE.search(html), url
        assert '"includeIndicatorStyles": false' in html  # htmx injects no <style> of its own


@pytest.mark.django_db
def test_anonymous_healthz_says_only_ok_or_down(client, settings, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    settings.MEDIA_ROOT = blocker / "media"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "degraded",
        "checks": {
            "database": {"ok": True, "state": "ok"},
            "storage": {"ok": False, "state": "down"},
            "broker": {"ok": True, "state": "ok"},
        },
    }
    assert str(tmp_path) not in response.content.decode()


@pytest.mark.django_db
def test_a_locked_database_is_a_json_503_without_server_details(owner, monkeypatch):
    from uploads import selectors

    def locked(**kwargs):
        raise OperationalError("database is locked: /srv/songforge/data/songforge.sqlite3")

    monkeypatch.setattr(selectors, "upload_set_owned", locked)
    client = APIClient()
    client.force_authenticate(owner)
    response = client.get(reverse("api-upload-set-detail", args=[1]))
    assert response.status_code == 503
    assert response.json() == {
        "code": "database_unavailable",
        "message": "The database is busy or unreachable; try again shortly.",
    }
    assert "/srv/" not in response.content.decode()


@pytest.mark.django_db
def test_api_refusals_are_json_with_a_code(owner):
    anonymous = APIClient().get(reverse("api-upload-set-detail", args=[1]))
    assert anonymous.status_code == 403
    assert anonymous.json()["code"] == "not_authenticated"
    client = APIClient()
    client.force_authenticate(owner)
    invalid = client.post(reverse("api-upload-set-create"), {"title": "x" * 500}, format="json")
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "invalid"
    assert invalid.json()["message"].startswith("title: ")


def test_text_for_outsiders_names_no_server_folder(settings, tmp_path):
    from songforge.text import without_server_paths

    settings.OUTBOX_DIR = tmp_path / "outbox"
    text = f"delivered at {settings.OUTBOX_DIR}/QZS8F2600001/ (code in {settings.BASE_DIR})"
    assert without_server_paths(text) == "delivered at <outbox>/QZS8F2600001/ (code in <app>)"
