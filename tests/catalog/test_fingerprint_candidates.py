"""The triplet candidate stage: the fine vote that picks which recordings are fitted, and the fit's line."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.fingerprint import scale


def test_the_fine_vote_prefers_hits_on_one_line_over_more_hits_scattered_in_one_coarse_cell():
    """Recording 0: 20 anchors of a clip stretched 5 % on one line. Recording 1: 60 chance hits spread over
    the same 0.8-s offset window (what the coarse vote counts). The fine vote ranks 0 first, by far."""
    rng = np.random.default_rng(5)
    true_tq = np.sort(rng.choice(600, 20, replace=False)).astype(np.int64)
    true_tr = true_tq / 1.05 + 300.0
    chance_tq = rng.integers(0, 600, 60).astype(np.int64)
    chance_tr = chance_tq + 300.0 + rng.integers(-48, 48, 60)
    group = np.concatenate((np.zeros(20, np.int64), np.ones(60, np.int64)))
    tq = np.concatenate((true_tq, chance_tq))
    tr = np.round(np.concatenate((true_tr, chance_tr))).astype(np.float64)
    log_a = np.concatenate((np.full(20, np.log(1.05)), rng.uniform(-0.1, 0.1, 60)))
    tolerance = np.full(80, 0.05)

    scores = scale._fine_scores(group, tq, tr, log_a, tolerance, 2)

    assert scores[0] == 20
    assert scores[1] < 8


def test_the_fine_vote_gives_a_candidate_without_hits_nothing():
    scores = scale._fine_scores(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0), 3)
    assert scores.tolist() == [0, 0, 0]


def test_the_closed_form_line_is_the_least_squares_line():
    rng = np.random.default_rng(9)
    x = rng.uniform(0, 600, 50)
    y = x / 0.95 + 120 + rng.normal(0, 1, 50)
    slope, intercept = scale._line(x, y)
    expected_slope, expected_intercept = np.polyfit(x, y, 1)
    assert slope == pytest.approx(expected_slope, rel=1e-9)
    assert intercept == pytest.approx(expected_intercept, rel=1e-9)


def test_counts_with_tolerance_count_each_unique_key_and_its_neighbours():
    keys = np.array([3, 3, 4, 7, 9, 10, 10, 10, 11, 20], dtype=np.int64)

    unique, counts = scale._counts_with_tolerance(keys, 1)

    assert unique.tolist() == [3, 4, 7, 9, 10, 11, 20]
    assert counts.tolist() == [3, 3, 1, 4, 5, 4, 1]
    assert scale._counts_with_tolerance(keys, 2)[1].tolist() == [3, 3, 2, 6, 5, 5, 1]


def test_counts_with_tolerance_match_a_search_over_the_unique_keys():
    rng = np.random.default_rng(11)
    for tolerance in (0, 1, 3):
        keys = np.sort(rng.integers(0, 300, 500)).astype(np.int64)
        unique, counts = scale._counts_with_tolerance(keys, tolerance)
        expected = [int(((keys >= u - tolerance) & (keys <= u + tolerance)).sum()) for u in unique.tolist()]
        assert unique.tolist() == np.unique(keys).tolist()
        assert counts.tolist() == expected
    assert scale._counts_with_tolerance(np.zeros(0, np.int64), 1)[0].size == 0
