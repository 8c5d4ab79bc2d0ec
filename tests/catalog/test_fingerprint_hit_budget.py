"""A query's hit budget: the hottest index cells are skipped first until its hits fit."""

from __future__ import annotations

import numpy as np

from catalog.fingerprint.index import FingerprintIndex, hit_budget_cap


def test_it_keeps_every_cell_when_the_hits_fit():
    assert hit_budget_cap(np.array([5, 1, 0, 7]), 13) == 7
    assert hit_budget_cap(np.zeros(0, np.int64), 10) == 0


def test_it_skips_the_hottest_cells_first_and_cells_of_one_size_together():
    counts = np.array([9, 1, 4, 4, 2, 9])

    assert hit_budget_cap(counts, 28) == 4  # 1 + 2 + 4 + 4 = 11 kept; 9 + 9 more would make 29
    assert hit_budget_cap(counts, 10) == 2  # both 4s or neither: 1 + 2 + 4 + 4 = 11 > 10
    assert hit_budget_cap(counts, 0) == 0


def test_a_lookup_reads_at_most_its_budget(tmp_path):
    index = FingerprintIndex(tmp_path)
    keys = np.array([1, 2, 2, 3, 3, 3, 4, 4, 4, 4], dtype=np.uint32)
    needles = np.array([1, 2, 3, 4], dtype=np.uint32)

    lo, counts = index._ranges(keys, needles, 5000)
    assert counts.tolist() == [1, 2, 3, 4]
    cap = hit_budget_cap(counts, 6)
    counts[counts > cap] = 0
    query, positions = index._expand(lo, counts)

    assert query.tolist() == [0, 1, 1, 2, 2, 2]
    assert keys[positions].tolist() == [1, 2, 2, 3, 3, 3]
