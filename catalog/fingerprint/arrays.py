"""Array helpers of the matchers' hot paths.

``numpy.unique`` on integer arrays (numpy 2.4) goes through a hash table: on 2 million int64 keys it took
3.9 s of CPU where sorting and dropping repeats took 0.06 s (benchmarks/identify.py profile, 2026-12-07).
The matchers count distinct (cell, anchor) keys of hundreds of thousands of hits per query, so they sort.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def unique_sorted(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The distinct values of ``values``, ascending (what ``numpy.unique`` returns, by sorting)."""
    if values.size == 0:
        return values.copy()
    ordered = np.sort(values, kind="stable" if values.dtype.kind not in "iu" else None)
    keep = np.empty(ordered.size, dtype=np.bool_)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def count_distinct(values: npt.NDArray[Any]) -> int:
    """How many distinct values ``values`` holds."""
    return int(unique_sorted(values).size)
