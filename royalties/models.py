"""Statements, the ledger and payouts (see royalties/ledger.py)."""

from __future__ import annotations
