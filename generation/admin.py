"""Staff UI for the generation app: upload sets and uploads (issue 5)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from generation import uploads
from generation.models import Upload, UploadSet
from songforge.errors import DomainError


class UploadInline(admin.TabularInline):
    model = Upload
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("original_name", "status", "recording", "match_method", "confidence", "offset_s", "failure_reason")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


class ReadinessFilter(admin.SimpleListFilter):
    title = "readiness"
    parameter_name = "ready"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "All songs matched"), ("no", "Songs missing or unmatched")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[UploadSet]) -> QuerySet[UploadSet]:
        from django.conf import settings

        annotated = queryset.annotate(
            n_uploads=Count("uploads"), n_matched=Count("uploads", filter=Q(uploads__status=Upload.Status.MATCHED))
        )
        ready = Q(n_uploads=settings.UPLOAD_SET_SIZE, n_matched=settings.UPLOAD_SET_SIZE)
        if self.value() == "yes":
            return annotated.filter(ready)
        if self.value() == "no":
            return annotated.exclude(ready)
        return queryset


@admin.register(UploadSet)
class UploadSetAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner", "upload_count", "created_at")
    list_filter = (ReadinessFilter, "created_at")
    search_fields = ("title", "owner__email", "owner__username")
    list_select_related = ("owner",)
    readonly_fields = ("owner", "created_at", "updated_at")
    inlines = [UploadInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[UploadSet]:
        queryset: QuerySet[UploadSet] = super().get_queryset(request).annotate(upload_total=Count("uploads"))
        return queryset

    @admin.display(description="uploads", ordering="upload_total")
    def upload_count(self, obj: UploadSet) -> int:
        return int(getattr(obj, "upload_total", 0))


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "original_name",
        "upload_set",
        "status",
        "match_method",
        "recording",
        "confidence",
        "created_at",
    )
    list_filter = ("status", "match_method", "audio_format")
    search_fields = ("original_name", "sha256", "recording__title", "recording__artist", "upload_set__owner__email")
    list_select_related = ("upload_set", "recording")
    raw_id_fields = ("recording",)
    readonly_fields = (
        "upload_set",
        "original_name",
        "audio",
        "audio_format",
        "size_bytes",
        "sha256",
        "duration_s",
        "status",
        "recording",
        "match_method",
        "confidence",
        "offset_s",
        "failure_reason",
        "identify_claimed_at",
        "created_at",
        "updated_at",
    )
    actions = ["identify_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # uploads come in through upload_add, which checks and stores the audio

    @admin.action(description="Run identification again")
    def identify_again(self, request: HttpRequest, queryset: QuerySet[Upload]) -> None:
        done = 0
        for upload in queryset.order_by("pk"):
            try:
                uploads.upload_identify_again(upload_id=upload.pk)
                done += 1
            except DomainError as error:
                self.message_user(request, f"{upload.original_name}: {error.message}", messages.ERROR)
        self.message_user(request, f"Identification queued for {done} upload(s).", messages.SUCCESS)


# --- generation engine (issue 6) --------------------------------------------------------------

from generation.models import Generation, GenerationStage, TrainingRecording, UploadFeatures  # noqa: E402


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
