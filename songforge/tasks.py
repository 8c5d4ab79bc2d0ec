"""A trivial actor that proves the broker and worker wiring end to end."""

from __future__ import annotations

import os
from pathlib import Path

import dramatiq


@dramatiq.actor(queue_name="default", max_retries=3, time_limit=60_000)
def echo_task(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` atomically; rerunning writes the same bytes (idempotent)."""
    target = Path(path)
    temporary = target.with_suffix(target.suffix + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, target)
