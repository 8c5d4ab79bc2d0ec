import json

import pytest
from django.core.management import call_command

from royalties import ledger
from royalties.documents import holder_statement_csv, holder_statement_pdf
from royalties.errors import PayoutRunInvalid
from royalties.imports import statement_import
from royalties.models import Payout, PayoutRun, Transaction
from royalties.payouts import payout_run_approve, payout_run_create, payout_run_pay
from royalties.selectors import balances_by_kind, holder_balance
from tests.royalties.conftest import line


@pytest.fixture
def minimum(settings):
    settings.PAYOUT_MINIMUM_MINOR = 500
    return 500


def test_holders_over_the_minimum_are_paid_and_the_rest_carried_forward(world, statement_file, minimum):
    # 20.00 USD: label 6.70, publisher 6.70, trainer 6.60 → all over 5.00
    statement_import(path=statement_file([line(revenue="20.00")], name="oct.csv"))
    run = payout_run_create(period="2026-10")
    assert sorted(run.payouts.values_list("holder__name", "amount_minor")) == [
        ("Label", 670),
        ("Publisher", 670),
        ("Trainer", 660),
    ]
    # 10.00 USD next month: 3.35/3.35/3.30, all below the minimum → carried
    statement_import(path=statement_file([line(revenue="10.00", period="2026-11")], name="nov.csv"))
    november = payout_run_create(period="2026-11")
    assert november.payouts.count() == 0
    assert holder_balance(holder_id=world.label.pk, currency="USD") == 335
    # 8.00 USD in December: carried 3.35 + 2.68 = 6.03 → paid
    statement_import(path=statement_file([line(revenue="8.00", period="2026-12")], name="dec.csv"))
    december = payout_run_create(period="2026-12")
    assert december.payouts.get(holder=world.label).amount_minor == 335 + 268
    assert holder_balance(holder_id=world.label.pk, currency="USD") == 0
    assert ledger.check().is_balanced


def test_a_run_only_takes_earnings_up_to_its_period(world, statement_file, minimum):
    statement_import(path=statement_file([line(revenue="20.00"), line(revenue="30.00", period="2026-11")]))
    run = payout_run_create(period="2026-10")
    assert run.payouts.get(holder=world.label).amount_minor == 670
    assert holder_balance(holder_id=world.label.pk, currency="USD") == 1005


def test_creating_a_run_twice_changes_nothing_and_earlier_periods_are_refused(world, statement_file, minimum):
    statement_import(path=statement_file([line(revenue="20.00")]))
    run = payout_run_create(period="2026-10")
    transactions = Transaction.objects.count()
    assert payout_run_create(period="2026-10") == run
    assert Transaction.objects.count() == transactions
    with pytest.raises(PayoutRunInvalid):
        payout_run_create(period="2026-09")
    with pytest.raises(PayoutRunInvalid):
        payout_run_create(period="2026-1")
    assert PayoutRun.objects.count() == 1


def test_approval_then_payment_marks_paid_once(world, statement_file, minimum, django_user_model):
    staff = django_user_model.objects.create(username="staff", is_staff=True)
    statement_import(path=statement_file([line(revenue="20.00")]))
    run = payout_run_create(period="2026-10")
    transactions = Transaction.objects.count()
    approved = payout_run_approve(run_id=run.pk, by_id=staff.pk)
    assert approved.status == PayoutRun.Status.APPROVED
    assert Transaction.objects.count() == transactions  # approval moves no money
    assert payout_run_approve(run_id=run.pk, by_id=staff.pk).status == PayoutRun.Status.APPROVED
    payout_run_pay(run_id=run.pk, by_id=staff.pk, payment_reference="BATCH-2026-10")
    transactions = Transaction.objects.count()
    again = payout_run_pay(run_id=run.pk, by_id=staff.pk, payment_reference="BATCH-2026-10")
    assert again.status == PayoutRun.Status.PAID
    assert again.payment_reference == "BATCH-2026-10"
    assert Transaction.objects.count() == transactions
    assert all(p.paid_at is not None for p in Payout.objects.all())
    balances = balances_by_kind()
    assert balances[("paid", "USD")] == -2000
    assert balances[("payable", "USD")] == 0
    assert ledger.check().is_balanced


def test_payouts_command_prints_json_with_traceable_lines(world, statement_file, minimum, capsys):
    statement_import(path=statement_file([line(revenue="20.00")], name="oct.csv"))
    call_command("royalties_payouts", "--period", "2026-10", "--json")
    data = json.loads(capsys.readouterr().out)
    label = next(p for p in data["payouts"] if p["holder"] == "Label")
    assert (label["currency"], label["amount_minor"]) == ("USD", 670)
    assert label["lines"] == [
        {"statement": "oct.csv", "isrc": "QZS8F2600001", "period": "2026-10", "amount_minor": 670}
    ]


def test_holder_statement_csv_and_pdf(world, statement_file, minimum):
    statement_import(path=statement_file([line(revenue="20.00")]))
    payout_run_create(period="2026-10")
    text = holder_statement_csv(holder_id=world.label.pk, period="2026-10")
    assert text.splitlines() == [
        "period,isrc,release,currency,amount_minor,amount",
        f"2026-10,QZS8F2600001,{world.release.title},USD,670,6.70 USD",
    ]
    pdf = holder_statement_pdf(holder_id=world.label.pk, period="2026-10")
    assert pdf.startswith(b"%PDF")
