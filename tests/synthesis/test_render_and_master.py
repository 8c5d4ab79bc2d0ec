import json
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import pyloudnorm
import pytest
import soundfile
from scipy import signal

from generation.synthesis import render, render_and_master
from generation.synthesis.features import spectra, timbre_distance

from .conftest import TEMPO

# one shared render (plus librosa's first beat-tracking JIT); one xdist worker builds it once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("synthesis")]


def read_master(report: dict[str, Any]) -> np.ndarray:
    audio, rate = soundfile.read(report["files"]["master_wav"], always_2d=True)
    assert rate == 44100
    return np.asarray(audio)


def test_master_is_44k1_stereo_24_bit(mastered):
    info = soundfile.info(mastered["files"]["master_wav"])
    assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_24")


def test_loudness_is_minus_14_lufs_measured_independently(mastered):
    loudness = pyloudnorm.Meter(44100).integrated_loudness(read_master(mastered))
    assert abs(loudness + 14.0) <= 0.5
    assert abs(mastered["integrated_lufs"] + 14.0) <= 0.5


def test_true_peak_is_at_most_minus_1_dbtp_at_8x_oversampling(mastered):
    audio = read_master(mastered)
    peak = np.abs(signal.resample_poly(audio, 8, 1, axis=0)).max()
    assert 20 * np.log10(peak) <= -1.0
    assert mastered["true_peak_dbtp"] <= -1.0


def test_nothing_clips_and_there_is_no_dc_offset(mastered):
    audio = read_master(mastered)
    assert np.abs(audio).max() < 0.95
    assert np.abs(audio.mean(axis=0)).max() < 1e-4
    assert mastered["dc_offset"] < 1e-4


def test_tempo_measured_back_is_within_1_bpm(mastered):
    assert mastered["tempo_bpm_composed"] == pytest.approx(TEMPO)
    assert abs(mastered["tempo_bpm_measured"] - TEMPO) <= 1.0


def test_adaptation_moves_the_timbre_toward_the_uploads(mastered, target_profile):
    assert mastered["timbre_distance_adapted"] < mastered["timbre_distance_plain"]
    measured = timbre_distance(spectra(read_master(mastered).T).mel_db, target_profile["spectrum"]["mel_db"])
    assert measured == pytest.approx(mastered["timbre_distance_adapted"], abs=0.01)


def test_instruments_are_the_ones_the_profile_chose(mastered, target_profile):
    programs = target_profile["instrumentation"]["programs"]
    for instrument in mastered["instruments"]:
        if not instrument["is_drum"]:
            assert instrument["program"] == programs[instrument["role"]]
    assert {i["role"] for i in mastered["instruments"]} == {"drums", "bass", "melody", "harmony"}


def test_report_is_json_and_names_the_files(mastered):
    report = json.loads(json.dumps(mastered))
    assert report["key"] != "unknown"
    assert report["length_s"] == pytest.approx(10 + render.RELEASE_TAIL_S, abs=0.3)
    for name in ("master.wav", "listen.m4a", "listen.mp3", "peaks.json"):
        assert any(path.endswith(name) and Path(path).stat().st_size > 0 for path in report["files"].values())


def test_peaks_have_at_least_1000_min_max_pairs(mastered):
    peaks = json.loads(Path(mastered["files"]["peaks"]).read_text())
    assert peaks["length"] >= 1000
    assert len(peaks["data"]) == 2 * peaks["length"]
    assert min(peaks["data"]) >= -128
    assert max(peaks["data"]) <= 127


def test_target_length_loops_whole_bars_and_fades(short_piece, target_profile, tmp_path):
    report = render_and_master(
        short_piece, target_profile=target_profile, out_dir=tmp_path, seed=3, max_seconds=600.0, target_seconds=17
    )
    assert report["length_s"] == pytest.approx(17.0, abs=0.01)
    bar = 4 * 60.0 / TEMPO
    assert report["cut_at_bar_s"] / bar == pytest.approx(round(report["cut_at_bar_s"] / bar), abs=1e-6)
    assert report["cut_at_bar_s"] > 10.0  # looped past the 10 s piece
    audio, _ = soundfile.read(report["files"]["master_wav"])
    assert np.abs(audio[-100:]).max() < 1e-3  # faded out
    assert abs(report["integrated_lufs"] + 14.0) <= 0.5


def test_rendering_is_seeded(short_piece):
    piece = render.load_piece(short_piece, max_seconds=600)
    plans = render.plan_tracks(piece, {})
    first = render.render(piece, plans, seed=1, profile={})
    again = render.render(piece, plans, seed=1, profile={})
    other = render.render(piece, plans, seed=2, profile={})
    assert np.array_equal(first, again)
    assert not np.array_equal(
        first[:, : min(first.shape[1], other.shape[1])], other[:, : min(first.shape[1], other.shape[1])]
    )


def test_humanised_onsets_stay_within_10_ms(short_piece):
    piece = pretty_midi.PrettyMIDI(str(short_piece))
    plans = render.plan_tracks(piece, {})
    channels = {plan.index: plan.index for plan in plans}
    events = render._events(piece, plans, channels, np.random.default_rng(0))
    onsets = sorted(event[0] / 44100 for event in events if event[2] == 3)
    composed = sorted(note.start for inst in piece.instruments for note in inst.notes)
    shifts = np.abs(np.array(onsets) - np.array(composed))
    assert shifts.max() <= 0.0101
    assert shifts.max() > 0.0005
