"""Refusals of the royalties app (codes are stable; messages say what to do)."""

from __future__ import annotations

from songforge.errors import Conflict, DomainError


class SplitSheetInvalid(DomainError):
    code = "split_sheet_invalid"


class SplitSheetConflict(Conflict):
    code = "split_sheet_conflict"


class StatementInvalid(DomainError):
    """A statement file is malformed; ``extra["line"]`` names the first bad line."""

    code = "statement_invalid"


class StatementConflict(Conflict):
    code = "statement_conflict"


class StatementHeld(Conflict):
    """The statement's keys overlap earlier statements; ``extra`` shows the overlap. Staff decide."""

    code = "statement_held"


class StatementUploadDecisionInvalid(DomainError):
    code = "statement_upload_decision_invalid"


class LedgerError(DomainError):
    """A posting that would break double entry (unbalanced, zero amount, one leg)."""

    code = "ledger_unbalanced"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class PayoutRunInvalid(DomainError):
    code = "payout_run_invalid"


class PayoutRunTransitionInvalid(DomainError):
    code = "payout_run_transition_invalid"
