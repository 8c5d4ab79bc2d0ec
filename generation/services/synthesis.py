"""The synthesis engine called with SongForge's settings, its refusals raised as DomainErrors.

``generation.synthesis`` imports no Django; this module is where settings go in and where a
:class:`~generation.synthesis.errors.SynthesisError` becomes a permanent ``DomainError`` (so the
pipeline fails the generation with its message instead of retrying).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings

from generation.synthesis import profile_from_audio, render_and_master
from generation.synthesis.errors import SynthesisError
from songforge.errors import DomainError

_REFUSAL_CLASSES: dict[str, type[DomainError]] = {}


def _refusal_class(error_class: type[SynthesisError]) -> type[DomainError]:
    """``error_class`` that is also a DomainError: callers may catch either, the code stays the same."""
    name = error_class.__name__
    if name not in _REFUSAL_CLASSES:
        _REFUSAL_CLASSES[name] = type(name, (error_class, DomainError), {"__module__": __name__})
    return _REFUSAL_CLASSES[name]


@contextmanager
def _as_domain_errors() -> Iterator[None]:
    try:
        yield
    except SynthesisError as error:
        if isinstance(error, DomainError):
            raise
        raise _refusal_class(type(error))(error.message, extra=error.extra) from error


def synthesis_profile(
    *, paths: Sequence[Path], programs: dict[str, int] | None = None, kit: str | None = None
) -> dict[str, Any]:
    """The uploads' target sound (``generation.synthesis.profile_from_audio``), with the recognised
    programs and kit when the analyse stage found them."""
    with _as_domain_errors():
        return profile_from_audio(list(paths), programs=programs, kit=kit)


def synthesis_render(
    *,
    midi_path: Path,
    target_profile: dict[str, Any],
    out_dir: Path,
    seed: int,
    target_seconds: float | None = None,
    tags: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Render and master ``midi_path`` under SONGFORGE_SYNTHESIS_MAX_SECONDS; returns the synthesis report."""
    with _as_domain_errors():
        return render_and_master(
            midi_path,
            target_profile=target_profile,
            out_dir=out_dir,
            seed=seed,
            max_seconds=float(settings.SYNTHESIS_MAX_SECONDS),
            target_seconds=target_seconds,
            tags=tags,
        )
