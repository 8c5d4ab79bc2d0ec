"""Split sheets, imported statements, the double-entry ledger and payouts.

Money is integers only: ``amount_minor`` (cents) in the ledger, ``amount_micro``
(10⁻⁶ of the major unit) for statement amounts; shares are parts per billion.
Rows here are written by ``royalties.services`` and, for ``Transaction``/``Entry``,
only by ``royalties.ledger`` (see its docstring for the accounting rules).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from songforge.codes import PERIOD_REGEX


class TransactionStart(models.Func):
    """The database transaction's start time (PostgreSQL ``CURRENT_TIMESTAMP``).

    The ledger's append-only trigger compares it to ``transaction_timestamp()``.
    """

    template = "CURRENT_TIMESTAMP"
    output_field = models.DateTimeField()


class SplitSheet(models.Model):
    """Who earns what share of one release, fixed at publish time and never edited."""

    release = models.OneToOneField("distribution.Release", on_delete=models.PROTECT, related_name="split_sheet")
    source_share_bps = models.PositiveIntegerField()
    master_share_bps = models.PositiveIntegerField()
    influence_split = models.CharField(max_length=16)
    inputs = models.JSONField(help_text="The sources and training inputs the sheet was computed from.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Split sheet of release {self.release_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("A split sheet is immutable once created.")
        super().save(*args, **kwargs)


class SplitSheetLine(models.Model):
    class Pool(models.TextChoices):
        SOURCE = "source", "Source songs"
        TRAINING = "training", "Training data"
        BOTH = "both", "Source songs and training data"

    sheet = models.ForeignKey(SplitSheet, on_delete=models.PROTECT, related_name="lines")
    holder = models.ForeignKey("catalog.RightsHolder", on_delete=models.PROTECT, related_name="split_lines")
    ppb = models.BigIntegerField(help_text="Parts per billion of the release's earnings: 10⁹ = 100%.")
    pool = models.CharField(max_length=16, choices=Pool.choices)
    provenance = models.JSONField(help_text="Every path (pool, recording, side, exact share) that reaches the holder.")

    class Meta:
        ordering = ["sheet_id", "-ppb", "holder_id"]
        constraints = [
            models.UniqueConstraint(fields=["sheet", "holder"], name="split_line_one_per_holder"),
            models.CheckConstraint(
                condition=models.Q(ppb__gte=0) & models.Q(ppb__lte=1_000_000_000), name="split_line_ppb_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.holder_id}: {self.ppb} ppb"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("A split sheet line is immutable once created.")
        super().save(*args, **kwargs)


class Statement(models.Model):
    """One imported distributor statement file.

    Identity: ``reference``. Content: ``sha256`` of the bytes and ``content_hash`` of the
    normalised content (see ``royalties.imports``), both unique, so neither the same file
    nor a re-saved copy of it is imported twice.
    """

    reference = models.CharField(max_length=255, unique=True, help_text="The statement's identity, e.g. its file name.")
    sha256 = models.CharField(max_length=64, unique=True)
    content_hash = models.CharField(
        max_length=64, unique=True, null=True, blank=True, help_text="Hash of the normalised content (order-free)."
    )
    is_correction = models.BooleanField(
        default=False, help_text="Staff imported it although its keys overlap earlier statements."
    )
    overlap = models.JSONField(default=dict, blank=True, help_text="The overlap staff accepted, if any.")
    line_count = models.BigIntegerField()
    group_count = models.BigIntegerField(default=0)
    totals = models.JSONField(
        default=dict,
        help_text="Per currency: exact micro-units, minor units posted to revenue, and micro − minor (carried).",
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("import_statement", "Can import distributor statements")]

    def __str__(self) -> str:
        return self.reference


class StatementUpload(models.Model):
    """A statement file received through the API and imported by a background job."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Refused"
        HELD = "held", "Held for a staff decision"

    ALLOWED = {
        Status.QUEUED: {Status.RUNNING},
        Status.RUNNING: {Status.DONE, Status.FAILED, Status.RUNNING, Status.HELD},
        Status.HELD: {Status.QUEUED, Status.FAILED},
        Status.DONE: set(),
        Status.FAILED: set(),
    }

    path = models.CharField(max_length=500, help_text="Where the file waits on the import host's disk.")
    original_name = models.CharField(max_length=255)
    reference = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    error = models.JSONField(default=dict, blank=True)
    is_correction = models.BooleanField(default=False, help_text="Staff chose to import it despite the overlap.")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    statement = models.ForeignKey(Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="uploads")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.reference} ({self.status})"


class LineGroup(models.Model):
    """All lines of a statement with the same (isrc, period, store, territory, currency).

    The key identifies the lines in the original file; ``first_line``/``last_line``
    and ``line_count`` locate them. One ledger posting per group (not per line).
    """

    class State(models.TextChoices):
        ALLOCATED = "allocated", "Allocated"
        SUSPENSE = "suspense", "In suspense"

    # No database foreign-key constraints on the bulk-inserted traceability columns below: the
    # import sets them from a join on the referenced tables, PROTECT is enforced by Django, and a
    # per-row constraint check would cost ~1 µs × 500,000 groups at commit.
    statement = models.ForeignKey(
        Statement, on_delete=models.PROTECT, related_name="groups", db_index=False, db_constraint=False
    )
    isrc = models.CharField(max_length=12)
    period = models.CharField(max_length=7)
    store = models.CharField(max_length=100)
    territory = models.CharField(max_length=8)
    currency = models.CharField(max_length=3)
    units = models.BigIntegerField()
    amount_micro = models.BigIntegerField()
    amount_minor = models.BigIntegerField()
    line_count = models.BigIntegerField()
    first_line = models.BigIntegerField()
    last_line = models.BigIntegerField()
    release = models.ForeignKey(
        "distribution.Release",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="statement_groups",
        db_index=False,
        db_constraint=False,
    )
    state = models.CharField(max_length=16, choices=State.choices)
    suspense_reason = models.CharField(max_length=32, blank=True)
    reapplied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["statement_id", "first_line"]
        permissions = [("reapply_suspense", "Can re-apply suspense lines")]
        # The key (statement, isrc, period, store, territory, currency) is unique by construction
        # (one GROUP BY); no unique index, which would slow the bulk insert of 500,000 groups.
        indexes = [
            models.Index(fields=["statement", "currency"], name="line_group_statement"),
            models.Index(fields=["release", "period"], name="line_group_release_period"),
            models.Index(fields=["isrc"], condition=models.Q(state="suspense"), name="line_group_suspense_isrc"),
        ]

    def __str__(self) -> str:
        return f"{self.isrc} {self.period} {self.store} {self.territory} ({self.line_count} lines)"


class Account(models.Model):
    """A ledger account in one currency. Balances come from ``royalties.selectors``.

    Sign convention: debits positive, credits negative. Money owed to a holder is a
    credit (negative) balance on its holder account.
    """

    class Kind(models.TextChoices):
        REVENUE = "revenue", "Distributor revenue"
        UNALLOCATED = "unallocated", "Awaiting allocation"
        SUSPENSE = "suspense", "Suspense (unknown ISRC)"
        HOLDER = "holder", "Rights holder"
        ESCROW = "escrow", "Escrow (unclaimed)"
        PAYABLE = "payable", "Payouts approved for payment"
        PAID = "paid", "Paid out"
        CARRY = "carry", "Sub-minor carry (whole minor units of the accounts' carried remainders)"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    currency = models.CharField(max_length=3)
    holder = models.ForeignKey(
        "catalog.RightsHolder", null=True, blank=True, on_delete=models.PROTECT, related_name="accounts"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "currency", "holder_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "currency"], condition=models.Q(holder__isnull=True), name="account_system_unique"
            ),
            models.UniqueConstraint(
                fields=["holder", "kind", "currency"],
                condition=models.Q(holder__isnull=False),
                name="account_holder_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=["holder", "escrow"], holder__isnull=False)
                | (~models.Q(kind__in=["holder", "escrow"]) & models.Q(holder__isnull=True)),
                name="account_holder_iff_holder_kind",
            ),
        ]

    def __str__(self) -> str:
        who = f" {self.holder_id}" if self.holder_id else ""
        return f"{self.kind}{who} {self.currency}"


class Carry(models.Model):
    """The exact amount an account has received under the carry rule (see ``royalties.carry``).

    Exact cumulative amount, in units of 10⁻¹⁵ of the major unit (micro-units × ppb):
    ``posted_minor × units_per_minor(currency) + remainder``. ``posted_minor`` is that
    amount truncated toward zero to whole minor units (what the ledger holds);
    ``remainder`` is the rest, smaller than one minor unit and of the same sign.
    Sign: the account's natural side (revenue received, money owed to a holder or held
    in suspense is positive).
    """

    account = models.OneToOneField(Account, on_delete=models.PROTECT, primary_key=True, related_name="carry")
    posted_minor = models.BigIntegerField(default=0)
    remainder = models.BigIntegerField(default=0, help_text="Below one minor unit, in 10⁻¹⁵ of the major unit.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(remainder=0)
                | models.Q(remainder__gt=0, remainder__lt=10**15, posted_minor__gte=0)
                | models.Q(remainder__lt=0, remainder__gt=-(10**15), posted_minor__lte=0),
                name="carry_remainder_below_one_minor_same_sign",
            ),
        ]

    def __str__(self) -> str:
        return f"carry of account {self.account_id}: {self.posted_minor} + {self.remainder}"


class CarryMove(models.Model):
    """What one posting moved on one account's carry, so that a reversal can take exactly that back.

    The exact amount (10⁻¹⁵ of the major unit, the account's natural sign, see ``Carry``) is
    ``moved_minor × units_per_minor(currency) + moved_remainder``, split like ``Carry`` (truncated
    toward zero, the remainder of the same sign). Keyed by the posting's idempotency key, which
    exists even when the posting moved less than a minor unit and wrote no ledger transaction.
    Written only by ``royalties.carry``.
    """

    posting_key = models.CharField(max_length=200)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="carry_moves", db_index=False)
    statement = models.ForeignKey(
        Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="carry_moves"
    )
    moved_minor = models.BigIntegerField()
    moved_remainder = models.BigIntegerField(help_text="Below one minor unit, in 10⁻¹⁵ of the major unit.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["posting_key", "account"], name="carry_move_one_per_account"),
            models.CheckConstraint(
                condition=models.Q(moved_remainder=0)
                | models.Q(moved_remainder__gt=0, moved_remainder__lt=10**15, moved_minor__gte=0)
                | models.Q(moved_remainder__lt=0, moved_remainder__gt=-(10**15), moved_minor__lte=0),
                name="carry_move_remainder_below_one_minor_same_sign",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.posting_key} moved account {self.account_id}: {self.moved_minor} + {self.moved_remainder}"


class Transaction(models.Model):
    class Kind(models.TextChoices):
        IMPORT = "import", "Statement import"
        ALLOCATION = "allocation", "Allocation"
        REAPPLY = "reapply", "Suspense re-applied"
        PAYOUT = "payout", "Payout approved"
        PAYOUT_PAID = "payout_paid", "Payout paid"
        REVERSAL = "reversal", "Reversal"
        ESCROW_CLAIM = "escrow_claim", "Escrow claim approved"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    request_hash = models.CharField(max_length=64)
    memo = models.CharField(max_length=300, blank=True)
    statement = models.ForeignKey(
        Statement, null=True, blank=True, on_delete=models.PROTECT, related_name="transactions"
    )
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")
    created_at = models.DateTimeField(db_default=TransactionStart())

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.idempotency_key}"


class Entry(models.Model):
    # On PostgreSQL the existence of the transaction and the account (and the account's
    # currency) is checked set-based, once per INSERT statement, by the trigger of migration
    # 0002 instead of per-row foreign-key triggers (an allocation inserts 400,000 entries);
    # transactions and accounts can never be deleted.
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="entries", db_constraint=False)
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", db_index=False, db_constraint=False
    )
    amount_minor = models.BigIntegerField(help_text="Debit positive, credit negative; never zero.")
    currency = models.CharField(max_length=3)
    period = models.CharField(max_length=7, blank=True)
    release = models.ForeignKey(
        "distribution.Release",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="ledger_entries",
        db_index=False,
        db_constraint=False,  # traceability only, set from joins (see LineGroup)
    )
    line_group = models.ForeignKey(
        LineGroup,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        ordering = ["transaction_id", "id"]
        verbose_name_plural = "entries"
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount_minor=0), name="entry_amount_not_zero"),
        ]
        indexes = [
            models.Index(fields=["account", "period"], name="entry_account_period"),
            models.Index(fields=["release", "period"], name="entry_release_period"),
            models.Index(fields=["line_group"], condition=models.Q(line_group__isnull=False), name="entry_line_group"),
        ]

    def __str__(self) -> str:
        return f"{self.amount_minor} {self.currency} on {self.account_id}"


class PayoutRun(models.Model):
    """A period's payouts under four eyes: created by one person, approved by another, then paid.

    Paying is a separate step that records the payment reference (the bank batch or
    transfer id); only then does money move from payable to paid.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "Awaiting approval"
        APPROVED = "approved", "Approved, awaiting payment"
        PAID = "paid", "Paid"

    ALLOWED = {Status.DRAFT: {Status.APPROVED}, Status.APPROVED: {Status.PAID}, Status.PAID: set()}

    period = models.CharField(max_length=7, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    minimum_minor = models.BigIntegerField()
    # PROTECT: who created, approved and paid a run stays known (deactivate staff, never delete them).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    payment_reference = models.CharField(max_length=200, blank=True, help_text="The bank batch or transfer id.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-period"]
        permissions = [
            ("approve_payoutrun", "Can approve payout runs created by someone else"),
            ("pay_payoutrun", "Can mark approved payout runs paid with a payment reference"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(period__regex=PERIOD_REGEX), name="payout_run_period_format"),
            # Four eyes, in the database too: the approver is never the creator.
            models.CheckConstraint(
                condition=models.Q(created_by__isnull=True)
                | models.Q(approved_by__isnull=True)
                | ~models.Q(approved_by=models.F("created_by")),
                name="payout_run_approver_not_creator",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="paid") | ~models.Q(payment_reference=""),
                name="payout_run_paid_has_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"Payout run {self.period} ({self.status})"


class Payout(models.Model):
    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="payouts")
    holder = models.ForeignKey("catalog.RightsHolder", on_delete=models.PROTECT, related_name="payouts")
    currency = models.CharField(max_length=3)
    amount_minor = models.BigIntegerField()
    transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="payout")
    paid_transaction = models.OneToOneField(
        Transaction, null=True, blank=True, on_delete=models.PROTECT, related_name="paid_payout"
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run_id", "holder_id", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["run", "holder", "currency"], name="payout_one_per_holder_currency"),
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="payout_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.amount_minor} {self.currency} to {self.holder_id} ({self.run_id})"


class EscrowClaim(models.Model):
    """A claim on the escrowed share of one side of one recording, decided by a second staff member.

    Written only by ``royalties.escrow``: approval completes the side's shares in the catalog and
    moves the escrowed money of that recording and side to the holder (one ledger transaction per
    currency); rejection changes nothing else.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a decision"
        APPROVED = "approved", "Approved and paid into the holder's balance"
        REJECTED = "rejected", "Rejected"

    ALLOWED = {Status.PENDING: {Status.APPROVED, Status.REJECTED}, Status.APPROVED: set(), Status.REJECTED: set()}

    recording = models.ForeignKey("catalog.Recording", on_delete=models.PROTECT, related_name="escrow_claims")
    side = models.CharField(max_length=16, choices=[("master", "Master"), ("publishing", "Publishing")])
    holder = models.ForeignKey("catalog.RightsHolder", on_delete=models.PROTECT, related_name="escrow_claims")
    share_bps = models.PositiveIntegerField(help_text="The unclaimed part of the side the holder claims.")
    evidence = models.TextField(help_text="Why the holder owns this share: contract, registration, references.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    moved = models.JSONField(default=dict, blank=True, help_text="Currency → minor units moved on approval.")
    transactions = models.ManyToManyField(Transaction, blank=True, related_name="escrow_claims")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("decide_escrowclaim", "Can approve or reject escrow claims (not one's own)")]
        constraints = [
            models.UniqueConstraint(
                fields=["recording", "side"],
                condition=models.Q(status="approved"),
                name="escrow_claim_one_approved_per_side",
            ),
            models.CheckConstraint(
                condition=models.Q(share_bps__gte=1) & models.Q(share_bps__lte=10_000), name="escrow_claim_bps_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Claim {self.pk}: {self.side} of {self.recording_id} by holder {self.holder_id} ({self.status})"
