"""The demo's escrow story (``manage.py demo_escrow``) on a small release: it ends with escrow at zero."""

from __future__ import annotations

import io
from fractions import Fraction

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import RecordingShare, RightsHolder
from demo.catalog_build import demo_people
from royalties import ledger
from royalties.escrow import escrow_aging
from royalties.imports import statement_import
from royalties.models import EscrowClaim, Transaction
from royalties.selectors import balances_by_kind
from royalties.splits import split_sheet_create
from staff.models import AuditEvent
from tests.factories import RecordingFactory, RecordingShareFactory, ReleaseFactory, RightsHolderFactory
from tests.royalties.conftest import line

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_release(statement_file, settings):
    """A source and a training recording by demo artists, both without publishing holders (escrow)."""
    settings.PAYOUT_MINIMUM_MINOR = 500
    artists = demo_people(0)[0]
    label = RightsHolderFactory.create(name="Northwind Music")
    recordings = []
    for artist in artists[:2]:
        recording = RecordingFactory.create(artist=artist.name)
        RecordingShareFactory.create(
            recording=recording, holder=label, side=RecordingShare.Side.MASTER, share_bps=10_000
        )
        recordings.append(recording)
    release = ReleaseFactory.create(isrc="QZS8F2600001")
    split_sheet_create(
        release_id=release.pk, sources=[(recordings[0].pk, Fraction(1))], training=[(recordings[1].pk, 100)]
    )
    statement_import(path=statement_file([line(revenue="149.55")], name="oct.csv"))
    return release, artists[:2]


def test_the_story_claims_every_escrowed_side_and_settles_the_later_statement(demo_release):
    release, artists = demo_release
    # 33.5% (source publishing) + 16.5% (training publishing) of $149.55, whole cents under the carry rule
    assert -balances_by_kind()[("escrow", "USD")] == 7477
    out = io.StringIO()
    call_command("demo_escrow", stdout=out)
    text = out.getvalue()
    first, second = EscrowClaim.objects.order_by("pk").values_list("pk", flat=True)
    assert f"the split sheet of release {release.pk} escrows 50.00%" in text
    assert "Escrow now, per recording and side, with the reason: $74.77 in 2 side(s)" in text
    assert "— publishing: $50.10 — source song (67% pool): no publishing holders (or not all) in the catalog" in text
    assert "— publishing: $24.67 — training data (33% pool): no publishing holders (or not all)" in text
    assert "the claimant approves it: refused, escrow_claim_invalid: Only staff decide escrow claims." in text
    assert "desk-ana approves her own claim: refused, escrow_claim_invalid: The person who filed" in text
    assert f"desk-ana settles claim {second}, which she filed: refused, escrow_claim_invalid: The person" in text
    assert "escrow before the claims: $74.77 (50.00% of the song's allocated money); after: $0.00 (0.00%)" in text
    assert "escrow after it: $246.00 in 2 side(s)" in text  # (337.1204 + 154.87) × 50%, on the old sheet
    assert f"claim {first} approved; arrived since on the older split sheet: settle it" in text
    assert "moved $246.00 in 2 ledger transaction(s)" in text
    assert "settling again moves $0.00" in text
    assert "escrow now: $0.00 (0.00% of the song's allocated money)" in text
    assert "payout run 2026-11: the 2 claimant holder(s) are paid $320.77" in text
    assert "escrows 0.00% (new releases pay the claimants directly" in text

    writers = {artist.writers[0] for artist in artists}
    claims = list(EscrowClaim.objects.select_related("holder").order_by("pk"))
    assert [(c.status, c.side, c.holder.name in writers) for c in claims] == [("approved", "publishing", True)] * 2
    assert claims[0].claimed_by.rights_holder == claims[0].holder  # filed from the holder's own account
    names: dict[int | None, str] = dict(get_user_model().objects.values_list("pk", "username"))
    assert names[claims[0].decided_by_id] == "desk-ana"
    assert (names[claims[1].claimed_by_id], names[claims[1].decided_by_id]) == ("desk-ana", "desk-ben")
    assert sum(c.moved["USD"] for c in claims) == 7477 + 24600
    assert escrow_aging() == []
    assert balances_by_kind().get(("escrow", "USD"), 0) == 0
    assert Transaction.objects.filter(kind=Transaction.Kind.ESCROW_CLAIM).count() == 4  # 2 approvals, 2 settles
    assert AuditEvent.objects.filter(action__startswith="escrow_claim.").count() == 4
    assert RightsHolder.objects.filter(name__in=writers).count() == 2
    assert ledger.check().is_balanced
