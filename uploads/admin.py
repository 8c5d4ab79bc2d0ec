"""Staff UI for upload sets and uploads, and the review queue for matches artists picked by hand."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from songforge.errors import DomainError
from songforge.permissions import acting_user_id
from staff.services import admin_action_record, values_of
from uploads import services
from uploads.models import MatchClaim, Upload, UploadSet


class UploadInline(admin.TabularInline[Upload, UploadSet]):
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

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
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
class UploadSetAdmin(admin.ModelAdmin[UploadSet]):
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
class UploadAdmin(admin.ModelAdmin[Upload]):
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


def _reviewer_id(request: HttpRequest) -> int:
    pk = request.user.pk
    assert pk is not None  # the admin site only lets signed-in staff in
    return int(pk)


_AUDIO_TYPES = {"mp3": "audio/mpeg", "m4a": "audio/mp4", "flac": "audio/flac", "wav": "audio/wav", "ogg": "audio/ogg"}


class ClaimReviewForm(forms.Form):
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required to reject: the artist sees it.",
    )


@admin.register(MatchClaim)
class MatchClaimAdmin(admin.ModelAdmin[MatchClaim]):
    """The review queue for matches picked by hand: listen to both, then approve or reject."""

    list_display = ("id", "upload", "recording", "claimed_by", "evidence_summary", "status", "created_at", "review")
    list_filter = ("status", "created_at")
    search_fields = ("upload__original_name", "recording__title", "recording__artist", "claimed_by__email")
    list_select_related = ("upload", "recording", "claimed_by")
    readonly_fields = (
        "upload",
        "recording",
        "claimed_by",
        "evidence",
        "status",
        "reviewed_by",
        "reviewed_at",
        "review_note",
        "created_at",
        "updated_at",
    )
    actions = ["approve"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # claims are made by artists through upload_match_claim

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False  # a decision is history

    def has_review_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("uploads.review_matchclaim"))

    def has_view_permission(self, request: HttpRequest, obj: MatchClaim | None = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_review_permission(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or self.has_review_permission(request)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:claim_id>/review/", self.admin_site.admin_view(self.review_view), name="uploads_matchclaim_review"
            ),
            path(
                "<int:claim_id>/audio/<str:which>/",
                self.admin_site.admin_view(self.audio_view),
                name="uploads_matchclaim_audio",
            ),
        ]
        return own + super().get_urls()

    @admin.display(description="evidence")
    def evidence_summary(self, obj: MatchClaim) -> str:
        found = obj.evidence.get("identification")
        if found == "nothing_found":
            return "Identification found nothing"
        if found == "disputed":
            disputed, method = obj.evidence.get("recording_id"), obj.evidence.get("method")
            return f"Disputes automatic match to recording {disputed} ({method})"
        return str(found or "—")

    @admin.display(description="review")
    def review(self, obj: MatchClaim) -> str:
        if obj.status != MatchClaim.Status.PENDING:
            return "—"
        return format_html(
            '<a href="{}">Listen and decide</a>', reverse("admin:uploads_matchclaim_review", args=[obj.pk])
        )

    @admin.action(description="Approve the selected claims", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[MatchClaim]) -> None:
        done = 0
        for claim in queryset.order_by("pk"):
            try:
                services.match_claim_approve(claim_id=claim.pk, reviewer_id=_reviewer_id(request))
                done += 1
            except DomainError as error:
                self.message_user(request, f"Claim {claim.pk}: {error.message}", messages.ERROR)
        self.message_user(request, f"Approved {done} claim(s).", messages.SUCCESS)

    def review_view(self, request: HttpRequest, claim_id: int) -> HttpResponse:
        if not self.has_review_permission(request):
            raise PermissionDenied
        claim = get_object_or_404(MatchClaim.objects.select_related("upload", "recording", "claimed_by"), pk=claim_id)
        form = ClaimReviewForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            note = form.cleaned_data["note"]
            try:
                if "reject" in request.POST:
                    services.match_claim_reject(claim_id=claim.pk, reviewer_id=_reviewer_id(request), note=note)
                    self.message_user(request, f"Claim {claim.pk} rejected.", messages.SUCCESS)
                else:
                    services.match_claim_approve(claim_id=claim.pk, reviewer_id=_reviewer_id(request), note=note)
                    self.message_user(request, f"Claim {claim.pk} approved.", messages.SUCCESS)
            except DomainError as error:
                self.message_user(request, error.message, messages.ERROR)
                return redirect("admin:uploads_matchclaim_review", claim.pk)
            return redirect("admin:uploads_matchclaim_changelist")
        recording = claim.recording
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Review claim {claim.pk}",
            "claim": claim,
            "form": form,
            "evidence": self.evidence_summary(claim),
            "upload_audio_url": reverse("admin:uploads_matchclaim_audio", args=[claim.pk, "upload"]),
            "recording_audio_url": (
                reverse("admin:uploads_matchclaim_audio", args=[claim.pk, "recording"])
                if recording.audio or recording.preview_audio
                else ""
            ),
        }
        return TemplateResponse(request, "admin/uploads/matchclaim/review.html", context)

    def audio_view(self, request: HttpRequest, claim_id: int, which: str) -> FileResponse:
        """Streams either the artist's upload or the claimed catalog recording, to reviewers only."""
        if not self.has_review_permission(request):
            raise PermissionDenied
        claim = get_object_or_404(MatchClaim.objects.select_related("upload", "recording"), pk=claim_id)
        if which == "upload":
            field, audio_format = claim.upload.audio, claim.upload.audio_format
        elif which == "recording":
            field = claim.recording.audio or claim.recording.preview_audio
            audio_format = (field.name or "").rsplit(".", 1)[-1].lower()
        else:
            raise Http404("No such audio.")
        if not field:
            raise Http404("This recording has no audio in the catalog.")
        return FileResponse(field.open("rb"), content_type=_AUDIO_TYPES.get(audio_format, "application/octet-stream"))
