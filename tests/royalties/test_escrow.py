"""Escrow ends in a claim: a holder proves ownership, a second person approves, the money follows."""

from __future__ import annotations

from fractions import Fraction

import pytest

from catalog.models import RecordingShare, RightsHolder, ShareChange
from catalog.services import recording_shares_set
from royalties import ledger
from royalties.errors import EscrowClaimInvalid, EscrowClaimTransitionInvalid
from royalties.escrow import (
    escrow_aging,
    escrow_claim_approve,
    escrow_claim_create,
    escrow_claim_reject,
    escrow_claim_settle,
)
from royalties.imports import statement_import
from royalties.models import EscrowClaim, Payout, Transaction
from royalties.payouts import payout_run_create
from royalties.selectors import balances_by_kind, holder_balance
from royalties.splits import split_sheet_compute, split_sheet_create
from tests.factories import RecordingFactory, RecordingShareFactory, ReleaseFactory, RightsHolderFactory
from tests.royalties.conftest import line

pytestmark = pytest.mark.django_db
EVIDENCE = "PRS registration 123-456 and the 2019 songwriter agreement"


@pytest.fixture
def story(django_user_model, settings):
    """A song whose source has a label (master) but no known publisher: half its 67% is escrowed."""
    settings.PAYOUT_MINIMUM_MINOR = 500
    label = RightsHolderFactory.create(name="Label")
    writer = RightsHolderFactory.create(name="Writer", kind=RightsHolder.Kind.WRITER)
    source = RecordingFactory.create()
    RecordingShareFactory.create(recording=source, holder=label, side=RecordingShare.Side.MASTER, share_bps=10_000)
    release = ReleaseFactory.create(isrc="QZS8F2600001")
    split_sheet_create(release_id=release.pk, sources=[(source.pk, Fraction(1))], training=[])
    alice = django_user_model.objects.create(username="alice", is_staff=True)
    bob = django_user_model.objects.create(username="bob", is_staff=True)
    return label, writer, source, release, alice, bob


def escrow_balance(currency="USD"):
    return -balances_by_kind().get(("escrow", currency), 0)


def test_it_walks_a_claim_from_escrow_to_payout(story, statement_file):
    label, writer, source, release, alice, bob = story
    statement_import(path=statement_file([line(revenue="20.00")], name="oct.csv"))
    # 67% source: master 33.5% label, publishing 33.5% escrow; 33% training without tokens: escrow
    assert holder_balance(holder_id=label.pk, currency="USD") == 670
    assert escrow_balance() == 1330
    [aged] = [row for row in escrow_aging() if row.recording_id == source.pk]
    assert (aged.side, aged.amount_minor, aged.oldest_period, aged.open_claims) == ("publishing", 670, "2026-10", 0)

    claim = escrow_claim_create(
        recording_id=source.pk, side="publishing", holder_id=writer.pk, evidence=EVIDENCE, by_user_id=alice.pk
    )
    assert claim.share_bps == 10_000
    assert [r.open_claims for r in escrow_aging() if r.recording_id == source.pk] == [1]
    with pytest.raises(EscrowClaimInvalid, match="cannot decide it"):
        escrow_claim_approve(claim_id=claim.pk, by_user_id=alice.pk)

    approved = escrow_claim_approve(claim_id=claim.pk, by_user_id=bob.pk, note="checked the PRS record")
    assert approved.status == EscrowClaim.Status.APPROVED
    assert approved.moved == {"USD": 670}
    assert list(
        RecordingShare.objects.filter(recording=source, side="publishing").values_list("holder", "share_bps")
    ) == [(writer.pk, 10_000)]
    change = ShareChange.objects.get(recording=source, side="publishing")
    assert (change.old_shares, change.changed_by_id) == ([], bob.pk)
    [txn] = Transaction.objects.filter(kind=Transaction.Kind.ESCROW_CLAIM)
    assert sorted((e.amount_minor, e.period, e.release_id) for e in txn.entries.all()) == [
        (-670, "2026-10", release.pk),
        (670, "2026-10", release.pk),
    ]
    assert list(approved.transactions.all()) == [txn]
    assert holder_balance(holder_id=writer.pk, currency="USD") == 670
    assert escrow_balance() == 660  # the training pool without tokens stays in escrow
    assert [r.recording_id for r in escrow_aging()] == [None]

    run = payout_run_create(period="2026-10")
    assert {(p.holder_id, p.amount_minor) for p in Payout.objects.filter(run=run)} == {
        (label.pk, 670),
        (writer.pk, 670),
    }
    assert ledger.check().is_balanced

    # a sheet computed after the approval pays the writer directly
    later = split_sheet_compute(sources=[(source.pk, Fraction(1))], training=[])
    assert later.ppb_by_holder()[writer.pk] == 335_000_000

    # approving twice, or settling with nothing new, moves nothing more
    with pytest.raises(EscrowClaimTransitionInvalid, match="approved; it cannot become approved"):
        escrow_claim_approve(claim_id=claim.pk, by_user_id=bob.pk)
    assert escrow_claim_settle(claim_id=claim.pk, by_user_id=bob.pk) == {}
    assert Transaction.objects.filter(kind=Transaction.Kind.ESCROW_CLAIM).count() == 1


def test_statements_for_an_old_release_after_approval_are_settled_once(story, statement_file):
    _, writer, source, _, alice, bob = story
    statement_import(path=statement_file([line(revenue="20.00")], name="oct.csv"))
    claim = escrow_claim_create(
        recording_id=source.pk, side="publishing", holder_id=writer.pk, evidence=EVIDENCE, by_user_id=alice.pk
    )
    escrow_claim_approve(claim_id=claim.pk, by_user_id=bob.pk)
    statement_import(path=statement_file([line(revenue="10.00", period="2026-11")], name="nov.csv"))
    assert escrow_balance() == 660 + 665  # the stored sheet still escrows the claimed path
    [due] = [row for row in escrow_aging() if row.recording_id == source.pk]
    assert (due.amount_minor, due.approved_claim_id) == (335, claim.pk)
    assert "settle it" in due.reason
    assert escrow_claim_settle(claim_id=claim.pk, by_user_id=bob.pk) == {"USD": 335}
    assert escrow_claim_settle(claim_id=claim.pk, by_user_id=bob.pk) == {}
    assert holder_balance(holder_id=writer.pk, currency="USD") == 670 + 335
    claim.refresh_from_db()
    assert claim.moved == {"USD": 1005}
    assert ledger.check().is_balanced


def test_a_rejected_claim_changes_nothing(story, statement_file):
    _, writer, source, _, alice, bob = story
    statement_import(path=statement_file([line(revenue="20.00")]))
    before = (escrow_balance(), Transaction.objects.count(), ShareChange.objects.count())
    claim = escrow_claim_create(
        recording_id=source.pk, side="publishing", holder_id=writer.pk, evidence=EVIDENCE, by_user_id=alice.pk
    )
    rejected = escrow_claim_reject(claim_id=claim.pk, by_user_id=bob.pk, note="no contract on file")
    assert rejected.status == EscrowClaim.Status.REJECTED
    assert (escrow_balance(), Transaction.objects.count(), ShareChange.objects.count()) == before
    assert not RecordingShare.objects.filter(recording=source, side="publishing").exists()
    with pytest.raises(EscrowClaimTransitionInvalid, match="rejected; it cannot become approved"):
        escrow_claim_approve(claim_id=claim.pk, by_user_id=bob.pk)


def test_claims_are_refused_when_they_cannot_be_right(story, django_user_model):
    _, writer, source, _, alice, _ = story
    with pytest.raises(EscrowClaimInvalid, match="fully assigned"):
        escrow_claim_create(
            recording_id=source.pk, side="master", holder_id=writer.pk, evidence=EVIDENCE, by_user_id=alice.pk
        )
    with pytest.raises(EscrowClaimInvalid, match="at least 10 characters"):
        escrow_claim_create(
            recording_id=source.pk, side="publishing", holder_id=writer.pk, evidence=" trust me ", by_user_id=alice.pk
        )
    with pytest.raises(EscrowClaimInvalid, match="not master or publishing"):
        escrow_claim_create(
            recording_id=source.pk, side="sync", holder_id=writer.pk, evidence=EVIDENCE, by_user_id=alice.pk
        )
    escrow = RightsHolder.objects.get(kind=RightsHolder.Kind.ESCROW)
    with pytest.raises(EscrowClaimInvalid, match="not a rights holder that can be paid"):
        escrow_claim_create(
            recording_id=source.pk, side="publishing", holder_id=escrow.pk, evidence=EVIDENCE, by_user_id=alice.pk
        )
    claim = escrow_claim_create(
        recording_id=source.pk, side="publishing", holder_id=writer.pk, evidence=EVIDENCE, by_user_id=alice.pk
    )
    with pytest.raises(EscrowClaimInvalid, match="already has a pending claim"):
        escrow_claim_create(
            recording_id=source.pk, side="publishing", holder_id=writer.pk, evidence=EVIDENCE, by_user_id=alice.pk
        )
    outsider = django_user_model.objects.create(username="mallory")
    with pytest.raises(EscrowClaimInvalid, match="Only staff"):
        escrow_claim_approve(claim_id=claim.pk, by_user_id=outsider.pk)
    assert EscrowClaim.objects.get().status == EscrowClaim.Status.PENDING


def test_approval_is_refused_when_the_side_changed_since_the_claim(story):
    label, writer, source, _, alice, bob = story
    claim = escrow_claim_create(
        recording_id=source.pk, side="publishing", holder_id=writer.pk, evidence=EVIDENCE, by_user_id=alice.pk
    )
    recording_shares_set(recording_id=source.pk, side="publishing", shares=[(label.pk, 10_000)], by_user_id=alice.pk)
    with pytest.raises(EscrowClaimInvalid, match="now has 0 unclaimed basis points, not the 10000 claimed"):
        escrow_claim_approve(claim_id=claim.pk, by_user_id=bob.pk)
    assert EscrowClaim.objects.get().status == EscrowClaim.Status.PENDING


def _approved_with_later_escrow(story, statement_file):
    """A claim approved after October's statement, then November's statement escrows its path again."""
    _, writer, source, _, alice, bob = story
    statement_import(path=statement_file([line(revenue="20.00")], name="oct.csv"))
    claim = escrow_claim_create(
        recording_id=source.pk, side="publishing", holder_id=writer.pk, evidence=EVIDENCE, by_user_id=alice.pk
    )
    escrow_claim_approve(claim_id=claim.pk, by_user_id=bob.pk)
    statement_import(path=statement_file([line(revenue="10.00", period="2026-11")], name="nov.csv"))
    return claim


def _money_state():
    return (
        escrow_balance(),
        Transaction.objects.filter(kind=Transaction.Kind.ESCROW_CLAIM).count(),
        list(EscrowClaim.objects.order_by("pk").values_list("moved", flat=True)),
    )


def test_settling_twice_moves_the_later_escrow_once_with_one_transaction_per_currency(story, statement_file):
    from staff.models import AuditEvent

    claim = _approved_with_later_escrow(story, statement_file)
    _, writer, _, release, _, bob = story
    carol = type(bob).objects.create(username="carol", is_staff=True)
    assert escrow_claim_settle(claim_id=claim.pk, by_user_id=carol.pk) == {"USD": 335}
    assert escrow_claim_settle(claim_id=claim.pk, by_user_id=bob.pk) == {}  # the double settle moves nothing
    settle = Transaction.objects.filter(kind=Transaction.Kind.ESCROW_CLAIM).latest("pk")
    assert sorted((e.amount_minor, e.period, e.release_id) for e in settle.entries.all()) == [
        (-335, "2026-11", release.pk),
        (335, "2026-11", release.pk),
    ]
    assert f"by user {carol.pk}" in settle.memo
    [event] = AuditEvent.objects.filter(action="escrow_claim.settle")
    assert (event.actor_id, event.old_values["moved"], event.new_values["moved"]) == (
        carol.pk,
        {"USD": 670},
        {"USD": 1005},
    )
    assert holder_balance(holder_id=writer.pk, currency="USD") == 1005
    assert ledger.check().is_balanced


def test_the_claimant_cannot_settle_their_own_claim(story, statement_file):
    claim = _approved_with_later_escrow(story, statement_file)
    _, _, _, _, alice, _ = story
    before = _money_state()
    with pytest.raises(EscrowClaimInvalid, match="filed a claim cannot settle it"):
        escrow_claim_settle(claim_id=claim.pk, by_user_id=alice.pk)
    assert _money_state() == before


def test_someone_outside_staff_cannot_settle(story, statement_file, django_user_model):
    claim = _approved_with_later_escrow(story, statement_file)
    mallory = django_user_model.objects.create(username="mallory")
    before = _money_state()
    with pytest.raises(EscrowClaimInvalid, match="Only staff settle"):
        escrow_claim_settle(claim_id=claim.pk, by_user_id=mallory.pk)
    assert _money_state() == before


def test_a_rejected_or_pending_claim_cannot_be_settled(story, statement_file):
    _, writer, source, _, alice, bob = story
    statement_import(path=statement_file([line(revenue="20.00")], name="oct.csv"))
    pending = escrow_claim_create(
        recording_id=source.pk, side="publishing", holder_id=writer.pk, evidence=EVIDENCE, by_user_id=alice.pk
    )
    before = _money_state()
    with pytest.raises(EscrowClaimTransitionInvalid, match="pending; only approved claims are settled"):
        escrow_claim_settle(claim_id=pending.pk, by_user_id=bob.pk)
    escrow_claim_reject(claim_id=pending.pk, by_user_id=bob.pk, note="no contract")
    with pytest.raises(EscrowClaimTransitionInvalid, match="rejected; only approved claims are settled"):
        escrow_claim_settle(claim_id=pending.pk, by_user_id=bob.pk)
    assert _money_state() == before


def test_a_release_published_after_the_approval_pays_the_holder_without_escrow(story, statement_file):
    label, writer, source, _, alice, bob = story
    claim = escrow_claim_create(
        recording_id=source.pk, side="publishing", holder_id=writer.pk, evidence=EVIDENCE, by_user_id=alice.pk
    )
    escrow_claim_approve(claim_id=claim.pk, by_user_id=bob.pk)
    trainer = RightsHolderFactory.create(name="Trainer")
    training = RecordingFactory.create()
    for side in ("master", "publishing"):
        RecordingShareFactory.create(recording=training, holder=trainer, side=side, share_bps=10_000)
    later = ReleaseFactory.create(isrc="QZS8F2600002")
    split_sheet_create(release_id=later.pk, sources=[(source.pk, Fraction(1))], training=[(training.pk, 100)])
    statement_import(path=statement_file([line(isrc="QZS8F2600002", revenue="20.00")], name="later.csv"))
    assert escrow_balance() == 0
    assert holder_balance(holder_id=writer.pk, currency="USD") == 670
    assert holder_balance(holder_id=label.pk, currency="USD") == 670
    assert escrow_aging() == []
    assert escrow_claim_settle(claim_id=claim.pk, by_user_id=bob.pk) == {}  # nothing to settle for new releases


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_holder_claim_walks_from_escrow_to_a_paid_payout(postgres_db, story, statement_file):
    """Each step commits, so PostgreSQL's deferred balance trigger and the append-only triggers check it."""
    from rest_framework.test import APIClient

    from catalog.services import rights_holder_user_link
    from royalties.payouts import payout_run_approve, payout_run_pay

    label, writer, source, _, alice, bob = story
    writer_user = type(alice).objects.create(username="writer")
    rights_holder_user_link(holder_id=writer.pk, user_id=writer_user.pk, by_id=alice.pk)
    statement_import(path=statement_file([line(revenue="20.00")], name="oct.csv"))
    assert escrow_balance() == 1330

    client = APIClient()
    client.force_authenticate(writer_user)
    response = client.post(
        "/api/royalties/escrow-claims/",
        {"recording_id": source.pk, "side": "publishing", "evidence": EVIDENCE, "holder_id": label.pk},
        format="json",
    )
    assert response.status_code == 201
    claim_id = response.json()["id"]
    assert EscrowClaim.objects.get(pk=claim_id).holder_id == writer.pk  # the token's holder, not the one asked for
    with pytest.raises(EscrowClaimInvalid, match="Only staff decide"):
        escrow_claim_approve(claim_id=claim_id, by_user_id=writer_user.pk)
    escrow_claim_approve(claim_id=claim_id, by_user_id=bob.pk)
    statement_import(path=statement_file([line(revenue="10.00", period="2026-11")], name="nov.csv"))
    with pytest.raises(EscrowClaimInvalid, match="Only staff settle"):
        escrow_claim_settle(claim_id=claim_id, by_user_id=writer_user.pk)
    assert escrow_claim_settle(claim_id=claim_id, by_user_id=alice.pk) == {"USD": 335}

    run = payout_run_create(period="2026-11", by_id=alice.pk)
    assert {p.holder_id: p.amount_minor for p in Payout.objects.filter(run=run)} == {
        label.pk: 670 + 335,
        writer.pk: 670 + 335,
    }
    payout_run_approve(run_id=run.pk, by_id=bob.pk)
    payout_run_pay(run_id=run.pk, by_id=alice.pk, payment_reference="BANK-2026-11-001")
    assert holder_balance(holder_id=writer.pk, currency="USD") == 0
    assert -balances_by_kind()[("paid", "USD")] == 2010
    assert escrow_balance() == 660 + 330  # the training pool without tokens: no recording to claim
    assert ledger.check().is_balanced
