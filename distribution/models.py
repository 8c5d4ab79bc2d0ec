"""Releases sent to a distributor, their ISRC counter and delivery log.

A release is created once per generation (publishing twice returns the same
row); its metadata is frozen at publish. Status moves only along
``Release.ALLOWED`` and only through ``distribution.services``.
"""

from __future__ import annotations

import uuid

from django.db import models

from songforge.codes import ISRC_REGEX


class Release(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        QUEUED = "queued", "Queued for delivery"
        SUBMITTED = "submitted", "Submitted"
        IN_REVIEW = "in_review", "In review"
        LIVE = "live", "Live"
        REJECTED = "rejected", "Rejected"
        TAKEN_DOWN = "taken_down", "Taken down"
        FAILED = "failed", "Delivery failed"

    class Distributor(models.TextChoices):
        OUTBOX = "outbox", "DDEX outbox"
        PLATOON = "platoon", "Platoon"

    # Every legal move; anything else is refused with both states named.
    ALLOWED: dict[str, frozenset[str]] = {
        Status.DRAFT: frozenset({Status.QUEUED}),
        Status.QUEUED: frozenset({Status.SUBMITTED, Status.IN_REVIEW, Status.LIVE, Status.REJECTED, Status.FAILED}),
        Status.FAILED: frozenset({Status.QUEUED}),
        Status.SUBMITTED: frozenset({Status.IN_REVIEW, Status.LIVE, Status.REJECTED, Status.TAKEN_DOWN}),
        Status.IN_REVIEW: frozenset({Status.LIVE, Status.REJECTED, Status.TAKEN_DOWN}),
        Status.LIVE: frozenset({Status.TAKEN_DOWN}),
        Status.REJECTED: frozenset({Status.TAKEN_DOWN}),
        Status.TAKEN_DOWN: frozenset(),
    }

    generation = models.OneToOneField("generation.Generation", on_delete=models.PROTECT, related_name="release")
    title = models.CharField(max_length=300)
    artist_name = models.CharField(max_length=300)
    isrc = models.CharField(max_length=12, unique=True)
    genre = models.CharField(max_length=100, default="", blank=True)
    language = models.CharField(max_length=8, default="", blank=True, help_text="ISO 639-1 code, e.g. 'en'.")
    ai_disclosure = models.TextField(default="", blank=True)
    artwork = models.FileField(upload_to="releases/artwork/", blank=True)
    is_artwork_generated = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0)
    audio_sha256 = models.CharField(max_length=64, default="", blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    distributor = models.CharField(max_length=16, choices=Distributor.choices, default=Distributor.OUTBOX)
    delivery_key = models.UUIDField(
        default=uuid.uuid4, editable=False, help_text="Idempotency key sent with every delivery."
    )
    distributor_release_id = models.CharField(max_length=200, default="", blank=True, db_index=True)
    delivery_attempts = models.PositiveIntegerField(default=0)
    store_links = models.JSONField(default=dict, blank=True)
    rejection_reasons = models.JSONField(default=list, blank=True)
    outbox_path = models.CharField(max_length=500, default="", blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    taken_down_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("take_down_release", "Can take a release down through its distributor"),
            ("deliver_release", "Can deliver a release again and refresh its status"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(isrc__regex=ISRC_REGEX), name="release_isrc_format"),
        ]

    def __str__(self) -> str:
        return f"{self.artist_name} – {self.title} ({self.isrc})"


class IsrcCounter(models.Model):
    """The last designation code handed out per registrant prefix and year.

    Services increment it with a row lock inside the publishing transaction, so
    two concurrent publishes never read the same value and a rolled-back
    publish gives its number back without any code having been used.
    """

    prefix = models.CharField(max_length=5, help_text="Country code + registrant code, e.g. QZS8F.")
    year = models.PositiveSmallIntegerField(help_text="Two-digit year of reference, 0–99.")
    last_designation = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["prefix", "year"]
        constraints = [
            models.UniqueConstraint(fields=["prefix", "year"], name="one_isrc_counter_per_prefix_year"),
            models.CheckConstraint(condition=models.Q(last_designation__lte=99_999), name="isrc_designation_range"),
        ]

    def __str__(self) -> str:
        return f"{self.prefix}{self.year:02d}: {self.last_designation:05d}"


class DeliveryEvent(models.Model):
    """Append-only log of everything that happened to a release on its way out."""

    class Kind(models.TextChoices):
        PUBLISHED = "published", "Published"
        DELIVERY = "delivery", "Delivery"
        STATUS = "status", "Status update"
        WEBHOOK = "webhook", "Webhook"
        TAKEDOWN = "takedown", "Takedown"

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        RETRY = "retry", "Will retry"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored"

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["release_id", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.status} for release {self.release_id}"
