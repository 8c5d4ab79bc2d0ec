"""Identify audio files against the catalog from the command line (the same chain uploads use)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.fingerprint.audio import AudioDecodeError
from catalog.identify import IdentificationUnavailable, default_chain
from catalog.indexing import unindexed_recording_ids
from catalog.models import Recording


class Command(BaseCommand):
    help = (
        "Identify audio files: ISRC tags, then the local fingerprint index, then Shazam when "
        "SONGFORGE_IDENTIFIER=shazam. With --json, prints one JSON object per file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument("--json", action="store_true", help="one JSON object per line")
        parser.add_argument(
            "--allow-stale-index",
            action="store_true",
            help="answer even if the fingerprint index is missing recordings of the catalog",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["allow_stale_index"]:
            self._refuse_stale_index()
        chain = default_chain()
        for path in options["files"]:
            row = self._identify(chain, path)
            if options["json"]:
                self.stdout.write(json.dumps(row, ensure_ascii=False))
            else:
                self.stdout.write(self._human(row))
        if settings.IDENTIFIER == "shazam":
            time.sleep(0.3)  # shazamio_core's threads can crash a process that exits right after a signature

    @staticmethod
    def _refuse_stale_index() -> None:
        """An index missing catalog recordings would answer "unmatched" for songs the catalog holds."""
        missing = unindexed_recording_ids()
        if missing:
            examples = ", ".join(str(pk) for pk in missing[:5]) + (", …" if len(missing) > 5 else "")
            raise CommandError(
                f"The fingerprint index is missing {len(missing)} catalog recordings with audio (ids {examples}), "
                "so songs in the catalog could come back unmatched. Run `manage.py index_rebuild` (or let the "
                "workers finish indexing), then identify again; --allow-stale-index answers anyway."
            )

    def _identify(self, chain: Any, path: Path) -> dict[str, Any]:
        row: dict[str, Any] = {"file": str(path), "status": "unmatched", "recording": None, "confidence": None}
        row["offset_s"] = None
        if not path.is_file():
            return {**row, "status": "failed", "reason": "no such file"}
        try:
            result = chain.identify(path)
        except AudioDecodeError as exc:
            return {**row, "status": "failed", "reason": f"the audio could not be read: {exc}"}
        except IdentificationUnavailable as exc:
            return {**row, "status": "failed", "reason": exc.message}
        if result is None:
            return row
        recording = Recording.objects.get(pk=result.recording_id)
        return {
            **row,
            "status": "matched",
            "recording": {
                "id": recording.external_id,
                "isrc": recording.isrc,
                "title": recording.title,
                "artist": recording.artist,
            },
            "confidence": result.confidence,
            "offset_s": result.offset_s,
            "scale_time": result.scale_time,
            "scale_freq": result.scale_freq,
            "method": result.method,
        }

    @staticmethod
    def _human(row: dict[str, Any]) -> str:
        if row["status"] == "matched":
            rec = row["recording"]
            details = f"confidence {row['confidence']}" if row["confidence"] is not None else ""
            if row["offset_s"] is not None:
                details += f", at {row['offset_s']:.1f} s"
            if row.get("scale_time") not in (None, 1.0) or row.get("scale_freq") not in (None, 1.0):
                details += f", tempo ×{1 / row['scale_time']:.3f}, pitch ×{row['scale_freq']:.3f}"
            return f"{row['file']}: {rec['artist']} – {rec['title']} [{rec['id']}] via {row['method']} ({details})"
        if row["status"] == "failed":
            return f"{row['file']}: failed: {row['reason']}"
        return f"{row['file']}: no match in the catalog"
