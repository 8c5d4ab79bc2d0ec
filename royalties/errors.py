"""Refusals of the royalties app (codes are stable; messages say what to do)."""

from __future__ import annotations

from songforge.errors import Conflict, DomainError, NotFound


class SplitSheetInvalid(DomainError):
    code = "split_sheet_invalid"


class SplitSheetConflict(Conflict):
    code = "split_sheet_conflict"


class StatementInvalid(DomainError):
    """A statement file is malformed; ``extra["line"]`` names the first bad line."""

    code = "statement_invalid"


class StatementConflict(Conflict):
    code = "statement_conflict"


class LedgerError(DomainError):
    """A posting that would break double entry (unbalanced, zero amount, one leg)."""

    code = "ledger_unbalanced"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class PayoutRunInvalid(DomainError):
    code = "payout_run_invalid"


class PayoutRunTransitionInvalid(DomainError):
    code = "payout_run_transition_invalid"


class HolderNotFound(NotFound):
    code = "holder_not_found"


class EscrowClaimInvalid(DomainError):
    code = "escrow_claim_invalid"


class EscrowClaimTransitionInvalid(Conflict):
    code = "escrow_claim_transition_invalid"
