"""Staff UI for the generation app: generations with their stages, the training manifest, upload features."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from generation.models import Generation, GenerationStage, TrainingRecording, UploadFeatures
from generation.services.training_links import training_recording_link
from songforge.permissions import acting_user_id


class GenerationStageInline(admin.TabularInline[GenerationStage, Generation]):
    model = GenerationStage
    extra = 0
    can_delete = False
    fields = ("name", "status", "attempts", "started_at", "finished_at", "error")
    readonly_fields = fields


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin[Generation]):
    list_display = (
        "id",
        "upload_set",
        "take_of",
        "take_number",
        "is_kept",
        "status",
        "stage",
        "progress_percent",
        "is_original",
        "seed",
        "created_at",
    )
    list_filter = ("status", "stage", "is_original", "is_kept")
    search_fields = ("=id", "upload_set__title", "upload_set__owner__email")
    list_select_related = ("upload_set",)
    readonly_fields = (
        "status",
        "stage",
        "progress_percent",
        "seed",
        "report",
        "is_original",
        "error",
        "started_at",
        "take_of",
        "take_number",
        "is_kept",  # the artist keeps a take (generation_take_keep), never staff
    )
    inlines = [GenerationStageInline]


@admin.register(TrainingRecording)
class TrainingRecordingAdmin(admin.ModelAdmin[TrainingRecording]):
    list_display = ("source_id", "collection", "token_count", "is_commercial_ok", "is_held_out", "recording")
    list_filter = ("collection", "is_commercial_ok", "is_held_out")
    search_fields = ("source_id", "title", "recording__title")
    list_select_related = ("recording",)
    readonly_fields = ("source_id", "token_count", "licence", "model_version")
    raw_id_fields = ("recording",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        """Which recording an item pays moves money: it needs its own permission."""
        if request.user.has_perm("generation.link_training_recording"):
            return tuple(self.readonly_fields)
        return (*self.readonly_fields, "recording")

    def save_model(self, request: HttpRequest, obj: TrainingRecording, form: Any, change: bool) -> None:
        """Plain fields save here; the recording link goes through the audited service."""
        recording_id = obj.recording_id
        if "recording" in form.changed_data:
            stored = TrainingRecording.objects.filter(pk=obj.pk).values_list("recording_id", flat=True).first()
            obj.recording_id = stored
        obj.save()
        if "recording" in form.changed_data:
            training_recording_link(training_id=obj.pk, recording_id=recording_id, by_id=acting_user_id(request))
            obj.refresh_from_db()


@admin.register(UploadFeatures)
class UploadFeaturesAdmin(admin.ModelAdmin[UploadFeatures]):
    list_display = ("upload", "token_count", "analysed_at", "transcribed_at")
    list_filter = ("analysed_at", "transcribed_at")
    search_fields = ("upload__original_name",)
    list_select_related = ("upload",)
    readonly_fields = ("upload", "audio_sha256", "features", "tokens", "token_count", "analysed_at", "transcribed_at")
