"""The staff's rights desk: recordings, their shares (10,000 bps per side), holders and share history.

Share edits never save ``RecordingShare`` rows directly: the inline formset is validated
here for a clear error, then each side goes through ``recording_shares_set`` so the
history row names the staff member.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from catalog.models import Recording, RecordingShare, RightsHolder, ShareChange
from catalog.services import (
    UPSERT_FIELDS,
    recording_shares_set,
    recording_upsert,
    recordings_mark_rights_verified,
    rights_holder_payout_details_set,
    rights_holder_user_link,
    side_shares_check,
)
from songforge.errors import DomainError
from songforge.permissions import acting_user_id, model_permission
from staff.services import admin_action_record, values_of


class RightsCompletenessFilter(admin.SimpleListFilter):
    title = "rights"
    parameter_name = "rights"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("incomplete", "Unknown holders (escrow)"),
            ("complete", "Complete, not verified"),
            ("verified", "Verified"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "incomplete":
            return queryset.filter(rights_status=Recording.RightsStatus.UNKNOWN)
        if value == "complete":
            return queryset.filter(rights_status=Recording.RightsStatus.COMPLETE)
        if value == "verified":
            return queryset.filter(rights_status=Recording.RightsStatus.VERIFIED)
        return queryset


class SharesFormSet(BaseInlineFormSet[RecordingShare, Recording, forms.ModelForm[RecordingShare]]):
    """Each side that has any rows must add up to exactly 10,000 bps, with each holder once."""

    def clean(self) -> None:
        super().clean()
        sides: dict[str, list[tuple[int, int]]] = {side: [] for side in RecordingShare.Side.values}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or data.get("holder") is None:
                continue
            sides[data["side"]].append((data["holder"].pk, data["share_bps"]))
        problems = []
        for side, rows in sides.items():
            check = side_shares_check(rows)
            if check.duplicate_holders:
                problems.append(f"A holder appears twice on the {side} side; merge those rows.")
            if not check.is_total_ok:
                problems.append(
                    f"{side.capitalize()} shares add up to {check.total_bps:,} bps ({check.total_bps / 100:.2f}%); "
                    f"they must add up to exactly 10,000 bps (100%). Adjust them by {check.adjustment_bps:+,}."
                )
        if problems:
            raise forms.ValidationError(problems)

    def side_shares(self) -> dict[str, list[tuple[int, int]]]:
        sides: dict[str, list[tuple[int, int]]] = {side: [] for side in RecordingShare.Side.values}
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or data.get("holder") is None:
                continue
            sides[data["side"]].append((data["holder"].pk, data["share_bps"]))
        return sides


class RecordingShareInline(admin.TabularInline[RecordingShare, Recording]):
    model = RecordingShare
    formset = SharesFormSet
    fields = ("side", "holder", "share_bps")
    autocomplete_fields = ("holder",)
    extra = 1
    ordering = ("side", "holder__name")


class ShareChangeInline(admin.TabularInline[ShareChange, Recording]):
    model = ShareChange
    fields = ("created_at", "side", "old_shares", "new_shares", "source", "changed_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "share change"
    verbose_name_plural = "share history (read-only)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin[Recording]):
    list_display = ("title", "artist", "album", "isrc", "provider", "genre", "rights_status", "is_demo")
    list_filter = ("provider", "genre", RightsCompletenessFilter, "is_demo")
    search_fields = ("title", "artist", "isrc", "external_id", "apple_music_id")
    list_select_related = ("rights_verified_by",)
    readonly_fields = (
        "rights_status",
        "rights_verified_at",
        "rights_verified_by",
        "audio_sha256",
        "manifest_sha256",
        "apple_music_ids",
        "created_at",
        "updated_at",
    )
    inlines = (RecordingShareInline, ShareChangeInline)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ("mark_rights_verified",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The external id is the import key: changing it would detach the recording from its manifest entry.
        return (*self.readonly_fields, "external_id") if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Recording, form: forms.ModelForm[Recording], change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in UPSERT_FIELDS}
        if "artwork" in form.changed_data:
            obj.save()  # file field outside the upsert service: no rule depends on it
        recording, _ = recording_upsert(external_id=obj.external_id, **fields)
        obj.pk = recording.pk
        obj.refresh_from_db()

    def save_formset(self, request: HttpRequest, form: forms.ModelForm[Recording], formset: Any, change: bool) -> None:
        if not isinstance(formset, SharesFormSet):
            formset.save()
            return
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        user_id = request.user.pk if request.user.is_authenticated else None
        try:
            for side, shares in formset.side_shares().items():
                recording_shares_set(recording_id=form.instance.pk, side=side, shares=shares, by_user_id=user_id)
        except DomainError as exc:  # the formset check makes this rare (e.g. a holder deleted meanwhile)
            self.message_user(request, exc.message, level=messages.ERROR)
            raise

    has_verify_rights_permission = model_permission("verify_rights")

    @admin.action(description="Mark rights verified (complete recordings only)", permissions=["verify_rights"])
    def mark_rights_verified(self, request: HttpRequest, queryset: QuerySet[Recording]) -> None:
        before = dict(queryset.values_list("id", "rights_status"))
        ids = list(before)
        changed = recordings_mark_rights_verified(recording_ids=ids, by_user_id=request.user.pk)
        for recording in Recording.objects.filter(pk__in=ids).order_by("pk"):
            if recording.rights_status != before[recording.pk]:
                admin_action_record(
                    actor_id=acting_user_id(request),
                    action="recording.mark_rights_verified",
                    target=recording,
                    old={"rights_status": before[recording.pk]},
                    new=values_of(recording, ["rights_status", "rights_verified_by"]),
                    message="Marked rights verified.",
                )
        skipped = len(ids) - changed
        self.message_user(request, f"{changed} recordings marked verified.", level=messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} recordings were not changed: they have unknown holders or were already verified.",
                level=messages.WARNING,
            )


@admin.register(RightsHolder)
class RightsHolderAdmin(admin.ModelAdmin[RightsHolder]):
    list_display = ("name", "kind", "recording_count", "is_demo", "user")
    list_filter = ("kind", "is_demo")
    search_fields = ("name", "contact_email")
    list_select_related = ("user",)
    readonly_fields = ("recordings_held", "created_at", "updated_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        """Where the money goes and who reads the statements need their own permissions."""
        fields = tuple(self.readonly_fields)
        if not request.user.has_perm("catalog.change_payout_details"):
            fields += ("payout_details",)
        if not request.user.has_perm("catalog.link_holder_user"):
            fields += ("user",)
        return fields

    def save_model(
        self, request: HttpRequest, obj: RightsHolder, form: forms.ModelForm[RightsHolder], change: bool
    ) -> None:
        """Plain fields save here; payout details and the user link go through their audited services."""
        payout_details, user_id = obj.payout_details, obj.user_id
        stored = RightsHolder.objects.filter(pk=obj.pk).first() if change else None
        obj.payout_details = stored.payout_details if stored else ""
        obj.user_id = stored.user_id if stored else None
        obj.save()
        if "payout_details" in form.changed_data:
            rights_holder_payout_details_set(
                holder_id=obj.pk, payout_details=payout_details, by_id=acting_user_id(request)
            )
        if "user" in form.changed_data:
            try:
                rights_holder_user_link(holder_id=obj.pk, user_id=user_id, by_id=acting_user_id(request))
            except DomainError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)
        obj.refresh_from_db()

    def get_queryset(self, request: HttpRequest) -> QuerySet[RightsHolder]:
        queryset: QuerySet[RightsHolder] = super().get_queryset(request)
        return queryset.annotate(recording_total=Count("shares__recording", distinct=True))

    @admin.display(description="recordings", ordering="recording_total")
    def recording_count(self, holder: Any) -> int:
        return int(getattr(holder, "recording_total", 0))

    @admin.display(description="recordings held")
    def recordings_held(self, holder: RightsHolder) -> SafeString:
        shares = holder.shares.select_related("recording").order_by("recording__artist", "recording__title", "side")
        if not shares:
            return format_html("{}", "none")
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a>: {} {}%</li>',
                (
                    (
                        reverse("admin:catalog_recording_change", args=[share.recording_id]),
                        str(share.recording),
                        share.side,
                        f"{share.share_bps / 100:.2f}",
                    )
                    for share in shares[:500]
                ),
            ),
        )


@admin.register(ShareChange)
class ShareChangeAdmin(admin.ModelAdmin[ShareChange]):
    list_display = ("created_at", "recording", "side", "source", "changed_by")
    list_filter = ("side", "source")
    search_fields = ("recording__title", "recording__artist", "recording__isrc")
    list_select_related = ("recording", "changed_by")
    readonly_fields = ("recording", "side", "old_shares", "new_shares", "source", "changed_by", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
