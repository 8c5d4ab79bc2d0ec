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
        REVIEW = "review", "Waiting for review"
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
            models.CheckConstraint(
                condition=~models.Q(status="review") | models.Q(recording__isnull=False, match_method="manual"),
                name="upload_in_review_has_claimed_recording",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.status})"


class MatchClaim(models.Model):
    """An artist's claim that an upload is a given catalog recording, until a staff reviewer decides.

    A claim steers the 67% pool (the recording's holders are paid from the new song), so it is a
    claim, not a fact: the upload waits in ``review`` until someone other than the claimant approves
    it. ``evidence`` records why a person had to decide (what identification found, and when).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="match_claims")
    recording = models.ForeignKey("catalog.Recording", on_delete=models.PROTECT, related_name="match_claims")
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="match_claims_made")
    evidence = models.JSONField(default=dict, help_text="What automatic identification found when the claim was made.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="match_claims_reviewed",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        permissions = [("review_matchclaim", "Can approve or reject artists' manual matches")]
        constraints = [
            models.UniqueConstraint(
                fields=["upload"], condition=models.Q(status="pending"), name="one_pending_claim_per_upload"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "withdrawn"])
                | models.Q(reviewed_by__isnull=False, reviewed_at__isnull=False),
                name="decided_claim_has_reviewer",
            ),
            models.CheckConstraint(
                condition=~models.Q(reviewed_by=models.F("claimed_by")), name="claim_not_reviewed_by_claimant"
            ),
        ]

    def __str__(self) -> str:
        return f"Claim {self.pk}: upload {self.upload_id} is recording {self.recording_id} ({self.status})"
