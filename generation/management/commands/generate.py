"""Run the generation pipeline headless: for an upload set, or for audio files on disk.

    python manage.py generate --set ID [--seed N] [--json]
    python manage.py generate FILE... --out DIR [--seed N] [--seconds S] [--json]

With files, a throwaway upload set (owned by the `generate-cli` user) is created with the files
marked as matched to placeholder catalog recordings, so the run needs no identification.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from generation.models import Generation, Upload, UploadSet
from generation.services import generation_run, generation_start
from songforge.errors import DomainError


class Command(BaseCommand):
    help = "Generate a song from an upload set (--set) or from audio files (FILE... --out DIR)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="*", type=Path)
        parser.add_argument("--set", dest="upload_set_id", type=int)
        parser.add_argument("--out", type=Path)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--seconds", type=int)
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        files: list[Path] = options["files"]
        if bool(files) == bool(options["upload_set_id"]):
            raise CommandError("Give either --set ID or audio FILEs (with --out DIR).")
        if files and not options["out"]:
            raise CommandError("--out DIR is required with audio files.")
        upload_set_id = options["upload_set_id"] or self._set_from_files(files)
        started = time.monotonic()
        try:
            with self.captureOnCommit():
                generation = generation_start(
                    upload_set_id=upload_set_id, seed=options["seed"], seconds=options["seconds"]
                )
            generation = generation_run(generation_id=generation.pk)
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        elapsed = time.monotonic() - started
        if options["out"]:
            self._export(generation, options["out"])
        result = {
            "generation_id": generation.pk,
            "status": generation.status,
            "error": generation.error,
            "seed": generation.seed,
            "wall_time_s": round(elapsed, 1),
            "report": generation.report,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, default=str))
        else:
            self.stdout.write(f"generation {generation.pk}: {generation.status} in {elapsed:.1f} s {generation.error}")
        if generation.status != Generation.Status.SUCCEEDED:
            raise CommandError(f"generation {generation.pk} ended {generation.status}: {generation.error}")

    def captureOnCommit(self) -> Any:
        """Run the pipeline in this process instead of enqueueing it."""
        from unittest import mock

        return mock.patch("generation.tasks.generation_run_task.send", return_value=None)

    def _set_from_files(self, files: list[Path]) -> int:
        from catalog.models import Recording

        user, _ = get_user_model().objects.get_or_create(username="generate-cli", defaults={"email": "cli@localhost"})
        with transaction.atomic():
            upload_set = UploadSet.objects.create(owner=user, title="generate " + time.strftime("%Y-%m-%d %H:%M"))
            for path in files:
                if not path.is_file():
                    raise CommandError(f"{path} is not a file.")
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                recording, _ = Recording.objects.get_or_create(
                    external_id=f"cli-{digest[:32]}", defaults={"title": path.stem[:300], "artist": "Unknown"}
                )
                upload = Upload(
                    upload_set=upload_set,
                    original_name=path.name,
                    audio_format=path.suffix.lstrip(".").lower(),
                    size_bytes=path.stat().st_size,
                    sha256=digest,
                    status=Upload.Status.MATCHED,
                    match_method=Upload.Method.MANUAL,
                    recording=recording,
                )
                with path.open("rb") as handle:
                    upload.audio.save(path.name, File(handle), save=False)
                upload.save()
        return upload_set.pk

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
