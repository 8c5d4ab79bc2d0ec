"""The shared factories build rows that pass the models' own validation and database constraints."""

import pytest

from catalog.models import RecordingShare
from tests.factories import (
    GenerationFactory,
    RecordingWithSharesFactory,
    ReleaseFactory,
    RightsHolderFactory,
    StatementFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_it_builds_valid_rows() -> None:
    for row in [
        UserFactory.create(),
        RightsHolderFactory.create(),
        GenerationFactory.create(),
        ReleaseFactory.create(),
    ]:
        row.full_clean()
    StatementFactory.create().full_clean(exclude=["totals"])  # an empty statement has no per-currency totals


def test_it_gives_a_recording_one_holder_on_both_sides() -> None:
    holder = RightsHolderFactory.create(name="Label")

    recording = RecordingWithSharesFactory.create(holder=holder)

    shares = sorted(recording.shares.values_list("side", "holder__name", "share_bps"))
    assert shares == [(RecordingShare.Side.MASTER, "Label", 10_000), (RecordingShare.Side.PUBLISHING, "Label", 10_000)]
