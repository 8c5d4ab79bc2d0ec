import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from royalties import ledger
from royalties.allocation import suspense_reapply
from royalties.errors import StatementConflict, StatementInvalid
from royalties.imports import statement_import
from royalties.models import Account, Entry, LineGroup, Statement, Transaction
from royalties.selectors import balances_by_kind, holder_balance
from royalties.splits import split_sheet_create
from tests.factories import ReleaseFactory
from tests.royalties.conftest import line


def snapshot():
    return (Statement.objects.count(), LineGroup.objects.count(), Transaction.objects.count(), Entry.objects.count())


def test_it_groups_lines_posts_revenue_and_allocates_down_the_split_sheet(world, statement_file):
    path = statement_file(
        [
            line(revenue="6.00", units=600),
            line(revenue="4.00", units=400),
            line(revenue="10.00", territory="US"),
        ]
    )
    result = statement_import(path=path)
    statement = result.statement
    assert result.is_created
    assert (statement.line_count, statement.group_count) == (3, 2)
    assert statement.totals == {"USD": {"micro": 20_000_000, "minor": 2000, "leftover_micro": 0}}
    group = LineGroup.objects.get(territory="DE")
    assert (group.units, group.amount_minor, group.line_count, group.first_line, group.last_line) == (
        1000,
        1000,
        2,
        2,
        3,
    )
    assert group.release == world.release
    # 2000 cents: 67% source split 50/50 master/publishing, 33% training
    assert holder_balance(holder_id=world.label.pk, currency="USD") == 670
    assert holder_balance(holder_id=world.publisher.pk, currency="USD") == 670
    assert holder_balance(holder_id=world.trainer.pk, currency="USD") == 660
    assert balances_by_kind()[("revenue", "USD")] == 2000
    assert balances_by_kind()[("unallocated", "USD")] == 0
    assert ledger.check().is_balanced


def test_tsv_is_sniffed_and_columns_may_come_in_any_order(world, tmp_path):
    path = tmp_path / "statement.tsv"
    path.write_text(
        "currency\tnet_revenue\tunits\tisrc\tterritory\tstore\tperiod\nUSD\t1.50\t3\tQZS8F2600001\tFR\tDeezer\t2026-09\n"
    )
    statement = statement_import(path=path).statement
    group = LineGroup.objects.get(statement=statement)
    assert (group.store, group.territory, group.period, group.amount_minor, group.units) == (
        "Deezer",
        "FR",
        "2026-09",
        150,
        3,
    )


def test_second_import_posts_nothing(world, statement_file):
    path = statement_file([line(revenue="1.23")])
    first = statement_import(path=path)
    before = snapshot()
    second = statement_import(path=path)
    assert not second.is_created
    assert second.statement == first.statement
    assert snapshot() == before


def test_other_content_under_a_known_reference_is_a_conflict(world, statement_file, tmp_path):
    statement_import(path=statement_file([line(revenue="1.00")], name="october.csv"))
    before = snapshot()
    changed = statement_file([line(revenue="2.00")], name="october-fixed.csv")
    with pytest.raises(StatementConflict) as error:
        statement_import(path=changed, reference="october.csv")
    assert error.value.http_status == 409
    assert snapshot() == before


@pytest.mark.parametrize(
    ("bad", "column"),
    [
        ({"net_revenue": "1.2.3"}, "net_revenue"),
        ({"net_revenue": "0.0000001"}, "net_revenue"),
        ({"units": "-4"}, "units"),
        ({"units": "many"}, "units"),
        ({"period": "2026-13"}, "period"),
        ({"isrc": "not-an-isrc"}, "isrc"),
        ({"currency": "usd"}, "currency"),
    ],
)
def test_a_malformed_line_refuses_the_whole_file_with_its_line_number(world, statement_file, bad, column):
    path = statement_file([line(), line(territory="US"), line(**bad), line(territory="FR")])
    with pytest.raises(StatementInvalid) as error:
        statement_import(path=path)
    assert error.value.extra["line"] == 4
    assert f"Line 4: {column}" in error.value.message
    assert snapshot() == (0, 0, 0, 0)


def test_a_short_line_is_refused_with_its_line_number(world, tmp_path):
    path = tmp_path / "short.csv"
    path.write_text(
        "period,store,territory,isrc,units,net_revenue,currency\n2026-10,Spotify,DE,QZS8F2600001,1,1.00,USD\n2026-10,Spotify\n"
    )
    with pytest.raises(StatementInvalid) as error:
        statement_import(path=path)
    assert error.value.extra["line"] == 3
    assert snapshot() == (0, 0, 0, 0)


def test_a_missing_column_is_refused(world, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("period,store,isrc,units,net_revenue,currency\n")
    with pytest.raises(StatementInvalid, match="missing: territory"):
        statement_import(path=path)


def test_sub_cent_amounts_are_summed_exactly_and_the_leftover_carried(world, statement_file):
    path = statement_file([line(revenue="0.004", territory=t) for t in ("DE", "FR", "US")])
    statement = statement_import(path=path).statement
    assert statement.totals == {"USD": {"micro": 12_000, "minor": 1, "leftover_micro": 2_000}}
    # each group's own amount, truncated; the ledger posts the exact total under the carry rule
    assert sorted(LineGroup.objects.values_list("territory", "amount_micro", "amount_minor")) == [
        ("DE", 4000, 0),
        ("FR", 4000, 0),
        ("US", 4000, 0),
    ]
    assert ledger.check().is_balanced


def test_unknown_isrcs_wait_in_suspense_and_are_reapplied_once_known(world, statement_file):
    path = statement_file([line(revenue="3.00"), line(isrc="QZS8F2699999", revenue="10.00")])
    statement_import(path=path)
    group = LineGroup.objects.get(isrc="QZS8F2699999")
    assert (group.state, group.suspense_reason) == ("suspense", "unknown_isrc")
    assert balances_by_kind()[("suspense", "USD")] == -1000
    assert suspense_reapply().reapplied == 0

    release = ReleaseFactory.create(isrc="QZS8F2699999")
    assert suspense_reapply().reapplied == 0
    assert LineGroup.objects.get(pk=group.pk).suspense_reason == "no_split_sheet"

    split_sheet_create(release_id=release.pk, sources=[], training=[])  # everything to escrow
    result = suspense_reapply()
    assert (result.reapplied, result.still_in_suspense) == (1, 0)
    assert balances_by_kind()[("suspense", "USD")] == 0
    assert balances_by_kind()[("escrow", "USD")] == -1000
    assert suspense_reapply().reapplied == 0
    assert ledger.check().is_balanced


def test_refunds_reduce_earnings_exactly(world, statement_file):
    statement_import(path=statement_file([line(revenue="10.00"), line(revenue="-2.50", store="Apple")]))
    # exact: 251.25, 251.25 and 247.5 cents; each holder is posted its exact share rounded toward zero
    assert [holder_balance(holder_id=h.pk, currency="USD") for h in (world.label, world.publisher, world.trainer)] == [
        251,
        251,
        247,
    ]
    assert balances_by_kind()[("carry", "USD")] == -1  # the three remainders (0.25 + 0.25 + 0.5 cents)


def test_currencies_are_kept_apart(world, statement_file):
    statement_import(path=statement_file([line(revenue="1.00"), line(revenue="500", currency="JPY")]))
    assert Account.objects.filter(kind="holder", holder=world.label).count() == 2
    assert holder_balance(holder_id=world.label.pk, currency="JPY") == 167  # 500 * 0.335 = 167.5, the 0.5 carried
    assert ledger.check().totals == {"JPY": 0, "USD": 0}


def test_the_command_imports_and_reports_errors(world, statement_file, capsys):
    path = statement_file([line()])
    call_command("royalties_import", str(path))
    assert "Imported statement.csv: 1 lines, 1 groups." in capsys.readouterr().out
    call_command("royalties_import", str(path))
    assert "nothing changed" in capsys.readouterr().out
    bad = statement_file([line(units="x")], name="bad.csv")
    with pytest.raises(CommandError, match="Line 2: units"):
        call_command("royalties_import", str(bad))


def test_the_reapply_command_reports_what_it_moved(world, statement_file, capsys):
    statement_import(path=statement_file([line(isrc="QZS8F2633333")]))
    release = ReleaseFactory.create(isrc="QZS8F2633333")
    split_sheet_create(release_id=release.pk, sources=[], training=[])
    call_command("royalties_reapply")
    assert "Re-applied 1 groups; 0 remain in suspense." in capsys.readouterr().out
