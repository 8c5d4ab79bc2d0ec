"""Settings for the ``rundramatiq`` workers of ``tests/fleet/test_takeover.py``.

They are the product's settings plus one app whose ``ready()`` replaces each generation stage's
body with a sleep of ``report["stage_seconds"][name]`` seconds (default 0.1). Everything around
the body stays the product's: the actor, the claim, the heartbeat, the reaper and Dramatiq's
worker, so a stage's duration is under the test's control without running the ML.
"""

from __future__ import annotations

import time
from typing import Any

from django.apps import AppConfig

from songforge.settings import *  # noqa: F403
from songforge.settings import INSTALLED_APPS as _PRODUCT_APPS

INSTALLED_APPS = [*_PRODUCT_APPS, "tests.fleet.takeover_worker.SleepingStagesConfig"]


class SleepingStagesConfig(AppConfig):
    name = "tests.fleet"
    label = "takeover_sleeping_stages"

    def ready(self) -> None:
        from generation.services import stages

        def sleeping(name: str) -> Any:
            def run(generation: Any, outputs: dict[str, Any]) -> dict[str, Any]:
                seconds = float(generation.report.get("stage_seconds", {}).get(name, 0.1))
                time.sleep(seconds)
                return {"slept_s": seconds}

            return run

        stages.STAGES = tuple((name, sleeping(name), weight) for name, _, weight in stages.STAGES)
