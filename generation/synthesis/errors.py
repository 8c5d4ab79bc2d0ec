"""Refusals of the synthesis stage: each names what is wrong with the piece and what to do.

Plain exceptions (this package imports no Django or app code): ``generation.services.synthesis``
re-raises each as a permanent ``DomainError`` with the same class, code, message and extra.
"""

from __future__ import annotations

from typing import Any


class SynthesisError(Exception):
    """Base of every refusal raised while rendering and mastering a piece."""

    code = "synthesis_error"
    permanent = True

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class InvalidPieceError(SynthesisError):
    """The MIDI file cannot be read."""

    code = "invalid_piece"


class EmptyPieceError(SynthesisError):
    """The piece has no notes to play."""

    code = "empty_piece"


class PieceTooLongError(SynthesisError):
    """The piece, or the requested length, is over SONGFORGE_SYNTHESIS_MAX_SECONDS."""

    code = "piece_too_long"


class UnknownInstrumentError(SynthesisError):
    """A General MIDI program is out of range or missing from the sound font."""

    code = "unknown_instrument"


class InvalidProfileError(SynthesisError):
    """The target profile is missing fields or the upload audio cannot be analysed."""

    code = "invalid_profile"
