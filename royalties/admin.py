"""Staff UI for royalties: statements, suspense queue, read-only ledger, balances, payout runs.

Ledger rows are read-only here (corrections are reversing transactions posted by
services). Actions call services; refusals show as messages.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet, Sum
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from royalties.allocation import suspense_reapply
from royalties.models import (
    Account,
    Entry,
    LineGroup,
    Payout,
    PayoutRun,
    SplitSheet,
    SplitSheetLine,
    Statement,
    StatementUpload,
    Transaction,
)
from royalties.payouts import payout_run_approve, payout_run_create, payout_run_pay
from royalties.statement_files import statement_upload_decide
from songforge.errors import DomainError
from songforge.permissions import acting_user_id, model_permission
from staff.services import admin_action_record, values_of


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Nothing here is edited by hand: money rows change only through services."""

    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SplitSheetLineInline(admin.TabularInline[SplitSheetLine, SplitSheet]):
    model = SplitSheetLine
    fields = ("holder", "ppb", "pool", "provenance")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SplitSheet)
class SplitSheetAdmin(ReadOnlyAdmin):
    list_display = ("release", "source_share_bps", "master_share_bps", "influence_split", "created_at")
    list_filter = ("influence_split",)
    search_fields = ("release__isrc", "release__title")
    list_select_related = ("release",)
    readonly_fields = ("release", "source_share_bps", "master_share_bps", "influence_split", "inputs", "created_at")
    inlines = [SplitSheetLineInline]


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    list_display = ("reference", "line_count", "group_count", "is_correction", "created_at", "imported_by")
    list_filter = ("created_at", "is_correction")
    search_fields = ("reference", "sha256", "content_hash")
    list_select_related = ("imported_by",)
    readonly_fields = (
        "reference",
        "sha256",
        "content_hash",
        "line_count",
        "group_count",
        "totals",
        "is_correction",
        "overlap",
        "imported_by",
        "created_at",
    )


@admin.register(StatementUpload)
class StatementUploadAdmin(ReadOnlyAdmin):
    list_display = ("reference", "status", "original_name", "statement", "uploaded_by", "created_at")
    list_filter = ("status", "is_correction")
    search_fields = ("reference", "original_name")
    list_select_related = ("statement", "uploaded_by", "decided_by")
    readonly_fields = (
        "reference",
        "original_name",
        "status",
        "error",
        "is_correction",
        "decided_by",
        "decided_at",
        "statement",
        "uploaded_by",
        "path",
        "created_at",
    )
    actions = ["import_as_correction", "reject"]

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("royalties.import_statement")

    def _decide(self, request: HttpRequest, queryset: QuerySet[StatementUpload], decision: str) -> None:
        for upload_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                statement_upload_decide(upload_id=upload_id, decision=decision, by_id=request.user.pk)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Upload {upload_id}: {decision} recorded.", messages.SUCCESS)

    @admin.action(description="Import the selected held statements as corrections", permissions=["decide"])
    def import_as_correction(self, request: HttpRequest, queryset: QuerySet[StatementUpload]) -> None:
        self._decide(request, queryset, "import")

    @admin.action(description="Reject the selected held statements", permissions=["decide"])
    def reject(self, request: HttpRequest, queryset: QuerySet[StatementUpload]) -> None:
        self._decide(request, queryset, "reject")


class SuspenseReasonFilter(admin.SimpleListFilter):
    title = "suspense reason"
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("unknown_isrc", "Unknown ISRC"), ("no_split_sheet", "Release without split sheet")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value():
            return queryset.filter(state=LineGroup.State.SUSPENSE, suspense_reason=self.value())
        return queryset


@admin.register(LineGroup)
class LineGroupAdmin(ReadOnlyAdmin):
    """Statement line groups; filter state=suspense for the suspense queue."""

    list_display = (
        "isrc",
        "period",
        "store",
        "territory",
        "currency",
        "units",
        "amount_minor",
        "line_count",
        "state",
        "suspense_reason",
        "statement",
    )
    list_filter = ("state", SuspenseReasonFilter, "period", "currency", "store")
    search_fields = ("isrc", "statement__reference")
    list_select_related = ("statement", "release")
    readonly_fields = (*list_display, "amount_micro", "first_line", "last_line", "release", "reapplied_at")
    actions = ["reapply"]

    has_reapply_permission = model_permission("reapply_suspense")

    @admin.action(description="Re-apply selected suspense lines (ISRC now known)", permissions=["reapply"])
    def reapply(self, request: HttpRequest, queryset: QuerySet[LineGroup]) -> None:
        before = dict(queryset.values_list("pk", "state"))
        result = suspense_reapply(group_ids=list(before))
        for group in LineGroup.objects.filter(pk__in=list(before)).order_by("pk"):
            if group.state != before[group.pk]:
                admin_action_record(
                    actor_id=acting_user_id(request),
                    action="line_group.reapply",
                    target=group,
                    old={"state": before[group.pk]},
                    new=values_of(group, ["state", "release"]),
                    message="Re-applied from suspense.",
                )
        self.message_user(
            request,
            f"Re-applied {result.reapplied} group(s); {result.still_in_suspense} remain in suspense.",
            messages.SUCCESS if result.reapplied else messages.WARNING,
        )


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    """Balances per account (debit positive): holder accounts show what is owed as negative."""

    list_display = ("kind", "currency", "holder", "balance_minor")
    list_filter = ("kind", "currency")
    search_fields = ("holder__name",)
    list_select_related = ("holder",)
    readonly_fields = ("kind", "currency", "holder", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        queryset: QuerySet[Account] = super().get_queryset(request)
        return queryset.annotate(balance=Sum("entries__amount_minor"))

    @admin.display(description="Balance (minor units)", ordering="balance")
    def balance_minor(self, account: Any) -> int:
        return int(account.balance or 0)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "kind", "idempotency_key", "statement", "created_at")
    list_filter = ("kind", "created_at")
    search_fields = ("idempotency_key", "memo")
    list_select_related = ("statement",)
    readonly_fields = (
        "kind",
        "idempotency_key",
        "request_hash",
        "memo",
        "statement",
        "reverses",
        "created_at",
        "entries_link",
    )

    @admin.display(description="Entries")
    def entries_link(self, txn: Transaction) -> str:
        url = reverse("admin:royalties_entry_changelist") + f"?transaction__id__exact={txn.pk}"
        return format_html('<a href="{}">Entries of this transaction</a>', url)


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("transaction", "account", "amount_minor", "currency", "period", "release")
    list_filter = ("account__kind", "currency", "period")
    search_fields = ("account__holder__name", "release__isrc")
    list_select_related = ("transaction", "account", "release")
    readonly_fields = ("transaction", "account", "amount_minor", "currency", "period", "release", "line_group")


class PayoutInline(admin.TabularInline[Payout, PayoutRun]):
    model = Payout
    fields = ("holder", "currency", "amount_minor", "paid_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0


class PayoutRunPayForm(forms.Form):
    payment_reference = forms.CharField(
        max_length=200, help_text="The bank batch or transfer id under which these payouts were sent."
    )


@admin.register(PayoutRun)
class PayoutRunAdmin(ReadOnlyAdmin):
    """Four eyes: an accountant creates a run (add form: the period), an approver approves it,
    then the accountant records the payment reference (action "Mark paid")."""

    list_display = ("period", "status", "minimum_minor", "created_by", "approved_by", "paid_by", "payment_reference")
    list_filter = ("status",)
    search_fields = ("period", "payment_reference")
    list_select_related = ("created_by", "approved_by", "paid_by")
    readonly_fields = (
        "period",
        "status",
        "minimum_minor",
        "created_by",
        "created_at",
        "approved_at",
        "approved_by",
        "paid_at",
        "paid_by",
        "payment_reference",
    )
    inlines = [PayoutInline]
    actions = ["approve", "mark_paid"]

    has_approve_permission = model_permission("approve_payoutrun")
    has_pay_permission = model_permission("pay_payoutrun")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return admin.ModelAdmin.has_add_permission(self, request)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("period",) if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return [] if obj is None else self.inlines

    def save_model(self, request: HttpRequest, obj: PayoutRun, form: Any, change: bool) -> None:
        run = payout_run_create(period=form.cleaned_data["period"], by_id=acting_user_id(request))
        obj.pk = run.pk
        obj.refresh_from_db()

    @admin.action(description="Approve selected payout runs (not your own)", permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[PayoutRun]) -> None:
        for run in queryset.order_by("period"):
            try:
                approved = payout_run_approve(run_id=run.pk, by_id=acting_user_id(request))
            except DomainError as exc:
                self.message_user(request, f"{run.period}: {exc.message}", messages.ERROR)
            else:
                self.log_change(request, approved, "Approved (four eyes).")
                self.message_user(request, f"Payout run {run.period} approved; record its payment next.")

    @admin.action(description="Mark paid (record the payment reference)", permissions=["pay"])
    def mark_paid(self, request: HttpRequest, queryset: QuerySet[PayoutRun]) -> TemplateResponse | None:
        runs = list(queryset.order_by("period"))
        form = PayoutRunPayForm(request.POST if "payment_reference" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Record the payment of payout runs",
                "opts": self.opts,
                "runs": runs,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/royalties/payoutrun/mark_paid.html", context)
        for run in runs:
            try:
                paid = payout_run_pay(
                    run_id=run.pk,
                    by_id=acting_user_id(request),
                    payment_reference=form.cleaned_data["payment_reference"],
                )
            except DomainError as exc:
                self.message_user(request, f"{run.period}: {exc.message}", messages.ERROR)
            else:
                self.log_change(request, paid, f"Marked paid, reference {paid.payment_reference}.")
                self.message_user(request, f"Payout run {run.period} marked paid ({paid.payment_reference}).")
        return None


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ("run", "holder", "currency", "amount_minor", "paid_at")
    list_filter = ("run__status", "currency", "run__period")
    search_fields = ("holder__name",)
    list_select_related = ("run", "holder")
    readonly_fields = ("run", "holder", "currency", "amount_minor", "transaction", "paid_transaction", "paid_at")


from royalties import admin_escrow  # noqa: E402, F401  (registers the escrow claims admin)
