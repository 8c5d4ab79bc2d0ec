"""Two takes per generation: shared expensive stages, one kept take, only the kept take publishes; length choice."""

from __future__ import annotations

import hashlib
import io
import wave
from datetime import timedelta
from fractions import Fraction
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Recording, RecordingShare, RightsHolder
from distribution.errors import GenerationNotPublishable
from distribution.models import Release
from distribution.services.publish import release_publish
from generation.errors import GenerationLimitError, GenerationRequestError, TakeNotKeptError
from generation.models import Generation, GenerationSource, GenerationStage
from generation.services import generation_cancel, generation_run, generation_start
from generation.services import stages as stage_module
from generation.services.pipeline import STAGE_NAMES, generations_reap
from generation.services.sources import generation_sources_record
from generation.services.stages import SHARED_STAGES, TAKE_STAGES
from generation.services.takes import generation_take_keep, song_takes
from royalties.money import PPB
from songforge.errors import NotFound
from uploads.models import Upload, UploadSet

pytestmark = pytest.mark.django_db

PUBLISH_FIELDS: dict[str, Any] = {
    "title": "Night Drive",
    "artist_name": "Ada Vale",
    "genre": "Electronic",
    "language": "en",
    "ai_disclosure": "Composed and produced with SongForge's generative model.",
}


def _wav(seconds: float = 0.5, rate: int = 8000, step: int = 37) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        frames = int(seconds * rate)
        writer.writeframes(
            b"".join(((i * step) % 20000 - 10000).to_bytes(2, "little", signed=True) for i in range(frames))
        )
    return buffer.getvalue()


def _finished_song(owner: Any, *, takes: int = 2, status: str = Generation.Status.SUCCEEDED) -> list[Generation]:
    """A finished song of ``takes`` takes built in the database: each original, mastered, with its own shares."""
    with transaction.atomic():
        label = RightsHolder.objects.get_or_create(name="North Label", kind=RightsHolder.Kind.LABEL)[0]
        writer = RightsHolder.objects.get_or_create(name="Ann Writer", kind=RightsHolder.Kind.WRITER)[0]
        upload_set = UploadSet.objects.create(owner=owner, title="Two takes")
        uploads = []
        for index in range(2):
            recording = Recording.objects.create(
                external_id=f"take-rec-{owner.pk}-{index}", title=f"Source {index}", artist="The Examples"
            )
            RecordingShare.objects.create(
                recording=recording, holder=label, side=RecordingShare.Side.MASTER, share_bps=10_000
            )
            RecordingShare.objects.create(
                recording=recording, holder=writer, side=RecordingShare.Side.PUBLISHING, share_bps=10_000
            )
            uploads.append(
                Upload.objects.create(
                    upload_set=upload_set,
                    original_name=f"song{index}.wav",
                    audio=ContentFile(b"RIFF", name=f"song-{owner.pk}-{index}.wav"),
                    audio_format="wav",
                    size_bytes=4,
                    sha256=hashlib.sha256(f"{owner.pk}-{index}".encode()).hexdigest(),  # 64 hex digits whatever the pk
                    status=Upload.Status.MATCHED,
                    recording=recording,
                )
            )
        rows: list[Generation] = []
        for number in range(1, takes + 1):
            rows.append(
                Generation.objects.create(
                    upload_set=upload_set,
                    take_of=rows[0] if rows else None,
                    take_number=number,
                    status=status,
                    is_original=True,
                    seed=100 * number,
                    title="Song",
                    report={"tempo_bpm": 120.0, "key": "A minor", "takes": takes},
                )
            )
        for number, row in enumerate(rows, start=1):
            weights = {uploads[0].pk: Fraction(number, 4), uploads[1].pk: 1 - Fraction(number, 4)}
            generation_sources_record(generation_id=row.pk, weights=weights)
            row.master_wav.save(f"master-take-{number}.wav", ContentFile(_wav(step=37 * number)), save=False)
            row.listen_m4a.save(f"listen-take-{number}.m4a", ContentFile(bytes(range(256)) * 8), save=False)
            row.save()
    return rows


@pytest.fixture
def outsider(db: None) -> Any:
    return get_user_model().objects.create_user(username="outsider", email="outsider@example.com", password="x")


def _browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- the pipeline -------------------------------------------------------------------------


@pytest.mark.slow
def test_two_takes_share_the_fine_tune_and_a_worker_killed_during_take_two_resumes_take_two_only(
    ready_set: Any,
    engine_settings: Any,
    fake_audio: Any,
    fake_synthesis: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        song = generation_start(upload_set_id=ready_set.pk, owner_id=ready_set.owner_id, seed=11, seconds=60)
    finetunes: list[int] = []
    real_finetune, real_compose = stage_module.stage_finetune, stage_module.stage_compose

    def counting_finetune(generation: Generation, outputs: Any) -> Any:
        finetunes.append(generation.pk)
        return real_finetune(generation, outputs)

    def compose_killed_in_take_two(generation: Generation, outputs: Any) -> Any:
        if generation.take_number == 2:
            raise RuntimeError("worker killed")
        return real_compose(generation, outputs)

    original = stage_module.STAGES
    replaced = {"finetune": counting_finetune, "compose": compose_killed_in_take_two}
    monkeypatch.setattr(stage_module, "STAGES", tuple((n, replaced.get(n, f), w) for n, f, w in original))
    with pytest.raises(RuntimeError):
        generation_run(generation_id=song.pk)

    take_one, take_two = song_takes(song_id=song.pk)
    assert take_one.pk == song.pk
    assert (take_two.take_of_id, take_two.take_number) == (song.pk, 2)
    assert sorted(take_one.stages.filter(status="done").values_list("name", flat=True)) == sorted(STAGE_NAMES)
    assert take_two.stages.get(name="compose").status == GenerationStage.Status.FAILED
    song.refresh_from_db()
    assert song.status == Generation.Status.RUNNING  # a crash is retried, not a failure
    synthesised = fake_synthesis.calls

    monkeypatch.setattr(
        stage_module, "STAGES", tuple((n, counting_finetune if n == "finetune" else f, w) for n, f, w in original)
    )
    song = generation_run(generation_id=song.pk)
    take_one, take_two = song_takes(song_id=song.pk)

    assert (song.status, song.progress_percent) == (Generation.Status.SUCCEEDED, 100)
    assert take_two.status == Generation.Status.SUCCEEDED
    # Shared stages ran once, on the song's row; take 1's stages were not redone; take 2 resumed.
    assert finetunes == [song.pk]
    assert len(fake_audio.analysed) == 10
    assert len(fake_audio.transcribed) == 10
    assert list(take_one.stages.values_list("name", flat=True)) == list(STAGE_NAMES)
    assert list(take_two.stages.values_list("name", flat=True)) == list(TAKE_STAGES)
    assert set(take_one.stages.values_list("attempts", flat=True)) == {1}
    assert take_two.stages.get(name="compose").attempts == 2
    assert fake_synthesis.calls == synthesised + 1
    # Each take has its own seed, piece, master, report, originality verdict and source shares.
    composed = [take.stages.get(name="compose").output for take in (take_one, take_two)]
    assert composed[0]["seed"] != composed[1]["seed"]
    assert composed[0]["midi"] != composed[1]["midi"]
    assert take_one.master_wav.name != take_two.master_wav.name
    for take in (take_one, take_two):
        assert take.is_original is True
        assert take.report["requested_seconds"] == 60
        assert take.report["originality"]["longest_shared_notes"] <= 8
        assert sum(row["share_bps"] for row in take.report["influence"]) == 10_000
        shares = GenerationSource.objects.filter(generation=take).values_list("share_ppb", flat=True)
        assert len(shares) == 10
        assert sum(shares) == PPB
    assert not take_one.is_kept
    assert not take_two.is_kept


def test_a_stale_claim_in_take_two_re_enqueues_the_song_once(
    ready_set: Any, engine_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        song = generation_start(upload_set_id=ready_set.pk, owner_id=ready_set.owner_id, seed=5)
    take_two = song_takes(song_id=song.pk)[1]
    for name in SHARED_STAGES + TAKE_STAGES:
        GenerationStage.objects.create(generation=song, name=name, status=GenerationStage.Status.DONE, attempts=1)
    GenerationStage.objects.create(
        generation=take_two,
        name="synthesise",
        status=GenerationStage.Status.RUNNING,
        attempts=1,
        claimed_until=timezone.now() - timedelta(seconds=30),
    )
    Generation.objects.filter(pk__in=[song.pk, take_two.pk]).update(status=Generation.Status.RUNNING)

    assert generations_reap() == [song.pk]
    assert generations_reap() == []


# --- starting: length and limits ------------------------------------------------------------


@pytest.mark.parametrize(("posted", "seconds"), [({"minutes": "1"}, 60), ({"minutes": "3"}, 180), ({}, 20)])
def test_the_generate_form_asks_for_about_one_two_or_three_minutes(
    ready_set: Any, engine_settings: Any, django_capture_on_commit_callbacks: Any, posted: dict[str, str], seconds: int
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        response = _browser(ready_set.owner).post(f"/songs/sets/{ready_set.pk}/generate", posted)
    assert response.status_code == 302
    song = Generation.objects.get(upload_set=ready_set, take_of__isnull=True)
    assert response["Location"].endswith(f"/songs/{song.pk}/")
    assert [take.report["requested_seconds"] for take in song_takes(song_id=song.pk)] == [seconds, seconds]


def test_an_operator_who_sets_one_take_gets_songs_of_one_kept_take(
    ready_set: Any, engine_settings: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.GENERATION_TAKES = 1
    with django_capture_on_commit_callbacks(execute=False):
        response = _browser(ready_set.owner).post(f"/songs/sets/{ready_set.pk}/generate", {"minutes": "1"})
    assert response.status_code == 302
    (song,) = Generation.objects.filter(upload_set=ready_set)
    assert song.take_of_id is None
    assert song.is_kept
    assert [take.pk for take in song_takes(song_id=song.pk)] == [song.pk]


@pytest.mark.parametrize("minutes", ["7", "0", "-1", "two", "2.5"])
def test_a_length_off_the_menu_is_refused_and_starts_nothing(
    ready_set: Any, engine_settings: Any, minutes: str
) -> None:
    response = _browser(ready_set.owner).post(f"/songs/sets/{ready_set.pk}/generate", {"minutes": minutes}, follow=True)
    assert "Choose a length of about 1, 2 or 3 minutes." in response.content.decode()
    assert not Generation.objects.exists()


@pytest.mark.parametrize(("seconds", "takes"), [(5, 2), (3600, 2), (120, 0), (120, 3)])
def test_the_service_refuses_lengths_and_take_counts_out_of_range(
    ready_set: Any, engine_settings: Any, seconds: int, takes: int
) -> None:
    with pytest.raises(GenerationRequestError):
        generation_start(upload_set_id=ready_set.pk, owner_id=ready_set.owner_id, seconds=seconds, takes=takes)
    assert not Generation.objects.exists()


def test_the_daily_limit_counts_songs_not_takes(
    ready_set: Any, engine_settings: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.GENERATIONS_PER_DAY = 2
    with django_capture_on_commit_callbacks(execute=False):
        first = generation_start(upload_set_id=ready_set.pk, owner_id=ready_set.owner_id)
        generation_cancel(generation_id=first.pk, owner_id=ready_set.owner_id)
        second = generation_start(upload_set_id=ready_set.pk, owner_id=ready_set.owner_id)
    assert Generation.objects.count() == 4
    assert {take.status for take in song_takes(song_id=first.pk)} == {Generation.Status.CANCELLED}
    with pytest.raises(GenerationLimitError) as refused:
        generation_start(upload_set_id=ready_set.pk, owner_id=ready_set.owner_id)
    assert f"Generation #{second.pk} is still queued" in refused.value.message


# --- keeping a take -------------------------------------------------------------------------


def test_keeping_moves_between_takes_until_one_is_published(owner: Any) -> None:
    take_one, take_two = _finished_song(owner)
    assert generation_take_keep(generation_id=take_two.pk, owner_id=owner.pk).pk == take_two.pk
    assert [t.is_kept for t in song_takes(song_id=take_one.pk)] == [False, True]
    generation_take_keep(generation_id=take_one.pk, owner_id=owner.pk)
    assert [t.is_kept for t in song_takes(song_id=take_one.pk)] == [True, False]
    release_publish(generation_id=take_one.pk, owner_id=owner.pk, artwork=None, **PUBLISH_FIELDS)

    with pytest.raises(TakeNotKeptError, match=r"Take 1 of song \d+ is published, so it stays the kept take"):
        generation_take_keep(generation_id=take_two.pk, owner_id=owner.pk)
    response = _browser(owner).post(f"/songs/{take_two.pk}/keep", follow=True)
    assert "is published, so it stays the kept take" in response.content.decode()
    assert [t.is_kept for t in song_takes(song_id=take_one.pk)] == [True, False]


def test_keeping_another_artists_take_or_an_unfinished_one_is_refused(owner: Any, outsider: Any) -> None:
    take_one, take_two = _finished_song(owner)
    with pytest.raises(NotFound):
        generation_take_keep(generation_id=take_two.pk, owner_id=outsider.pk)
    assert _browser(outsider).post(f"/songs/{take_two.pk}/keep").status_code == 404
    Generation.objects.filter(pk=take_one.pk).update(status=Generation.Status.RUNNING)
    with pytest.raises(TakeNotKeptError, match="once both are finished"):
        generation_take_keep(generation_id=take_two.pk, owner_id=owner.pk)
    assert not Generation.objects.filter(is_kept=True).exists()


# --- publishing: only the kept take ---------------------------------------------------------


def test_publishing_the_take_that_was_not_kept_is_refused_over_http_and_api(owner: Any) -> None:
    take_one, take_two = _finished_song(owner)
    generation_take_keep(generation_id=take_one.pk, owner_id=owner.pk)

    page = _browser(owner).post(f"/releases/publish/{take_two.pk}", PUBLISH_FIELDS)
    assert page.status_code == 400
    assert "only the kept take can be published" in page.content.decode()
    api = _api(owner).post("/api/releases/", {"generation_id": take_two.pk, **PUBLISH_FIELDS}, format="multipart")
    assert api.status_code == 409
    assert api.json()["code"] == "generation_not_publishable"
    assert f"but you kept take 1 (#{take_one.pk}); only the kept take can be published" in api.json()["message"]
    with pytest.raises(GenerationNotPublishable):
        release_publish(generation_id=take_two.pk, owner_id=owner.pk, artwork=None, **PUBLISH_FIELDS)
    assert not Release.objects.exists()

    published = _api(owner).post("/api/releases/", {"generation_id": take_one.pk, **PUBLISH_FIELDS}, format="multipart")
    assert published.status_code == 201, published.json()
    assert Release.objects.get().generation_id == take_one.pk
    # The kept take's own shares are the ones its split sheet is paid from.
    assert sum(line["ppb"] for line in published.json()["splits"]) == PPB


def test_a_song_whose_takes_none_is_kept_cannot_be_published(owner: Any) -> None:
    takes = _finished_song(owner)
    for take in takes:
        response = _api(owner).post("/api/releases/", {"generation_id": take.pk, **PUBLISH_FIELDS}, format="multipart")
        assert response.status_code == 409
        assert "no take of it is kept yet" in str(response.json())
    assert not Release.objects.exists()


def test_a_song_of_one_take_publishes_as_before(owner: Any) -> None:
    (only,) = _finished_song(owner, takes=1)
    release = release_publish(generation_id=only.pk, owner_id=owner.pk, artwork=None, **PUBLISH_FIELDS)
    assert release.generation_id == only.pk


# --- the song page --------------------------------------------------------------------------


def test_the_song_page_plays_both_takes_each_streamed_with_ranges_to_its_owner_only(owner: Any, outsider: Any) -> None:
    take_one, take_two = _finished_song(owner)
    browser = _browser(owner)
    page = browser.get(f"/songs/{take_one.pk}/").content.decode()
    for take in (take_one, take_two):
        assert f'src="/songs/{take.pk}/audio/m4a"' in page
        assert f'action="/songs/{take.pk}/keep"' in page
    assert "keep one" in page
    assert "Publish" not in page.split("takes-hint")[0].split("page-head")[1]

    partial = browser.get(f"/songs/{take_two.pk}/audio/m4a", HTTP_RANGE="bytes=10-19")
    assert partial.status_code == 206
    assert partial["Content-Range"] == "bytes 10-19/2048"
    assert isinstance(partial, StreamingHttpResponse)
    assert partial.getvalue() == bytes(range(10, 20))
    assert _browser(outsider).get(f"/songs/{take_two.pk}/audio/m4a").status_code == 404
    assert browser.get(f"/songs/{take_two.pk}/")["Location"] == f"/songs/{take_one.pk}/#take-{take_two.pk}"

    browser.post(f"/songs/{take_two.pk}/keep")
    page = browser.get(f"/songs/{take_one.pk}/").content.decode()
    assert f'href="/releases/publish/{take_two.pk}"' in page
    assert "You kept <strong>take 2</strong>" in page
    assert f'action="/songs/{take_one.pk}/keep"' in page
    assert f'action="/songs/{take_two.pk}/keep"' not in page


def test_the_song_list_shows_each_song_once(owner: Any) -> None:
    take_one, take_two = _finished_song(owner)
    page = _browser(owner).get("/songs/").content.decode()
    assert f"/songs/{take_one.pk}/" in page
    assert f"/songs/{take_two.pk}/" not in page


# --- the migration --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_every_existing_generation_one_kept_take() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = (
        [("generation", "0008_trainingrecording_link_permission")],
        [("generation", "0009_generation_takes")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("auth", "User").objects.create(username="legacy", email="legacy@example.com")
    upload_set = old.get_model("uploads", "UploadSet").objects.create(owner_id=user.pk, title="Old")
    old_generation = old.get_model("generation", "Generation")
    ids = [
        old_generation.objects.create(upload_set_id=upload_set.pk, status=status, seed=1).pk
        for status in ("succeeded", "running")
    ]
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    new = executor.loader.project_state(after).apps.get_model("generation", "Generation")
    rows = list(new.objects.filter(pk__in=ids).order_by("pk").values_list("take_of_id", "take_number", "is_kept"))
    assert rows == [(None, 1, True), (None, 1, True)]
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert new.objects.filter(pk__in=ids).count() == 2
    assert Generation._meta.get_field("is_kept").default is False


@pytest.mark.parametrize("tempo_bpm", [70.0, 84.0, 104.0, 126.0, 158.0])
def test_one_two_and_three_minutes_plan_three_different_lengths_near_what_was_asked(tempo_bpm: float) -> None:
    from generation.ml.form import FORM_UNITS, section_bars

    planned = []
    for seconds in (60, 120, 180):
        bars = section_bars(seconds=seconds, tempo_bpm=tempo_bpm)
        planned.append(FORM_UNITS * bars * 4 * 60.0 / tempo_bpm)
    assert planned == sorted(set(planned))
    for seconds, length in zip((60, 120, 180), planned, strict=True):
        assert 0.75 * seconds <= length <= 1.6 * seconds, (seconds, planned)
