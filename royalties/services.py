"""Public write entry points of the royalties app (other apps import from here)."""

from __future__ import annotations

from royalties.allocation import ReapplyResult, allocate_statement, suspense_reapply
from royalties.imports import ImportResult, statement_import, statement_import_upload, statement_reverse
from royalties.money import BPS, PPB, largest_remainder
from royalties.payouts import payout_run_approve, payout_run_create, payout_run_pay
from royalties.splits import SplitSheetData, split_sheet_compute, split_sheet_create, split_sources
from royalties.statement_files import statement_upload_create, statement_upload_decide, statement_upload_process

__all__ = [
    "BPS",
    "PPB",
    "ImportResult",
    "ReapplyResult",
    "SplitSheetData",
    "allocate_statement",
    "largest_remainder",
    "payout_run_approve",
    "payout_run_create",
    "payout_run_pay",
    "split_sheet_compute",
    "split_sheet_create",
    "split_sources",
    "statement_import",
    "statement_import_upload",
    "statement_reverse",
    "statement_upload_create",
    "statement_upload_decide",
    "statement_upload_process",
    "suspense_reapply",
]
