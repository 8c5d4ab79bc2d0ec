"""Stop-word cells at any catalog size: the candidate votes skip hot triplet cells, the fitted candidates do not.

The attacks: a cap that silently drops a true match's evidence as the catalog grows (the fit must see the same
hits as an uncapped lookup), a re-indexed recording whose tombstoned document leaks back in, and a floor that
stays where it was calibrated while the catalog offers ten times more chance fits.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.fingerprint import audio, landmarks, scale, triplets
from catalog.fingerprint.arrays import bisect_ranges
from catalog.fingerprint.index import Entry, FingerprintIndex, entry_for
from catalog.fingerprint.matcher import Matcher
from catalog.fingerprint.scale import ScaleThresholds
from demo import fingerprint_synth as synth

RATE = 16000


@given(st.lists(st.lists(st.integers(0, 6), max_size=12), min_size=1, max_size=6), st.integers(0, 7))
@settings(max_examples=200, deadline=None)
def test_bisection_finds_each_value_in_its_own_sorted_slice(slices, value):
    column = np.concatenate([np.sort(np.array(s, dtype=np.uint32)) for s in slices] or [np.zeros(0, np.uint32)])
    bounds = np.cumsum([0] + [len(s) for s in slices])
    lo, hi = bounds[:-1].astype(np.int64), bounds[1:].astype(np.int64)
    values = np.full(len(slices), value, dtype=np.uint32)

    start, stop = bisect_ranges(column, lo, hi, values)

    for i, piece in enumerate(slices):
        ordered = sorted(piece)
        assert start[i] - lo[i] == sum(v < value for v in ordered)
        assert stop[i] - lo[i] == sum(v <= value for v in ordered)


def _scale_entry(recording_id: int, tri_hashes: list[int]) -> Entry:
    """An entry whose triplets are ``tri_hashes`` (times 0, 1, 2, … so every hit is traceable)."""
    n = len(tri_hashes)
    scale_print = triplets.ScalePrint(
        hashes=np.array(tri_hashes, np.uint32),
        times=np.arange(n, dtype=np.int32),
        freqs=np.full(n, 64 * 40, np.uint16),
        spans=np.full(n, 20, np.uint8),
        peak_times=np.arange(n, dtype=np.int32),
        peak_freqs=np.full(n, 64 * 40, np.uint16),
    )
    return Entry(recording_id, np.zeros(0, np.uint32), np.zeros(0, np.int32), 10.0, scale_print)


def _hits(found) -> list[tuple[int, int, int]]:
    return sorted(zip(found.query.tolist(), found.docs.tolist(), found.times.tolist(), strict=True))


def test_the_recordings_entries_in_skipped_cells_are_read_per_segment_and_nothing_else(tmp_path):
    """Segment 1: cell 7 holds 3 entries (hot: above 2, up to 3), cell 9 holds 6 (too hot), cell 3 one (not
    skipped). Segment 2: cells 7 and 9 hold 3 each (both hot). Recordings 2 and 4 were not asked for."""
    index = FingerprintIndex(tmp_path)
    index.add([_scale_entry(1, [7, 7, 9, 9, 9, 3]), _scale_entry(2, [7, 9, 9, 9])])
    index.add([_scale_entry(3, [7, 7, 9, 9, 3]), _scale_entry(4, [7, 9])])
    probes = np.array([3, 7, 9], dtype=np.uint32)

    capped = index.lookup_triplets(probes, max_hits_per_hash=2)
    skipped = index.lookup_triplets_of(capped, np.array([1, 3]), up_to=3)

    # (probe, document, anchor time): documents 0 and 2 are recordings 1 and 3
    assert _hits(skipped) == [(1, 0, 0), (1, 0, 1), (1, 2, 0), (1, 2, 1), (2, 2, 2), (2, 2, 3)]
    assert not set(_hits(skipped)) & set(_hits(capped))  # only what the capped lookup skipped


def test_a_reindexed_recording_is_read_from_its_live_document_only(tmp_path):
    index = FingerprintIndex(tmp_path)
    index.add([_scale_entry(1, [7, 7, 7]), _scale_entry(2, [7, 7])])
    index.add([_scale_entry(1, [7, 7, 5])])  # recording 1 again: its first document is tombstoned
    probes = np.array([7], dtype=np.uint32)

    skipped = index.lookup_triplets_of(index.lookup_triplets(probes, max_hits_per_hash=1), np.array([1]), up_to=100)

    assert sorted(skipped.times.tolist()) == [0, 1]  # the new document's two entries, not the old one's three
    index.compact()
    capped = index.lookup_triplets(probes, max_hits_per_hash=1)
    assert sorted(index.lookup_triplets_of(capped, np.array([1]), up_to=100).times.tolist()) == [0, 1]


def test_a_writer_appending_and_compacting_between_the_two_reads_changes_nothing_read(tmp_path):
    """An identification worker reads the skipped cells of the segments its first lookup saw, while the indexer
    appends a segment and compacts: positions must not be paired with another segment's files."""
    reader = FingerprintIndex(tmp_path)
    FingerprintIndex(tmp_path).add([_scale_entry(1, [7, 7, 9]), _scale_entry(2, [7, 9])])
    probes = np.array([7, 9], dtype=np.uint32)
    capped = reader.lookup_triplets(probes, max_hits_per_hash=1)
    before = _hits(reader.lookup_triplets_of(capped, np.array([1]), up_to=10))

    writer = FingerprintIndex(tmp_path)
    writer.add([_scale_entry(3, [7, 7, 7, 9, 9])])
    writer.compact()

    after = _hits(reader.lookup_triplets_of(capped, np.array([1]), up_to=10))
    assert after == before == [(0, 0, 0), (0, 0, 1), (1, 0, 2)]


def test_documents_lie_in_order_within_every_cell_after_appends_and_compaction(tmp_path):
    """What the bisection relies on: a stable sort by hash of entries written in document order."""
    rng = np.random.default_rng(3)
    index = FingerprintIndex(tmp_path)
    for batch in range(3):
        index.add([_scale_entry(10 * batch + k, rng.integers(0, 20, 50).tolist()) for k in range(4)])
    index.add([_scale_entry(11, rng.integers(0, 20, 50).tolist())])  # a re-indexing
    index.compact()
    for seg in index._segments:
        hashes = np.asarray(seg.parts["tri_hashes"]).astype(np.int64)
        docs = np.asarray(seg.parts["tri_docs"]).astype(np.int64)
        assert np.all(np.diff(hashes * (1 << 32) + docs) >= 0)


def test_the_anchor_floor_holds_up_to_1000_recordings_and_rises_with_each_tenfold():
    thresholds = ScaleThresholds()

    assert thresholds.for_catalog(12) is thresholds
    assert thresholds.for_catalog(1000).min_aligned == 11
    assert thresholds.for_catalog(10_000).min_aligned == 15
    assert thresholds.for_catalog(100_000).min_aligned == 19


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> tuple[FingerprintIndex, np.ndarray]:
    songs = {seed: synth.song(seed, 20.0, RATE, kits=2, arrangements=2) for seed in (31, 32, 33, 34)}
    index = FingerprintIndex(tmp_path_factory.mktemp("stop") / "fp")
    index.add([entry_for(seed, audio.resample(s.astype(np.float32), RATE)) for seed, s in songs.items()])
    import librosa

    clip = librosa.effects.time_stretch(songs[32][3 * RATE : 14 * RATE], rate=1.05).astype(np.float32)[: 10 * RATE]
    return index, audio.resample(clip, RATE)


def test_the_fit_reads_the_cells_the_votes_skipped(catalog):
    """With a retrieval cap low enough to skip some of the true recording's cells, its fit still counts every
    anchor an uncapped lookup finds: the cells are read for the chosen candidates only."""
    index, clip = catalog
    peaks = landmarks.find_peaks(clip)
    uncapped = replace(ScaleThresholds(), max_hits_per_hash=1 << 30)
    starved = replace(ScaleThresholds(), max_hits_per_hash=2, stop_word_density=0.0)
    recounted = replace(ScaleThresholds(), max_hits_per_hash=2, stop_word_density=1e9)

    def true_fit(thresholds: ScaleThresholds) -> scale.Alignment:
        return next(a for a in scale.align(index, peaks, thresholds) if a.recording_id == 32)

    full, poor, restored = true_fit(uncapped), true_fit(starved), true_fit(recounted)
    assert poor.aligned < full.aligned  # the cap did drop evidence of the true match
    assert restored.aligned == full.aligned
    assert (restored.scale_time, restored.scale_freq) == pytest.approx((full.scale_time, full.scale_freq))


def test_a_matcher_uses_the_floor_of_its_catalog_size(catalog, monkeypatch):
    index, clip = catalog
    matcher = Matcher(index)
    assert matcher.catalog_scale_thresholds().min_aligned == 11
    monkeypatch.setattr(FingerprintIndex, "recording_count", lambda self: 10_000)
    assert matcher.catalog_scale_thresholds().min_aligned == 15
    candidate = matcher.match_peaks(landmarks.find_peaks(clip))
    assert candidate is not None
    assert candidate.engine == "triplets"
    weak = replace(candidate, aligned=14, explained=0.2, explained_peaks=100, background=0.1)
    assert not matcher.is_verified(weak)  # 14 anchors would name a recording at 1,000 songs, not at 10,000
    assert matcher.is_verified(replace(weak, aligned=15))
    # ... unless the constellation is clear (test_fingerprint_near_floor.py); 11 anchors never
    assert matcher.is_verified(replace(weak, explained=0.9))
    assert not matcher.is_verified(replace(weak, aligned=11, explained=0.9))
