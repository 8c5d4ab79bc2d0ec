from __future__ import annotations

import json

import pytest
import soundfile
from django.core.management import call_command

from catalog.models import Recording, RightsHolder
from demo.catalog_build import Piece, build_demo_catalog, choose_chords, estimate_key


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    build_demo_catalog(out, size=3, seconds=4.0, seed=7, workers=1)
    return out


@pytest.mark.slow
def test_it_writes_a_manifest_with_rendered_audio(tiny_demo):
    manifest = json.loads((tiny_demo / "manifest.json").read_text())
    assert manifest["is_demo"] is True
    assert [e["id"] for e in manifest["entries"]] == ["demo-00001", "demo-00002", "demo-00003"]
    for entry in manifest["entries"]:
        info = soundfile.info(str(tiny_demo / entry["audio"]))
        assert (info.samplerate, info.channels, info.frames) == (22050, 2, 4 * 22050)
        assert entry["source"].startswith("music21:")
        for side, shares in entry["rights"].items():
            assert sum(s["share_bps"] for s in shares) in ((0, 10_000) if side == "publishing" else (10_000,))
    audio, _ = soundfile.read(str(tiny_demo / manifest["entries"][0]["audio"]))
    assert 0.02 < float((audio**2).mean()) ** 0.5 < 0.9  # not silent, not clipped noise


@pytest.mark.slow
def test_a_rerun_reuses_built_entries(tiny_demo):
    audio = tiny_demo / "audio" / "demo-00002.ogg"
    before = audio.stat().st_mtime_ns
    build_demo_catalog(tiny_demo, size=3, seconds=4.0, seed=7, workers=1)
    assert audio.stat().st_mtime_ns == before


@pytest.mark.slow
def test_choices_are_deterministic_by_seed(tiny_demo, tmp_path):
    build_demo_catalog(tmp_path, size=1, seconds=4.0, seed=7, workers=1)
    ours = json.loads((tmp_path / "entries" / "demo-00001.json").read_text())
    theirs = json.loads((tiny_demo / "entries" / "demo-00001.json").read_text())
    assert ours["entry"] == theirs["entry"]
    assert ours["arrangement"] == theirs["arrangement"]


def test_chords_follow_the_melody():
    # C major arpeggio then G major arpeggio then F major: I, V, IV
    melody: list[tuple[float, float, int]] = [
        (0, 1, 60),
        (1, 1, 64),
        (2, 1, 67),
        (3, 1, 72),
        (4, 1, 67),
        (5, 1, 71),
        (6, 1, 74),
        (7, 1, 79),
    ]
    melody += [(8, 1, 65), (9, 1, 69), (10, 1, 72), (11, 1, 77), (12, 4, 60)]
    piece = Piece(title="t", composer="", beats_per_bar=4.0, voices=[melody])
    assert estimate_key(piece) == (0, "major")
    assert choose_chords(piece, 0, "major") == [(0, "maj"), (7, "maj"), (5, "maj"), (0, "maj")]


@pytest.mark.slow
@pytest.mark.django_db
def test_the_command_imports_the_demo_as_demo_data(tiny_demo, capsys):
    call_command("catalog_build_demo", "--size", "3", "--seconds", "4", "--seed", "7", "--out", str(tiny_demo))
    out = capsys.readouterr().out
    assert "imported: 3 created, 0 updated, 0 unchanged" in out
    assert Recording.objects.filter(is_demo=True).count() == 3
    assert not RightsHolder.objects.filter(is_demo=False).exclude(kind="escrow").exists()
    assert set(RightsHolder.objects.values_list("kind", flat=True)) <= {"label", "publisher", "writer"}


def test_an_entry_has_the_same_artist_and_rights_whatever_the_catalog_size():
    """The model's training manifest links demo-NNNNN ids; their holders must not change with --size."""
    from demo.catalog_build import arrange_entry

    small = arrange_entry(3, 0, size=20, seconds=10.0)[1]["entry"]
    large = arrange_entry(3, 0, size=500, seconds=10.0)[1]["entry"]
    assert small == large


def test_an_artist_scale_recasts_the_work_degree_by_degree():
    from demo.catalog_build import scale_map

    dorian = scale_map(0, "major", "dorian")  # C major work -> C dorian
    assert [dorian(p) for p in (60, 62, 64, 65, 67, 69, 71, 72)] == [60, 62, 63, 65, 67, 69, 70, 72]
    pentatonic = scale_map(9, "minor", "minor_pentatonic")  # A minor -> A C D E G
    assert {pentatonic(p) % 12 for p in range(57, 69)} <= {9, 0, 2, 4, 7}
    assert all(abs(pentatonic(p) - p) <= 2 for p in range(57, 69))


def test_a_drumless_artist_arrangement_has_no_drums():
    import random

    from demo.catalog_build import Persona, arrange

    melody = [(float(b), 1.0, 60 + (b % 5)) for b in range(16)]
    piece = Piece(title="t", composer="", beats_per_bar=4.0, voices=[melody])
    habits = Persona("ballad", 70.0, 0, 10, 46, 32, tempo_spread=0, drums="none", scale="major_pentatonic")
    arrangement = arrange(piece, random.Random(0), seconds=20.0, persona=habits)
    assert arrangement.events
    assert not [e for e in arrangement.events if e[2] == 9]
    assert arrangement.tempo == 70.0
    assert arrangement.key.endswith("major_pentatonic")
