"""The on-disk landmark index: sorted, memory-mapped segments plus a small JSON catalogue.

Layout of the index directory::

    meta.json                  {"version", "params", "segments": [...], "docs": {doc: [recording_id, seconds]},
                                "deleted": [doc, ...], "next_doc", "next_segment"}
    <segment>.hashes.npy       uint32, sorted ascending
    <segment>.docs.npy         uint32, document id of each entry
    <segment>.times.npy        uint16, anchor frame (16 ms) of each entry
    lock                       flock(2) held by writers

A *document* is one indexing of one recording; re-indexing a recording adds a new document and tombstones
the old one (``deleted``), so readers never see a half-replaced recording. ``add`` writes a new small
segment (the incremental append path); ``compact`` merges every segment into one and drops tombstoned
entries. Segment files are immutable once written and ``meta.json`` is replaced atomically, so readers
only ever see complete states and the index survives restarts and crashes mid-write (an orphan segment
file that meta.json does not name is ignored and removed by the next compaction).

Each entry costs 10 bytes. Times are 16-bit frames, so only the first ~17 minutes of a recording are
indexed.
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

from catalog.fingerprint import landmarks

INDEX_VERSION = 1
MAX_FRAME = np.iinfo(np.uint16).max
AUTO_COMPACT_SEGMENTS = 24


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
    }


class IndexFormatError(Exception):
    """The index directory was written by another version or with other parameters: rebuild it."""


@dataclass(frozen=True)
class Entry:
    """Fingerprint of one recording, ready to be added."""

    recording_id: int
    hashes: npt.NDArray[np.uint32]
    times: npt.NDArray[np.int32]
    seconds: float


@dataclass(frozen=True)
class Hits:
    """Index entries whose hash equals a query hash: ``query`` indexes the query arrays."""

    query: npt.NDArray[np.int64]
    docs: npt.NDArray[np.uint32]
    times: npt.NDArray[np.int32]


@dataclass
class _Segment:
    name: str
    hashes: npt.NDArray[np.uint32]
    docs: npt.NDArray[np.uint32]
    times: npt.NDArray[np.uint16]


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
            segments.append(
                _Segment(
                    name=name,
                    hashes=np.load(self.directory / f"{name}.hashes.npy", mmap_mode="r"),
                    docs=np.load(self.directory / f"{name}.docs.npy", mmap_mode="r"),
                    times=np.load(self.directory / f"{name}.times.npy", mmap_mode="r"),
                )
            )
        n_docs = int(meta["next_doc"])
        deleted = np.zeros(n_docs, dtype=np.bool_)
        if meta["deleted"]:
            deleted[np.asarray(meta["deleted"], dtype=np.int64)] = True
        doc_recording = np.full(n_docs, -1, dtype=np.int64)
        for doc, (recording_id, _seconds) in meta["docs"].items():
            doc_recording[int(doc)] = int(recording_id)
        self._meta, self._segments, self._deleted, self._doc_recording = meta, segments, deleted, doc_recording

    def recording_of(self, docs: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.int64]:
        """Recording ids of document ids (−1 for unknown)."""
        found: npt.NDArray[np.int64] = self._doc_recording[docs]
        return found

    def recording_ids(self) -> set[int]:
        """Recordings that currently have a live document."""
        self.refresh()
        return {int(rec) for doc, (rec, _s) in self._meta["docs"].items() if not self._deleted[int(doc)]}

    def stats(self) -> dict[str, Any]:
        self.refresh()
        live = [(rec, sec) for doc, (rec, sec) in self._meta["docs"].items() if not self._deleted[int(doc)]]
        entries = sum(int(seg.hashes.size) for seg in self._segments)
        size = sum(
            (self.directory / f"{seg.name}.{part}.npy").stat().st_size
            for seg in self._segments
            for part in ("hashes", "docs", "times")
        )
        return {
            "recordings": len(live),
            "seconds": float(sum(sec for _rec, sec in live)),
            "entries": entries,
            "segments": len(self._segments),
            "bytes": size,
        }

    def lookup(self, hashes: npt.NDArray[np.uint32], *, max_hits_per_hash: int = 5000) -> Hits:
        """All live entries whose hash is in ``hashes``; hashes hotter than ``max_hits_per_hash`` are skipped."""
        self.refresh()
        queries: list[npt.NDArray[np.int64]] = []
        docs: list[npt.NDArray[np.uint32]] = []
        times: list[npt.NDArray[np.int32]] = []
        for seg in self._segments:
            lo = np.searchsorted(seg.hashes, hashes, side="left")
            hi = np.searchsorted(seg.hashes, hashes, side="right")
            counts = hi - lo
            counts[counts > max_hits_per_hash] = 0
            total = int(counts.sum())
            if total == 0:
                continue
            query_index = np.repeat(np.arange(hashes.size, dtype=np.int64), counts)
            starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
            positions = starts + np.arange(total)
            seg_docs = np.asarray(seg.docs[positions])
            alive = ~self._deleted[seg_docs]
            queries.append(query_index[alive])
            docs.append(seg_docs[alive])
            times.append(np.asarray(seg.times[positions])[alive].astype(np.int32))
        if not queries:
            return Hits(np.zeros(0, np.int64), np.zeros(0, np.uint32), np.zeros(0, np.int32))
        return Hits(np.concatenate(queries), np.concatenate(docs), np.concatenate(times))

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

    def _write_segment(
        self, name: str, hashes: npt.NDArray[Any], docs: npt.NDArray[Any], times: npt.NDArray[Any]
    ) -> None:
        order = np.argsort(hashes, kind="stable")
        for part, array, dtype in (
            ("hashes", hashes, np.uint32),
            ("docs", docs, np.uint32),
            ("times", times, np.uint16),
        ):
            path = self.directory / f"{name}.{part}.npy"
            temporary = self.directory / f"{name}.{part}.tmp.npy"
            np.save(temporary, np.ascontiguousarray(array[order], dtype=dtype))
            os.replace(temporary, path)

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
            hashes, docs, times = [], [], []
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
                hashes.append(entry.hashes[keep])
                times.append(entry.times[keep])
                docs.append(np.full(int(keep.sum()), doc, dtype=np.uint32))
            name = f"seg-{int(meta['next_segment']):06d}"
            meta["next_segment"] = int(meta["next_segment"]) + 1
            self._write_segment(name, np.concatenate(hashes), np.concatenate(docs), np.concatenate(times))
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
        hashes, docs, times = [], [], []
        for seg in self._segments:
            alive = ~self._deleted[np.asarray(seg.docs)]
            hashes.append(np.asarray(seg.hashes)[alive])
            docs.append(np.asarray(seg.docs)[alive])
            times.append(np.asarray(seg.times)[alive])
        name = f"base-{int(meta['next_segment']):06d}"
        meta["next_segment"] = int(meta["next_segment"]) + 1
        if hashes:
            self._write_segment(name, np.concatenate(hashes), np.concatenate(docs), np.concatenate(times))
            meta["segments"] = [name]
        else:
            meta["segments"] = []
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
