import pytest
from django.urls import reverse

from royalties.imports import statement_import
from royalties.models import LineGroup, PayoutRun
from royalties.payouts import payout_run_create
from royalties.splits import split_sheet_create
from tests.factories import ReleaseFactory, UserFactory
from tests.royalties.conftest import line


@pytest.fixture
def staff_client(client, world, statement_file, settings):
    settings.PAYOUT_MINIMUM_MINOR = 100
    statement_import(path=statement_file([line(revenue="20.00"), line(isrc="QZS8F2655555", revenue="1.00")]))
    payout_run_create(period="2026-10")
    client.force_login(UserFactory.create(username="admin", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(
    "model", ["splitsheet", "statement", "linegroup", "account", "transaction", "entry", "payoutrun", "payout"]
)
def test_every_royalties_page_renders_for_staff(staff_client, model):
    response = staff_client.get(reverse(f"admin:royalties_{model}_changelist"))
    assert response.status_code == 200
    first = response.context["cl"].result_list[0]
    assert staff_client.get(reverse(f"admin:royalties_{model}_change", args=[first.pk])).status_code == 200


def test_the_ledger_cannot_be_edited_in_the_admin(staff_client):
    assert staff_client.get(reverse("admin:royalties_entry_add")).status_code == 403


def test_suspense_queue_action_reapplies_known_isrcs(staff_client):
    group = LineGroup.objects.get(state="suspense")
    release = ReleaseFactory.create(isrc=group.isrc)
    split_sheet_create(release_id=release.pk, sources=[], training=[])
    response = staff_client.post(
        reverse("admin:royalties_linegroup_changelist"),
        {"action": "reapply", "_selected_action": [group.pk]},
        follow=True,
    )
    assert "Re-applied 1 group(s)" in response.content.decode()
    assert LineGroup.objects.get(pk=group.pk).state == "allocated"


def test_approving_then_paying_a_payout_run_in_the_admin_marks_it_paid(staff_client):
    run = PayoutRun.objects.get()
    for _ in range(2):
        staff_client.post(
            reverse("admin:royalties_payoutrun_changelist"), {"action": "approve", "_selected_action": [run.pk]}
        )
    run.refresh_from_db()
    assert run.status == "approved"
    assert not any(p.paid_at for p in run.payouts.all())
    for _ in range(2):
        staff_client.post(
            reverse("admin:royalties_payoutrun_changelist"),
            {"action": "mark_paid", "_selected_action": [run.pk], "payment_reference": "BATCH-7"},
        )
    run.refresh_from_db()
    assert (run.status, run.payment_reference) == ("paid", "BATCH-7")
    assert all(p.paid_at for p in run.payouts.all())
