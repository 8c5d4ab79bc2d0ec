"""An artist's set of ten uploads: each song stored, checked and matched to a catalog recording.

The tables kept their names from when these models lived in the generation app (``db_table``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UploadSet(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_sets")
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "generation_uploadset"  # the table predates the uploads app; moving it moved no data
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title or f"Upload set {self.pk}"


class Upload(models.Model):
    class Status(models.TextChoices):
        IDENTIFYING = "identifying", "Identifying"
        MATCHED = "matched", "Matched"
        UNMATCHED = "unmatched", "No match"
        FAILED = "failed", "Failed"

    class Method(models.TextChoices):
        ISRC = "isrc", "ISRC tag"
        FINGERPRINT = "fingerprint", "Fingerprint"
        SHAZAM = "shazam", "Shazam"
        MANUAL = "manual", "Picked by hand"

    upload_set = models.ForeignKey(UploadSet, on_delete=models.CASCADE, related_name="uploads")
    original_name = models.CharField(max_length=255)
    audio = models.FileField(upload_to="uploads/%Y/%m/")
    audio_format = models.CharField(max_length=16)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    duration_s = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IDENTIFYING)
    recording = models.ForeignKey(
        "catalog.Recording", null=True, blank=True, on_delete=models.PROTECT, related_name="uploads"
    )
    match_method = models.CharField(max_length=16, choices=Method.choices, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    offset_s = models.FloatField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    identify_claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When an identification run claimed this upload (stale claims are retaken)."
    )
    identify_attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Identification runs started since the upload (or its last 'Identify again')."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "generation_upload"
        ordering = ["upload_set_id", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["upload_set", "sha256"], name="upload_unique_audio_per_set"),
            models.CheckConstraint(
                condition=~models.Q(status="matched") | models.Q(recording__isnull=False),
                name="matched_upload_has_recording",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.status})"
