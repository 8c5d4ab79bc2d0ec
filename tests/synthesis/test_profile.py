import json

import pytest

from generation.synthesis import profile_from_audio
from generation.synthesis.features import N_MELS, THIRD_OCTAVE_CENTRES

from .conftest import write_upload

pytestmark = pytest.mark.xdist_group("synthesis")  # shares the session profile with the render tests


def test_profile_is_json_with_bands_dynamics_and_programs(target_profile):
    profile = json.loads(json.dumps(target_profile))
    assert len(profile["spectrum"]["third_octave_db"]) == len(THIRD_OCTAVE_CENTRES)
    assert len(profile["spectrum"]["mel_db"]) == N_MELS
    assert profile["uploads"] == 2
    assert profile["dynamics"]["crest_factor_db"] > 3
    assert set(profile["instrumentation"]["programs"]) == {"bass", "melody", "harmony", "pad"}
    assert [upload["name"] for upload in profile["per_upload"]] == ["upload0.wav", "upload1.wav"]


def test_drums_are_detected_in_uploads_with_a_kit(target_profile):
    assert target_profile["instrumentation"]["families"]["drums"] is True
    assert target_profile["instrumentation"]["features"]["high_percussive_ratio"] > 0.5


@pytest.mark.slow
def test_uploads_without_drums_give_no_drums_and_other_programs(tmp_path, target_profile):
    paths = [write_upload(tmp_path / "strings.wav", seed=2, programs=(73, 32, 48), with_drums=False)]
    profile = profile_from_audio(paths)
    assert profile["instrumentation"]["families"]["drums"] is False
    assert profile["instrumentation"]["programs"] != target_profile["instrumentation"]["programs"]
