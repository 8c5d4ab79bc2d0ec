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


def top_indices(counts: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.int64]:
    """Indices of the ``k`` largest of ``counts`` (small non-negative integers): every one above the k-th largest
    value, then those equal to it in index order.

    ``numpy.argpartition`` does the same (choosing among ties arbitrarily), but on arrays where most values are
    equal (a cell count of 1 for most of a query's hundreds of thousands of landmark cells) its selection
    degenerates: 52 ms per query on a 10,000-song index, against about 1 ms by counting the values.
    """
    tally = np.bincount(counts)
    at_least = np.cumsum(tally[::-1])[::-1]  # at_least[v]: how many counts are >= v
    value = int(np.flatnonzero(at_least >= k)[-1])
    above = np.flatnonzero(counts > value)
    ties = np.flatnonzero(counts == value)[: k - above.size]
    return np.concatenate((above, ties))


def bisect_ranges(
    column: npt.NDArray[Any], lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64], values: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """For each i, the positions [start, stop) of ``values[i]`` in ``column[lo[i]:hi[i]]``, which must be sorted.

    ``numpy.searchsorted`` searches one sorted array; here each needle has its own sorted slice of a
    memory-mapped column (the documents of one hash cell), so the bisection steps run for all needles at once:
    about log2(cell size) gathers of one element per needle, not a read of every cell.
    """
    column = np.asarray(column)  # a plain view of a memory map: its per-call __getitem__ costs a third here
    bounds = []
    for right in (False, True):
        low, high = lo.astype(np.int64), hi.astype(np.int64)
        while True:
            active = np.flatnonzero(low < high)
            if active.size == 0:
                break
            middle = (low[active] + high[active]) // 2
            found = column[middle]
            below = found <= values[active] if right else found < values[active]
            low[active[below]] = middle[below] + 1
            high[active[~below]] = middle[~below]
        bounds.append(low)
    return bounds[0], bounds[1]
