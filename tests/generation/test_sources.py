"""A generation's integer shares of the source pool: the only writer, its refusals, the sum rule on both databases."""

from __future__ import annotations

import importlib
from fractions import Fraction
from typing import Any

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from catalog.models import Recording
from generation.errors import GenerationStateError, InfluenceInvalidError
from generation.models import Generation, GenerationSource
from generation.selectors import SourceShare, generation_source_lines, generation_sources
from generation.services.sources import generation_sources_record
from royalties.money import PPB
from uploads.models import Upload, UploadSet

pytestmark = pytest.mark.django_db

fill_migration = importlib.import_module("generation.migrations.0007_fill_generation_sources_from_reports")


def _uploads(upload_set: Any) -> list[Upload]:
    return list(Upload.objects.filter(upload_set=upload_set).order_by("id"))


def _recording(upload: Upload) -> int:
    assert upload.recording_id is not None
    return upload.recording_id


def _rows(generation: Generation) -> list[tuple[int | None, int, int]]:
    return list(
        GenerationSource.objects.filter(generation=generation)
        .order_by("upload_id")
        .values_list("upload_id", "recording_id", "share_ppb")
    )


@pytest.fixture
def generation(ready_set: Any) -> Generation:
    return Generation.objects.create(upload_set=ready_set, status=Generation.Status.RUNNING, stage="report")


def test_equal_weights_sum_to_the_whole_with_the_odd_part_to_the_lowest_upload(generation: Generation) -> None:
    first, second, third = _uploads(generation.upload_set)[:3]
    generation_sources_record(generation_id=generation.pk, weights={third.pk: 1, first.pk: 1, second.pk: 1})
    assert _rows(generation) == [
        (first.pk, first.recording_id, 333_333_334),
        (second.pk, second.recording_id, 333_333_333),
        (third.pk, third.recording_id, 333_333_333),
    ]


def test_integer_and_fraction_weights_are_split_exactly(generation: Generation) -> None:
    first, second, third = _uploads(generation.upload_set)[:3]
    generation_sources_record(
        generation_id=generation.pk, weights={first.pk: 3_000_000, second.pk: Fraction(1_000_000), third.pk: 0}
    )
    assert generation_sources(generation_id=generation.pk) == [
        SourceShare(upload_id=first.pk, recording_id=_recording(first), share_ppb=750_000_000),
        SourceShare(upload_id=second.pk, recording_id=_recording(second), share_ppb=250_000_000),
        SourceShare(upload_id=third.pk, recording_id=_recording(third), share_ppb=0),
    ]


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({0: 0.5, 1: 0.5}, "never a float"),
        ({0: -1, 1: 2}, "negative"),
        ({0: 0, 1: 0}, "Every influence weight is 0"),
        ({0: True, 1: 1}, "never a float"),
    ],
)
def test_weights_that_cannot_be_shares_are_refused_and_nothing_is_written(
    generation: Generation, weights: dict[int, Any], message: str
) -> None:
    uploads = _uploads(generation.upload_set)
    with pytest.raises(InfluenceInvalidError, match=message):
        generation_sources_record(generation_id=generation.pk, weights={uploads[k].pk: w for k, w in weights.items()})
    assert not GenerationSource.objects.exists()


def test_no_sources_at_all_are_refused(generation: Generation) -> None:
    with pytest.raises(InfluenceInvalidError, match="at least one source upload"):
        generation_sources_record(generation_id=generation.pk, weights={})
    assert not GenerationSource.objects.exists()


def test_an_upload_of_another_set_is_refused(generation: Generation, owner: Any) -> None:
    other_set = UploadSet.objects.create(owner=owner)
    stranger = Upload.objects.create(
        upload_set=other_set, original_name="x.wav", audio_format="wav", size_bytes=1, sha256="f" * 64
    )
    mine = _uploads(generation.upload_set)[0]
    with pytest.raises(InfluenceInvalidError, match=f"Upload {stranger.pk} is not in the upload set"):
        generation_sources_record(generation_id=generation.pk, weights={mine.pk: 1, stranger.pk: 1})
    assert not GenerationSource.objects.exists()


def test_an_unmatched_upload_is_refused(generation: Generation) -> None:
    first, second = _uploads(generation.upload_set)[:2]
    Upload.objects.filter(pk=second.pk).update(status=Upload.Status.UNMATCHED, recording=None)
    with pytest.raises(InfluenceInvalidError, match="not matched to a catalog recording"):
        generation_sources_record(generation_id=generation.pk, weights={first.pk: 1, second.pk: 1})
    assert not GenerationSource.objects.exists()


def test_a_rerun_of_the_report_stage_replaces_the_earlier_rows(generation: Generation) -> None:
    first, second = _uploads(generation.upload_set)[:2]
    generation_sources_record(generation_id=generation.pk, weights={first.pk: 1, second.pk: 1})
    generation_sources_record(generation_id=generation.pk, weights={first.pk: 1, second.pk: 3})
    assert _rows(generation) == [
        (first.pk, first.recording_id, 250_000_000),
        (second.pk, second.recording_id, 750_000_000),
    ]


def test_the_sources_of_a_finished_generation_are_fixed(generation: Generation) -> None:
    first, second = _uploads(generation.upload_set)[:2]
    stored = generation_sources_record(generation_id=generation.pk, weights={first.pk: 1, second.pk: 1})
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.SUCCEEDED)
    again = generation_sources_record(generation_id=generation.pk, weights={first.pk: 7, second.pk: 7})
    assert [row.pk for row in again] == [row.pk for row in stored]
    with pytest.raises(GenerationStateError, match="are fixed"):
        generation_sources_record(generation_id=generation.pk, weights={first.pk: 1, second.pk: 2})
    assert _rows(generation) == [
        (first.pk, first.recording_id, 500_000_000),
        (second.pk, second.recording_id, 500_000_000),
    ]


def test_deleting_an_upload_keeps_its_share_and_recording(generation: Generation) -> None:
    first, second = _uploads(generation.upload_set)[:2]
    generation_sources_record(generation_id=generation.pk, weights={first.pk: 1, second.pk: 3})
    Upload.objects.filter(pk=first.pk).delete()
    assert GenerationSource.objects.get(recording_id=_recording(first)).share_ppb == 250_000_000
    assert GenerationSource.objects.get(recording_id=_recording(first)).upload_id is None
    with pytest.raises(ProtectedError, match=r"GenerationSource\.recording"):
        Recording.objects.filter(pk=_recording(first)).delete()


def test_source_lines_name_each_recording(generation: Generation) -> None:
    first, second = _uploads(generation.upload_set)[:2]
    generation_sources_record(generation_id=generation.pk, weights={first.pk: 1, second.pk: 4})
    lines = generation_source_lines(generation_id=generation.pk)
    assert [(line.label, line.share_ppb, line.share) for line in lines] == [
        ("Artist – Song 0", 200_000_000, 0.2),
        ("Artist – Song 1", 800_000_000, 0.8),
    ]


def test_the_service_check_holds_on_every_database(generation: Generation) -> None:
    uploads = _uploads(generation.upload_set)
    weights = {upload.pk: 1_000_003 * (index + 1) for index, upload in enumerate(uploads)}
    generation_sources_record(generation_id=generation.pk, weights=weights)
    if connection.vendor == "postgresql":  # run the deferred trigger now instead of at a commit that never comes
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert sum(share for _, _, share in _rows(generation)) == PPB


@pytest.mark.postgres
def test_postgres_refuses_a_bad_sum_written_around_the_service(postgres_db: None, generation: Generation) -> None:
    first, second = _uploads(generation.upload_set)[:2]
    generation_sources_record(generation_id=generation.pk, weights={first.pk: 1, second.pk: 1})

    def write_around_the_service() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            GenerationSource.objects.filter(upload=first).update(share_ppb=499_999_999)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    with pytest.raises(IntegrityError, match=r"generation \d+ add up to 999999999 ppb, not 1000000000"):
        write_around_the_service()
    assert [share for _, _, share in _rows(generation)] == [500_000_000, 500_000_000]
    with transaction.atomic():  # replacing every row inside one transaction passes the deferred check
        generation_sources_record(generation_id=generation.pk, weights={first.pk: 1, second.pk: 3})
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert [share for _, _, share in _rows(generation)] == [250_000_000, 750_000_000]


def _finished(upload_set: Any, influence: list[dict[str, Any]]) -> Generation:
    return Generation.objects.create(
        upload_set=upload_set, status=Generation.Status.SUCCEEDED, report={"tempo_bpm": 120.0, "influence": influence}
    )


def test_the_migration_fills_existing_generations_exactly_from_their_reports(ready_set: Any) -> None:
    first, second, third = _uploads(ready_set)[:3]
    decimal = _finished(
        ready_set,
        [
            {"upload_id": first.pk, "recording_id": first.recording_id, "share": 0.1, "share_bps": 1000},
            {"upload_id": second.pk, "recording_id": second.recording_id, "share": 0.9, "share_bps": 9000},
            {"upload_id": third.pk, "recording_id": None, "share": 0.5},
        ],
    )
    thirds = _finished(
        ready_set,
        [{"upload_id": u.pk, "recording_id": u.recording_id, "share": 0.333333} for u in (first, second, third)],
    )
    nothing = _finished(ready_set, [])
    fill_migration._fill(apps, None)
    assert _rows(decimal) == [
        (first.pk, first.recording_id, 100_000_000),
        (second.pk, second.recording_id, 900_000_000),
    ]
    assert _rows(thirds) == [
        (first.pk, first.recording_id, 333_333_334),
        (second.pk, second.recording_id, 333_333_333),
        (third.pk, third.recording_id, 333_333_333),
    ]
    assert _rows(nothing) == []
    rows_before = list(GenerationSource.objects.order_by("pk").values_list("pk", "share_ppb"))
    fill_migration._fill(apps, None)  # a second run leaves filled generations alone
    assert list(GenerationSource.objects.order_by("pk").values_list("pk", "share_ppb")) == rows_before


def test_the_migration_keeps_a_deleted_uploads_share(ready_set: Any) -> None:
    first, second = _uploads(ready_set)[:2]
    generation = _finished(
        ready_set,
        [
            {"upload_id": first.pk, "recording_id": first.recording_id, "share": 0.25},
            {"upload_id": second.pk, "recording_id": second.recording_id, "share": "0.75"},
        ],
    )
    Upload.objects.filter(pk=first.pk).delete()
    fill_migration._fill(apps, None)
    assert sorted(_rows(generation), key=lambda row: row[2]) == [
        (None, first.recording_id, 250_000_000),
        (second.pk, second.recording_id, 750_000_000),
    ]
