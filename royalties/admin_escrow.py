"""Staff UI for escrow claims: file one for a holder, and (another staff member) approve or reject it.

Registered from ``royalties.admin``. Every write goes through ``royalties.escrow``; refusals show as
messages (deciding your own claim, a claim already decided, a side that changed).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from royalties.escrow import escrow_claim_approve, escrow_claim_create, escrow_claim_reject, escrow_claim_settle
from royalties.models import EscrowClaim
from royalties.money import format_for_people
from songforge.errors import DomainError
from songforge.permissions import acting_user_id, model_permission


class EscrowClaimAddForm(forms.ModelForm[EscrowClaim]):
    """Files the claim through the service while validating, so refusals appear on the form."""

    user_id: int | None = None

    class Meta:
        model = EscrowClaim
        fields = ("recording", "side", "holder", "evidence")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or self.user_id is None:
            return data
        try:
            self.claim = escrow_claim_create(
                recording_id=data["recording"].pk,
                side=data["side"],
                holder_id=data["holder"].pk,
                evidence=data["evidence"],
                by_user_id=self.user_id,
            )
        except DomainError as error:
            raise forms.ValidationError(error.message) from None
        return data


@admin.register(EscrowClaim)
class EscrowClaimAdmin(admin.ModelAdmin[EscrowClaim]):
    list_display = (
        "id",
        "recording",
        "side",
        "holder",
        "share_bps",
        "status",
        "claimed_by",
        "decided_by",
        "created_at",
    )
    list_filter = ("status", "side")
    search_fields = ("recording__title", "recording__isrc", "holder__name", "evidence")
    list_select_related = ("recording", "holder", "claimed_by", "decided_by")
    readonly_fields = (
        "recording",
        "side",
        "holder",
        "share_bps",
        "evidence",
        "status",
        "claimed_by",
        "decided_by",
        "decided_at",
        "decision_note",
        "moved",
        "created_at",
    )
    autocomplete_fields = ()
    raw_id_fields = ("recording", "holder")
    actions = ("approve", "reject", "settle")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.readonly_fields if obj is not None else ()

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = type("BoundEscrowClaimAddForm", (EscrowClaimAddForm,), {"user_id": request.user.pk})
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request: HttpRequest, obj: EscrowClaim, form: Any, change: bool) -> None:
        if change:
            return  # decided through the actions only
        obj.pk = form.claim.pk
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return

    has_decide_permission = model_permission("decide_escrowclaim")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # decided through the actions only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _decide(self, request: HttpRequest, queryset: QuerySet[EscrowClaim], verb: str) -> None:
        done = 0
        for claim in queryset.order_by("pk"):
            try:
                if verb == "approve":
                    escrow_claim_approve(claim_id=claim.pk, by_user_id=acting_user_id(request))
                else:
                    escrow_claim_reject(claim_id=claim.pk, by_user_id=acting_user_id(request))
                done += 1
            except DomainError as error:
                self.message_user(request, f"Claim {claim.pk}: {error.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} claim(s) {verb}d.", messages.SUCCESS)

    @admin.action(description="Approve selected claims (complete the shares, move the escrow)", permissions=["decide"])
    def approve(self, request: HttpRequest, queryset: QuerySet[EscrowClaim]) -> None:
        self._decide(request, queryset, "approve")

    @admin.action(description="Reject selected claims", permissions=["decide"])
    def reject(self, request: HttpRequest, queryset: QuerySet[EscrowClaim]) -> None:
        self._decide(request, queryset, "reject")

    @admin.action(description="Move escrow that arrived since approval (not your own claims)", permissions=["decide"])
    def settle(self, request: HttpRequest, queryset: QuerySet[EscrowClaim]) -> None:
        for claim in queryset.order_by("pk"):
            try:
                moved = escrow_claim_settle(claim_id=claim.pk, by_user_id=acting_user_id(request))
            except DomainError as error:
                self.message_user(request, f"Claim {claim.pk}: {error.message}", messages.ERROR)
            else:
                text = ", ".join(format_for_people(amount, currency) for currency, amount in sorted(moved.items()))
                self.message_user(
                    request, f"Claim {claim.pk}: moved {text or 'nothing new (already settled)'}.", messages.INFO
                )
