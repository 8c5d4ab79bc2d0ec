from __future__ import annotations

import json

import pytest
import soundfile

from demo.artists import build_artist_sets, persona


@pytest.mark.slow
def test_each_artist_set_hangs_together_and_sets_share_no_song(tmp_path):
    sets = build_artist_sets(tmp_path, sets=2, songs=3, seconds=4.0, seed=3)
    works = []
    for index, paths in enumerate(sets):
        _, habits = persona(3, index)
        assert len(paths) == 3
        records = [json.loads(p.with_suffix(".json").read_text()) for p in paths]
        for record, path in zip(records, paths, strict=True):
            arrangement = record["arrangement"]
            assert arrangement["style"] == habits.style
            assert abs(arrangement["tempo"] - habits.tempo) <= habits.tempo_spread
            assert arrangement["transpose"] == habits.transpose
            programs = {int(k): v for k, v in arrangement["programs"].items()}
            assert (programs[0], programs[1], programs[2]) == (
                habits.melody_program,
                habits.chord_program,
                habits.bass_program,
            )
            assert soundfile.info(str(path)).frames == 4 * 22050
        works += [r["work"] for r in records]
    assert len(set(works)) == len(works)


@pytest.mark.slow
def test_a_rerun_reuses_the_audio(tmp_path):
    first = build_artist_sets(tmp_path, sets=1, songs=2, seconds=3.0, seed=3)
    before = [p.stat().st_mtime_ns for p in first[0]]
    again = build_artist_sets(tmp_path, sets=1, songs=2, seconds=3.0, seed=3)
    assert again == first
    assert [p.stat().st_mtime_ns for p in again[0]] == before


def test_personas_differ_between_artists():
    habits = [persona(0, i)[1] for i in range(10)]
    assert len({(h.style, h.tempo, h.melody_program) for h in habits}) == 10
    assert [persona(0, i)[0] for i in range(3)] == ["folk", "chorale", "polyphony"]
