"""Prints which database, storage, broker, catalog and identifier are configured, and whether each answers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from songforge import health


class Command(BaseCommand):
    help = "Show the configured parts of SongForge and whether each is reachable."

    def handle(self, *args: Any, **options: Any) -> None:
        checks = health.run_all()
        for check in checks:
            state = "ok" if check.is_ok else f"UNREACHABLE ({check.error})"
            self.stdout.write(
                f"{check.name:<11} {check.kind:<10} {check.detail}  -> {state} [{check.milliseconds:.0f} ms]"
            )
        self.stdout.write(f"{'catalog':<11} {settings.CATALOG_PROVIDER:<10} {self._catalog_detail()}")
        self.stdout.write(f"{'identifier':<11} {settings.IDENTIFIER:<10} {self._identifier_detail()}")
        self.stdout.write(f"{'distributor':<11} {settings.DISTRIBUTOR:<10} {self._distributor_detail()}")
        if not all(c.is_ok for c in checks):
            raise CommandError("some configured parts are unreachable; see the lines above")

    def _catalog_detail(self) -> str:
        from catalog.models import Recording

        count = Recording.objects.count()
        if settings.CATALOG_PROVIDER == "apple-music":
            apple = settings.APPLE_MUSIC
            return f"{apple['BASE_URL']} storefront {apple['STOREFRONT']}; {count} recordings stored"
        return f"{count} recordings"

    def _identifier_detail(self) -> str:
        if settings.IDENTIFIER == "shazam":
            return "Shazam via shazamio (signatures computed locally)"
        return f"local fingerprint index at {settings.FINGERPRINT_INDEX_DIR}"

    def _distributor_detail(self) -> str:
        if settings.DISTRIBUTOR == "platoon":
            return str(settings.PLATOON["BASE_URL"])
        return f"DDEX outbox at {settings.OUTBOX_DIR}"
