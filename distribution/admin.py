"""Staff view of every release: split sheet, delivery log, takedown and redelivery."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from distribution import selectors
from distribution.clients import ern
from distribution.models import DeliveryEvent, IsrcCounter, Release
from distribution.services import delivery
from songforge.errors import DomainError
from songforge.permissions import acting_user_id, model_permission
from staff.services import admin_action_record, values_of

# What an admin action on a release may change; recorded before and after.
AUDITED_FIELDS = ["status", "delivery_attempts", "taken_down_at"]


class DeliveryEventInline(admin.TabularInline[DeliveryEvent, Release]):
    model = DeliveryEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "status", "detail")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def has_add_permission(self, request: HttpRequest, obj: Release | None = None) -> bool:
        return False


class DeliveredFilter(admin.SimpleListFilter):
    title = "delivered"
    parameter_name = "delivered"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("yes", "Delivered"), ("no", "Not delivered yet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Release]) -> QuerySet[Release]:
        if self.value() == "yes":
            return queryset.filter(delivered_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(delivered_at__isnull=True)
        return queryset


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin[Release]):
    list_display = ("isrc", "title", "artist_name", "status", "distributor", "delivery_attempts", "created_at")
    list_filter = ("status", "distributor", DeliveredFilter, "is_artwork_generated")
    search_fields = ("isrc", "title", "artist_name", "distributor_release_id", "generation__id")
    list_select_related = ("generation",)
    readonly_fields = (
        "generation",
        "title",
        "artist_name",
        "isrc",
        "genre",
        "language",
        "ai_disclosure",
        "artwork",
        "is_artwork_generated",
        "duration_ms",
        "audio_sha256",
        "status",
        "distributor",
        "delivery_key",
        "distributor_release_id",
        "delivery_attempts",
        "store_links",
        "rejection_reasons",
        "outbox_path",
        "delivered_at",
        "taken_down_at",
        "created_at",
        "updated_at",
        "split_sheet_lines",
    )
    inlines = [DeliveryEventInline]
    actions = ["take_down", "deliver_again", "refresh_status"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # releases are made by publishing a song

    @admin.display(description="Split sheet")
    def split_sheet_lines(self, obj: Release) -> str:
        lines = selectors.release_split_lines(release_id=obj.pk)
        if not lines:
            return "No split sheet stored."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} %</td><td>{}</td></tr>",
            ((line.holder_name, line.holder_kind, ern.share_percentage(line.ppb), line.ppb) for line in lines),
        )
        return format_html("<table><tr><th>Holder</th><th>Kind</th><th>Share</th><th>ppb</th></tr>{}</table>", rows)

    has_take_down_permission = model_permission("take_down_release")
    has_deliver_permission = model_permission("deliver_release")

    def _each(self, request: HttpRequest, queryset: QuerySet[Release], verb: str, action: object) -> None:
        """Run ``action`` on each release; each success is logged in the admin history and the audit trail."""
        done = 0
        name = str(getattr(action, "__name__", verb)).removeprefix("release_")
        for release in queryset.order_by("id"):
            old = values_of(release, AUDITED_FIELDS)
            try:
                action(release_id=release.pk)  # type: ignore[operator]
            except DomainError as exc:
                self.message_user(request, f"Release {release.pk}: {exc.message}", messages.ERROR)
                continue
            done += 1
            release.refresh_from_db()
            admin_action_record(
                actor_id=acting_user_id(request),
                action=f"release.{name}",
                target=release,
                old=old,
                new=values_of(release, AUDITED_FIELDS),
                message=f"{verb} (admin action).",
            )
        if done:
            self.message_user(request, f"{verb} {done} release(s).", messages.SUCCESS)

    @admin.action(description="Take down through the distributor", permissions=["take_down"])
    def take_down(self, request: HttpRequest, queryset: QuerySet[Release]) -> None:
        self._each(request, queryset, "Took down", delivery.release_takedown)

    @admin.action(description="Deliver failed releases again", permissions=["deliver"])
    def deliver_again(self, request: HttpRequest, queryset: QuerySet[Release]) -> None:
        self._each(request, queryset, "Queued", delivery.release_requeue)

    @admin.action(description="Ask the distributor for the current status", permissions=["deliver"])
    def refresh_status(self, request: HttpRequest, queryset: QuerySet[Release]) -> None:
        self._each(request, queryset, "Refreshed", delivery.release_status_refresh)


@admin.register(IsrcCounter)
class IsrcCounterAdmin(admin.ModelAdmin[IsrcCounter]):
    list_display = ("prefix", "year", "last_designation", "updated_at")
    list_filter = ("prefix", "year")
    search_fields = ("prefix",)
    list_select_related = ()
    readonly_fields = ("prefix", "year", "last_designation", "created_at", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: IsrcCounter | None = None) -> bool:
        return False
