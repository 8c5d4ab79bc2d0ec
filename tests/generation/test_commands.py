from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_generate_needs_a_set_or_files() -> None:
    with pytest.raises(CommandError, match="either --set"):
        call_command("generate")


@pytest.mark.slow
def test_generate_runs_a_set_headless_and_exports(
    ready_set: Any, engine_settings: Any, fake_audio: Any, fake_synthesis: Any, tmp_path: Path
) -> None:
    out = StringIO()
    folder = tmp_path / "out"
    call_command("generate", "--set", str(ready_set.pk), "--seed", "5", "--json", "--out", str(folder), stdout=out)
    result = json.loads(out.getvalue())
    assert result["status"] == "succeeded"
    assert result["seed"] == 5
    exported = ["composition.mid", "master.wav", "peaks.json", "report.json"]
    assert sorted(p.name for p in folder.iterdir()) == [*exported, "take-2"]  # take 1 in DIR, take 2 in DIR/take-2
    assert sorted(p.name for p in (folder / "take-2").iterdir()) == exported
    assert [(take["take"], take["status"]) for take in result["takes"]] == [(1, "succeeded"), (2, "succeeded")]
    assert result["takes"][0]["generation_id"] == result["generation_id"]
