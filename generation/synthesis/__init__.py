"""Audio synthesis for generations: render a composed MIDI piece, adapt it to the uploads' sound, master it.

Public entry points:

- :func:`profile_from_audio` (paths of the upload audio -> target profile dict, JSON-serialisable)
- :func:`render_and_master` (MIDI path + profile -> files in out_dir + report dict)

Refusals are :class:`SynthesisError` subclasses; ``generation.services.synthesis`` calls this package
with the settings and turns them into ``DomainError``s. No Django here.
"""

from generation.synthesis.errors import (
    EmptyPieceError,
    InvalidPieceError,
    InvalidProfileError,
    PieceTooLongError,
    SynthesisError,
    UnknownInstrumentError,
)
from generation.synthesis.profile import profile_from_audio
from generation.synthesis.service import render_and_master

__all__ = [
    "EmptyPieceError",
    "InvalidPieceError",
    "InvalidProfileError",
    "PieceTooLongError",
    "SynthesisError",
    "UnknownInstrumentError",
    "profile_from_audio",
    "render_and_master",
]
