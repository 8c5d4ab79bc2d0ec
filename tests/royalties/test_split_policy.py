"""The 33% training pool reaches holders: public-domain items leave its denominator, unknown holders are escrowed."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from django.core.management import call_command

from catalog.models import RecordingShare, RightsHolder
from generation.models import TrainingRecording
from generation.services.release import training_items_for_split, training_public_domain_tokens
from royalties.errors import SplitSheetInvalid
from royalties.money import PPB
from royalties.splits import (
    HOLDERS,
    PUBLIC_DOMAIN,
    UNKNOWN_HOLDERS,
    compute_split,
    percent_of,
    split_sheet_as_json,
    split_sheet_create,
)
from tests.factories import RecordingFactory, RecordingShareFactory, ReleaseFactory, RightsHolderFactory

ESCROW = 999
RIGHTS = {
    1: [(10, "master", 10_000), (10, "publishing", 10_000)],
    2: [(20, "master", 10_000), (20, "publishing", 10_000)],
}


def split(training, *, public_domain_tokens=0, policy="exclude", rights=RIGHTS):
    return compute_split(
        sources=[(1, Fraction(1))],
        training=training,
        rights=rights,
        escrow_holder_id=ESCROW,
        source_share_bps=6700,
        master_share_bps=5000,
        influence_split="measured",
        public_domain_tokens=public_domain_tokens,
        public_domain_policy=policy,
    )


def test_it_leaves_public_domain_tokens_out_of_the_pool_by_default():
    sheet = split([(2, 100)], public_domain_tokens=900)
    assert sheet.ppb_by_holder() == {10: 670_000_000, 20: 330_000_000}
    assert sheet.training is not None
    assert [(c.name, c.tokens, c.share) for c in sheet.training.classes] == [
        (HOLDERS, 100, Fraction(33, 100)),
        (UNKNOWN_HOLDERS, 0, Fraction(0)),
        (PUBLIC_DOMAIN, 900, Fraction(0)),
    ]
    assert sheet.training.named_of_pool == 1


def test_the_escrow_policy_counts_public_domain_tokens_and_escrows_their_share():
    sheet = split([(2, 100)], public_domain_tokens=900, policy="escrow")
    assert sheet.ppb_by_holder() == {10: 670_000_000, ESCROW: 297_000_000, 20: 33_000_000}
    assert sheet.training is not None
    assert sheet.training.named_of_pool == Fraction(1, 10)
    escrow_line = next(line for line in sheet.lines if line.holder_id == ESCROW)
    assert [(p.recording_id, p.side) for p in escrow_line.paths] == [(None, PUBLIC_DOMAIN)]


def test_items_whose_holders_are_unknown_still_go_to_escrow_with_their_tokens_shown():
    sheet = split([(2, 75), (None, 25)], public_domain_tokens=1_000)
    assert sheet.ppb_by_holder() == {10: 670_000_000, 20: 247_500_000, ESCROW: 82_500_000}
    assert sheet.training is not None
    assert [(c.name, c.tokens) for c in sheet.training.classes] == [
        (HOLDERS, 75),
        (UNKNOWN_HOLDERS, 25),
        (PUBLIC_DOMAIN, 1_000),
    ]
    assert sheet.training.named_of_pool == Fraction(3, 4)


def test_a_side_without_shares_counts_as_escrow_in_the_named_figure():
    rights = {**RIGHTS, 2: [(20, "master", 10_000)]}
    sheet = split([(2, 10)], rights=rights)
    assert sheet.training is not None
    assert sheet.training.named_of_pool == Fraction(1, 2)
    assert sheet.total_ppb == PPB


@pytest.mark.parametrize("bad", [-1, True, "5"])
def test_it_refuses_a_bad_public_domain_count(bad):
    with pytest.raises(SplitSheetInvalid, match="non-negative integer"):
        split([(2, 10)], public_domain_tokens=bad)


def test_it_refuses_an_unknown_policy():
    with pytest.raises(SplitSheetInvalid, match="SONGFORGE_TRAINING_PUBLIC_DOMAIN"):
        split([(2, 10)], policy="ignore")


def test_percent_of_rounds_down():
    assert percent_of(973_149) == "97.31%"
    assert percent_of(1_000_000, 4) == "100.0000%"
    assert percent_of(0) == "0.00%"


@pytest.mark.django_db
def test_the_generation_side_classifies_manifest_items(settings):
    settings.TRAINING_PUBLIC_DOMAIN_PREFIXES = ("music21:",)
    linked = RecordingFactory.create()

    def item(source_id, tokens, recording=None, held_out=False):
        TrainingRecording.objects.create(
            source_id=source_id,
            collection="c",
            licence="l",
            is_commercial_ok=True,
            token_count=tokens,
            recording=recording,
            is_held_out=held_out,
            model_version="v",
        )

    item("music21:essen/a.abc#1", 500)  # public domain, unlinked
    item("music21:essen/b.abc#2", 40, recording=linked)  # a score arranged into a catalog recording
    item("catalog:demo-00007", 30)  # a catalog recording the catalog has not imported: holders unknown
    item("catalog:demo-00008", 20, recording=linked)
    item("music21:bach/x.mxl#0", 7, held_out=True)
    assert sorted(training_items_for_split(), key=lambda t: t[1]) == [(linked.pk, 20), (None, 30), (linked.pk, 40)]
    assert training_public_domain_tokens() == 500


@pytest.mark.django_db
def test_the_stored_sheet_keeps_the_policy_and_shows_each_class(settings, capsys):
    settings.TRAINING_PUBLIC_DOMAIN_POLICY = "exclude"
    holder = RightsHolderFactory.create(name="Trainer")
    recording = RecordingFactory.create()
    for side in RecordingShare.Side.values:
        RecordingShareFactory.create(recording=recording, holder=holder, side=side, share_bps=10_000)
    release = ReleaseFactory.create(isrc="QZS8F2600009")
    sheet = split_sheet_create(
        release_id=release.pk,
        sources=[(recording.pk, Fraction(1))],
        training=[(recording.pk, 90), (None, 10)],
        public_domain_tokens=5_000,
    )
    assert sheet.inputs["public_domain"] == {"tokens": 5_000, "policy": "exclude"}
    data = split_sheet_as_json(sheet)
    assert data["training_pool"] == {
        "policy": "exclude",
        "classes": [
            {"class": HOLDERS, "label": "Catalog recordings with holders", "tokens": 90, "ppm": 297_000},
            {"class": UNKNOWN_HOLDERS, "label": "Holders not yet known (escrow)", "tokens": 10, "ppm": 33_000},
            {"class": PUBLIC_DOMAIN, "label": "Public domain (no rights to pay)", "tokens": 5_000, "ppm": 0},
        ],
        "named_of_pool_ppm": 900_000,
        "escrow_of_pool_ppm": 100_000,
    }
    assert RightsHolder.objects.filter(kind=RightsHolder.Kind.ESCROW).count() == 1
    call_command("split_sheet", release.isrc)
    out = capsys.readouterr().out
    assert "Public domain (no rights to pay): 5,000 tokens, 0.0000% of the song's earnings" in out
    assert "90.00% of the training pool reaches named holders, 10.00% is in escrow" in out


@pytest.mark.django_db(transaction=True)
def test_the_demo_registers_the_trained_on_catalog_with_its_rights(settings, tmp_path):
    """The demo's 33% pool reaches the catalog the model trained on, not only the entries rendered to audio."""
    import json

    from catalog.models import Recording
    from songforge.management.commands.demo import register_trained_demo_catalog

    settings.GENERATION_CHECKPOINT = tmp_path / "catalog_model.pt"
    items: list[dict[str, Any]] = [
        {"source_id": "catalog:demo-00001"},
        {"source_id": "catalog:demo-00002"},
        {"source_id": "catalog:demo-00003", "held_out": True},
        {"source_id": "music21:essen/a.abc#1"},
    ]
    (tmp_path / "training_manifest.json").write_text(json.dumps({"items": items}))
    for item in items:
        TrainingRecording.objects.create(
            source_id=item["source_id"],
            collection="c",
            licence="l",
            is_commercial_ok=True,
            token_count=10,
            is_held_out=bool(item.get("held_out")),
            model_version="v",
        )
    assert register_trained_demo_catalog() == 2
    recordings = list(Recording.objects.order_by("external_id"))
    assert [r.external_id for r in recordings] == ["demo-00001", "demo-00002"]
    assert all(r.is_demo and not r.audio for r in recordings)
    assert all(RecordingShare.objects.filter(recording=r, side="master").exists() for r in recordings)
    linked = dict(TrainingRecording.objects.values_list("source_id", "recording_id"))
    assert linked["catalog:demo-00001"] == recordings[0].pk
    assert linked["catalog:demo-00003"] is None
    assert register_trained_demo_catalog() == 0
