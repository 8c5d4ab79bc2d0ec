import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, connection, transaction

from royalties import ledger
from royalties.errors import IdempotencyConflict, LedgerError
from royalties.models import Account, Entry, Transaction


@pytest.fixture
def accounts(db):
    return (
        ledger.account_for(kind=Account.Kind.REVENUE, currency="USD"),
        ledger.account_for(kind=Account.Kind.UNALLOCATED, currency="USD"),
        ledger.account_for(kind=Account.Kind.REVENUE, currency="EUR"),
    )


def test_it_posts_a_balanced_transaction(accounts):
    revenue, unallocated, _ = accounts
    txn = ledger.post(
        kind=Transaction.Kind.IMPORT,
        idempotency_key="k1",
        entries=[ledger.EntrySpec(revenue.pk, 500, "USD"), ledger.EntrySpec(unallocated.pk, -500, "USD")],
    )
    assert sorted(txn.entries.values_list("amount_minor", flat=True)) == [-500, 500]
    assert ledger.check().is_balanced


def test_same_key_and_request_returns_the_first_transaction(accounts):
    revenue, unallocated, _ = accounts
    entries = [ledger.EntrySpec(revenue.pk, 500, "USD"), ledger.EntrySpec(unallocated.pk, -500, "USD")]
    first = ledger.post(kind=Transaction.Kind.IMPORT, idempotency_key="k1", entries=entries)
    assert ledger.post(kind=Transaction.Kind.IMPORT, idempotency_key="k1", entries=list(reversed(entries))) == first
    assert Entry.objects.count() == 2


def test_same_key_with_other_content_is_a_conflict(accounts):
    revenue, unallocated, _ = accounts
    ledger.post(
        kind=Transaction.Kind.IMPORT,
        idempotency_key="k1",
        entries=[ledger.EntrySpec(revenue.pk, 500, "USD"), ledger.EntrySpec(unallocated.pk, -500, "USD")],
    )
    with pytest.raises(IdempotencyConflict):
        ledger.post(
            kind=Transaction.Kind.IMPORT,
            idempotency_key="k1",
            entries=[ledger.EntrySpec(revenue.pk, 501, "USD"), ledger.EntrySpec(unallocated.pk, -501, "USD")],
        )
    assert Entry.objects.count() == 2


@pytest.mark.parametrize(
    "amounts",
    [
        [(0, 500, "USD"), (1, -499, "USD")],
        [(0, 500, "USD")],
        [(0, 500, "USD"), (1, 0, "USD"), (1, -500, "USD")],
        [(0, 500, "USD"), (2, -500, "EUR")],
        [(0, 500, "USD"), (2, -500, "USD")],
    ],
)
def test_it_refuses_postings_that_break_double_entry(accounts, amounts):
    with pytest.raises(LedgerError):
        ledger.post(
            kind=Transaction.Kind.IMPORT,
            idempotency_key="bad",
            entries=[ledger.EntrySpec(accounts[i].pk, amount, currency) for i, amount, currency in amounts],
        )
    assert (Transaction.objects.count(), Entry.objects.count()) == (0, 0)


def test_it_refuses_floats(accounts):
    revenue, unallocated, _ = accounts
    with pytest.raises(Exception, match="float"):
        ledger.post(
            kind=Transaction.Kind.IMPORT,
            idempotency_key="f",
            entries=[ledger.EntrySpec(revenue.pk, 1.5, "USD"), ledger.EntrySpec(unallocated.pk, -1.5, "USD")],  # type: ignore[arg-type]
        )


def test_corrections_are_reversing_transactions(accounts):
    revenue, unallocated, _ = accounts
    txn = ledger.post(
        kind=Transaction.Kind.IMPORT,
        idempotency_key="k1",
        entries=[ledger.EntrySpec(revenue.pk, 500, "USD"), ledger.EntrySpec(unallocated.pk, -500, "USD")],
    )
    reversal = ledger.reverse(transaction_id=txn.pk, idempotency_key="k1-reversal")
    assert reversal.reverses == txn
    assert Entry.objects.filter(account=revenue).count() == 2
    assert ledger.check().totals == {"USD": 0}
    assert sum(Entry.objects.filter(account=revenue).values_list("amount_minor", flat=True)) == 0


def test_entries_cannot_be_edited(accounts):
    revenue, unallocated, _ = accounts
    ledger.post(
        kind=Transaction.Kind.IMPORT,
        idempotency_key="k1",
        entries=[ledger.EntrySpec(revenue.pk, 500, "USD"), ledger.EntrySpec(unallocated.pk, -500, "USD")],
    )
    with pytest.raises(DatabaseError), transaction.atomic():
        Entry.objects.filter(account=revenue).update(amount_minor=600)
    assert Entry.objects.get(account=revenue).amount_minor == 500


@pytest.mark.postgres
def test_postgres_refuses_an_unbalanced_transaction_at_commit(postgres_db, accounts):
    revenue, unallocated, _ = accounts

    def post_unbalanced_behind_the_ledgers_back() -> None:
        with transaction.atomic():
            txn = Transaction.objects.create(kind="import", idempotency_key="raw", request_hash="x")
            Entry.objects.create(transaction=txn, account=revenue, amount_minor=500, currency="USD")
            Entry.objects.create(transaction=txn, account=unallocated, amount_minor=-400, currency="USD")
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS royalties_transaction_balanced IMMEDIATE")

    with pytest.raises(IntegrityError, match="does not balance"):
        post_unbalanced_behind_the_ledgers_back()
    assert Transaction.objects.count() == 0


@pytest.mark.postgres
def test_postgres_refuses_deleting_entries(postgres_db, accounts):
    revenue, unallocated, _ = accounts
    ledger.post(
        kind=Transaction.Kind.IMPORT,
        idempotency_key="k1",
        entries=[ledger.EntrySpec(revenue.pk, 500, "USD"), ledger.EntrySpec(unallocated.pk, -500, "USD")],
    )
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        Entry.objects.filter(account=revenue).delete()
    assert Entry.objects.count() == 2


def test_ledger_check_command(accounts, capsys):
    revenue, unallocated, _ = accounts
    ledger.post(
        kind=Transaction.Kind.IMPORT,
        idempotency_key="k1",
        entries=[ledger.EntrySpec(revenue.pk, 500, "USD"), ledger.EntrySpec(unallocated.pk, -500, "USD")],
    )
    call_command("ledger_check")
    assert "Ledger balanced." in capsys.readouterr().out


def test_ledger_check_command_fails_on_an_unbalanced_ledger(accounts):
    """Written behind ledger.post's back; PostgreSQL's deferred trigger refuses it at commit (tested above)."""
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL cannot hold an unbalanced transaction past commit")
    revenue, _, _ = accounts
    txn = Transaction.objects.create(kind="import", idempotency_key="raw", request_hash="x")
    Entry.objects.create(transaction=txn, account=revenue, amount_minor=500, currency="USD")
    with pytest.raises(CommandError, match="does not balance"):
        call_command("ledger_check")


@pytest.mark.postgres
def test_postgres_refuses_entries_on_a_missing_account_or_another_currency(postgres_db, accounts):
    revenue, unallocated, euro = accounts
    txn = ledger.post(
        kind=Transaction.Kind.IMPORT,
        idempotency_key="k1",
        entries=[ledger.EntrySpec(revenue.pk, 500, "USD"), ledger.EntrySpec(unallocated.pk, -500, "USD")],
    )

    def add_entry(account_id: int, currency: str) -> None:
        with transaction.atomic():
            Entry.objects.create(transaction=txn, account_id=account_id, amount_minor=1, currency=currency)

    with pytest.raises(IntegrityError, match="existing account"):
        add_entry(euro.pk, "USD")
    with pytest.raises(IntegrityError, match="existing account"):
        add_entry(10**9, "USD")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        Account.objects.filter(pk=euro.pk).delete()
    assert Entry.objects.count() == 2


def test_ledger_check_names_a_fractional_amount_written_behind_its_back(accounts):
    """SQLite stores whatever number it is given; ledger_check finds a fraction and refuses to call it balanced."""
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL's bigint column cannot hold a fraction (see the next test)")
    revenue, unallocated, _ = accounts
    txn = Transaction.objects.create(kind="import", idempotency_key="raw", request_hash="x")
    with connection.cursor() as cursor:
        for account, amount in ((revenue, "3398154500000.0005"), (unallocated, "-3398154500000.0005")):
            cursor.execute(
                f"INSERT INTO {Entry._meta.db_table} (transaction_id, account_id, amount_minor, currency, period) "  # noqa: S608
                f"VALUES (%s, %s, {amount}, 'USD', '')",
                [txn.pk, account.pk],
            )
    check = ledger.check()
    assert check.non_integer == sorted(Entry.objects.values_list("pk", flat=True))
    assert not check.is_balanced
    with pytest.raises(CommandError):
        call_command("ledger_check")


@pytest.mark.postgres
def test_postgres_ledger_amounts_are_bigint_so_never_a_fraction(postgres_db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = %s AND column_name = 'amount_minor'",
            [Entry._meta.db_table],
        )
        assert cursor.fetchone() == ("bigint",)
