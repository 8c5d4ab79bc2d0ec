"""Import a catalog manifest (JSON + audio files) into recordings, holders and shares.

Format (paths relative to the manifest file)::

    {"holders": [{"name", "kind", "contact_email"?}]?,           # optional kinds for names used below
     "is_demo": false?,
     "entries": [{"id", "title", "artist", "album"?, "isrc"?, "audio",
                  "genre"?, "year"?, "duration_ms"?, "composer"?, "source"?, "license"?,
                  "rights": {"master": [{"holder", "share_bps"}], "publishing": [...]}}]}

The import is all or nothing: every entry is validated (fields, share sums, audio
readable) before anything is written, the writes run in one transaction, and audio
copied to storage during a failed transaction is deleted again. An entry whose
content and audio hash match what was last imported is skipped, so importing the
same manifest twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.text import slugify

from catalog.errors import ManifestInvalid
from catalog.models import Recording, RecordingShare, RightsHolder, ShareChange
from catalog.services import (
    recording_shares_set,
    recording_upsert,
    recordings_notify_imported,
    rights_holder_get_or_create,
    share_bps_is_valid,
    side_shares_check,
)
from songforge.codes import normalize_isrc

logger = logging.getLogger(__name__)

DEFAULT_KIND = {RecordingShare.Side.MASTER: RightsHolder.Kind.LABEL, RecordingShare.Side.PUBLISHING: "publisher"}
HOLDER_KINDS = ("label", "publisher", "writer", "artist")
ENTRY_KEYS = frozenset(
    {
        "id",
        "title",
        "artist",
        "album",
        "isrc",
        "audio",
        "genre",
        "year",
        "duration_ms",
        "composer",
        "source",
        "license",
        "rights",
        "artwork_url",
    }
)


@dataclass(frozen=True)
class ManifestEntry:
    external_id: str
    fields: dict[str, Any]
    audio_path: Path
    audio_sha256: str
    rights: dict[str, list[tuple[str, int]]]
    content_sha256: str


@dataclass
class ImportReport:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)

    @property
    def recording_ids(self) -> list[int]:
        return [*self.created, *self.updated, *self.unchanged]


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, entry: str, field_name: str, message: str) -> None:
        self.items.append({"entry": entry, "field": field_name, "message": message})

    def raise_if_any(self, manifest: Path) -> None:
        if not self.items:
            return
        first = self.items[0]
        more = f" (and {len(self.items) - 1} more problems)" if len(self.items) > 1 else ""
        raise ManifestInvalid(
            f"{manifest.name}: entry {first['entry']!r}, field {first['field']!r}: {first['message']}{more}. "
            "Nothing was imported; fix the manifest and run the import again.",
            extra={"entry": first["entry"], "field": first["field"], "problems": self.items},
        )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _audio_duration_ms(path: Path) -> int | None:
    import soundfile

    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError):
        return None
    return round(info.frames * 1000 / info.samplerate) if info.samplerate else None


def _text(raw: dict[str, Any], key: str, entry_id: str, problems: _Problems, *, required: bool, limit: int) -> str:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            problems.add(entry_id, key, "is required")
        return ""
    if not isinstance(value, str):
        problems.add(entry_id, key, f"must be text, got {type(value).__name__}")
        return ""
    value = " ".join(value.split())
    if len(value) > limit:
        problems.add(entry_id, key, f"is longer than {limit} characters")
    return value


def _parse_rights(raw: Any, entry_id: str, problems: _Problems) -> dict[str, list[tuple[str, int]]]:
    rights: dict[str, list[tuple[str, int]]] = {side: [] for side in RecordingShare.Side.values}
    if raw is None:
        return rights
    if not isinstance(raw, dict):
        problems.add(entry_id, "rights", 'must be an object {"master": [...], "publishing": [...]}')
        return rights
    for side in raw:
        if side not in rights:
            problems.add(entry_id, f"rights.{side}", "is not a side; use master or publishing")
    for side in rights:
        items = raw.get(side) or []
        if not isinstance(items, list):
            problems.add(entry_id, f"rights.{side}", "must be a list of {holder, share_bps}")
            continue
        names: set[str] = set()
        for index, item in enumerate(items):
            where = f"rights.{side}[{index}]"
            if not isinstance(item, dict):
                problems.add(entry_id, where, "must be an object {holder, share_bps}")
                continue
            holder = item.get("holder")
            bps = item.get("share_bps")
            if not isinstance(holder, str) or not holder.strip():
                problems.add(entry_id, f"{where}.holder", "must be a holder name")
                continue
            holder = " ".join(holder.split())
            if not share_bps_is_valid(bps):
                problems.add(entry_id, f"{where}.share_bps", f"must be a whole number from 1 to 10000, got {bps!r}")
                continue
            if holder in names:
                problems.add(entry_id, f"{where}.holder", f"{holder!r} appears twice on the {side} side")
                continue
            names.add(holder)
            rights[side].append((holder, bps))
        check = side_shares_check(rights[side])
        if not check.is_total_ok:
            problems.add(entry_id, f"rights.{side}", f"shares add up to {check.total_bps} basis points, not 10000")
    return rights


def _parse_entry(raw: Any, index: int, base: Path, problems: _Problems, is_demo: bool) -> ManifestEntry | None:
    if not isinstance(raw, dict):
        problems.add(f"#{index}", "entry", "must be an object")
        return None
    entry_id = raw.get("id")
    if not isinstance(entry_id, str) or not entry_id.strip() or len(entry_id) > 100:
        problems.add(f"#{index}", "id", "must be text of 1 to 100 characters")
        return None
    before = len(problems.items)
    for key in sorted(set(raw) - ENTRY_KEYS):
        problems.add(entry_id, key, f"is not a manifest field (known: {', '.join(sorted(ENTRY_KEYS))})")
    fields: dict[str, Any] = {
        "title": _text(raw, "title", entry_id, problems, required=True, limit=300),
        "artist": _text(raw, "artist", entry_id, problems, required=True, limit=300),
        "album": _text(raw, "album", entry_id, problems, required=False, limit=300),
        "genre": _text(raw, "genre", entry_id, problems, required=False, limit=100),
        "composer": _text(raw, "composer", entry_id, problems, required=False, limit=300),
        "source": _text(raw, "source", entry_id, problems, required=False, limit=300),
        "license": _text(raw, "license", entry_id, problems, required=False, limit=200),
        "artwork_url": _text(raw, "artwork_url", entry_id, problems, required=False, limit=500),
    }
    isrc_raw = raw.get("isrc")
    isrc: str | None = None
    if isrc_raw not in (None, ""):
        isrc = normalize_isrc(isrc_raw) if isinstance(isrc_raw, str) else None
        if isrc is None:
            problems.add(entry_id, "isrc", f"{isrc_raw!r} is not an ISRC like GBAYE0601498 (CC-XXX-YY-NNNNN)")
    fields["isrc"] = isrc
    year = raw.get("year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1000 <= year <= 2100):
        problems.add(entry_id, "year", f"must be a year like 1998, got {year!r}")
        year = None
    fields["release_year"] = year
    duration = raw.get("duration_ms")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int) or duration <= 0):
        problems.add(entry_id, "duration_ms", f"must be a positive whole number of milliseconds, got {duration!r}")
        duration = None
    rights = _parse_rights(raw.get("rights"), entry_id, problems)

    audio = raw.get("audio")
    audio_path = base
    audio_sha256 = ""
    if not isinstance(audio, str) or not audio:
        problems.add(entry_id, "audio", "is required: a path relative to the manifest")
    else:
        audio_path = (base / audio).resolve()
        if Path(audio).is_absolute() or not audio_path.is_relative_to(base):
            problems.add(entry_id, "audio", f"{audio!r} must be a path inside the manifest's folder")
        elif not audio_path.is_file():
            problems.add(entry_id, "audio", f"file {audio!r} does not exist")
        else:
            measured = _audio_duration_ms(audio_path)
            if measured is None:
                problems.add(entry_id, "audio", f"{audio!r} is not a readable audio file (wav, flac, ogg)")
            else:
                duration = duration or measured
                audio_sha256 = _sha256_file(audio_path)
    fields["duration_ms"] = duration
    fields["is_demo"] = is_demo
    if len(problems.items) > before:
        return None
    canonical = json.dumps(
        {"fields": fields, "rights": rights, "audio_sha256": audio_sha256}, sort_keys=True, separators=(",", ":")
    )
    return ManifestEntry(
        external_id=entry_id,
        fields=fields,
        audio_path=audio_path,
        audio_sha256=audio_sha256,
        rights=rights,
        content_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def manifest_read(path: Path) -> tuple[list[ManifestEntry], dict[str, str], bool]:
    """Parse and validate a whole manifest without writing anything.

    Returns (entries, holder kinds by name, is_demo); raises ManifestInvalid naming entry and field.
    """
    path = Path(path).resolve()
    problems = _Problems()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestInvalid(f"Manifest {path} does not exist.", extra={"entry": "", "field": "file"}) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestInvalid(f"{path.name} is not valid JSON: {exc}", extra={"entry": "", "field": "file"}) from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise ManifestInvalid(f'{path.name} must be an object with an "entries" list.', extra={"field": "entries"})
    is_demo = data.get("is_demo", False) is True
    kinds: dict[str, str] = {}
    for index, holder in enumerate(data.get("holders") or []):
        name = holder.get("name") if isinstance(holder, dict) else None
        kind = holder.get("kind") if isinstance(holder, dict) else None
        if not isinstance(name, str) or not name.strip() or kind not in HOLDER_KINDS:
            problems.add(f"holders[{index}]", "kind", f"needs a name and a kind among {', '.join(HOLDER_KINDS)}")
            continue
        kinds[" ".join(name.split())] = str(kind)
    entries: list[ManifestEntry] = []
    seen: set[str] = set()
    for index, raw in enumerate(data["entries"]):
        entry = _parse_entry(raw, index, path.parent, problems, is_demo)
        if entry is None:
            continue
        if entry.external_id in seen:
            problems.add(entry.external_id, "id", "is used by two entries")
            continue
        seen.add(entry.external_id)
        entries.append(entry)
    problems.raise_if_any(path)
    return entries, kinds, is_demo


def _storage_name(entry: ManifestEntry) -> str:
    stem = slugify(entry.external_id)[:60] or "recording"
    return f"catalog/audio/{stem}-{entry.audio_sha256[:12]}{entry.audio_path.suffix.lower()}"


def catalog_import(*, manifest_path: Path, by_user_id: int | None = None) -> ImportReport:
    """Import ``manifest_path`` all or nothing; returns which recordings were created, updated or unchanged.

    Recordings whose audio was added or replaced are handed to identification indexing after commit.
    """
    entries, kinds, is_demo = manifest_read(Path(manifest_path))
    saved: list[str] = []
    replaced: list[str] = []
    report = ImportReport()
    reindex: list[int] = []
    try:
        with transaction.atomic():
            holders: dict[str, int] = {}
            existing = {
                r.external_id: r for r in Recording.objects.filter(external_id__in=[e.external_id for e in entries])
            }
            for entry in entries:
                current = existing.get(entry.external_id)
                if current is not None and current.manifest_sha256 == entry.content_sha256 and current.audio:
                    report.unchanged.append(current.id)
                    continue
                fields = dict(entry.fields)
                fields["manifest_sha256"] = entry.content_sha256
                fields["provider"] = Recording.Provider.LOCAL
                needs_audio = current is None or current.audio_sha256 != entry.audio_sha256 or not current.audio
                if needs_audio:
                    with entry.audio_path.open("rb") as handle:
                        name = default_storage.save(_storage_name(entry), File(handle))
                    saved.append(name)
                    if current is not None and current.audio:
                        replaced.append(current.audio.name)
                    fields["audio"] = name
                    fields["audio_sha256"] = entry.audio_sha256
                recording, _ = recording_upsert(external_id=entry.external_id, **fields)
                for side, shares in entry.rights.items():
                    ids = []
                    for holder_name, bps in shares:
                        if holder_name not in holders:
                            kind = kinds.get(holder_name, DEFAULT_KIND[RecordingShare.Side(side)])
                            holder, _ = rights_holder_get_or_create(name=holder_name, kind=kind, is_demo=is_demo)
                            holders[holder_name] = holder.id
                        ids.append((holders[holder_name], bps))
                    recording_shares_set(
                        recording_id=recording.id,
                        side=side,
                        shares=ids,
                        by_user_id=by_user_id,
                        source=ShareChange.Source.IMPORT,
                    )
                (report.created if current is None else report.updated).append(recording.id)
                if needs_audio:
                    reindex.append(recording.id)
            recordings_notify_imported(reindex)
            transaction.on_commit(lambda: _delete_files(replaced))
    except BaseException:
        _delete_files(saved)
        raise
    logger.info(
        "catalog import %s: %d created, %d updated, %d unchanged",
        manifest_path,
        len(report.created),
        len(report.updated),
        len(report.unchanged),
    )
    return report


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("catalog import: could not delete %s", name)
