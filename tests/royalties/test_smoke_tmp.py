import pytest
from royalties.imports import statement_import
from royalties import ledger, selectors
from tests.royalties.conftest import line

def test_smoke(world, statement_file):
    p = statement_file([line(revenue="10.00"), line(revenue="5.555555", store="Apple"), line(isrc="USAAA1111111", revenue="2.50")])
    r = statement_import(path=p)
    print(r.statement.totals, r.statement.line_count, r.statement.group_count)
    print(selectors.account_balances())
    c = ledger.check(); print(c)
    assert c.is_balanced
    r2 = statement_import(path=p)
    assert not r2.is_created
