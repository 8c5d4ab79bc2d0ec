"""Royalties fixtures: a small catalog with rights, releases with split sheets, statement files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from catalog.models import RecordingShare, RightsHolder
from distribution.models import Release
from royalties.imports import rows_to_csv
from royalties.splits import split_sheet_create
from tests.factories import RecordingFactory, RecordingShareFactory, ReleaseFactory, RightsHolderFactory


@dataclass
class World:
    label: RightsHolder
    publisher: RightsHolder
    trainer: RightsHolder
    release: Release


@pytest.fixture
def world(db: None) -> World:
    """One release whose sheet pays: label (master of the source), publisher (publishing), trainer (training)."""
    label = RightsHolderFactory.create(name="Label")
    publisher = RightsHolderFactory.create(name="Publisher", kind=RightsHolder.Kind.PUBLISHER)
    trainer = RightsHolderFactory.create(name="Trainer")
    source = RecordingFactory.create()
    RecordingShareFactory.create(recording=source, holder=label, side=RecordingShare.Side.MASTER, share_bps=10_000)
    RecordingShareFactory.create(
        recording=source, holder=publisher, side=RecordingShare.Side.PUBLISHING, share_bps=10_000
    )
    training = RecordingFactory.create()
    RecordingShareFactory.create(recording=training, holder=trainer, side=RecordingShare.Side.MASTER, share_bps=10_000)
    RecordingShareFactory.create(
        recording=training, holder=trainer, side=RecordingShare.Side.PUBLISHING, share_bps=10_000
    )
    release = ReleaseFactory.create(isrc="QZS8F2600001")
    split_sheet_create(release_id=release.pk, sources=[(source.pk, Fraction(1))], training=[(training.pk, 100)])
    return World(label=label, publisher=publisher, trainer=trainer, release=release)


@pytest.fixture
def statement_file(tmp_path: Path) -> Callable[..., Path]:
    def make(rows: list[dict[str, Any]], *, name: str = "statement.csv", delimiter: str = ",") -> Path:
        text = rows_to_csv(rows)
        if delimiter == "\t":
            text = text.replace(",", "\t")
        path = tmp_path / name
        path.write_text(text)
        return path

    return make


def line(isrc: str = "QZS8F2600001", revenue: str = "1.00", **overrides: Any) -> dict[str, Any]:
    row = {
        "period": "2026-10",
        "store": "Spotify",
        "territory": "DE",
        "isrc": isrc,
        "units": 100,
        "net_revenue": revenue,
        "currency": "USD",
    }
    row.update(overrides)
    return row


@pytest.fixture(autouse=True)
def _statement_uploads_in_tmp(settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path / "data"
