"""A query's hit budget: the hottest index cells are skipped first until its hits fit."""

from __future__ import annotations

import numpy as np

from catalog.fingerprint.index import Entry, FingerprintIndex, hit_budget_cap


def test_it_keeps_every_cell_when_the_hits_fit():
    assert hit_budget_cap(np.array([5, 1, 0, 7]), 13) == 7
    assert hit_budget_cap(np.zeros(0, np.int64), 10) == 0


def test_it_skips_the_hottest_cells_first_and_cells_of_one_size_together():
    counts = np.array([9, 1, 4, 4, 2, 9])

    assert hit_budget_cap(counts, 28) == 4  # 1 + 2 + 4 + 4 = 11 kept; 9 + 9 more would make 29
    assert hit_budget_cap(counts, 10) == 2  # both 4s or neither: 1 + 2 + 4 + 4 = 11 > 10
    assert hit_budget_cap(counts, 0) == 0


def _entry(recording_id: int, hashes: list[int]) -> Entry:
    return Entry(recording_id, np.array(hashes, np.uint32), np.arange(len(hashes), dtype=np.int32), 10.0)


def test_a_lookup_reads_at_most_its_budget_counting_every_segment(tmp_path):
    """Hash 4 has 2 entries in each of two segments: 4 in all, so it is the cell a budget of 6 skips, in both."""
    index = FingerprintIndex(tmp_path)
    index.add([_entry(1, [1, 2, 3, 4, 4])])
    index.add([_entry(2, [2, 3, 3, 4, 4])])
    needles = np.array([1, 2, 3, 4], dtype=np.uint32)

    assert np.sort(needles[index.lookup(needles).query]).tolist() == [1, 2, 2, 3, 3, 3, 4, 4, 4, 4]
    budgeted = index.lookup(needles, max_hits=6)
    assert np.sort(needles[budgeted.query]).tolist() == [1, 2, 2, 3, 3, 3]
    assert sorted(index.recording_of(budgeted.docs).tolist()) == [1, 1, 1, 2, 2, 2]
