"""The generation report, typed: what every reader of ``Generation.report`` gets.

The report stage (``generation.services.stages.stage_report``) writes the JSON; pages, the demo
command and the cover-art generator read it only through :meth:`GenerationReport.from_json`, so a
key is named in one place. Figures measured on the mastered audio (the ``synthesis`` part) win
over the composed ones where both exist. Money is not in here: a generation's shares of the
source pool are ``GenerationSource`` rows, read through ``generation.selectors.generation_sources``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _integer(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def key_name(key: Any) -> str:
    """A key as words: ``{"name": "A", "mode": "minor"}`` or ``"A minor"`` -> ``"A minor"``; unknown -> ``""``."""
    if isinstance(key, Mapping):
        return " ".join(str(key[part]) for part in ("name", "mode") if key.get(part))
    return "" if key in (None, "", "unknown") else str(key)


@dataclass(frozen=True)
class MasterFigures:
    """What the synthesis stage measured on the mastered audio."""

    tempo_bpm: float | None
    key: str
    length_s: float | None
    integrated_lufs: float | None
    true_peak_dbtp: float | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MasterFigures:
        return cls(
            tempo_bpm=_number(data.get("tempo_bpm")),
            key=key_name(data.get("key")),
            length_s=_number(data.get("length_s")),
            integrated_lufs=_number(data.get("integrated_lufs")),
            true_peak_dbtp=_number(data.get("true_peak_dbtp")),
        )


@dataclass(frozen=True)
class OriginalityFigures:
    """The originality guard's figures (``generation.ml.originality``)."""

    is_original: bool | None
    longest_shared_notes: int | None
    max_shared_notes: int | None
    longest_shared_with_catalog: int | None
    longest_shared_with_uploads: tuple[tuple[int, int], ...]  # (upload id, notes) in report order
    attempts: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OriginalityFigures:
        is_original = data.get("is_original")
        per_upload = []
        for upload_id, notes in _mapping(data.get("longest_shared_with_uploads")).items():
            count = _integer(notes)
            if str(upload_id).isdigit() and count is not None:
                per_upload.append((int(upload_id), count))
        attempts = data.get("attempts")
        return cls(
            is_original=is_original if isinstance(is_original, bool) else None,
            longest_shared_notes=_integer(data.get("longest_shared_notes")),
            max_shared_notes=_integer(data.get("max_shared_notes_threshold")),
            longest_shared_with_catalog=_integer(data.get("longest_shared_with_catalog")),
            longest_shared_with_uploads=tuple(per_upload),
            attempts=len(attempts) if isinstance(attempts, list) else 0,
        )


@dataclass(frozen=True)
class GenerationReport:
    """A generation's report. Every field is optional: a queued generation's report is nearly empty."""

    requested_seconds: int | None
    tempo_bpm: float | None  # composed
    key: str  # composed, as words ("A minor"), "" if unknown
    length_s: float | None  # composed
    influence_method: str
    master: MasterFigures | None
    originality: OriginalityFigures | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> GenerationReport:
        report = _mapping(data)
        synthesis = _mapping(report.get("synthesis"))
        originality = _mapping(report.get("originality"))
        return cls(
            requested_seconds=_integer(report.get("requested_seconds")),
            tempo_bpm=_number(report.get("tempo_bpm")),
            key=key_name(report.get("key")),
            length_s=_number(report.get("length_s")),
            influence_method=str(_mapping(report.get("influence_method")).get("method") or ""),
            master=MasterFigures.from_json(synthesis) if synthesis else None,
            originality=OriginalityFigures.from_json(originality) if originality else None,
        )

    @property
    def shown_tempo_bpm(self) -> float | None:
        """The tempo a listener hears: measured on the master, else composed."""
        measured = self.master.tempo_bpm if self.master else None
        return self.tempo_bpm if measured is None else measured

    @property
    def shown_key(self) -> str:
        return (self.master.key if self.master else "") or self.key

    @property
    def shown_length_s(self) -> float | None:
        measured = self.master.length_s if self.master else None
        return self.length_s if measured is None else measured

    @property
    def loudness_lufs(self) -> float | None:
        return self.master.integrated_lufs if self.master else None

    @property
    def true_peak_dbtp(self) -> float | None:
        return self.master.true_peak_dbtp if self.master else None
