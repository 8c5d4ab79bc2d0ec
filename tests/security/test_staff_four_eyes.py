"""Finding 3: money moves under four eyes, in two steps, and the admin's history says who did what.

Attack: the accountant who created a run approves it herself, through the service, the
admin, and by writing the row directly; anyone tries to pay a run nobody approved, or
without saying which bank payment it was.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.db import IntegrityError, transaction

from royalties.errors import PayoutRunInvalid, PayoutRunTransitionInvalid
from royalties.models import PayoutRun, Transaction
from royalties.payouts import payout_run_approve, payout_run_pay
from royalties.selectors import balances_by_kind
from staff.models import AuditEvent
from staff.roles import PAYOUT_APPROVER, ROYALTY_ACCOUNTANT
from tests.roles import staff_user
from tests.security.staff_fixtures import (  # noqa: F401 (fixtures)
    action,
    admin_as,
    people,
    private_data_dir,
    run,
    statement_file,
    world,
)


def test_the_creator_cannot_approve_her_own_run(run, people):
    transactions = Transaction.objects.count()
    with pytest.raises(PayoutRunInvalid) as refused:
        payout_run_approve(run_id=run.pk, by_id=people["accountant"].pk)
    assert refused.value.code == "payout_run_needs_second_person"
    run.refresh_from_db()
    assert (run.status, run.approved_by_id) == ("draft", None)
    assert Transaction.objects.count() == transactions


def test_the_creator_holding_both_roles_is_still_refused_in_the_admin(run, people, admin_as):
    both = staff_user("both-roles", ROYALTY_ACCOUNTANT, PAYOUT_APPROVER)
    run.created_by = both
    run.save(update_fields=["created_by"])
    response = action(admin_as(both), "royalties.payoutrun", "approve", [run.pk])
    assert "another person with the approver role must approve it" in response.content.decode()
    run.refresh_from_db()
    assert run.status == "draft"
    assert not LogEntry.objects.filter(object_id=str(run.pk)).exists()


def test_the_database_refuses_an_approver_who_is_the_creator(run, people):
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutRun.objects.filter(pk=run.pk).update(status="approved", approved_by=people["accountant"])
    run.refresh_from_db()
    assert run.status == "draft"


def test_approval_moves_no_money_and_paying_needs_approval_and_a_reference(run, people):
    with pytest.raises(PayoutRunTransitionInvalid):
        payout_run_pay(run_id=run.pk, by_id=people["accountant"].pk, payment_reference="BANK-1")
    payout_run_approve(run_id=run.pk, by_id=people["approver"].pk)
    balances = balances_by_kind()
    assert (balances[("payable", "USD")], balances.get(("paid", "USD"), 0)) == (-2000, 0)
    with pytest.raises(PayoutRunInvalid) as refused:
        payout_run_pay(run_id=run.pk, by_id=people["accountant"].pk, payment_reference="   ")
    assert refused.value.code == "payment_reference_required"
    paid = payout_run_pay(run_id=run.pk, by_id=people["accountant"].pk, payment_reference="BANK-1")
    assert (paid.status, paid.payment_reference, paid.paid_by_id) == ("paid", "BANK-1", people["accountant"].pk)
    balances = balances_by_kind()
    assert (balances[("payable", "USD")], balances[("paid", "USD")]) == (0, -2000)


def test_a_paid_run_cannot_be_paid_again_under_another_reference(run, people):
    payout_run_approve(run_id=run.pk, by_id=people["approver"].pk)
    payout_run_pay(run_id=run.pk, by_id=people["accountant"].pk, payment_reference="BANK-1")
    transactions = Transaction.objects.count()
    with pytest.raises(PayoutRunTransitionInvalid):
        payout_run_pay(run_id=run.pk, by_id=people["accountant"].pk, payment_reference="BANK-2")
    assert PayoutRun.objects.get(pk=run.pk).payment_reference == "BANK-1"
    assert Transaction.objects.count() == transactions


def test_the_database_refuses_a_paid_run_without_a_reference(run):
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutRun.objects.filter(pk=run.pk).update(status="paid")


def test_the_whole_story_in_the_admin_is_logged_and_audited(world, people, admin_as, statement_file, settings):
    from royalties.imports import statement_import
    from tests.royalties.conftest import line

    settings.PAYOUT_MINIMUM_MINOR = 100
    statement_import(path=statement_file([line(revenue="20.00")]))
    accountant, approver = admin_as(people["accountant"]), admin_as(people["approver"])
    response = accountant.post("/admin/royalties/payoutrun/add/", {"period": "2026-10"}, follow=True)
    assert response.status_code == 200
    run = PayoutRun.objects.get()
    assert (run.created_by_id, run.payouts.count()) == (people["accountant"].pk, 3)
    action(accountant, "royalties.payoutrun", "approve", [run.pk])  # no approve permission: nothing
    assert PayoutRun.objects.get().status == "draft"
    action(approver, "royalties.payoutrun", "approve", [run.pk])
    response = action(accountant, "royalties.payoutrun", "mark_paid", [run.pk])  # the reference form
    assert "payment_reference" in response.content.decode()
    assert PayoutRun.objects.get().status == "approved"
    action(accountant, "royalties.payoutrun", "mark_paid", [run.pk], payment_reference="SEPA-2026-10")
    run.refresh_from_db()
    assert (run.status, run.approved_by_id, run.paid_by_id) == ("paid", people["approver"].pk, people["accountant"].pk)
    log = LogEntry.objects.filter(object_id=str(run.pk)).order_by("pk")
    assert [(e.user_id, e.get_change_message()) for e in log] == [
        (people["accountant"].pk, "Added."),
        (people["approver"].pk, "Approved (four eyes)."),
        (people["accountant"].pk, "Marked paid, reference SEPA-2026-10."),
    ]
    trail = AuditEvent.objects.filter(object_type="royalties.payoutrun").order_by("pk")
    assert [(e.action, e.actor_name, e.new_values["status"]) for e in trail] == [
        ("payout_run.create", "accountant", "draft"),
        ("payout_run.approve", "approver", "approved"),
        ("payout_run.pay", "accountant", "paid"),
    ]
    assert trail[2].old_values == {
        "status": "approved",
        "approved_by_id": people["approver"].pk,
        "paid_by_id": None,
        "payment_reference": "",
    }
