"""Catalog recordings and who owns their rights.

A recording's rights are split on two sides, master and publishing, each in basis
points summing to exactly 10,000 once complete. Holders are never deleted while
shares point at them (money depends on them).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from songforge.codes import ISRC_REGEX


class RightsHolder(models.Model):
    class Kind(models.TextChoices):
        LABEL = "label", "Label"
        PUBLISHER = "publisher", "Publisher"
        WRITER = "writer", "Writer"
        ARTIST = "artist", "Artist"
        ESCROW = "escrow", "Unclaimed (escrow)"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    contact_email = models.EmailField(blank=True)
    payout_details = models.TextField(blank=True, help_text="Bank or payment account; shown to staff only.")
    is_demo = models.BooleanField(default=False, help_text="Invented for the demo catalog.")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="rights_holder",
        help_text="The account whose API token reads this holder's statements.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("change_payout_details", "Can change a rights holder's payout details"),
            ("link_holder_user", "Can link a rights holder to a user account"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["kind"], condition=models.Q(kind="escrow"), name="one_escrow_holder"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


class Recording(models.Model):
    class Provider(models.TextChoices):
        LOCAL = "local", "Local catalog"
        APPLE_MUSIC = "apple-music", "Apple Music"

    class RightsStatus(models.TextChoices):
        UNKNOWN = "unknown", "Unknown holders"
        COMPLETE = "complete", "Complete"
        VERIFIED = "verified", "Verified by staff"

    external_id = models.CharField(
        max_length=100, unique=True, help_text="The manifest id (local) or a stable id from the provider."
    )
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.LOCAL)
    apple_music_id = models.CharField(max_length=32, null=True, blank=True, unique=True)
    title = models.CharField(max_length=300)
    artist = models.CharField(max_length=300)
    album = models.CharField(max_length=300, blank=True)
    isrc = models.CharField(max_length=12, null=True, blank=True, db_index=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    genre = models.CharField(max_length=100, blank=True)
    release_year = models.PositiveSmallIntegerField(null=True, blank=True)
    artwork = models.FileField(upload_to="catalog/artwork/", blank=True)
    artwork_url = models.URLField(max_length=500, blank=True)
    audio = models.FileField(upload_to="catalog/audio/", blank=True)
    audio_sha256 = models.CharField(max_length=64, blank=True)
    apple_music_ids = models.JSONField(
        default=list, blank=True, help_text="Every Apple Music song id seen for this ISRC; apple_music_id is canonical."
    )
    preview_url = models.URLField(max_length=500, blank=True)
    preview_audio = models.FileField(upload_to="catalog/previews/", blank=True)
    composer = models.CharField(max_length=300, blank=True)
    source = models.CharField(
        max_length=300, blank=True, help_text="Where the recording came from (demo: corpus work)."
    )
    license = models.CharField(max_length=200, blank=True)
    manifest_sha256 = models.CharField(
        max_length=64, blank=True, help_text="Hash of the manifest entry last imported; unchanged entries are skipped."
    )
    search_text = models.TextField(
        blank=True, editable=False, help_text="Lower-case, accent-free title, artist and album for search."
    )
    rights_status = models.CharField(max_length=16, choices=RightsStatus.choices, default=RightsStatus.UNKNOWN)
    rights_verified_at = models.DateTimeField(null=True, blank=True)
    rights_verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_demo = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["artist", "title"]
        permissions = [("verify_rights", "Can mark recordings' rights verified")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(isrc__isnull=True) | models.Q(isrc__regex=ISRC_REGEX),
                name="recording_isrc_format",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.artist} – {self.title}"

    @property
    def is_rights_complete(self) -> bool:
        """Both sides hold exactly 10,000 bps (staff verification is a further step)."""
        return self.rights_status in (self.RightsStatus.COMPLETE, self.RightsStatus.VERIFIED)


class RecordingShare(models.Model):
    class Side(models.TextChoices):
        MASTER = "master", "Master"
        PUBLISHING = "publishing", "Publishing"

    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="shares")
    holder = models.ForeignKey(RightsHolder, on_delete=models.PROTECT, related_name="shares")
    side = models.CharField(max_length=16, choices=Side.choices)
    share_bps = models.PositiveIntegerField(help_text="Basis points: 10,000 = 100% of this side.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["recording_id", "side", "holder_id"]
        constraints = [
            models.UniqueConstraint(fields=["recording", "side", "holder"], name="one_share_per_holder_side"),
            models.CheckConstraint(
                condition=models.Q(share_bps__gte=1) & models.Q(share_bps__lte=10_000), name="share_bps_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.holder.name}: {self.share_bps / 100:.2f}% {self.side} of {self.recording_id}"


class ShareChange(models.Model):
    """One change to one side of a recording's shares: append-only history, written by the service only."""

    class Source(models.TextChoices):
        STAFF = "staff", "Staff (admin)"
        IMPORT = "import", "Manifest import"
        PROVIDER = "provider", "Catalog provider"
        SYSTEM = "system", "System"

    recording = models.ForeignKey(Recording, on_delete=models.PROTECT, related_name="share_changes")
    side = models.CharField(max_length=16, choices=RecordingShare.Side.choices)
    old_shares = models.JSONField(help_text='[{"holder_id", "holder", "share_bps"}] before the change.')
    new_shares = models.JSONField(help_text='[{"holder_id", "holder", "share_bps"}] after the change.')
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.STAFF)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recording", "created_at"], name="sharechange_recording_idx")]

    def __str__(self) -> str:
        return f"{self.side} shares of {self.recording_id} changed at {self.created_at:%Y-%m-%d %H:%M}"
