import json
from fractions import Fraction

import pytest
from django.core.management import call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.models import Recording, RecordingShare, RightsHolder
from generation.models import Generation
from generation.services.sources import generation_sources_record
from royalties.errors import SplitSheetConflict, SplitSheetInvalid
from royalties.models import SplitSheet
from royalties.money import PPB
from royalties.splits import compute_split, split_sheet_compute, split_sheet_create, split_sources
from tests.factories import (
    GenerationFactory,
    RecordingFactory,
    RecordingShareFactory,
    ReleaseFactory,
    RightsHolderFactory,
)
from uploads.models import Upload

ESCROW = 999


def split(sources, training, rights, *, source_share_bps=6700, master_share_bps=5000, influence_split="measured"):
    return compute_split(
        sources=sources,
        training=training,
        rights=rights,
        escrow_holder_id=ESCROW,
        source_share_bps=source_share_bps,
        master_share_bps=master_share_bps,
        influence_split=influence_split,
    )


def test_it_pays_67_percent_to_sources_and_33_to_training():
    rights = {
        1: [(10, "master", 10_000), (11, "publishing", 10_000)],
        2: [(20, "master", 10_000), (20, "publishing", 10_000)],
    }
    sheet = split([(1, Fraction(1))], [(2, 500)], rights)
    assert sheet.ppb_by_holder() == {10: 335_000_000, 11: 335_000_000, 20: 330_000_000}
    assert sheet.total_ppb == PPB


def test_influence_weights_and_the_equal_setting():
    rights = {
        1: [(10, "master", 10_000), (10, "publishing", 10_000)],
        2: [(20, "master", 10_000), (20, "publishing", 10_000)],
    }
    measured = split([(1, Fraction(3, 4)), (2, Fraction(1, 4))], [], rights, source_share_bps=10_000)
    assert measured.ppb_by_holder() == {10: 750_000_000, 20: 250_000_000}
    equal = split(
        [(1, Fraction(3, 4)), (2, Fraction(1, 4))], [], rights, source_share_bps=10_000, influence_split="equal"
    )
    assert equal.ppb_by_holder() == {10: 500_000_000, 20: 500_000_000}


def test_unknown_holders_and_missing_sides_go_to_escrow():
    rights = {1: [(10, "master", 6000)]}  # 40% of master and all publishing unclaimed
    sheet = split([(1, Fraction(1))], [(None, 10), (1, 10)], rights)
    ppb = sheet.ppb_by_holder()
    # holder 10: 0.67*0.5*0.6 + 0.33*0.5*0.5*0.6 = 0.201 + 0.0495
    assert ppb[10] == 250_500_000
    assert ppb[ESCROW] == PPB - 250_500_000


def test_no_sources_and_no_training_all_goes_to_escrow():
    assert split([], [], {}).ppb_by_holder() == {ESCROW: PPB}


def test_a_holder_reached_several_ways_appears_once_with_the_sum():
    rights = {1: [(10, "master", 10_000), (10, "publishing", 10_000)], 2: [(10, "master", 5000), (11, "master", 5000)]}
    sheet = split([(1, Fraction(1)), (2, Fraction(1))], [(1, 1), (2, 1)], rights)
    line = next(line for line in sheet.lines if line.holder_id == 10)
    assert len([line for line in sheet.lines if line.holder_id == 10]) == 1
    assert line.pool == "both"
    assert line.exact == sum((p.share for p in line.paths), Fraction(0))
    assert len(line.paths) == 6


def test_over_allocated_sides_are_scaled_pro_rata():
    sheet = split(
        [(1, Fraction(1))],
        [],
        {1: [(10, "master", 10_000), (11, "master", 10_000)]},
        source_share_bps=10_000,
        master_share_bps=10_000,
    )
    assert sheet.ppb_by_holder() == {10: 500_000_000, 11: 500_000_000}


def test_it_refuses_floats_and_negative_inputs():
    with pytest.raises(SplitSheetInvalid):
        split([(1, Fraction(-1))], [], {})
    with pytest.raises(SplitSheetInvalid):
        split([], [(1, -5)], {})
    with pytest.raises(Exception, match="float"):
        split([(1, 0.5)], [], {})


rights_strategy = st.dictionaries(
    st.integers(1, 8),
    st.lists(
        st.tuples(st.integers(1, 6), st.sampled_from(["master", "publishing"]), st.integers(1, 10_000)),
        max_size=5,
        unique_by=lambda t: (t[0], t[1]),
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    rights=rights_strategy,
    sources=st.lists(st.tuples(st.integers(1, 10), st.fractions(min_value=0, max_value=10)), max_size=10),
    training=st.lists(st.tuples(st.one_of(st.none(), st.integers(1, 10)), st.integers(0, 10**9)), max_size=12),
    source_bps=st.integers(0, 10_000),
    master_bps=st.integers(0, 10_000),
    influence=st.sampled_from(["measured", "equal"]),
)
def test_any_rights_and_influence_sum_to_exactly_100_percent(
    rights, sources, training, source_bps, master_bps, influence
):
    sheet = split(
        sources, training, rights, source_share_bps=source_bps, master_share_bps=master_bps, influence_split=influence
    )
    assert sheet.total_ppb == PPB
    assert sum((line.exact for line in sheet.lines), Fraction(0)) == 1
    holders = [line.holder_id for line in sheet.lines]
    assert len(holders) == len(set(holders))
    for line in sheet.lines:
        assert line.exact == sum((path.share for path in line.paths), Fraction(0))
        assert abs(line.ppb - line.exact * PPB) < 1


def _generation_with_sources(weights: list[tuple[Recording, int]]) -> Generation:
    """A generation whose uploads (one per (recording, weight)) got their shares through the generation service."""
    generation: Generation = GenerationFactory.create(status=Generation.Status.RUNNING)
    upload_weights = {}
    for index, (recording, weight) in enumerate(weights):
        upload = Upload.objects.create(
            upload_set=generation.upload_set,
            original_name=f"song-{index}.wav",
            audio_format="wav",
            size_bytes=1,
            sha256=f"{generation.pk:032d}{index:032d}",
            status=Upload.Status.MATCHED,
            recording=recording,
        )
        upload_weights[upload.pk] = weight
    generation_sources_record(generation_id=generation.pk, weights=upload_weights)
    return generation


def test_it_reads_influence_from_the_generations_integer_shares(db):
    first, second, third = RecordingFactory.create_batch(3)
    generation = _generation_with_sources([(first, 1), (second, 9), (third, 0)])
    assert split_sources(generation_id=generation.pk) == [(first.pk, Fraction(1, 10)), (second.pk, Fraction(9, 10))]
    twice = _generation_with_sources([(first, 1), (second, 2), (first, 1)])  # one recording uploaded twice
    assert split_sources(generation_id=twice.pk) == [(first.pk, Fraction(1, 2)), (second.pk, Fraction(1, 2))]
    assert split_sources(generation_id=GenerationFactory.create().pk) == []


@pytest.fixture
def catalog(db):
    label = RightsHolderFactory.create(name="Label A")
    writer = RightsHolderFactory.create(name="Writer B", kind=RightsHolder.Kind.WRITER)
    recording = RecordingFactory.create()
    RecordingShareFactory.create(recording=recording, holder=label, side=RecordingShare.Side.MASTER, share_bps=10_000)
    RecordingShareFactory.create(
        recording=recording, holder=writer, side=RecordingShare.Side.PUBLISHING, share_bps=10_000
    )
    return recording, label, writer


def test_split_sheet_compute_reads_the_catalog_and_creates_the_escrow_holder(catalog):
    recording, label, writer = catalog
    sheet = split_sheet_compute(sources=[(recording.pk, Fraction(1))], training=[(None, 100)])
    escrow = RightsHolder.objects.get(kind=RightsHolder.Kind.ESCROW)
    assert sheet.ppb_by_holder() == {label.pk: 335_000_000, writer.pk: 335_000_000, escrow.pk: 330_000_000}


def test_stored_sheet_is_immutable_and_create_is_idempotent(catalog):
    recording, _, _ = catalog
    release = ReleaseFactory.create()
    sheet = split_sheet_create(
        release_id=release.pk, sources=[(recording.pk, Fraction(1))], training=[(recording.pk, 10)]
    )
    assert (
        split_sheet_create(release_id=release.pk, sources=[(recording.pk, Fraction(1))], training=[(recording.pk, 10)])
        == sheet
    )
    with pytest.raises(SplitSheetConflict):
        split_sheet_create(release_id=release.pk, sources=[(recording.pk, Fraction(1))], training=[(recording.pk, 20)])
    assert sum(sheet.lines.values_list("ppb", flat=True)) == PPB
    with pytest.raises(ValueError, match="immutable"):
        sheet.save()
    assert SplitSheet.objects.count() == 1


def test_split_sheet_command_prints_json(catalog, capsys):
    recording, label, writer = catalog
    release = ReleaseFactory.create()
    split_sheet_create(release_id=release.pk, sources=[(recording.pk, Fraction(1))], training=[(recording.pk, 10)])
    call_command("split_sheet", release.isrc, "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["total_ppb"] == PPB
    assert {line["holder_id"]: line["ppb"] for line in data["lines"]} == {label.pk: 500_000_000, writer.pk: 500_000_000}
    assert data["lines"][0]["percent"] == "50.0000000"
