import copy
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import pytest
import soundfile

from generation.services.synthesis import synthesis_render
from generation.synthesis import (
    EmptyPieceError,
    InvalidPieceError,
    InvalidProfileError,
    PieceTooLongError,
    UnknownInstrumentError,
    profile_from_audio,
)
from songforge.errors import DomainError

pytestmark = pytest.mark.xdist_group("synthesis")  # shares the session profile with the render tests


def attempt(piece: Path, profile: dict[str, Any], out_dir: Path, **options: Any) -> dict[str, Any]:
    return synthesis_render(midi_path=piece, target_profile=profile, out_dir=out_dir, seed=1, **options)


def test_empty_piece_is_refused(target_profile, tmp_path):
    empty = pretty_midi.PrettyMIDI()
    empty.instruments.append(pretty_midi.Instrument(program=0))
    empty.write(str(tmp_path / "empty.mid"))
    with pytest.raises(EmptyPieceError, match="no notes") as caught:
        attempt(tmp_path / "empty.mid", target_profile, tmp_path / "out")
    assert isinstance(caught.value, DomainError)
    assert caught.value.code == "empty_piece"
    assert not (tmp_path / "out").exists()


def test_piece_longer_than_the_setting_is_refused(short_piece, target_profile, tmp_path, settings):
    settings.SYNTHESIS_MAX_SECONDS = 5
    with pytest.raises(PieceTooLongError, match="SONGFORGE_SYNTHESIS_MAX_SECONDS") as caught:
        attempt(short_piece, target_profile, tmp_path / "out")
    assert caught.value.extra["max_seconds"] == 5
    assert not (tmp_path / "out").exists()


def test_target_length_over_the_setting_is_refused(short_piece, target_profile, tmp_path):
    with pytest.raises(PieceTooLongError, match="target length"):
        attempt(short_piece, target_profile, tmp_path / "out", target_seconds=100_000)


def test_unknown_program_in_profile_is_refused(short_piece, target_profile, tmp_path):
    profile = copy.deepcopy(target_profile)
    profile["instrumentation"]["programs"]["melody"] = 300
    with pytest.raises(UnknownInstrumentError, match="0-127") as caught:
        attempt(short_piece, profile, tmp_path / "out")
    assert caught.value.extra == {"role": "melody", "program": 300}


def test_unreadable_midi_is_refused(target_profile, tmp_path):
    (tmp_path / "broken.mid").write_bytes(b"not a midi file")
    with pytest.raises(InvalidPieceError, match="not a readable MIDI file"):
        attempt(tmp_path / "broken.mid", target_profile, tmp_path / "out")


def test_profile_from_another_version_is_refused(short_piece, target_profile, tmp_path):
    profile = copy.deepcopy(target_profile)
    profile["spectrum"]["third_octave_db"] = [0.0] * 10
    with pytest.raises(InvalidProfileError, match="rebuild it"):
        attempt(short_piece, profile, tmp_path / "out")
    with pytest.raises(InvalidProfileError, match="lacks"):
        attempt(short_piece, {}, tmp_path / "out")


def test_profile_needs_uploads():
    with pytest.raises(InvalidProfileError, match="at least one upload"):
        profile_from_audio([])


def test_silent_upload_is_refused(tmp_path):
    soundfile.write(str(tmp_path / "silence.wav"), np.zeros((44100, 2)), 44100)
    with pytest.raises(InvalidProfileError, match="silent"):
        profile_from_audio([tmp_path / "silence.wav"])


def test_non_audio_upload_is_refused(tmp_path):
    Path(tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidProfileError, match=r"could not be decoded|no audio"):
        profile_from_audio([tmp_path / "notes.txt"])
