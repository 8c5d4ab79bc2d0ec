"""Claims through the API (a holder, for itself only) and the admin (staff file, another staff decides)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from catalog.models import RecordingShare, RightsHolder
from royalties.models import EscrowClaim
from royalties.splits import split_sheet_create
from tests.factories import RecordingFactory, RecordingShareFactory, ReleaseFactory, RightsHolderFactory

pytestmark = pytest.mark.django_db
EVIDENCE = "Songwriter agreement of 2019, PRS work 123-456"


@pytest.fixture
def escrowed(django_user_model):
    cache.clear()
    label = RightsHolderFactory.create(name="Label")
    source = RecordingFactory.create()
    RecordingShareFactory.create(recording=source, holder=label, side=RecordingShare.Side.MASTER, share_bps=10_000)
    split_sheet_create(
        release_id=ReleaseFactory.create(isrc="QZS8F2600001").pk, sources=[(source.pk, Fraction(1))], training=[]
    )
    writer_user = django_user_model.objects.create(username="writer")
    writer = RightsHolderFactory.create(name="Writer", kind=RightsHolder.Kind.WRITER, user=writer_user)
    return source, writer, writer_user


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_holder_claims_for_itself_only(escrowed, django_user_model):
    source, writer, writer_user = escrowed
    other = RightsHolderFactory.create(name="Other")
    response = api(writer_user).post(
        "/api/royalties/escrow-claims/",
        {"recording_id": source.pk, "side": "publishing", "evidence": EVIDENCE, "holder_id": other.pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["holder_id"] == writer.pk  # holder_id from a holder is ignored: the token decides
    assert response.json()["status"] == "pending"
    assert response.json()["moved_minor"] == {}
    listed = api(writer_user).get("/api/royalties/escrow-claims/").json()
    assert [c["id"] for c in listed] == [response.json()["id"]]
    assert (
        api(django_user_model.objects.create(username="nobody")).get("/api/royalties/escrow-claims/").status_code == 403
    )


def test_refusals_come_back_as_400_with_the_code(escrowed):
    source, _, writer_user = escrowed
    response = api(writer_user).post(
        "/api/royalties/escrow-claims/",
        {"recording_id": source.pk, "side": "master", "evidence": EVIDENCE},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "escrow_claim_invalid"
    assert EscrowClaim.objects.count() == 0


def test_staff_file_in_the_admin_and_another_staff_member_approves(escrowed, django_user_model):
    source, writer, _ = escrowed
    alice = django_user_model.objects.create_superuser(username="alice", password="x", email="a@example.com")
    bob = django_user_model.objects.create_superuser(username="bob", password="x", email="b@example.com")
    client = Client()
    client.force_login(alice)
    response = client.post(
        "/admin/royalties/escrowclaim/add/",
        {"recording": source.pk, "side": "publishing", "holder": writer.pk, "evidence": EVIDENCE},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    claim = EscrowClaim.objects.get()
    assert claim.claimed_by == alice
    changelist = "/admin/royalties/escrowclaim/"
    client.post(changelist, {"action": "approve", "_selected_action": [claim.pk]}, follow=True)
    claim.refresh_from_db()
    assert claim.status == "pending"  # alice filed it, so she cannot approve it
    client.force_login(bob)
    client.post(changelist, {"action": "approve", "_selected_action": [claim.pk]}, follow=True)
    claim.refresh_from_db()
    assert (claim.status, claim.decided_by) == ("approved", bob)
    assert RecordingShare.objects.filter(recording=source, side="publishing", holder=writer).exists()


def test_the_settle_action_refuses_the_claimant_and_a_rejected_claim(escrowed, django_user_model, statement_file):
    from royalties.escrow import escrow_claim_approve, escrow_claim_create, escrow_claim_reject
    from royalties.imports import statement_import
    from royalties.models import Transaction
    from tests.royalties.conftest import line

    source, writer, _ = escrowed
    alice = django_user_model.objects.create_superuser(username="alice", password="x", email="a@example.com")
    bob = django_user_model.objects.create_superuser(username="bob", password="x", email="b@example.com")
    claim = escrow_claim_create(
        recording_id=source.pk, side="publishing", holder_id=writer.pk, evidence=EVIDENCE, by_user_id=alice.pk
    )
    escrow_claim_approve(claim_id=claim.pk, by_user_id=bob.pk)
    other = RightsHolderFactory.create(name="Other")
    second = RecordingFactory.create()
    rejected = escrow_claim_create(
        recording_id=second.pk, side="master", holder_id=other.pk, evidence=EVIDENCE, by_user_id=bob.pk
    )
    escrow_claim_reject(claim_id=rejected.pk, by_user_id=alice.pk)
    statement_import(path=statement_file([line(revenue="10.00")], name="oct.csv"))  # after the approval
    client = Client()
    client.force_login(alice)
    changelist = "/admin/royalties/escrowclaim/"
    page = client.post(changelist, {"action": "settle", "_selected_action": [claim.pk, rejected.pk]}, follow=True)
    text = page.content.decode()
    assert "The person who filed a claim cannot settle it" in text
    assert "is rejected; only approved claims are settled" in text
    # approved before any statement, so the approval moved nothing; the refused settle moved nothing either
    assert Transaction.objects.filter(kind=Transaction.Kind.ESCROW_CLAIM).count() == 0
    client.force_login(bob)
    page = client.post(changelist, {"action": "settle", "_selected_action": [claim.pk]}, follow=True)
    assert f"Claim {claim.pk}: moved $3.35 (335 USD minor units)." in page.content.decode()
    page = client.post(changelist, {"action": "settle", "_selected_action": [claim.pk]}, follow=True)
    assert f"Claim {claim.pk}: moved nothing new (already settled)." in page.content.decode()
