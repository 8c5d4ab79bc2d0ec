"""The shared rules the catalog's service, manifest reader and admin all ask: share sums and ISRC format."""

from __future__ import annotations

import pytest

from catalog.selectors import holder_kind_label, holder_labels
from catalog.services import share_bps_is_valid, side_shares_check
from songforge.codes import ISRC_RE, PERIOD_RE, normalize_isrc


@pytest.mark.parametrize(
    ("shares", "total", "duplicates", "is_ok"),
    [
        ([], 0, (), True),  # unknown side: its money goes to escrow
        ([(1, 10_000)], 10_000, (), True),
        ([(1, 6000), (2, 4000)], 10_000, (), True),
        ([(1, 6000), (2, 3999)], 9999, (), False),
        ([(1, 6000), (2, 4001)], 10_001, (), False),
        ([(1, 5000), (1, 5000)], 10_000, (1,), True),
        ([("Label A", 5000), ("Label A", 2500), ("Label A", 2500)], 10_000, ("Label A",), True),
    ],
)
def test_side_shares_check_applies_the_sum_and_once_per_holder_rule(shares, total, duplicates, is_ok):
    check = side_shares_check(shares)
    assert (check.total_bps, check.duplicate_holders, check.is_total_ok) == (total, duplicates, is_ok)
    assert check.adjustment_bps == 10_000 - total


@pytest.mark.parametrize("bps", [0, -1, 10_001, 1.5, "100", True, None])
def test_a_share_outside_1_to_10000_whole_bps_is_invalid(bps):
    assert share_bps_is_valid(bps) is False


@pytest.mark.parametrize("bps", [1, 5000, 10_000])
def test_whole_bps_from_1_to_10000_are_valid(bps):
    assert share_bps_is_valid(bps) is True


@pytest.mark.parametrize(
    ("raw", "isrc"),
    [
        ("GBAYE0601498", "GBAYE0601498"),
        ("gb-aye-06-01498", "GBAYE0601498"),
        ("  GB AYE 06 01498 ", "GBAYE0601498"),
        ("GBAYE060149", None),  # one digit short
        ("GBAYE06014988", None),
        ("1BAYE0601498", None),  # the country code is letters
        ("GBAYE06A1498", None),  # the year and designation are digits
        ("", None),
    ],
)
def test_normalize_isrc_accepts_only_the_twelve_character_form(raw, isrc):
    assert normalize_isrc(raw) == isrc
    assert (ISRC_RE.match(raw) is not None) is (raw == "GBAYE0601498")


@pytest.mark.parametrize(
    ("period", "is_valid"),
    [("2026-01", True), ("2026-12", True), ("2026-00", False), ("2026-13", False), ("26-01", False)],
)
def test_a_period_is_a_calendar_month(period, is_valid):
    assert (PERIOD_RE.match(period) is not None) is is_valid


@pytest.mark.django_db
def test_holder_labels_name_existing_holders_in_one_query(holders, django_assert_num_queries):
    label, writer, _ = holders
    with django_assert_num_queries(1):
        labels = holder_labels([label.pk, writer.pk, 999_999])
    assert sorted(labels) == sorted([label.pk, writer.pk])
    assert (labels[label.pk].name, labels[label.pk].kind) == (label.name, label.kind)
    assert labels[label.pk].kind_label == holder_kind_label(label.kind) != ""
    assert holder_kind_label("unheard-of") == "unheard-of"
