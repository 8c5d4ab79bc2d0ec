"""Escrow claims: money held for unknown holders reaches them once someone proves they own it.

Money goes to the escrow holder along the *paths* of a split sheet (``SplitSheetLine.provenance``):
a side of a recording without (enough) shares, or a training item without a recording. A claim
names one recording and side, the holder, the unclaimed basis points of that side (what the
catalog does not yet assign) and the evidence. A staff member other than the claimant decides:

* **approve**: the side's shares are completed in the catalog (``catalog.services.recording_shares_set``,
  so the share history records it), split sheets computed later pay the holder directly, and the
  escrow money of that recording and side is moved to the holder's account, for every release and
  period, with one ledger transaction per currency (``ledger.post``; each entry keeps its release
  and period, so the move is traceable to the statements it came from);
* **reject**: the claim is closed; nothing else changes.

Attribution: an escrow credit of a release and period (allocation, re-application or reversal) is
split across the sheet's escrow paths by their exact shares with the largest-remainder method
(ties to the lowest key), so the parts of all paths add up to the credit exactly. Stored sheets
never change, so statements that arrive later for an old release still credit escrow along the
claimed path: ``escrow_claim_settle`` moves what arrived since (admin action; idempotent; staff other
than the claimant, like the decisions). Sheets computed after an approval (new releases) pay the holder
directly: only releases published before it need settling.

Every decision and every settlement that moves money is recorded in the staff audit trail
(``staff.services.audit_record``) with who did it, and each ledger transaction's memo names them.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Min, QuerySet, Sum
from django.utils import timezone

from catalog.selectors import recording_share_rows
from catalog.services import escrow_holder, recording_shares_set
from royalties import ledger
from royalties.errors import EscrowClaimInvalid, EscrowClaimTransitionInvalid
from royalties.models import Account, Entry, EscrowClaim, SplitSheetLine, Transaction
from royalties.money import BPS, largest_remainder
from royalties.splits import PUBLIC_DOMAIN
from songforge.errors import NotFound
from staff.services import audit_record

SIDES = ("master", "publishing")
ESCROW_CREDIT_KINDS = (Transaction.Kind.ALLOCATION, Transaction.Kind.REAPPLY, Transaction.Kind.REVERSAL)
# a path key: (recording id or -1 for "no recording", side or "")
PathKey = tuple[int, str]


def _path_key(recording_id: int | None, side: str | None) -> PathKey:
    return (recording_id if recording_id is not None else -1, side or "")


def _escrow_paths_by_release(release_ids: Iterable[int] | None = None) -> dict[int, dict[PathKey, Fraction]]:
    """release id → {path key: exact share of the sheet} for the escrow line of each stored sheet."""
    lines = SplitSheetLine.objects.filter(holder__kind="escrow").select_related("sheet")
    if release_ids is not None:
        lines = lines.filter(sheet__release_id__in=list(release_ids))
    result: dict[int, dict[PathKey, Fraction]] = {}
    for line in lines:
        paths: dict[PathKey, Fraction] = defaultdict(Fraction)
        for path in line.provenance or []:
            paths[_path_key(path.get("recording_id"), path.get("side"))] += Fraction(str(path["share"]))
        result[line.sheet.release_id] = dict(paths)
    return result


def _escrow_credits(release_ids: Iterable[int]) -> dict[tuple[int, str, str], int]:
    """(release, period, currency) → escrow credit (positive = owed) from allocations and re-applications."""
    rows = (
        Entry.objects.filter(
            account__kind=Account.Kind.ESCROW,
            release_id__in=list(release_ids),
            transaction__kind__in=ESCROW_CREDIT_KINDS,
        )
        .values("release_id", "period", "currency")
        .annotate(total=Sum("amount_minor"))
    )
    return {(row["release_id"], row["period"], row["currency"]): -int(row["total"]) for row in rows if row["total"]}


def _attributed(
    credits: dict[tuple[int, str, str], int], paths: dict[int, dict[PathKey, Fraction]]
) -> dict[tuple[int, str, str], dict[PathKey, int]]:
    """Each escrow credit split across its sheet's escrow paths (largest remainder; parts sum to the credit)."""
    result: dict[tuple[int, str, str], dict[PathKey, int]] = {}
    for key, amount in credits.items():
        weights = {k: w for k, w in paths.get(key[0], {}).items() if w > 0}
        if not weights:
            continue
        result[key] = largest_remainder(amount, weights)
    return result


def _moved_by_claims(claim_ids: Iterable[int]) -> dict[tuple[int, str, str], int]:
    """(release, period, currency) → what these claims already moved out of escrow."""
    rows = (
        Entry.objects.filter(account__kind=Account.Kind.ESCROW, transaction__escrow_claims__in=list(claim_ids))
        .values("release_id", "period", "currency")
        .annotate(total=Sum("amount_minor"))
    )
    return {(row["release_id"], row["period"], row["currency"]): int(row["total"]) for row in rows}


def escrowed_for(*, recording_id: int, side: str) -> dict[tuple[int, str, str], int]:
    """(release, period, currency) → escrow attributable to this recording and side, before any claim."""
    key = _path_key(recording_id, side)
    paths = {release_id: p for release_id, p in _escrow_paths_by_release().items() if key in p}
    attributed = _attributed(_escrow_credits(paths), paths)
    return {k: parts[key] for k, parts in attributed.items() if parts.get(key)}


def unclaimed_bps(*, recording_id: int, side: str) -> int:
    """Basis points of the side that no holder has (what escrow collects)."""
    shares = recording_share_rows([recording_id]).get(recording_id, [])
    total = sum(bps for _, s, bps in shares if s == side)
    return max(BPS - total, 0)


# --- services ----------------------------------------------------------------------------------


def _user_is_staff(user_id: int) -> bool:
    return bool(get_user_model().objects.filter(pk=user_id, is_staff=True, is_active=True).exists())


@transaction.atomic
def escrow_claim_create(*, recording_id: int, side: str, holder_id: int, evidence: str, by_user_id: int) -> EscrowClaim:
    """Open a claim on the unclaimed part of one side of a recording.

    The holder must exist and not be the escrow holder; the side must have an unclaimed part;
    the same holder may not have two pending claims on one side.
    """
    from catalog.selectors import holder_labels, recording_exists

    if side not in SIDES:
        raise EscrowClaimInvalid(f"Side {side!r} is not master or publishing.", extra={"field": "side"})
    evidence = evidence.strip()
    if len(evidence) < 10:
        raise EscrowClaimInvalid(
            "Describe the evidence (contract, registration number, reference) in at least 10 characters.",
            extra={"field": "evidence"},
        )
    if not recording_exists(recording_id=recording_id):
        raise NotFound(f"Recording {recording_id} does not exist.", extra={"recording_id": recording_id})
    holder = holder_labels([holder_id]).get(holder_id)
    if holder is None or holder.kind == "escrow":
        raise EscrowClaimInvalid(
            f"Holder {holder_id} is not a rights holder that can be paid; create the holder first.",
            extra={"field": "holder_id"},
        )
    bps = unclaimed_bps(recording_id=recording_id, side=side)
    if bps == 0:
        raise EscrowClaimInvalid(
            f"The {side} side of recording {recording_id} is fully assigned; nothing is held in escrow for it.",
            extra={"recording_id": recording_id, "side": side},
        )
    if EscrowClaim.objects.filter(
        recording_id=recording_id, side=side, holder_id=holder_id, status=EscrowClaim.Status.PENDING
    ).exists():
        raise EscrowClaimInvalid(
            "This holder already has a pending claim on that side; wait for its decision.",
            extra={"recording_id": recording_id, "side": side},
        )
    return EscrowClaim.objects.create(
        recording_id=recording_id,
        side=side,
        holder_id=holder_id,
        share_bps=bps,
        evidence=evidence,
        claimed_by_id=by_user_id,
    )


def _lock(claim_id: int) -> EscrowClaim:
    claim = EscrowClaim.objects.select_for_update().filter(pk=claim_id).first()
    if claim is None:
        raise NotFound(f"Escrow claim {claim_id} does not exist.", extra={"claim_id": claim_id})
    return claim


def _check_second_person(claim: EscrowClaim, by_user_id: int, verb: str) -> None:
    """Four eyes: only active staff act on a claim, never the person who filed it."""
    if not _user_is_staff(by_user_id):
        raise EscrowClaimInvalid(f"Only staff {verb} escrow claims.", extra={"claim_id": claim.pk})
    if by_user_id == claim.claimed_by_id:
        raise EscrowClaimInvalid(
            f"The person who filed a claim cannot {verb} it; ask another staff member.",
            extra={"claim_id": claim.pk},
        )


def _lock_pending(claim_id: int, by_user_id: int, target: str) -> EscrowClaim:
    claim = _lock(claim_id)
    if target not in EscrowClaim.ALLOWED[EscrowClaim.Status(claim.status)]:
        raise EscrowClaimTransitionInvalid(
            f"Claim {claim_id} is {claim.status}; it cannot become {target}.",
            extra={"from": claim.status, "to": target},
        )
    _check_second_person(claim, by_user_id, "decide")
    return claim


def _claim_values(claim: EscrowClaim) -> dict[str, object]:
    return {
        "status": str(claim.status),
        "recording_id": claim.recording_id,
        "side": claim.side,
        "holder_id": claim.holder_id,
        "share_bps": claim.share_bps,
        "moved": dict(claim.moved),
    }


def _move(claim: EscrowClaim, *, by_user_id: int) -> dict[str, int]:
    """Post what escrow still holds for the claim's recording and side to the holder (one transaction per currency)."""
    owed = escrowed_for(recording_id=claim.recording_id, side=claim.side)
    moved = _moved_by_claims(
        EscrowClaim.objects.filter(
            recording_id=claim.recording_id, side=claim.side, status=EscrowClaim.Status.APPROVED
        ).values_list("pk", flat=True)
    )
    by_currency: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for (release_id, period, currency), amount in sorted(owed.items()):
        left = amount - moved.get((release_id, period, currency), 0)
        if left:
            by_currency[currency].append((release_id, period, left))
    escrow_id = escrow_holder().pk
    totals: dict[str, int] = {}
    for currency, rows in sorted(by_currency.items()):
        escrow_account = ledger.account_for(kind=Account.Kind.ESCROW, currency=currency, holder_id=escrow_id)
        holder_account = ledger.account_for(kind=Account.Kind.HOLDER, currency=currency, holder_id=claim.holder_id)
        entries = []
        for release_id, period, amount in rows:
            entries.append(ledger.EntrySpec(escrow_account.pk, amount, currency, period, release_id))
            entries.append(ledger.EntrySpec(holder_account.pk, -amount, currency, period, release_id))
        sequence = claim.transactions.filter(entries__currency=currency).distinct().count()
        txn = ledger.post(
            kind=Transaction.Kind.ESCROW_CLAIM,
            idempotency_key=f"escrow-claim:{claim.pk}:{currency}:{sequence}",
            entries=entries,
            memo=(
                f"Escrow claim {claim.pk}: {claim.side} of recording {claim.recording_id} to holder "
                f"{claim.holder_id}, by user {by_user_id}"
            ),
        )
        claim.transactions.add(txn)
        totals[currency] = sum(amount for _, _, amount in rows)
    return totals


@transaction.atomic
def escrow_claim_approve(*, claim_id: int, by_user_id: int, note: str = "") -> EscrowClaim:
    """Approve a pending claim (four eyes): complete the side's shares, move the escrowed money.

    Locks the claim row. Refused if the side's unclaimed part changed since the claim was filed.
    """
    claim = _lock_pending(claim_id, by_user_id, EscrowClaim.Status.APPROVED)
    old = _claim_values(claim)
    bps = unclaimed_bps(recording_id=claim.recording_id, side=claim.side)
    if bps != claim.share_bps:
        raise EscrowClaimInvalid(
            f"The {claim.side} side of recording {claim.recording_id} now has {bps} unclaimed basis points, "
            f"not the {claim.share_bps} claimed; reject this claim and file a new one.",
            extra={"claim_id": claim_id, "unclaimed_bps": bps},
        )
    current = [
        (holder_id, share)
        for holder_id, side, share in recording_share_rows([claim.recording_id]).get(claim.recording_id, [])
        if side == claim.side
    ]
    shares: dict[int, int] = defaultdict(int, current)
    shares[claim.holder_id] += claim.share_bps
    recording_shares_set(
        recording_id=claim.recording_id, side=claim.side, shares=sorted(shares.items()), by_user_id=by_user_id
    )
    claim.status = EscrowClaim.Status.APPROVED
    claim.decided_by_id = by_user_id
    claim.decided_at = timezone.now()
    claim.decision_note = note
    claim.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"])
    claim.moved = _move(claim, by_user_id=by_user_id)
    claim.save(update_fields=["moved", "updated_at"])
    audit_record(actor_id=by_user_id, action="escrow_claim.approve", target=claim, old=old, new=_claim_values(claim))
    return claim


@transaction.atomic
def escrow_claim_settle(*, claim_id: int, by_user_id: int) -> dict[str, int]:
    """Move escrow credited along an approved claim's path since it was approved (later statements).

    Money moves, so four eyes hold as for the decisions: active staff only, never the claimant.
    Locks the claim row, so two settlements of one claim run one after the other. Idempotent: with
    nothing new in escrow it posts nothing. Returns currency → minor units moved now (one ledger
    transaction per currency); a pending or rejected claim is refused and nothing moves.
    """
    claim = _lock(claim_id)
    if claim.status != EscrowClaim.Status.APPROVED:
        raise EscrowClaimTransitionInvalid(
            f"Claim {claim_id} is {claim.status}; only approved claims are settled.", extra={"from": claim.status}
        )
    _check_second_person(claim, by_user_id, "settle")
    old = _claim_values(claim)
    totals = _move(claim, by_user_id=by_user_id)
    if totals:
        claim.moved = {c: claim.moved.get(c, 0) + totals.get(c, 0) for c in sorted({*claim.moved, *totals})}
        claim.save(update_fields=["moved", "updated_at"])
        audit_record(actor_id=by_user_id, action="escrow_claim.settle", target=claim, old=old, new=_claim_values(claim))
    return totals


@transaction.atomic
def escrow_claim_reject(*, claim_id: int, by_user_id: int, note: str = "") -> EscrowClaim:
    """Reject a pending claim (four eyes). Shares and money stay as they are."""
    claim = _lock_pending(claim_id, by_user_id, EscrowClaim.Status.REJECTED)
    old = _claim_values(claim)
    claim.status = EscrowClaim.Status.REJECTED
    claim.decided_by_id = by_user_id
    claim.decided_at = timezone.now()
    claim.decision_note = note
    claim.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "updated_at"])
    audit_record(actor_id=by_user_id, action="escrow_claim.reject", target=claim, old=old, new=_claim_values(claim))
    return claim


# --- reads -------------------------------------------------------------------------------------


def escrow_claims_for(*, holder_id: int | None) -> QuerySet[EscrowClaim]:
    """Claims of one holder (None: every claim), newest first."""
    claims = EscrowClaim.objects.order_by("-created_at", "-pk")
    return claims if holder_id is None else claims.filter(holder_id=holder_id)


@dataclass(frozen=True)
class EscrowAging:
    """What escrow holds for one path (recording and side; recording None = no recording), per currency."""

    recording_id: int | None
    side: str
    currency: str
    amount_minor: int
    oldest_period: str
    first_credited: datetime.datetime | None
    age_days: int
    open_claims: int
    pools: tuple[str, ...] = ()  # "source" and/or "training": which part of the sheets sent it here
    approved_claim_id: int | None = None  # set: a claim was approved; what is held arrived since (settle it)

    @property
    def reason(self) -> str:
        """Why the money is held, in words for staff."""
        names = {"source": "source song (67% pool)", "training": "training data (33% pool)"}
        where = " and ".join(names[p] for p in self.pools)
        prefix = f"{where}: " if where else ""
        if self.recording_id is None and self.side == PUBLIC_DOMAIN:
            return "public-domain training items (policy escrow: SONGFORGE_TRAINING_PUBLIC_DOMAIN)"
        if self.recording_id is None:
            return f"{prefix}no catalog recording, holders not known"
        if self.approved_claim_id is not None:
            return f"{prefix}claim {self.approved_claim_id} approved; arrived since on the older split sheet: settle it"
        return f"{prefix}no {self.side} holders (or not all) in the catalog when the split sheet was made"


@dataclass
class _Held:
    period: str
    amount: int = 0
    first: datetime.datetime | None = None


def _escrow_pools(release_ids: Iterable[int]) -> dict[PathKey, set[str]]:
    pools: dict[PathKey, set[str]] = defaultdict(set)
    for provenance in SplitSheetLine.objects.filter(
        holder__kind="escrow", sheet__release_id__in=list(release_ids)
    ).values_list("provenance", flat=True):
        for path in provenance or []:
            pools[_path_key(path.get("recording_id"), path.get("side"))].add(str(path["pool"]))
    return pools


def escrow_aging(
    *,
    now: datetime.datetime | None = None,
    period_from: str = "",
    period_to: str = "",
    release_id: int | None = None,
    currency: str = "",
) -> list[EscrowAging]:
    """Escrow still held per recording, side and currency, oldest first (claims' moves subtracted).

    Optional filters: periods of use (``YYYY-MM``, inclusive), one release, one currency. They apply
    to the credits and to the claims' moves alike (both carry release, period and currency), so the
    filtered rows add up to the escrow entries of those releases, periods and currency.
    """
    now = now or timezone.now()

    def wanted(key: tuple[int, str, str]) -> bool:
        _, period, money = key
        return (
            (not period_from or period >= period_from)
            and (not period_to or period <= period_to)
            and (not currency or money == currency)
        )

    paths = _escrow_paths_by_release(None if release_id is None else [release_id])
    credits = {key: amount for key, amount in _escrow_credits(paths).items() if wanted(key)}
    attributed = _attributed(credits, paths)
    pools = _escrow_pools(paths)
    claims = list(EscrowClaim.objects.values_list("pk", "recording_id", "side", "status"))
    approved: dict[PathKey, list[int]] = defaultdict(list)
    pending: dict[PathKey, int] = defaultdict(int)
    for pk, recording_id, side, status in claims:
        if status == EscrowClaim.Status.APPROVED:
            approved[(recording_id, side)].append(pk)
        elif status == EscrowClaim.Status.PENDING:
            pending[(recording_id, side)] += 1
    first = {
        (row["release_id"], row["period"], row["currency"]): row["first"]
        for row in Entry.objects.filter(account__kind=Account.Kind.ESCROW, transaction__kind__in=ESCROW_CREDIT_KINDS)
        .values("release_id", "period", "currency")
        .annotate(first=Min("transaction__created_at"))
    }
    held: dict[tuple[PathKey, str], _Held] = {}
    for (credit_release, period, money), parts in attributed.items():
        for key, amount in parts.items():
            slot = held.setdefault((key, money), _Held(period=period))
            slot.amount += amount
            slot.period = min(slot.period, period)
            when = first.get((credit_release, period, money))
            if when is not None and (slot.first is None or when < slot.first):
                slot.first = when
    for key, claim_ids in approved.items():
        for moved_key, amount in _moved_by_claims(claim_ids).items():
            if wanted(moved_key) and (release_id is None or moved_key[0] == release_id) and (key, moved_key[2]) in held:
                held[(key, moved_key[2])].amount -= amount
    rows = [
        EscrowAging(
            recording_id=recording_key if recording_key >= 0 else None,
            side=side,
            currency=money,
            amount_minor=slot.amount,
            oldest_period=slot.period,
            first_credited=slot.first,
            age_days=(now - slot.first).days if slot.first is not None else 0,
            open_claims=pending.get((recording_key, side), 0),
            pools=tuple(sorted(pools.get((recording_key, side), ()))),
            approved_claim_id=max(approved[(recording_key, side)]) if approved.get((recording_key, side)) else None,
        )
        for ((recording_key, side), money), slot in held.items()
        if slot.amount
    ]
    return sorted(rows, key=lambda r: (r.oldest_period, -r.amount_minor, r.recording_id or 0, r.side))
