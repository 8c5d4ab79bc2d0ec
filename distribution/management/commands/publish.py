"""Publish a finished song from the command line (used by the headless demo)."""

from __future__ import annotations

from typing import Any

import dramatiq
from django.core.management.base import BaseCommand, CommandError, CommandParser

from distribution import selectors, tasks
from distribution.clients import ern
from distribution.clients.base import DistributorError
from distribution.services import delivery, publish
from generation.services.release import generation_for_release
from songforge import jobs
from songforge.errors import DomainError, NotFound


def _drain_embedded_queue() -> None:
    """Let the in-process worker finish the (now no-op) queued delivery before the process exits."""
    if jobs.is_embedded() and jobs.embedded_worker() is not None:
        dramatiq.get_broker().join(tasks.DELIVERY_QUEUE, timeout=120_000)


class Command(BaseCommand):
    help = "Publish generation ID as a release, deliver it to the configured distributor and print the split sheet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--generation", type=int, required=True, help="Generation id (a finished, original song).")
        parser.add_argument("--title", required=True)
        parser.add_argument("--artist", required=True, help="Display artist name.")
        parser.add_argument("--genre", default="Electronic")
        parser.add_argument("--language", default="en", help="ISO 639 code of the lyrics/performance.")
        parser.add_argument(
            "--ai-disclosure",
            default="Music composed and produced by SongForge's generative model from the artist's reference songs.",
        )
        parser.add_argument("--no-deliver", action="store_true", help="Only queue the release; a worker delivers it.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            generation = generation_for_release(generation_id=options["generation"], owner_id=None)
        except NotFound:
            raise CommandError(f"No generation {options['generation']} exists.") from None
        try:
            release = publish.release_publish(
                generation_id=generation.pk,
                owner_id=generation.upload_set.owner_id,
                title=options["title"],
                artist_name=options["artist"],
                genre=options["genre"],
                language=options["language"],
                artwork=None,
                ai_disclosure=options["ai_disclosure"],
            )
            if not options["no_deliver"]:
                release = delivery.release_deliver(release_id=release.pk)
                _drain_embedded_queue()
        except DistributorError as exc:
            kind = "permanent" if exc.permanent else "retryable"
            raise CommandError(f"Delivery failed ({kind}): {exc.message}") from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        report = selectors.release_status(release=release)
        self.stdout.write(f"Release {report.release_id}: {report.artist_name} – {report.title}")
        self.stdout.write(f"  ISRC:        {report.isrc}")
        self.stdout.write(f"  Status:      {report.status_label} ({report.distributor})")
        if report.outbox_path:
            self.stdout.write(f"  Outbox:      {report.outbox_path}")
        if report.distributor_release_id and not report.outbox_path:
            self.stdout.write(f"  Distributor: {report.distributor_release_id}")
        self.stdout.write(f"  Split sheet ({len(report.splits)} holders, {sum(s.ppb for s in report.splits):,} ppb):")
        for line in report.splits:
            self.stdout.write(f"    {ern.share_percentage(line.ppb):>12} %  {line.holder_name} ({line.holder_kind})")
        for event in report.events:
            self.stdout.write(f"  [{event.kind}/{event.status}] {event.detail}")
