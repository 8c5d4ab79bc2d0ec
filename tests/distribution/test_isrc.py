import threading

import pytest
from django.db import close_old_connections, connection, transaction

from distribution.errors import InvalidReleaseMetadata, IsrcExhausted
from distribution.models import IsrcCounter, Release
from distribution.services import isrc
from distribution.services import publish as publishing


@pytest.mark.django_db
def test_codes_follow_the_registrant_year_and_sequence(settings):
    settings.ISRC_REGISTRANT = "QZ-S8F"
    with transaction.atomic():
        codes = [isrc.isrc_allocate(year=2026) for _ in range(3)]
    assert codes == ["QZS8F2600001", "QZS8F2600002", "QZS8F2600003"]
    with transaction.atomic():
        assert isrc.isrc_allocate(year=2027) == "QZS8F2700001"


@pytest.mark.django_db
def test_a_code_already_held_by_a_release_is_skipped(song, publish_fields, settings):
    release = publishing.release_publish(
        generation_id=song.generation.pk, owner_id=song.owner.pk, artwork=None, **publish_fields
    )
    year = int(release.isrc[5:7])
    IsrcCounter.objects.filter(year=year).update(last_designation=0)
    with transaction.atomic():
        assert isrc.isrc_allocate(year=2000 + year) == f"QZS8F{year:02d}00002"


@pytest.mark.django_db
def test_it_refuses_a_malformed_registrant(settings):
    settings.ISRC_REGISTRANT = "Q-1"
    with pytest.raises(InvalidReleaseMetadata), transaction.atomic():
        isrc.isrc_allocate(year=2026)
    assert IsrcCounter.objects.count() == 0


@pytest.mark.django_db
def test_it_stops_after_the_last_designation_code():
    IsrcCounter.objects.create(prefix="QZS8F", year=26, last_designation=99_999)
    with pytest.raises(IsrcExhausted), transaction.atomic():
        isrc.isrc_allocate(year=2026)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_allocations_never_share_a_code(postgres_db):
    assert connection.vendor == "postgresql"
    codes: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def allocate() -> None:
        try:
            start.wait()
            for _ in range(5):
                with transaction.atomic():
                    codes.append(isrc.isrc_allocate(year=2026))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(codes) == [f"QZS8F26{n:05d}" for n in range(1, 41)]
    assert IsrcCounter.objects.get(prefix="QZS8F", year=26).last_designation == 40


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_get_distinct_codes_and_one_release_per_song(
    postgres_db, make_song, owner, publish_fields
):
    songs = [make_song(owner=owner) for _ in range(4)]
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def publish(song) -> None:
        try:
            start.wait()
            release = publishing.release_publish(
                generation_id=song.generation.pk, owner_id=owner.pk, artwork=None, **publish_fields
            )
            results.append((release.pk, release.isrc))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish, args=(s,)) for s in songs + songs]  # every song twice
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Release.objects.count() == 4
    assert len(set(results)) == 4
    assert sorted(Release.objects.values_list("isrc", flat=True)) == sorted({isrc for _, isrc in results})
    assert len({isrc for _, isrc in results}) == 4
