"""Staff UI for the generation app: generations with their stages, the training manifest, upload features."""

from __future__ import annotations

from django.contrib import admin

from generation.models import Generation, GenerationStage, TrainingRecording, UploadFeatures


class GenerationStageInline(admin.TabularInline):
    model = GenerationStage
    extra = 0
    can_delete = False
    fields = ("name", "status", "attempts", "started_at", "finished_at", "error")
    readonly_fields = fields


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("id", "upload_set", "status", "stage", "progress_percent", "is_original", "seed", "created_at")
    list_filter = ("status", "stage", "is_original")
    search_fields = ("=id", "upload_set__title", "upload_set__owner__email")
    list_select_related = ("upload_set",)
    readonly_fields = ("status", "stage", "progress_percent", "seed", "report", "is_original", "error", "started_at")
    inlines = [GenerationStageInline]


@admin.register(TrainingRecording)
class TrainingRecordingAdmin(admin.ModelAdmin):
    list_display = ("source_id", "collection", "token_count", "is_commercial_ok", "is_held_out", "recording")
    list_filter = ("collection", "is_commercial_ok", "is_held_out")
    search_fields = ("source_id", "title", "recording__title")
    list_select_related = ("recording",)
    readonly_fields = ("source_id", "token_count", "licence", "model_version")


@admin.register(UploadFeatures)
class UploadFeaturesAdmin(admin.ModelAdmin):
    list_display = ("upload", "token_count", "analysed_at", "transcribed_at")
    list_filter = ("analysed_at", "transcribed_at")
    search_fields = ("upload__original_name",)
    list_select_related = ("upload",)
    readonly_fields = ("upload", "audio_sha256", "features", "tokens", "token_count", "analysed_at", "transcribed_at")
