"""Staff UI for upload sets and uploads; the one action calls the identify-again service."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest

from songforge.errors import DomainError
from songforge.permissions import acting_user_id
from staff.services import admin_action_record, values_of
from uploads import services
from uploads.models import Upload, UploadSet


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

    @admin.action(description="Run identification again", permissions=["change"])
    def identify_again(self, request: HttpRequest, queryset: QuerySet[Upload]) -> None:
        done = 0
        for upload in queryset.order_by("pk"):
            old = values_of(upload, ["status", "recording", "match_method"])
            try:
                services.upload_identify_again(upload_id=upload.pk)
                done += 1
            except DomainError as error:
                self.message_user(request, f"{upload.original_name}: {error.message}", messages.ERROR)
                continue
            upload.refresh_from_db()
            admin_action_record(
                actor_id=acting_user_id(request),
                action="upload.identify_again",
                target=upload,
                old=old,
                new=values_of(upload, ["status", "recording", "match_method"]),
                message="Identification queued again.",
            )
        self.message_user(request, f"Identification queued for {done} upload(s).", messages.SUCCESS)
