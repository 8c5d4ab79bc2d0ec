"""The embedded default distributor: a DDEX ERN 4.3 package per release in a folder.

Layout under ``settings.OUTBOX_DIR``::

    <ISRC>/                       the delivery (NewReleaseMessage)
        <ISRC>.xml  split_sheet.json  resources/<ISRC>.wav  resources/<ISRC>_cover.jpg
    <ISRC>_takedown/              a later takedown (NewReleaseMessage with a TakeDown deal)
        <ISRC>.xml

Each folder is written under a temporary name and moved into place with
``os.replace``, so a reader never sees half a package; a folder that already
exists means the same release was already delivered, and delivering again
changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from distribution.clients import ern
from distribution.clients.base import DeliveryResult, DistributorError, ReleasePackage, RemoteStatus

RECIPIENT_PARTY_ID = "PADPIDA0000000000OUTBOX"
RECIPIENT_NAME = "SongForge outbox"


def package_dir(isrc: str) -> Path:
    return Path(settings.OUTBOX_DIR) / isrc


def takedown_dir(isrc: str) -> Path:
    return Path(settings.OUTBOX_DIR) / f"{isrc}_takedown"


def split_sheet_document(package: ReleasePackage) -> dict[str, object]:
    return {
        "release_id": package.release_id,
        "isrc": package.isrc,
        "total_ppb": sum(line.ppb for line in package.splits),
        "lines": [
            {
                "holder_id": line.holder_id,
                "holder_name": line.holder_name,
                "holder_kind": line.holder_kind,
                "share_ppb": line.ppb,
                "share_percent": ern.share_percentage(line.ppb),
            }
            for line in package.splits
        ],
    }


def _write_checked_message(root: ET.Element, target: Path) -> None:
    problems = ern.check_new_release_message(root)
    if problems:
        raise DistributorError(
            "The DDEX message fails the ERN 4.3 structure check: " + "; ".join(problems[:5]),
            permanent=True,
            extra={"problems": problems},
        )
    target.write_bytes(ern.to_bytes(root))


def _publish_folder(temporary: Path, final: Path) -> None:
    try:
        os.replace(temporary, final)
    except OSError:
        # Another delivery of the same release won the race; its package is identical.
        shutil.rmtree(temporary, ignore_errors=True)
        if not final.is_dir():
            raise


@contextlib.contextmanager
def _staged_folder(final: Path, *, prefix: str) -> Iterator[Path]:
    """A temporary folder beside ``final``, moved into place only if the block succeeds.

    Outbox readers therefore never see a half-written package; on any error the folder is removed.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    try:
        yield temporary
        os.chmod(temporary, 0o755)  # noqa: S103 - mkdtemp makes it 0700; outbox readers need to list it
        _publish_folder(temporary, final)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


class OutboxDistributor:
    name = "outbox"

    def deliver(self, release: ReleasePackage) -> DeliveryResult:
        final = package_dir(release.isrc)
        if final.is_dir():
            return DeliveryResult(
                status="submitted", distributor_release_id=release.isrc, location=str(final), detail="already in outbox"
            )
        with _staged_folder(final, prefix=f".{release.isrc}-") as temporary:
            resources = temporary / "resources"
            resources.mkdir()
            with release.open_audio() as source, (resources / release.audio_name).open("wb") as sink:
                shutil.copyfileobj(source, sink)
            with release.open_artwork() as source, (resources / release.artwork_name).open("wb") as sink:
                shutil.copyfileobj(source, sink)
            (temporary / "split_sheet.json").write_text(json.dumps(split_sheet_document(release), indent=2) + "\n")
            message = ern.build_new_release_message(
                release,
                message_id=f"{release.delivery_key}",
                created_at=timezone.now(),
                recipient_party_id=RECIPIENT_PARTY_ID,
                recipient_name=RECIPIENT_NAME,
            )
            _write_checked_message(message, temporary / f"{release.isrc}.xml")
        return DeliveryResult(status="submitted", distributor_release_id=release.isrc, location=str(final))

    def status(self, release: ReleasePackage) -> RemoteStatus:
        """The outbox has no reviewer: a package on disk is submitted, a takedown folder taken down."""
        if takedown_dir(release.isrc).is_dir():
            return RemoteStatus(status="taken_down")
        if package_dir(release.isrc).is_dir():
            return RemoteStatus(status="submitted")
        raise DistributorError(f"No outbox package for {release.isrc}; deliver it first.", permanent=True)

    def takedown(self, release: ReleasePackage) -> DeliveryResult:
        final = takedown_dir(release.isrc)
        if final.is_dir():
            return DeliveryResult(
                status="taken_down",
                distributor_release_id=release.isrc,
                location=str(final),
                detail="already taken down",
            )
        with _staged_folder(final, prefix=f".{release.isrc}-takedown-") as temporary:
            message = ern.build_new_release_message(
                release,
                message_id=f"{release.delivery_key}-takedown",
                created_at=timezone.now(),
                recipient_party_id=RECIPIENT_PARTY_ID,
                recipient_name=RECIPIENT_NAME,
                takedown=True,
            )
            _write_checked_message(message, temporary / f"{release.isrc}.xml")
        return DeliveryResult(status="taken_down", distributor_release_id=release.isrc, location=str(final))
