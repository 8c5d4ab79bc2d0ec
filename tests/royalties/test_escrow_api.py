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
