"""What every distributor client offers, and how it fails.

A client turns a ``ReleasePackage`` (plain data read from the database by
``distribution.package``) into a delivery at one distributor. Clients raise
``DistributorError``; ``permanent`` tells the delivery job whether a retry could
help (network trouble, 5xx) or not (4xx, bad data).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Protocol

from songforge.errors import DomainError

# Statuses a distributor reports back; a subset of Release.Status.
REMOTE_STATUSES = ("submitted", "in_review", "live", "rejected", "taken_down")


class DistributorError(DomainError):
    code = "distributor_error"
    http_status = 502

    def __init__(self, message: str, *, permanent: bool, extra: dict[str, object] | None = None) -> None:
        super().__init__(message, extra=dict(extra or {}))
        self.permanent = permanent


@dataclass(frozen=True)
class SplitLine:
    """One rights holder's exact share of the release, in parts per billion."""

    holder_id: int
    holder_name: str
    holder_kind: str
    ppb: int


@dataclass(frozen=True)
class ReleasePackage:
    """Everything a distributor needs, frozen at publish time."""

    release_id: int
    delivery_key: str
    isrc: str
    title: str
    artist_name: str
    genre: str
    language: str
    ai_disclosure: str
    duration_ms: int
    release_date: date
    label_name: str
    audio_name: str
    audio_sha256: str
    artwork_name: str
    open_audio: Callable[[], IO[bytes]]
    open_artwork: Callable[[], IO[bytes]]
    splits: tuple[SplitLine, ...]
    distributor_release_id: str = ""


@dataclass(frozen=True)
class DeliveryResult:
    status: str
    distributor_release_id: str
    location: str = ""
    detail: str = ""


@dataclass(frozen=True)
class RemoteStatus:
    status: str
    store_links: dict[str, str] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()


class Distributor(Protocol):
    """One outside channel. Every method is idempotent for the same package."""

    name: str

    def deliver(self, release: ReleasePackage) -> DeliveryResult: ...

    def status(self, release: ReleasePackage) -> RemoteStatus: ...

    def takedown(self, release: ReleasePackage) -> DeliveryResult: ...
