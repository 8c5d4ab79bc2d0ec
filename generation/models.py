"""Generations made from an upload set, their stages, per-upload features and the training manifest."""

from __future__ import annotations

from django.db import models


class Generation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    upload_set = models.ForeignKey("uploads.UploadSet", on_delete=models.PROTECT, related_name="generations")
    # A generation makes two takes (two seeds): this row is the song and its take 1; take 2 is
    # another row with ``take_of`` pointing here. The takes share the analyse, transcribe and
    # fine-tune stages (stored on this row); each has its own compose..report stages, files,
    # report and source shares. The artist keeps one; only the kept take can be published.
    take_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="other_takes",
        help_text="The song's first take; empty when this row is the first take (and the song itself).",
    )
    take_number = models.PositiveSmallIntegerField(default=1)
    is_kept = models.BooleanField(default=False, help_text="The take the artist keeps; only it can be published.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=32, blank=True)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    seed = models.BigIntegerField(default=0)
    title = models.CharField(max_length=200, blank=True)
    # The report holds tempo, key, length, loudness, originality figures and
    # report["influence"] = [{"upload_id", "recording_id", "share"}] (shares sum to 1).
    report = models.JSONField(default=dict, blank=True)
    is_original = models.BooleanField(null=True, help_text="Whether the originality guard passed; null until it ran.")
    master_wav = models.FileField(upload_to="generations/", blank=True)
    listen_m4a = models.FileField(upload_to="generations/", blank=True)
    listen_mp3 = models.FileField(upload_to="generations/", blank=True)
    peaks = models.FileField(upload_to="generations/", blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(take_of__isnull=True) & models.Q(take_number=1))
                | (models.Q(take_of__isnull=False) & models.Q(take_number__gte=2)),
                name="generation_take_number_matches_take_of",
            ),
            models.UniqueConstraint(
                fields=["take_of", "take_number"],
                condition=models.Q(take_of__isnull=False),
                name="one_generation_row_per_take",
            ),
        ]

    def __str__(self) -> str:
        take = f" take {self.take_number}" if self.take_of_id else ""
        return f"Generation {self.pk}{take} ({self.status})"

    @property
    def song_id(self) -> int:
        """The id of the song this take belongs to (its first take's row)."""
        return int(self.take_of_id or self.pk)


class UploadFeatures(models.Model):
    """Audio features and the quantised transcription of one upload, computed once and reused.

    ``features`` holds tempo, beats, key, chords, loudness, timbre and sections; ``tokens`` the
    transcription as model tokens. ``analysed_at``/``transcribed_at`` mark the two stages done.
    """

    upload = models.OneToOneField("uploads.Upload", on_delete=models.CASCADE, related_name="features")
    audio_sha256 = models.CharField(max_length=64)
    features = models.JSONField(default=dict, blank=True)
    tokens = models.JSONField(default=list, blank=True)
    token_count = models.PositiveIntegerField(default=0)
    transcription_midi = models.FileField(upload_to="features/", blank=True)
    analysed_at = models.DateTimeField(null=True, blank=True)
    transcribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["upload_id"]

    def __str__(self) -> str:
        return f"Features of upload {self.upload_id}"


class TrainingRecording(models.Model):
    """One item the catalog model was trained on (a row of its training manifest).

    The 33% catalog royalty pool is paid pro rata to ``token_count``; items without a
    ``recording`` have no known holders and their share goes to escrow.
    """

    source_id = models.CharField(max_length=300, unique=True)
    title = models.CharField(max_length=300, blank=True)
    collection = models.CharField(max_length=100)
    licence = models.TextField()
    is_commercial_ok = models.BooleanField()
    token_count = models.PositiveIntegerField()
    is_held_out = models.BooleanField(default=False, help_text="Held out for evaluation: not trained on.")
    recording = models.ForeignKey(
        "catalog.Recording", null=True, blank=True, on_delete=models.PROTECT, related_name="training_items"
    )
    model_version = models.CharField(max_length=64, help_text="sha256 prefix of the checkpoint it trained.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source_id"]
        permissions = [("link_training_recording", "Can change which recording a training item pays")]
        constraints = [
            models.CheckConstraint(condition=models.Q(token_count__gte=1), name="training_item_has_tokens"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} ({self.token_count} tokens)"


class GenerationStage(models.Model):
    """The persisted output of one pipeline stage of a generation; a finished stage never reruns."""

    class Name(models.TextChoices):
        ANALYSE = "analyse", "Analyse"
        TRANSCRIBE = "transcribe", "Transcribe"
        FINETUNE = "finetune", "Fine-tune"
        COMPOSE = "compose", "Compose"
        GUARD = "guard", "Originality guard"
        SYNTHESISE = "synthesise", "Synthesise"
        MASTER = "master", "Master"
        REPORT = "report", "Report"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=16, choices=Name.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    attempts = models.PositiveSmallIntegerField(default=0)
    output = models.JSONField(default=dict, blank=True)
    artefact = models.FileField(upload_to="generations/stages/", blank=True)
    error = models.TextField(blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["generation_id", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["generation", "name"], name="one_row_per_generation_stage"),
        ]

    def __str__(self) -> str:
        return f"Generation {self.generation_id} {self.name} ({self.status})"


class GenerationSource(models.Model):
    """How much one upload of the set shaped a finished generation, as an exact integer share.

    This table, not the JSON report, is what the 67% source pool is paid from. A generation's
    rows sum to exactly 10⁹ parts per billion: ``generation.services.sources.generation_sources_record``
    checks it, and on PostgreSQL a deferred constraint trigger re-checks it at commit. A share
    may be 0 (the song measurably shaped nothing) so that every upload of the set has its row.
    """

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="sources")
    upload = models.ForeignKey(
        "uploads.Upload",
        null=True,
        on_delete=models.SET_NULL,
        related_name="generation_sources",
        help_text="The upload measured; emptied if the artist later deletes it (the row, and the pay, stay).",
    )
    recording = models.ForeignKey("catalog.Recording", on_delete=models.PROTECT, related_name="generation_sources")
    share_ppb = models.PositiveIntegerField(help_text="Parts per billion of the source pool (10⁹ = all of it).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["generation_id", "upload_id"]
        constraints = [
            models.UniqueConstraint(fields=["generation", "upload"], name="one_source_row_per_generation_upload"),
            models.CheckConstraint(
                condition=models.Q(share_ppb__gte=0) & models.Q(share_ppb__lte=1_000_000_000),
                name="generation_source_share_within_whole",
            ),
        ]

    def __str__(self) -> str:
        return f"Generation {self.generation_id} upload {self.upload_id}: {self.share_ppb} ppb"
