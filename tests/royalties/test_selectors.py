from royalties.imports import statement_import
from royalties.selectors import (
    EarningsRow,
    earnings_by_period,
    earnings_by_release,
    earnings_by_store,
    earnings_by_territory,
    trial_balance,
)
from tests.royalties.conftest import line


def test_dashboard_series_add_up_plays_and_revenue(world, statement_file, django_assert_max_num_queries):
    statement_import(
        path=statement_file(
            [
                line(revenue="1.00", units=10),
                line(revenue="2.00", units=20, store="Apple", territory="US"),
                line(revenue="4.00", units=40, period="2026-11"),
                line(isrc="QZS8F2644444", revenue="8.00", units=80),
            ]
        )
    )
    with django_assert_max_num_queries(1):
        by_period = earnings_by_period()
    assert by_period == [
        EarningsRow(key="2026-10", currency="USD", units=110, revenue_minor=1100),
        EarningsRow(key="2026-11", currency="USD", units=40, revenue_minor=400),
    ]
    assert earnings_by_period(release_ids=[world.release.pk], period_from="2026-11") == [
        EarningsRow(key="2026-11", currency="USD", units=40, revenue_minor=400)
    ]
    assert earnings_by_store(release_ids=[world.release.pk]) == [
        EarningsRow(key="Apple", currency="USD", units=20, revenue_minor=200),
        EarningsRow(key="Spotify", currency="USD", units=50, revenue_minor=500),
    ]
    assert [(r.key, r.units) for r in earnings_by_territory()] == [("DE", 130), ("US", 20)]
    assert earnings_by_release() == [
        EarningsRow(key="QZS8F2600001", currency="USD", units=70, revenue_minor=700, release_id=world.release.pk)
    ]
    assert trial_balance() == {"USD": 0}
