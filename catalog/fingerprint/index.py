"""The on-disk fingerprint index: sorted, memory-mapped segments plus a small JSON catalogue.

Layout of the index directory::

    meta.json                  {"version", "params", "segments": [...], "docs": {doc: [recording_id, seconds]},
                                "deleted": [doc, ...], "next_doc", "next_segment"}
    <segment>.hashes.npy       landmarks: uint32 hash, sorted ascending
    <segment>.docs.npy                    uint32 document id of each entry
    <segment>.times.npy                   uint16 anchor frame (16 ms) of each entry
    <segment>.tri_hashes.npy   triplets (scale-invariant, see triplets.py): uint32 hash, sorted ascending
    <segment>.tri_docs.npy                uint32 document id
    <segment>.tri_times.npy               uint16 anchor frame
    <segment>.tri_freqs.npy               uint16 anchor frequency (1/64 bin)
    <segment>.tri_spans.npy               uint8 span (frames)
    <segment>.pk_docs.npy      peaks of each document, sorted by (document, time): uint32 document
    <segment>.pk_times.npy                uint16 frame
    <segment>.pk_freqs.npy                uint16 frequency (1/64 bin)
    lock                       flock(2) held by writers

A table's files are only written when the segment has rows for it (an entry without a scale
fingerprint adds landmarks only). The peaks let the scale-invariant matcher check a fitted alignment
against the whole constellation of the reference, not only the hashes that collided.

A *document* is one indexing of one recording; re-indexing a recording adds a new document and tombstones
the old one (``deleted``), so readers never see a half-replaced recording. ``add`` writes a new small
segment (the incremental append path); ``compact`` merges every segment into one and drops tombstoned
entries. Segment files are immutable once written and ``meta.json`` is replaced atomically, so readers
only ever see complete states and the index survives restarts and crashes mid-write (an orphan segment
file that meta.json does not name is ignored and removed by the next compaction).

A landmark costs 10 bytes, a triplet 13 and a peak 8. Times are 16-bit frames, so only the first ~17
minutes of a recording are indexed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from catalog.fingerprint import landmarks, triplets
from catalog.fingerprint.arrays import bisect_ranges, unique_sorted
from catalog.fingerprint.triplets import ScalePrint

INDEX_VERSION = 1
MAX_FRAME = np.iinfo(np.uint16).max
AUTO_COMPACT_SEGMENTS = 24


def hit_budget_cap(counts: npt.NDArray[np.int64], budget: int) -> int:
    """The largest cell size ``c`` such that the cells of ``counts`` holding at most ``c`` entries hold at most
    ``budget`` entries together (every size when all of them fit): a query keeps its rarest cells first.

    Cells of one size are kept or skipped together, so the choice does not depend on the needles' order.
    """
    if int(counts.sum()) <= budget:
        return int(counts.max(initial=0))
    sizes = np.sort(counts)
    last_of_size = np.flatnonzero(np.concatenate((sizes[1:] != sizes[:-1], [True])))
    within = np.flatnonzero(np.cumsum(sizes)[last_of_size] <= budget)
    return int(sizes[last_of_size[within[-1]]]) if within.size else 0


def index_params() -> dict[str, Any]:
    """Parameters that make hashes comparable; an index built with others is refused."""
    return {
        "sample_rate": landmarks.SAMPLE_RATE,
        "n_fft": landmarks.N_FFT,
        "hop": landmarks.HOP,
        "peaks_per_second": landmarks.PEAKS_PER_SECOND,
        "fan_out": landmarks.FAN_OUT,
        "max_dt": landmarks.MAX_DT,
        "max_df": landmarks.MAX_DF,
        "peak_span": [landmarks.PEAK_FREQ_SPAN, landmarks.PEAK_TIME_SPAN],
        "prominence_db": landmarks.PEAK_MIN_PROMINENCE_DB,
        "triplets": triplets.params(),
    }


# table → its columns (file part, dtype); the first column is the sort key of hash tables.
TABLES: dict[str, tuple[tuple[str, type[np.generic]], ...]] = {
    "landmarks": (("hashes", np.uint32), ("docs", np.uint32), ("times", np.uint16)),
    "triplets": (
        ("tri_hashes", np.uint32),
        ("tri_docs", np.uint32),
        ("tri_times", np.uint16),
        ("tri_freqs", np.uint16),
        ("tri_spans", np.uint8),
    ),
    "peaks": (("pk_docs", np.uint32), ("pk_times", np.uint16), ("pk_freqs", np.uint16)),
}
PARTS = [part for columns in TABLES.values() for part, _dtype in columns]


class IndexFormatError(Exception):
    """The index directory was written by another version or with other parameters: rebuild it."""


@dataclass(frozen=True)
class Entry:
    """Fingerprint of one recording, ready to be added."""

    recording_id: int
    hashes: npt.NDArray[np.uint32]
    times: npt.NDArray[np.int32]
    seconds: float
    scale: ScalePrint | None = None  # the scale-invariant part (triplets and peaks), when computed


def entry_for(recording_id: int, samples: npt.NDArray[np.float32]) -> Entry:
    """Landmarks and the scale-invariant fingerprint of ``samples`` (mono float32 at SAMPLE_RATE), one peak pass."""
    peaks = landmarks.find_peaks(samples)
    hashes, times = landmarks.landmarks(peaks)
    return Entry(recording_id, hashes, times, samples.size / landmarks.SAMPLE_RATE, triplets.scale_print(peaks))


@dataclass(frozen=True)
class Hits:
    """Index entries whose hash equals a query hash: ``query`` indexes the query arrays."""

    query: npt.NDArray[np.int64]
    docs: npt.NDArray[np.uint32]
    times: npt.NDArray[np.int32]


@dataclass(frozen=True)
class TripletHits:
    """Triplet entries whose hash equals a probe: ``query`` indexes the probe array."""

    query: npt.NDArray[np.int64]
    docs: npt.NDArray[np.uint32]
    times: npt.NDArray[np.int32]
    freqs: npt.NDArray[np.float64]  # bins
    spans: npt.NDArray[np.int32]
    # Per segment read, the cells skipped as hotter than ``max_hits_per_hash``: (segment, probe index, first
    # position, entries), for ``FingerprintIndex.lookup_triplets_of``. The segment itself is kept, so a writer
    # appending or compacting between the two calls cannot pair positions with another segment's files.
    skipped: tuple[Skipped, ...] = ()

    @staticmethod
    def empty(skipped: tuple[Skipped, ...] = ()) -> TripletHits:
        return TripletHits(
            np.zeros(0, np.int64),
            np.zeros(0, np.uint32),
            np.zeros(0, np.int32),
            np.zeros(0),
            np.zeros(0, np.int32),
            skipped,
        )


@dataclass
class _Segment:
    name: str
    parts: dict[str, npt.NDArray[Any]]

    @property
    def hashes(self) -> npt.NDArray[np.uint32]:
        return self.parts["hashes"]

    @property
    def docs(self) -> npt.NDArray[np.uint32]:
        return self.parts["docs"]

    @property
    def times(self) -> npt.NDArray[np.uint16]:
        return self.parts["times"]


Skipped = tuple[_Segment, npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]


def _triplet_columns(
    seg: _Segment, query_index: npt.NDArray[np.int64], docs: npt.NDArray[np.uint32], positions: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[Any], ...]:
    """The ``TripletHits`` columns of the entries at ``positions`` of one segment."""
    return (
        query_index,
        docs,
        np.asarray(seg.parts["tri_times"][positions]).astype(np.int32),
        np.asarray(seg.parts["tri_freqs"][positions]) / float(triplets.FREQ_UNITS),
        np.asarray(seg.parts["tri_spans"][positions]).astype(np.int32),
    )


def _triplet_hits(found: list[tuple[npt.NDArray[Any], ...]], skipped: tuple[Skipped, ...]) -> TripletHits:
    if not found:
        return TripletHits.empty(skipped)
    # One segment (a compacted index) needs no concatenation: a copy of ~10^5–10^6 hits per column.
    columns = list(found[0]) if len(found) == 1 else [np.concatenate(c) for c in zip(*found, strict=True)]
    return TripletHits(columns[0], columns[1], columns[2], columns[3], columns[4], skipped)


class FingerprintIndex:
    """A landmark index in ``directory``; safe for many reader processes and one writer at a time."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._meta: dict[str, Any] = self._empty_meta()
        self._segments: list[_Segment] = []
        self._stamp: tuple[int, int] | None = None
        self._reload_lock = threading.Lock()
        self._deleted: npt.NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)
        self._doc_recording: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._has_peaks: npt.NDArray[np.bool_] = np.zeros(0, dtype=np.bool_)

    # --- reading -----------------------------------------------------------
    @property
    def meta_path(self) -> Path:
        return self.directory / "meta.json"

    @staticmethod
    def _empty_meta() -> dict[str, Any]:
        return {
            "version": INDEX_VERSION,
            "params": index_params(),
            "segments": [],
            "docs": {},
            "deleted": [],
            "next_doc": 0,
            "next_segment": 0,
        }

    def refresh(self) -> None:
        """Re-open the segments if another process changed the index since the last read (a cheap stat)."""
        try:
            stat = self.meta_path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and (stamp is not None or not self._segments):
            return
        with self._reload_lock:
            meta = self._read_meta()
            self._install(meta)
            self._stamp = stamp

    def _read_meta(self) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads(self.meta_path.read_text())
        except FileNotFoundError:
            return self._empty_meta()
        if meta.get("version") != INDEX_VERSION or meta.get("params") != index_params():
            raise IndexFormatError(
                f"The fingerprint index in {self.directory} was built with other parameters; "
                "run `manage.py index_rebuild`."
            )
        return meta

    def _install(self, meta: dict[str, Any]) -> None:
        segments = []
        for name in meta["segments"]:
            parts: dict[str, npt.NDArray[Any]] = {}
            for columns in TABLES.values():
                present = (self.directory / f"{name}.{columns[0][0]}.npy").exists()
                for part, dtype in columns:
                    path = self.directory / f"{name}.{part}.npy"
                    parts[part] = np.load(path, mmap_mode="r") if present else np.zeros(0, dtype=dtype)
            segments.append(_Segment(name=name, parts=parts))
        n_docs = int(meta["next_doc"])
        deleted = np.zeros(n_docs, dtype=np.bool_)
        if meta["deleted"]:
            deleted[np.asarray(meta["deleted"], dtype=np.int64)] = True
        doc_recording = np.full(n_docs, -1, dtype=np.int64)
        for doc, (recording_id, _seconds) in meta["docs"].items():
            doc_recording[int(doc)] = int(recording_id)
        has_peaks = np.zeros(n_docs, dtype=np.bool_)
        for seg in segments:
            seg_docs = unique_sorted(np.asarray(seg.parts["pk_docs"]))  # sorted by document already
            has_peaks[seg_docs[seg_docs < n_docs].astype(np.int64)] = True
        self._meta, self._segments, self._deleted, self._doc_recording = meta, segments, deleted, doc_recording
        self._has_peaks = has_peaks

    def recording_of(self, docs: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.int64]:
        """Recording ids of document ids (−1 for unknown)."""
        found: npt.NDArray[np.int64] = self._doc_recording[docs]
        return found

    def is_scale_invariant(self) -> bool:
        """True when every live document has its scale-invariant fingerprint (triplets and peaks): then the
        triplet path covers speed changes and the rescaled-landmark speed search has nothing left to find."""
        live = np.flatnonzero(self._live())
        return bool(live.size) and bool(self._has_peaks[live].all())

    def _live(self) -> npt.NDArray[np.bool_]:
        """Which document ids hold a live recording, after a refresh."""
        self.refresh()
        live: npt.NDArray[np.bool_] = (self._doc_recording >= 0) & ~self._deleted
        return live

    def recording_ids(self) -> set[int]:
        """Recordings that currently have a live document."""
        self.refresh()
        return {int(rec) for doc, (rec, _s) in self._meta["docs"].items() if not self._deleted[int(doc)]}

    def stats(self) -> dict[str, Any]:
        self.refresh()
        live = [(rec, sec) for doc, (rec, sec) in self._meta["docs"].items() if not self._deleted[int(doc)]]
        entries = sum(int(seg.hashes.size) for seg in self._segments)
        sizes = {
            table: sum(
                path.stat().st_size
                for seg in self._segments
                for part, _dtype in columns
                if (path := self.directory / f"{seg.name}.{part}.npy").exists()
            )
            for table, columns in TABLES.items()
        }
        return {
            "recordings": len(live),
            "seconds": float(sum(sec for _rec, sec in live)),
            "entries": entries,
            "triplets": sum(int(seg.parts["tri_hashes"].size) for seg in self._segments),
            "peaks": sum(int(seg.parts["pk_docs"].size) for seg in self._segments),
            "segments": len(self._segments),
            "bytes": sum(sizes.values()),
            "bytes_by_table": sizes,
        }

    @staticmethod
    def _ranges(
        keys: npt.NDArray[Any], needles: npt.NDArray[Any], max_hits: int, skipped: list[Any] | None = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(first position in ``keys``, entry count) of each needle; needles hotter than ``max_hits`` count 0
        (and are appended to ``skipped`` as (needle index, first position, entry count))."""
        lo = np.searchsorted(keys, needles, side="left")
        counts = np.searchsorted(keys, needles, side="right") - lo
        hot = np.flatnonzero(counts > max_hits)
        if skipped is not None:
            skipped.append((hot, lo[hot], counts[hot]))
        counts[hot] = 0
        return lo, counts

    @staticmethod
    def _expand(
        lo: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(needle index, position in the keys) of every entry of ``_ranges``."""
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        needle_index = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
        starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        return needle_index, (starts + np.arange(total)).astype(np.int64)

    def _budgeted(
        self,
        segments: list[_Segment],
        table: str,
        needles: npt.NDArray[Any],
        max_hits_per_hash: int,
        max_hits: int | None,
        skipped: list[Any] | None = None,
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
        """``_ranges`` of ``needles`` in ``table`` of each of ``segments`` (the caller's one snapshot, so another
        thread's refresh cannot swap the list between the counting and the reading); with ``max_hits``, the
        hottest cells left are skipped too until the query's entries number at most ``max_hits``."""
        ranges = [self._ranges(seg.parts[table], needles, max_hits_per_hash, skipped) for seg in segments]
        if max_hits is not None and ranges:
            per_needle = np.sum([counts for _lo, counts in ranges], axis=0)
            cap = hit_budget_cap(per_needle, max_hits)
            for _lo, counts in ranges:
                counts[per_needle > cap] = 0
        return ranges

    def lookup(
        self, hashes: npt.NDArray[np.uint32], *, max_hits_per_hash: int = 5000, max_hits: int | None = None
    ) -> Hits:
        """All live entries whose hash is in ``hashes``; hashes hotter than ``max_hits_per_hash`` are skipped, and
        with ``max_hits`` the hottest ones left until the query's entries number at most ``max_hits``."""
        self.refresh()
        segments, deleted = self._segments, self._deleted  # one state for the whole read
        queries: list[npt.NDArray[np.int64]] = []
        docs: list[npt.NDArray[np.uint32]] = []
        times: list[npt.NDArray[np.int32]] = []
        for seg, (lo, counts) in zip(
            segments, self._budgeted(segments, "hashes", hashes, max_hits_per_hash, max_hits), strict=True
        ):
            query_index, positions = self._expand(lo, counts)
            if positions.size == 0:
                continue
            seg_docs = np.asarray(seg.docs[positions])
            alive = ~deleted[seg_docs]
            queries.append(query_index[alive])
            docs.append(seg_docs[alive])
            times.append(np.asarray(seg.times[positions])[alive].astype(np.int32))
        if not queries:
            return Hits(np.zeros(0, np.int64), np.zeros(0, np.uint32), np.zeros(0, np.int32))
        return Hits(np.concatenate(queries), np.concatenate(docs), np.concatenate(times))

    def lookup_triplets(
        self, hashes: npt.NDArray[np.uint32], *, max_hits_per_hash: int = 2000, max_hits: int | None = None
    ) -> TripletHits:
        """All live triplet entries whose hash is in ``hashes`` (sorted needles read the maps in order).

        Cells with more than ``max_hits_per_hash`` entries are skipped, and with ``max_hits`` the hottest ones
        left until the query's entries number at most ``max_hits`` (``hit_budget_cap``).
        """
        self.refresh()
        segments, deleted = self._segments, self._deleted  # one state for the whole read
        skipped: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
        ranges = self._budgeted(segments, "tri_hashes", hashes, max_hits_per_hash, max_hits, skipped)
        found: list[tuple[npt.NDArray[Any], ...]] = []
        for seg, (lo, counts) in zip(segments, ranges, strict=True):
            query_index, positions = self._expand(lo, counts)
            if positions.size == 0:
                continue
            seg_docs = np.asarray(seg.parts["tri_docs"][positions])
            alive = ~deleted[seg_docs]
            found.append(_triplet_columns(seg, query_index[alive], seg_docs[alive], positions[alive]))
        cells = tuple((seg, probe, lo, counts) for seg, (probe, lo, counts) in zip(segments, skipped, strict=True))
        return _triplet_hits(found, cells)

    def lookup_triplets_of(
        self, skipped: TripletHits, recording_ids: npt.NDArray[np.int64], *, up_to: int
    ) -> TripletHits:
        """The triplet entries of ``recording_ids``' live documents in the cells ``skipped`` (a ``lookup_triplets``
        result) passed over that hold at most ``up_to`` entries, without reading those cells: within a cell,
        entries lie in document order (segments are sorted stably by hash, documents numbered in the order they
        were written), so each (cell, document) is found by bisection.
        """
        docs = np.flatnonzero(self._live() & np.isin(self._doc_recording, recording_ids)).astype(np.uint32)
        found: list[tuple[npt.NDArray[Any], ...]] = []
        for seg, probe, lo, counts in skipped.skipped if docs.size else ():
            hot = np.flatnonzero(counts <= up_to)
            if hot.size == 0:
                continue
            cell = np.repeat(hot, docs.size)
            wanted = np.tile(docs, hot.size)
            start, stop = bisect_ranges(seg.parts["tri_docs"], lo[cell], lo[cell] + counts[cell], wanted)
            which, positions = self._expand(start, stop - start)
            if positions.size:
                found.append(_triplet_columns(seg, probe[cell[which]], wanted[which], positions))
        return _triplet_hits(found, ())

    def recording_count(self) -> int:
        """How many recordings have a live document (a cheap count of the loaded catalogue)."""
        return int(self._live().sum())

    def recording_peaks(
        self, recording_id: int, first_frame: int, last_frame: int
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float64]]:
        """(frames, frequencies in bins) of the live document of ``recording_id`` between two frames."""
        self.refresh()
        docs = np.flatnonzero((self._doc_recording == recording_id) & ~self._deleted)
        times: list[npt.NDArray[np.int32]] = []
        freqs: list[npt.NDArray[np.float64]] = []
        for seg in self._segments:
            seg_docs = seg.parts["pk_docs"]
            for doc in docs.tolist():
                # Needles of the map's own dtype: int64 needles made numpy cast the whole uint32 column to int64
                # first, a copy of every peak in the segment per call (~10 ms per call on 10,000 songs).
                lo, hi = np.searchsorted(seg_docs, np.array([doc, doc + 1], dtype=seg_docs.dtype))
                if lo == hi:
                    continue
                seg_times = np.asarray(seg.parts["pk_times"][lo:hi])
                start, stop = np.searchsorted(seg_times, [max(first_frame, 0), max(last_frame + 1, 0)])
                times.append(seg_times[start:stop].astype(np.int32))
                freqs.append(np.asarray(seg.parts["pk_freqs"][lo + start : lo + stop]) / float(triplets.FREQ_UNITS))
        if not times:
            return np.zeros(0, np.int32), np.zeros(0)
        return np.concatenate(times), np.concatenate(freqs)

    # --- writing -----------------------------------------------------------
    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[dict[str, Any]]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "lock", "a+") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield self._read_meta()
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _write_meta(self, meta: dict[str, Any]) -> None:
        temporary = self.meta_path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(meta, separators=(",", ":")))
        os.replace(temporary, self.meta_path)
        self._stamp = None
        self.refresh()

    def _write_segment(self, name: str, columns: dict[str, list[npt.NDArray[Any]]]) -> bool:
        """Write every table that has rows, each sorted by its key; False when there is nothing at all."""
        wrote = False
        for table, spec in TABLES.items():
            arrays = {part: np.concatenate(columns[part]) if columns[part] else np.zeros(0) for part, _d in spec}
            if arrays[spec[0][0]].size == 0:
                continue
            if table == "peaks":
                order = np.lexsort((arrays["pk_times"], arrays["pk_docs"]))
            else:
                order = np.argsort(arrays[spec[0][0]], kind="stable")
            for part, dtype in spec:
                path = self.directory / f"{name}.{part}.npy"
                temporary = self.directory / f"{name}.{part}.tmp.npy"
                np.save(temporary, np.ascontiguousarray(arrays[part][order], dtype=dtype))
                os.replace(temporary, path)
            wrote = True
        return wrote

    def add(self, entries: Iterable[Entry]) -> int:
        """Index ``entries`` as one new segment, replacing earlier documents of the same recordings.

        Returns how many recordings were added. Compacts when the segment count passes a limit.
        """
        entries = list(entries)
        if not entries:
            return 0
        with self._write_lock() as meta:
            by_recording = {int(rec): int(doc) for doc, (rec, _s) in meta["docs"].items()}
            deleted = set(meta["deleted"])
            columns: dict[str, list[npt.NDArray[Any]]] = {part: [] for part in PARTS}
            for entry in entries:
                old = by_recording.get(entry.recording_id)
                if old is not None:
                    deleted.add(old)
                    del meta["docs"][str(old)]
                doc = int(meta["next_doc"])
                meta["next_doc"] = doc + 1
                meta["docs"][str(doc)] = [entry.recording_id, round(float(entry.seconds), 3)]
                by_recording[entry.recording_id] = doc
                keep = (entry.times >= 0) & (entry.times <= MAX_FRAME)
                columns["hashes"].append(entry.hashes[keep])
                columns["times"].append(entry.times[keep])
                columns["docs"].append(np.full(int(keep.sum()), doc, dtype=np.uint32))
                if entry.scale is not None:
                    scale = entry.scale
                    keep = (scale.times >= 0) & (scale.times <= MAX_FRAME)
                    columns["tri_hashes"].append(scale.hashes[keep])
                    columns["tri_docs"].append(np.full(int(keep.sum()), doc, dtype=np.uint32))
                    columns["tri_times"].append(scale.times[keep])
                    columns["tri_freqs"].append(scale.freqs[keep])
                    columns["tri_spans"].append(scale.spans[keep])
                    keep = (scale.peak_times >= 0) & (scale.peak_times <= MAX_FRAME)
                    columns["pk_docs"].append(np.full(int(keep.sum()), doc, dtype=np.uint32))
                    columns["pk_times"].append(scale.peak_times[keep])
                    columns["pk_freqs"].append(scale.peak_freqs[keep])
            name = f"seg-{int(meta['next_segment']):06d}"
            meta["next_segment"] = int(meta["next_segment"]) + 1
            self._write_segment(name, columns)
            meta["segments"].append(name)
            meta["deleted"] = sorted(deleted)
            self._write_meta(meta)
            if len(meta["segments"]) > AUTO_COMPACT_SEGMENTS:
                self._compact_locked(meta)
        return len(entries)

    def remove(self, recording_ids: Iterable[int]) -> int:
        """Tombstone the recordings' documents; returns how many were indexed."""
        targets = {int(r) for r in recording_ids}
        with self._write_lock() as meta:
            removed = 0
            deleted = set(meta["deleted"])
            for doc, (rec, _s) in list(meta["docs"].items()):
                if int(rec) in targets:
                    deleted.add(int(doc))
                    del meta["docs"][doc]
                    removed += 1
            if removed:
                meta["deleted"] = sorted(deleted)
                self._write_meta(meta)
        return removed

    def compact(self) -> None:
        """Merge all segments into one and drop tombstoned entries."""
        with self._write_lock() as meta:
            self._compact_locked(meta)

    def _compact_locked(self, meta: dict[str, Any]) -> None:
        self._install(meta)
        columns: dict[str, list[npt.NDArray[Any]]] = {part: [] for part in PARTS}
        for seg in self._segments:
            for spec in TABLES.values():
                doc_part = next(part for part, _dtype in spec if part.endswith("docs"))
                alive = ~self._deleted[np.asarray(seg.parts[doc_part])]
                for part, _dtype in spec:
                    columns[part].append(np.asarray(seg.parts[part])[alive])
        name = f"base-{int(meta['next_segment']):06d}"
        meta["next_segment"] = int(meta["next_segment"]) + 1
        meta["segments"] = [name] if self._write_segment(name, columns) else []
        meta["deleted"] = []  # tombstoned documents no longer have entries
        self._write_meta(meta)
        keep = set(meta["segments"])
        for path in self.directory.glob("*.npy"):
            if path.name.split(".")[0] not in keep:
                path.unlink(missing_ok=True)

    def clear(self) -> None:
        """Forget everything (used before a full rebuild)."""
        with self._write_lock():
            for path in self.directory.glob("*.npy"):
                path.unlink(missing_ok=True)
            self._write_meta(self._empty_meta())
