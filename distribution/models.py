"""Releases sent to a distributor."""

from __future__ import annotations

from django.db import models


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

    generation = models.OneToOneField("generation.Generation", on_delete=models.PROTECT, related_name="release")
    title = models.CharField(max_length=300)
    artist_name = models.CharField(max_length=300)
    isrc = models.CharField(max_length=12, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.artist_name} – {self.title} ({self.isrc})"
