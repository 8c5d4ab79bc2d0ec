"""The overlap hold threshold is a setting (SONGFORGE_STATEMENT_OVERLAP_HOLD_PERCENT), validated at start-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from royalties.errors import StatementHeld
from royalties.imports import rows_to_csv, statement_import
from royalties.models import Entry, LineGroup, Statement, Transaction
from tests.royalties.conftest import line

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, name: str, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / name
    path.write_text(rows_to_csv(rows))
    return path


def _snapshot() -> tuple[int, int, int, int]:
    return (Statement.objects.count(), LineGroup.objects.count(), Transaction.objects.count(), Entry.objects.count())


def _october_then_november_repeating(tmp_path: Path, repeated: int) -> Path:
    """October has 10 keys; November has 10 keys of its own month plus ``repeated`` of October's."""
    statement_import(path=_write(tmp_path, "october.csv", [line(store=f"S{i}") for i in range(10)]))
    november = [line(store=f"S{i}", period="2026-11") for i in range(10 - repeated)]
    november += [line(store=f"S{i}", revenue="2.00") for i in range(repeated)]
    return _write(tmp_path, "november.csv", november)


def test_the_default_holds_above_ten_percent(world, tmp_path):
    november = _october_then_november_repeating(tmp_path, repeated=2)
    before = _snapshot()
    with pytest.raises(StatementHeld) as error:
        statement_import(path=november)
    assert (error.value.extra["overlapping"], error.value.extra["percent"]) == (2, 20.0)
    assert _snapshot() == before


def test_a_raised_threshold_lets_a_larger_overlap_through_without_a_decision(world, tmp_path, settings):
    settings.STATEMENT_OVERLAP_HOLD_PERCENT = 30
    november = _october_then_november_repeating(tmp_path, repeated=3)  # exactly 30%: not more than the threshold
    statement = statement_import(path=november).statement
    assert (statement.is_correction, statement.overlap["overlapping"], statement.overlap["percent"]) == (False, 3, 30.0)


def test_a_threshold_of_zero_holds_a_single_repeated_key(world, tmp_path, settings):
    settings.STATEMENT_OVERLAP_HOLD_PERCENT = 0
    november = _october_then_november_repeating(tmp_path, repeated=1)
    before = _snapshot()
    with pytest.raises(StatementHeld):
        statement_import(path=november)
    assert _snapshot() == before


def test_the_threshold_is_compared_exactly_not_after_rounding_the_percent(world, tmp_path):
    """251 repeated keys of 2,500 are 10.04%, shown as 10.0%: still more than 10%, so held."""
    statement_import(path=_write(tmp_path, "october.csv", [line(store=f"S{i}") for i in range(251)]))
    november = [line(store=f"N{i}", period="2026-11") for i in range(2249)]
    november += [line(store=f"S{i}", revenue="2.00") for i in range(251)]
    with pytest.raises(StatementHeld) as error:
        statement_import(path=_write(tmp_path, "november.csv", november))
    assert (error.value.extra["overlapping"], error.value.extra["groups"], error.value.extra["percent"]) == (
        251,
        2500,
        10.0,
    )


@pytest.mark.parametrize("value", ["ten", "-1", "101", "12.5"])
def test_a_bad_threshold_stops_start_up_naming_the_variable(value, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SONGFORGE_", "DATABASE_URL", "DRAMATIQ_"))}
    env.update(
        {
            "DEBUG": "1",
            "SONGFORGE_TESTING": "0",
            "SONGFORGE_DATA_DIR": str(tmp_path),
            "SONGFORGE_STATEMENT_OVERLAP_HOLD_PERCENT": value,
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", "import songforge.settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"SONGFORGE_STATEMENT_OVERLAP_HOLD_PERCENT={value}" in result.stderr.replace("'", "")
