"""Run the generation pipeline headless: for an upload set, or for audio files on disk.

    python manage.py generate --set ID [--seed N] [--takes 1|2] [--json]
    python manage.py generate FILE... --out DIR [--seed N] [--seconds S] [--takes 1|2] [--json]

Two takes by default (SONGFORGE_GENERATION_TAKES; one fine-tune, two seeds); the result lists each take's generation id.

With files, an upload set owned by the `generate-cli` user is filled through the real upload
services: every refusal applies (size, format, damaged audio, duplicates, a full set) and each file
is identified against the catalog in this process. A file the catalog does not know is matched by
hand to a placeholder recording ``cli-<sha256 prefix>`` with no rights holders (its royalties would
go to escrow); the command names every such recording on stderr and in the JSON result.

The pipeline runs in this process; nothing is enqueued for it.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from catalog.services import recording_upsert
from generation.models import Generation
from generation.services import generation_run, generation_start
from generation.services.takes import song_takes
from songforge.errors import DomainError
from uploads import selectors, services

IDENTIFY_WAIT_S = 600


class Command(BaseCommand):
    help = "Generate a song from an upload set (--set) or from audio files (FILE... --out DIR)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="*", type=Path)
        parser.add_argument("--set", dest="upload_set_id", type=int)
        parser.add_argument("--out", type=Path)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--seconds", type=int)
        parser.add_argument(
            "--takes", type=int, default=None, help="takes to compose (1 or 2; default SONGFORGE_GENERATION_TAKES, 2)"
        )
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        files: list[Path] = options["files"]
        if bool(files) == bool(options["upload_set_id"]):
            raise CommandError("Give either --set ID or audio FILEs (with --out DIR).")
        if files and not options["out"]:
            raise CommandError("--out DIR is required with audio files.")
        without_rights: list[str] = []
        try:
            upload_set_id = options["upload_set_id"] or self._set_from_files(files, without_rights)
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        started = time.monotonic()
        try:
            generation = generation_start(
                upload_set_id=upload_set_id,
                seed=options["seed"],
                seconds=options["seconds"],
                takes=options["takes"],
                enqueue=False,
            )
            generation = generation_run(generation_id=generation.pk)
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        elapsed = time.monotonic() - started
        if options["out"]:
            for take in song_takes(song_id=generation.pk):  # take 1 into DIR, take N into DIR/take-N
                self._export(
                    take, options["out"] if take.take_number == 1 else options["out"] / f"take-{take.take_number}"
                )
        result = {
            "generation_id": generation.pk,
            "status": generation.status,
            "error": generation.error,
            "seed": generation.seed,
            "wall_time_s": round(elapsed, 1),
            "report": generation.report,
            "takes": [
                {"generation_id": take.pk, "take": take.take_number, "status": take.status, "seed": take.seed}
                for take in song_takes(song_id=generation.pk)
            ],
            "recordings_without_rights": without_rights,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, default=str))
        else:
            self.stdout.write(f"generation {generation.pk}: {generation.status} in {elapsed:.1f} s {generation.error}")
        if generation.status != Generation.Status.SUCCEEDED:
            raise CommandError(f"generation {generation.pk} ended {generation.status}: {generation.error}")

    def _set_from_files(self, files: list[Path], without_rights: list[str]) -> int:
        """A new set holding ``files``, added, identified and (if need be) matched through the upload services."""
        for path in files:
            if not path.is_file():
                raise CommandError(f"{path} is not a file.")
        user, _ = get_user_model().objects.get_or_create(username="generate-cli", defaults={"email": "cli@localhost"})
        upload_set = services.upload_set_create(owner_id=user.pk, title="generate " + time.strftime("%Y-%m-%d %H:%M"))
        for path in files:
            with path.open("rb") as handle:
                upload = services.upload_add(upload_set_id=upload_set.pk, file=File(handle, name=path.name))
            services.upload_identify(upload_id=upload.pk)  # here; the queued message then finds it done
        self._wait_for_identification(upload_set.pk)
        for upload in selectors.uploads_of_set(upload_set_id=upload_set.pk):
            if upload.status == upload.Status.FAILED:
                raise CommandError(f"{upload.original_name}: {upload.failure_reason}")
            if upload.recording_id is not None:
                continue
            with transaction.atomic():
                recording, _ = recording_upsert(
                    external_id=f"cli-{upload.sha256[:32]}",
                    title=Path(upload.original_name).stem[:300],
                    artist="Unknown",
                )
            services.upload_match_manually(upload_id=upload.pk, recording_id=recording.pk)
            without_rights.append(recording.external_id)
            self.stderr.write(
                f"{upload.original_name}: not in the catalog; matched to placeholder recording "
                f"{recording.external_id} (id {recording.pk}), which has no rights holders: "
                "its royalties would go to escrow."
            )
        readiness = selectors.upload_set_readiness(upload_set_id=upload_set.pk)
        if not readiness.is_ready:
            raise CommandError("The set is not ready: " + " ".join(readiness.reasons))
        return upload_set.pk

    def _wait_for_identification(self, upload_set_id: int) -> None:
        """Wait for uploads a worker claimed before this process could (their result must not be overridden)."""
        deadline = time.monotonic() + IDENTIFY_WAIT_S
        while selectors.upload_set_is_identifying(upload_set_id=upload_set_id):
            if time.monotonic() > deadline:
                raise CommandError(f"Identification of set {upload_set_id} did not finish in {IDENTIFY_WAIT_S} s.")
            time.sleep(0.5)

    def _export(self, generation: Generation, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        for field_name in ("master_wav", "listen_m4a", "listen_mp3", "peaks"):
            field = getattr(generation, field_name)
            if field:
                with field.open("rb") as source, (out / Path(field.name).name).open("wb") as target:
                    shutil.copyfileobj(source, target)
        guard = generation.stages.filter(name="guard", status="done").first()
        if guard is not None:
            from django.core.files.storage import default_storage

            with default_storage.open(guard.output["final"]["midi"], "rb") as source:
                (out / "composition.mid").write_bytes(source.read())
        (out / "report.json").write_text(json.dumps(generation.report, indent=2, default=str))
