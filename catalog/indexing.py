"""The hook identification uses to index newly imported catalog audio.

The catalog does not know how fingerprints are built. Whoever does registers a
callback once (e.g. in its AppConfig.ready or at import of its module)::

    from catalog.indexing import on_recordings_imported
    on_recordings_imported(lambda recording_ids: ...)

Catalog services call :func:`recordings_imported` through ``transaction.on_commit``
after recordings gain or change audio, so callbacks only see committed rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)

RecordingsCallback = Callable[[list[int]], None]
_callbacks: list[RecordingsCallback] = []


def on_recordings_imported(callback: RecordingsCallback) -> RecordingsCallback:
    """Register ``callback(recording_ids)``; usable as a decorator. Registering twice is a no-op."""
    if callback not in _callbacks:
        _callbacks.append(callback)
    return callback


def remove_callback(callback: RecordingsCallback) -> None:
    if callback in _callbacks:
        _callbacks.remove(callback)


def recordings_imported(recording_ids: Sequence[int]) -> None:
    """Tell every registered indexer about these recordings (no-op when none is registered)."""
    ids = sorted(set(recording_ids))
    if not ids:
        return
    for callback in list(_callbacks):
        callback(ids)
    logger.info("catalog: %d recordings handed to %d indexers", len(ids), len(_callbacks))
