"""The generated cover follows the figures the report really holds (the master's loudness and length)."""

from __future__ import annotations

from typing import Any

from distribution.artwork import artwork_generate


def _report(**synthesis: Any) -> dict[str, Any]:
    """A report shaped as the pipeline's report stage writes it."""
    return {
        "tempo_bpm": 120.0,
        "key": {"tonic": 9, "name": "A", "mode": "minor"},
        "length_s": 30.0,
        "synthesis": {"tempo_bpm": 118.0, "key": "A minor", "length_s": 31.5, "integrated_lufs": -14.0, **synthesis},
    }


def test_a_louder_master_gets_another_cover() -> None:
    quiet = artwork_generate(seed=1, report=_report(integrated_lufs=-20.0), title="A")
    loud = artwork_generate(seed=1, report=_report(integrated_lufs=-8.0), title="A")
    assert quiet != loud


def test_a_longer_master_gets_another_cover() -> None:
    short = artwork_generate(seed=1, report=_report(length_s=31.5), title="A")
    long = artwork_generate(seed=1, report=_report(length_s=185.0), title="A")
    assert short != long


def test_the_key_changes_the_cover_whichever_way_it_is_written() -> None:
    minor = artwork_generate(seed=1, report=_report(), title="A")
    major = artwork_generate(seed=1, report=_report(key="C major"), title="A")
    assert minor != major
    as_dict = {"tempo_bpm": 120.0, "key": {"tonic": 9, "name": "A", "mode": "minor"}}
    as_words = {"tempo_bpm": 120.0, "key": "A minor"}
    assert artwork_generate(seed=1, report=as_dict, title="A") == artwork_generate(seed=1, report=as_words, title="A")


def test_a_report_without_figures_still_gets_a_cover() -> None:
    assert artwork_generate(seed=1, report={}, title="A")[:3] == b"\xff\xd8\xff"  # a JPEG
