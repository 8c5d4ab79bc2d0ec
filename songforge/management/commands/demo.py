"""The headless end-to-end demo that `make demo` runs on bundled demo data.

Every step goes through the same services the web pages and the API use, and
prints what really happened (matches, refusals, the report, the split sheet,
the ledger), so the output is evidence rather than a script.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from generation.selectors import GenerationReport, SourceShare, generation_report, generation_sources
from songforge.errors import DomainError

DEMO_EMAIL = "demo-artist@songforge.local"
# the demo catalog the committed model trained on (demo_corpus.DEMO_SIZE, DEMO_SECONDS; seed 0)
TRAINED_CATALOG_SIZE = 500
TRAINED_CATALOG_SECONDS = 45.0


class Command(BaseCommand):
    help = "Run the whole SongForge flow headless on the bundled demo data and report what happened."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--catalog-size", type=int, default=50, help="Demo catalog entries (default 50).")
        parser.add_argument("--catalog-seconds", type=float, default=30.0, help="Length of each catalog entry.")
        parser.add_argument("--song-seconds", type=int, default=90, help="Length of the generated song.")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--timeout", type=int, default=1200, help="Seconds to wait for each job.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.timeout = float(options["timeout"])
        started = time.monotonic()
        self.heading("1. Configured parts")
        call_command("doctor", stdout=self.stdout)

        self.heading(f"2. Demo catalog ({options['catalog_size']} songs rendered from music21's corpus)")
        step = time.monotonic()
        call_command(
            "catalog_build_demo",
            size=options["catalog_size"],
            seconds=options["catalog_seconds"],
            seed=0,
            stdout=self.stdout,
        )
        self.say(f"catalog ready in {time.monotonic() - step:.0f} s")
        self.say("the catalog model's training manifest (the 33% pool is paid pro rata to its tokens):")
        call_command("train_catalog_model", manifest_only=True, stdout=self.stdout)
        self.step_trained_catalog()

        artist = self.demo_artist()
        upload_set_id = self.step_uploads(artist.pk)
        generation_id = self.step_generate(upload_set_id, artist.pk, options["seed"], options["song_seconds"])
        release_id = self.step_publish(generation_id, artist.pk)
        self.step_royalties(release_id)
        self.heading("7. Escrow: why money is held, claims under four eyes, a later statement settled")
        call_command("demo_escrow", release=release_id, stdout=self.stdout)
        self.heading(f"Done in {time.monotonic() - started:.0f} s. Data folder: {settings.DATA_DIR}")

    # --- steps ------------------------------------------------------------
    def step_trained_catalog(self) -> None:
        """Register the rest of the catalog the model trained on: metadata and rights, no audio.

        The committed model trained on every entry of the 500-song demo catalog; only the first
        ``--catalog-size`` are rendered to audio (uploads are cut from them), the others enter the
        catalog with the same deterministic title, artist and rights, so the 33% pool reaches them.
        """
        started = time.monotonic()
        registered = register_trained_demo_catalog()
        self.say(
            f"registered {registered} more trained-on catalog recordings (rights only, no audio) "
            f"in {time.monotonic() - started:.0f} s"
        )

    def step_uploads(self, owner_id: int) -> int:
        from catalog.models import Recording
        from catalog.selectors import recording_search
        from songforge.storage import local_copy
        from uploads import selectors, services
        from uploads.models import Upload

        self.heading("3. Ten uploads, identified by fingerprint")
        recordings = list(Recording.objects.filter(is_demo=True).exclude(audio="").order_by("external_id")[:10])
        if len(recordings) < 10:
            raise CommandError(f"the demo catalog has {len(recordings)} songs with audio; 10 are needed")
        upload_set = services.upload_set_create(owner_id=owner_id, title=f"Demo set {timezone.now():%Y-%m-%d %H:%M}")
        for index, recording in enumerate(recordings):
            if index == 9:
                self.refusals(upload_set.pk, owner_id, "refused, leaving the set unchanged:", corrupt_files())
            with local_copy(recording.audio) as audio_path:  # S3 storage has no path: a streamed copy
                data = excerpt_as_mp3(str(audio_path), start_s=5.0 + index, seconds=15.0)
            upload = services.upload_add(
                upload_set_id=upload_set.pk,
                owner_id=owner_id,
                file=ContentFile(data, name=f"my-rip-{index + 1:02d}.mp3"),
            )
            self.say(f"uploaded {upload.original_name} ({len(data) // 1024} KB mp3, cut from '{recording.title}')")
        with local_copy(recordings[0].audio) as audio_path:
            eleventh = excerpt_as_mp3(str(audio_path), start_s=1.0, seconds=8.0)
        self.refusals(
            upload_set.pk, owner_id, "and once the set is full:", [("an 11th song", "eleventh.mp3", eleventh)]
        )

        self.wait_for(
            "identification",
            lambda: not selectors.upload_set_is_identifying(upload_set_id=upload_set.pk),
        )
        for upload in selectors.uploads_of_set(upload_set_id=upload_set.pk):
            expected = recordings[int(upload.original_name[7:9]) - 1]
            if upload.status == Upload.Status.MATCHED and upload.recording is not None:
                verdict = "correct" if upload.recording_id == expected.pk else f"WRONG (expected {expected.title})"
                self.say(
                    f"{upload.original_name}: matched '{upload.recording.title}' by {upload.recording.artist} "
                    f"via {upload.match_method}, confidence {upload.confidence:.2f}, offset {upload.offset_s:.1f} s "
                    f"— {verdict}"
                )
            else:
                hits = recording_search(expected.title, limit=1)
                self.say(
                    f"{upload.original_name}: {upload.status} {upload.failure_reason}; fixing by hand: "
                    f"search '{expected.title}' -> '{hits[0].title if hits else 'nothing'}'"
                )
                if not hits:
                    raise CommandError("the catalog search found nothing for a known title")
                services.upload_match_manually(upload_id=upload.pk, recording_id=hits[0].pk, owner_id=owner_id)
        readiness = selectors.upload_set_readiness(upload_set_id=upload_set.pk, owner_id=owner_id)
        self.say(f"ready to generate: {readiness.is_ready}")
        if not readiness.is_ready:
            raise CommandError(f"the set is not ready: {readiness}")
        return int(upload_set.pk)

    def step_generate(self, upload_set_id: int, owner_id: int, seed: int, seconds: int) -> int:
        from generation.models import Generation
        from generation.services.pipeline import generation_start

        terminal = {Generation.Status.SUCCEEDED, Generation.Status.FAILED, Generation.Status.CANCELLED}
        self.heading("4. Generating one new song (fine-tune 2/3 uploads : 1/3 catalog, compose, synthesise, master)")
        generation = generation_start(upload_set_id=upload_set_id, owner_id=owner_id, seed=seed, seconds=seconds)
        last: list[str] = [""]

        def finished() -> bool:
            current = Generation.objects.get(pk=generation.pk)
            line = f"stage {current.stage or '-'} {current.progress_percent}%"
            if line != last[0]:
                self.say(line)
                last[0] = line
            return current.status in terminal

        self.wait_for("generation", finished)
        generation.refresh_from_db()
        if generation.status != Generation.Status.SUCCEEDED:
            raise CommandError(f"generation {generation.status}: {generation.error}")
        summary = summarise_report(
            generation_report(generation_id=generation.pk), generation_sources(generation_id=generation.pk)
        )
        self.say(json.dumps(summary, indent=2))
        self.say(f"original: {generation.is_original}; master: {generation.master_wav.name}")
        from generation.services.takes import generation_take_keep, song_takes

        takes = song_takes(song_id=generation.pk)
        kept = generation_take_keep(generation_id=generation.pk, owner_id=owner_id)
        self.say(f"{len(takes)} takes made; keeping take {kept.take_number} (the one published)")
        return int(kept.pk)

    def step_publish(self, generation_id: int, owner_id: int) -> int:
        from distribution.models import Release
        from distribution.services.publish import release_publish

        self.heading("5. Publishing to the distributor (DDEX outbox by default)")
        release = release_publish(
            generation_id=generation_id,
            owner_id=owner_id,
            title="Forged in Ten",
            artist_name="SongForge Demo Artist",
            genre="Electronic",
            language="zxx",
            artwork=None,
            ai_disclosure="Composed and produced by SongForge's AI from ten source songs.",
        )
        self.wait_for(
            "delivery",
            lambda: Release.objects.get(pk=release.pk).status not in {Release.Status.DRAFT, Release.Status.QUEUED},
        )
        release.refresh_from_db()
        self.say(f"release {release.pk}: {release.title} — ISRC {release.isrc} — status {release.status}")
        self.say("split sheet (67% to the ten songs' holders, 33% to the catalog's):")
        call_command("split_sheet", str(release.pk), stdout=self.stdout)
        self.say_training_pool(release.pk)
        return int(release.pk)

    def say_training_pool(self, release_id: int) -> None:
        """The issue's yardstick: how much of the 33% training pool reaches named holders."""
        from royalties.selectors import split_sheet_json
        from royalties.splits import percent_of

        sheet = split_sheet_json(release_id=release_id)
        if sheet is None:
            return
        pool = sheet["training_pool"]
        named = int(pool["named_of_pool_ppm"])
        verdict = "target of 95% met" if named >= 950_000 else "BELOW the 95% target"
        self.say(
            f"training pool: {percent_of(named)} reaches named holders, {percent_of(pool['escrow_of_pool_ppm'])} "
            f"in escrow (sides without known holders) — {verdict}"
        )

    def step_royalties(self, release_id: int) -> None:
        from distribution.models import Release

        self.heading("6. Royalties: a statement in, the ledger split, payouts out")
        release = Release.objects.get(pk=release_id)
        period = timezone.now().strftime("%Y-%m")
        with tempfile.TemporaryDirectory() as folder:
            statement = Path(folder) / f"platoon-{period}.csv"
            write_demo_statement(statement, period=period, isrc=release.isrc)
            call_command(
                "royalties_import", str(statement), reference=f"demo-{period}-{release.isrc}", stdout=self.stdout
            )
            self.say("importing the same statement again:")
            call_command(
                "royalties_import", str(statement), reference=f"demo-{period}-{release.isrc}", stdout=self.stdout
            )
        call_command("royalties_payouts", period=period, stdout=self.stdout)
        call_command("ledger_check", stdout=self.stdout)

    # --- helpers ----------------------------------------------------------
    def refusals(self, upload_set_id: int, owner_id: int, title: str, files: list[tuple[str, str, bytes]]) -> None:
        from uploads import services

        self.say(title)
        for label, name, payload in files:
            try:
                services.upload_add(
                    upload_set_id=upload_set_id, owner_id=owner_id, file=ContentFile(payload, name=name)
                )
            except DomainError as error:
                self.say(f"  {label}: {error.code}: {error.message}")
            else:
                raise CommandError(f"{label} was accepted; it must be refused")

    def demo_artist(self) -> Any:
        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            email=DEMO_EMAIL, defaults={"username": "demo-artist", "first_name": "Demo"}
        )
        # uploading needs a confirmed address (uploads.services.upload_add)
        EmailAddress.objects.update_or_create(user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True})
        return user

    def wait_for(self, what: str, is_done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.timeout
        while not is_done():
            if time.monotonic() > deadline:
                raise CommandError(f"{what} did not finish within {self.timeout:.0f} s")
            time.sleep(0.5)

    def heading(self, text: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"\n{text}"))

    def say(self, text: str) -> None:
        self.stdout.write(f"  {text}")


def _demo_builder() -> Any:
    """The demo catalog builder module (``demo.catalog_build``; ``catalog.demo_build`` before the move)."""
    import importlib

    try:
        return importlib.import_module("demo.catalog_build")
    except ModuleNotFoundError:
        return importlib.import_module("catalog.demo_build")


def _trained_entry(job: tuple[int, int]) -> dict[str, Any]:
    """The manifest entry (metadata and rights) of demo-catalog entry ``index`` as the model trained on it."""
    demo_build = _demo_builder()
    index, size = job
    _, record = demo_build.arrange_entry(index, 0, size=size, seconds=TRAINED_CATALOG_SECONDS)
    return dict(record["entry"])


def register_trained_demo_catalog() -> int:
    """Import the demo-catalog entries the committed model trained on that the catalog lacks (rights only).

    Reads the committed training manifest, rebuilds each missing ``catalog:demo-NNNNN`` entry's
    metadata and rights with the demo builder (deterministic, no audio rendered), writes them through
    the catalog services and links the training items. Returns how many recordings were created.
    """
    from django.db import transaction

    from catalog.models import Recording, ShareChange
    from catalog.services import recording_shares_set, recording_upsert, rights_holder_get_or_create
    from generation.ml.catalog_training import MANIFEST_NAME
    from generation.services.training import link_imported_recordings

    manifest = Path(settings.GENERATION_CHECKPOINT).parent / MANIFEST_NAME
    if not manifest.exists():
        return 0
    demo_build = _demo_builder()
    prefix = "catalog:demo-"
    wanted = sorted(
        int(item["source_id"][len(prefix) :]) - 1
        for item in json.loads(manifest.read_text())["items"]
        if item["source_id"].startswith(prefix) and not item.get("held_out")
    )
    present = set(
        Recording.objects.filter(external_id__in=[demo_build.entry_id(i) for i in wanted]).values_list(
            "external_id", flat=True
        )
    )
    kinds = {name: "label" for name in demo_build.LABELS} | {name: "publisher" for name in demo_build.PUBLISHERS}
    missing = [(index, TRAINED_CATALOG_SIZE) for index in wanted if demo_build.entry_id(index) not in present]
    workers = max(1, min(os.cpu_count() or 1, len(missing)))
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            entries = list(pool.map(_trained_entry, missing, chunksize=8))
    else:
        entries = [_trained_entry(job) for job in missing]
    created: list[int] = []
    with transaction.atomic():
        holders: dict[str, int] = {}
        for entry in entries:
            recording, _ = recording_upsert(
                external_id=entry["id"],
                title=entry["title"],
                artist=entry["artist"],
                album=entry["album"],
                isrc=entry["isrc"],
                genre=entry["genre"],
                release_year=entry["year"],
                duration_ms=entry["duration_ms"],
                composer=entry["composer"],
                source=entry["source"],
                license=entry["license"],
                is_demo=True,
            )
            for side, shares in entry["rights"].items():
                ids = []
                for share in shares:
                    name = share["holder"]
                    if name not in holders:
                        holder, _ = rights_holder_get_or_create(name=name, kind=kinds.get(name, "writer"), is_demo=True)
                        holders[name] = holder.pk
                    ids.append((holders[name], int(share["share_bps"])))
                recording_shares_set(
                    recording_id=recording.pk, side=side, shares=ids, by_user_id=None, source=ShareChange.Source.IMPORT
                )
            created.append(recording.pk)
    if created:
        link_imported_recordings(created)
    return len(created)


def excerpt_as_mp3(path: str, *, start_s: float, seconds: float) -> bytes:
    """Cut an excerpt and encode it as a 128 kb/s MP3, like a listener's rip."""
    import numpy as np

    from catalog.fingerprint.audio import decode
    from generation.synthesis.deliver import encode
    from generation.synthesis.features import SAMPLE_RATE

    mono = decode(path, sample_rate=SAMPLE_RATE, max_seconds=start_s + seconds)[int(start_s * SAMPLE_RATE) :]
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "excerpt.mp3"
        encode(target, np.stack([mono, mono]), container="mp3", codec="mp3", bit_rate=128_000)
        return target.read_bytes()


def corrupt_files() -> list[tuple[str, str, bytes]]:
    return [
        ("a corrupt mp3", "broken.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00garbage" * 64),
        ("a text file named .mp3", "notes.mp3", b"these are lyrics, not audio\n" * 8),
    ]


def write_demo_statement(path: Path, *, period: str, isrc: str) -> None:
    """A distributor statement: the demo release on several stores, plus one ISRC nobody knows (suspense)."""
    rows = [
        ("spotify", "US", isrc, 120_000, "412.337120"),
        ("spotify", "GB", isrc, 40_500, "131.904511"),
        ("apple-music", "US", isrc, 38_250, "281.130000"),
        ("apple-music", "DE", isrc, 9_999, "70.012345"),
        ("youtube-music", "BR", isrc, 77_000, "38.500001"),
        ("spotify", "US", "USXYZ2600001", 1_000, "3.990000"),
    ]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["period", "store", "territory", "isrc", "units", "net_revenue", "currency"])
        for store, territory, code, units, revenue in rows:
            writer.writerow([period, store, territory, code, units, revenue, "USD"])


def summarise_report(report: GenerationReport, sources: Sequence[SourceShare]) -> dict[str, Any]:
    """The figures an artist reads on the song page, without the per-attempt detail."""
    summary: dict[str, Any] = {"tempo_bpm_composed": report.tempo_bpm, "key": report.key}
    master = report.master
    summary["measured_master"] = (
        {
            "tempo_bpm_measured": master.tempo_bpm,
            "length_s": master.length_s,
            "integrated_lufs": master.integrated_lufs,
            "true_peak_dbtp": master.true_peak_dbtp,
            "key": master.key,
        }
        if master
        else {}
    )
    originality = report.originality
    summary["originality"] = (
        {
            "is_original": originality.is_original,
            "longest_shared_notes": originality.longest_shared_notes,
            "max_shared_notes_threshold": originality.max_shared_notes,
            "longest_shared_with_catalog": originality.longest_shared_with_catalog,
        }
        if originality
        else {}
    )
    summary["influence_method"] = report.influence_method
    summary["source_pool_ppb_by_upload"] = {str(source.upload_id): source.share_ppb for source in sources}
    return summary
