"""ISRC issuance: the next unused code of the registrant, one counter row per (prefix, year)."""

from __future__ import annotations

import re

from django.conf import settings
from django.utils import timezone

from distribution.errors import InvalidReleaseMetadata, IsrcExhausted
from distribution.models import IsrcCounter, Release

REGISTRANT_PATTERN = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}$")


def isrc_prefix() -> str:
    """``settings.ISRC_REGISTRANT`` ("QZ-S8F") as the five-character ISRC prefix ("QZS8F")."""
    prefix = settings.ISRC_REGISTRANT.replace("-", "").strip().upper()
    if not REGISTRANT_PATTERN.match(prefix):
        raise InvalidReleaseMetadata(
            f"SONGFORGE_ISRC_REGISTRANT={settings.ISRC_REGISTRANT!r} is not a country code plus a 3-character "
            "registrant code (e.g. QZ-S8F); fix the setting."
        )
    return prefix


def isrc_allocate(*, year: int | None = None) -> str:
    """The next unused ISRC: prefix + 2-digit year + 5-digit designation code.

    Precondition: the caller's transaction is open (``transaction.atomic``). The
    counter row stays locked until it commits, so concurrent publishes queue on
    it and never read the same number; codes already held by a release (for
    example imported by hand) are skipped.
    """
    prefix = isrc_prefix()
    year_of_reference = (year if year is not None else timezone.now().year) % 100
    IsrcCounter.objects.get_or_create(prefix=prefix, year=year_of_reference)
    counter = IsrcCounter.objects.select_for_update().get(prefix=prefix, year=year_of_reference)
    while True:
        if counter.last_designation >= 99_999:
            raise IsrcExhausted(
                f"All 99,999 ISRCs of {prefix} for 20{year_of_reference:02d} are used; "
                "ask the ISRC agency for another registrant code and set SONGFORGE_ISRC_REGISTRANT."
            )
        counter.last_designation += 1
        isrc = f"{prefix}{year_of_reference:02d}{counter.last_designation:05d}"
        if not Release.objects.filter(isrc=isrc).exists():
            break
    counter.save(update_fields=["last_designation", "updated_at"])
    return isrc
