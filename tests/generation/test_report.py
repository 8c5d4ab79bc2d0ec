"""The typed generation report every reader uses."""

from __future__ import annotations

from typing import Any

from generation.report import GenerationReport, MasterFigures, OriginalityFigures
from generation.selectors import SourceShare
from songforge.management.commands.demo import summarise_report


def pipeline_report() -> dict[str, Any]:
    """A report shaped as the report stage writes it (merged over the start's requested_seconds)."""
    return {
        "requested_seconds": 90,
        "influence": [{"upload_id": 4, "recording_id": 9, "share_ppb": 10**9, "share_bps": 10_000, "share": 1.0}],
        "influence_method": {"method": "likelihood-gain n-gram attribution", "tokens_scored": 812},
        "tempo_bpm": 120.0,
        "key": {"tonic": 9, "name": "A", "mode": "minor"},
        "form": ["intro", "verse"],
        "length_s": 30.0,
        "originality": {
            "is_original": True,
            "longest_shared_notes": 5,
            "max_shared_notes_threshold": 8,
            "longest_shared_with_catalog": 4,
            "longest_shared_with_uploads": {"4": 5, "7": 3},
            "attempts": [{"seed": 1}, {"seed": 2}],
        },
        "finetune": {"steps": 3},
        "synthesis": {
            "integrated_lufs": -14.1,
            "true_peak_dbtp": -1.2,
            "tempo_bpm_measured": 118.0,
            "tempo_bpm": 118.0,
            "key": "A minor",
            "length_s": 31.5,
        },
    }


def test_it_types_every_figure_the_pipeline_writes() -> None:
    report = GenerationReport.from_json(pipeline_report())
    assert report == GenerationReport(
        requested_seconds=90,
        tempo_bpm=120.0,
        key="A minor",
        length_s=30.0,
        influence_method="likelihood-gain n-gram attribution",
        master=MasterFigures(tempo_bpm=118.0, key="A minor", length_s=31.5, integrated_lufs=-14.1, true_peak_dbtp=-1.2),
        originality=OriginalityFigures(
            is_original=True,
            longest_shared_notes=5,
            max_shared_notes=8,
            longest_shared_with_catalog=4,
            longest_shared_with_uploads=((4, 5), (7, 3)),
            attempts=2,
        ),
    )


def test_the_master_s_measurements_win_over_the_composed_figures() -> None:
    report = GenerationReport.from_json(pipeline_report())
    assert (report.shown_tempo_bpm, report.shown_key, report.shown_length_s) == (118.0, "A minor", 31.5)
    assert (report.loudness_lufs, report.true_peak_dbtp) == (-14.1, -1.2)
    composed_only = GenerationReport.from_json({**pipeline_report(), "synthesis": {}})
    assert (composed_only.shown_tempo_bpm, composed_only.shown_key, composed_only.shown_length_s) == (
        120.0,
        "A minor",
        30.0,
    )
    assert composed_only.loudness_lufs is None


def test_a_queued_generation_s_report_reads_as_empty_figures() -> None:
    for data in ({"requested_seconds": 60}, {}, None):
        report = GenerationReport.from_json(data)
        assert (report.tempo_bpm, report.key, report.master, report.originality) == (None, "", None, None)
    assert GenerationReport.from_json({"requested_seconds": 60}).requested_seconds == 60


def test_values_of_the_wrong_type_are_left_out_instead_of_guessed() -> None:
    report = GenerationReport.from_json(
        {
            "tempo_bpm": "fast",
            "key": "unknown",
            "requested_seconds": True,
            "synthesis": {"integrated_lufs": float("nan"), "length_s": None},
            "originality": {"longest_shared_notes": 2.5, "longest_shared_with_uploads": {"x": 1, "3": "2"}},
        }
    )
    assert (report.tempo_bpm, report.key, report.requested_seconds) == (None, "", None)
    assert report.master == MasterFigures(
        tempo_bpm=None, key="", length_s=None, integrated_lufs=None, true_peak_dbtp=None
    )
    assert report.originality is not None
    assert (report.originality.longest_shared_notes, report.originality.longest_shared_with_uploads) == (None, ())


def test_the_demo_summary_reads_the_typed_report_and_the_integer_shares() -> None:
    summary = summarise_report(
        GenerationReport.from_json(pipeline_report()),
        [
            SourceShare(upload_id=4, recording_id=9, share_ppb=600_000_000),
            SourceShare(upload_id=5, recording_id=10, share_ppb=400_000_000),
        ],
    )
    assert summary == {
        "tempo_bpm_composed": 120.0,
        "key": "A minor",
        "measured_master": {
            "tempo_bpm_measured": 118.0,
            "length_s": 31.5,
            "integrated_lufs": -14.1,
            "true_peak_dbtp": -1.2,
            "key": "A minor",
        },
        "originality": {
            "is_original": True,
            "longest_shared_notes": 5,
            "max_shared_notes_threshold": 8,
            "longest_shared_with_catalog": 4,
        },
        "influence_method": "likelihood-gain n-gram attribution",
        "source_pool_ppb_by_upload": {"4": 600_000_000, "5": 400_000_000},
    }
