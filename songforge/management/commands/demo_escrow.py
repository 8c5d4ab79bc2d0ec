"""The demo's escrow story: why money is held, the claims that release it, and a later statement settled.

``make demo`` runs it after the royalty step (``manage.py demo_escrow`` reruns it on the demo data).
Every step goes through the same services as the API and the admin (``royalties.escrow``), with two
staff members and a holder's own account, so the four-eyes refusals printed are the real ones.

The demo catalog leaves about one entry in sixteen without publishing holders on purpose
(``demo.catalog_build.demo_rights``); the story files each such side's claim for the writer the demo
invented for that artist (``demo.catalog_build.demo_people``), as a label's desk would once the
writer shows their agreement.
"""

from __future__ import annotations

import datetime
import tempfile
from collections import defaultdict
from collections.abc import Callable
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Sum

from catalog.models import Recording, RightsHolder
from catalog.services import rights_holder_get_or_create, rights_holder_user_link
from royalties.dashboard import DashboardFilters, revenue_by_source_song, revenue_by_training_holder
from royalties.escrow import (
    EscrowAging,
    escrow_aging,
    escrow_claim_approve,
    escrow_claim_create,
    escrow_claim_settle,
)
from royalties.imports import rows_to_csv
from royalties.models import EscrowClaim, LineGroup, SplitSheet, Transaction
from royalties.money import PPB, format_for_people
from royalties.payouts import payout_run_create
from royalties.selectors import holder_balance
from royalties.splits import percent_of, split_sheet_compute
from songforge.errors import DomainError

STAFF = ("desk-ana", "desk-ben")  # two people of the label's desk: one files, the other decides
TRAINING_ROWS_SHOWN = 5


def _money(amount_minor: int, currency: str = "USD") -> str:
    """ "$149.55" for people (the JSON and the ledger keep minor units)."""
    return format_for_people(amount_minor, currency).split(" (")[0]


def _percent(part: int, whole: int) -> str:
    return percent_of(part * 1_000_000 // whole) if whole else "0.00%"


def _next_period(period: str) -> str:
    year, month = (int(x) for x in period.split("-"))
    return f"{year + month // 12}-{month % 12 + 1:02d}"


class Command(BaseCommand):
    help = "Show why the demo release's escrow is held, claim it under four eyes, settle a later statement."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--release", type=int, help="Release id (default: the newest with a split sheet).")
        parser.add_argument("--currency", default="USD")

    def handle(self, *args: Any, **options: Any) -> None:
        sheet = SplitSheet.objects.order_by("-created_at", "-pk")
        if options["release"]:
            sheet = sheet.filter(release_id=options["release"])
        found = sheet.select_related("release").first()
        if found is None:
            raise CommandError("No release with a split sheet; publish one first (make demo does).")
        self.release_id = int(found.release_id)
        self.isrc = str(found.release.isrc)
        self.currency = str(options["currency"])
        self.sheet = found
        self.staff = [self._staff(name) for name in STAFF]

        self.say_sheet()
        before = self.say_held("Escrow now, per recording and side, with the reason")
        claims = self.walk_claims(before)
        after = self.total_held()
        allocated = self.allocated()
        self.say(
            f"escrow before the claims: {_money(sum(r.amount_minor for r in before), self.currency)} "
            f"({_percent(sum(r.amount_minor for r in before), allocated)} of the song's allocated money); "
            f"after: {_money(after, self.currency)} ({_percent(after, allocated)})"
        )
        self.later_statement(claims)
        self.say_new_sheet()
        call_command("ledger_check", stdout=self.stdout)

    # --- steps ----------------------------------------------------------------------------------
    def say_sheet(self) -> None:
        """What the stored sheet sends to escrow, split into the sides that caused it."""
        line = self.sheet.lines.filter(holder__kind=RightsHolder.Kind.ESCROW).first()
        if line is None:
            self.say("the split sheet sends nothing to escrow")
            return
        by_pool: dict[str, list[Fraction]] = defaultdict(list)
        for path in line.provenance or []:
            by_pool[str(path["pool"])].append(Fraction(str(path["share"])))
        parts = "; ".join(
            f"{pool}: {len(shares)} side(s), {percent_of(int(sum(shares) * 1_000_000))} of the song"
            for pool, shares in sorted(by_pool.items())
        )
        self.say(f"the split sheet of release {self.release_id} escrows {percent_of(line.ppb // 1000)}: {parts}")

    def say_held(self, title: str) -> list[EscrowAging]:
        rows = sorted(
            escrow_aging(release_id=self.release_id, currency=self.currency),
            key=lambda r: (r.pools != ("source",), -r.amount_minor, r.recording_id or 0),
        )
        total = sum(r.amount_minor for r in rows)
        self.say(f"{title}: {_money(total, self.currency)} in {len(rows)} side(s)")
        labels = self._labels([r.recording_id for r in rows if r.recording_id is not None])
        training_shown = 0
        hidden: list[EscrowAging] = []
        for row in rows:
            if row.pools == ("training",):
                training_shown += 1
                if training_shown > TRAINING_ROWS_SHOWN:
                    hidden.append(row)
                    continue
            name = labels.get(row.recording_id or -1, "(no catalog recording)")
            self.say(f"  {name} — {row.side or '-'}: {_money(row.amount_minor, self.currency)} — {row.reason}")
        if hidden:
            self.say(
                f"  … and {len(hidden)} more training recordings' sides, "
                f"{_money(sum(r.amount_minor for r in hidden), self.currency)} in all (same reason)"
            )
        return rows

    def walk_claims(self, held: list[EscrowAging]) -> list[EscrowClaim]:
        """A holder files the first claim from their own account; the desk files the rest; a second person decides."""
        ana, ben = self.staff
        for row in held:
            if row.recording_id is None:
                self.say(f"cannot be claimed: {row.reason} ({_money(row.amount_minor, self.currency)})")
        # every escrowed side of the sheet, also those whose part rounded to 0 cents so far
        shares: dict[tuple[int, str], Fraction] = defaultdict(Fraction)
        in_source: set[tuple[int, str]] = set()
        line = self.sheet.lines.filter(holder__kind=RightsHolder.Kind.ESCROW).first()
        for path in (line.provenance if line else None) or []:
            if path.get("recording_id") is not None and path.get("side") in ("master", "publishing"):
                key = (int(path["recording_id"]), str(path["side"]))
                shares[key] += Fraction(str(path["share"]))
                if path["pool"] == "source":
                    in_source.add(key)
        claimable = sorted(shares, key=lambda k: (k not in in_source, -shares[k], k))
        if not claimable:
            return []
        self.say("claims (each approved by a staff member other than the one who filed it):")
        claims = []
        quiet: list[int] = []
        shown = max(2, len(in_source) + 1)
        for index, (recording_id, side) in enumerate(claimable):
            holder = self._rightful_holder(recording_id)
            evidence = f"Demo publishing agreement DEMO-{side.upper()}-{recording_id:05d} signed by {holder.name}"
            if index == 0:
                claimant = self._holder_account(holder, by_staff_id=ana.pk)
                claim = escrow_claim_create(
                    recording_id=recording_id,
                    side=side,
                    holder_id=holder.pk,
                    evidence=evidence,
                    by_user_id=claimant,
                )
                self.say(
                    f"  {holder.name} files claim {claim.pk} from their own account (as POST "
                    f"/api/royalties/escrow-claims/): {side} of recording {recording_id}, "
                    f"{claim.share_bps} bps"
                )
                self.refused(
                    "  the claimant approves it", partial(escrow_claim_approve, claim_id=claim.pk, by_user_id=claimant)
                )
                decider = ana
            else:
                claim = escrow_claim_create(
                    recording_id=recording_id,
                    side=side,
                    holder_id=holder.pk,
                    evidence=evidence,
                    by_user_id=ana.pk,
                )
                if index == 1:
                    self.say(f"  {ana.username} files claim {claim.pk} for {holder.name} in the admin")
                    self.refused(
                        f"  {ana.username} approves her own claim",
                        partial(escrow_claim_approve, claim_id=claim.pk, by_user_id=ana.pk),
                    )
                decider = ben
            approved = escrow_claim_approve(claim_id=claim.pk, by_user_id=decider.pk, note="agreement checked")
            moved = approved.moved.get(self.currency, 0)
            if index < shown:
                self.say(
                    f"  claim {claim.pk} approved by {decider.username}: {side} of recording "
                    f"{recording_id} → {holder.name}, moved {_money(moved, self.currency)}"
                )
            else:
                quiet.append(moved)
            claims.append(approved)
        if quiet:
            self.say(
                f"  … and {len(quiet)} more claims on training recordings' sides, filed by {ana.username} and "
                f"approved by {ben.username}, moving {_money(sum(quiet), self.currency)} in all"
            )
        return claims

    def later_statement(self, claims: list[EscrowClaim]) -> None:
        """Next month's statement for the same release: its old sheet escrows the claimed sides again; settle."""
        ana, ben = self.staff
        last = LineGroup.objects.filter(release_id=self.release_id).order_by("-period").first()
        period = _next_period(last.period if last else datetime.date.today().strftime("%Y-%m"))
        rows = [
            {"period": period, "store": store, "territory": territory, "isrc": self.isrc, "units": units,
             "net_revenue": revenue, "currency": self.currency}
            for store, territory, units, revenue in (
                ("spotify", "US", 98_000, "337.120400"),
                ("apple-music", "GB", 21_400, "154.870000"),
            )
        ]  # fmt: skip
        self.say(f"a later statement ({period}) for the same release, whose split sheet never changes:")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"platoon-{period}.csv"
            path.write_text(rows_to_csv(rows))
            call_command("royalties_import", str(path), reference=f"demo-{period}-{self.isrc}", stdout=self.stdout)
        self.say_held("escrow after it")
        if not claims:
            return
        own = next((c for c in claims if c.claimed_by_id == ana.pk), None)
        if own is not None:
            self.refused(
                f"  {ana.username} settles claim {own.pk}, which she filed",
                partial(escrow_claim_settle, claim_id=own.pk, by_user_id=ana.pk),
            )
        before = Transaction.objects.filter(kind=Transaction.Kind.ESCROW_CLAIM).count()
        moved = 0
        for claim in claims:
            settler = ben if claim.claimed_by_id == ana.pk else ana
            moved += escrow_claim_settle(claim_id=claim.pk, by_user_id=settler.pk).get(self.currency, 0)
        postings = Transaction.objects.filter(kind=Transaction.Kind.ESCROW_CLAIM).count() - before
        self.say(
            f"settled {len(claims)} approved claim(s) (admin action 'Move escrow that arrived since approval'): "
            f"moved {_money(moved, self.currency)} in {postings} ledger transaction(s)"
        )
        again = self._settle_again(claims)
        self.say(f"settling again moves {_money(again, self.currency)}")
        self.say(
            f"escrow now: {_money(self.total_held(), self.currency)} "
            f"({_percent(self.total_held(), self.allocated())} of the song's allocated money)"
        )
        run = payout_run_create(period=period)
        holders = sorted({c.holder_id for c in claims})
        paid = run.payouts.filter(holder_id__in=holders, currency=self.currency).aggregate(total=Sum("amount_minor"))
        owed = sum(holder_balance(holder_id=h, currency=self.currency) for h in holders)
        self.say(
            f"payout run {period}: the {len(holders)} claimant holder(s) are paid "
            f"{_money(int(paid['total'] or 0), self.currency)}; {_money(owed, self.currency)} carried forward "
            f"(below the payout minimum)"
        )

    def say_new_sheet(self) -> None:
        """A sheet computed now from the same inputs uses the completed shares."""
        inputs = self.sheet.inputs or {}
        data = split_sheet_compute(
            sources=[(int(r), Fraction(str(w))) for r, w in inputs.get("sources", [])],
            training=[(r, int(t)) for r, t in inputs.get("training", [])],
            public_domain_tokens=int((inputs.get("public_domain") or {}).get("tokens", 0)),
        )
        escrow_id = RightsHolder.objects.get(kind=RightsHolder.Kind.ESCROW).pk
        ppb = data.ppb_by_holder().get(escrow_id, 0)
        self.say(
            f"a split sheet computed now from the same sources and training escrows {percent_of(ppb // 1000)} "
            f"(new releases pay the claimants directly; {PPB - ppb} of {PPB} ppb to named holders)"
        )

    # --- helpers --------------------------------------------------------------------------------
    def _settle_again(self, claims: list[EscrowClaim]) -> int:
        ana, ben = self.staff
        return sum(
            escrow_claim_settle(claim_id=c.pk, by_user_id=(ben if c.claimed_by_id == ana.pk else ana).pk).get(
                self.currency, 0
            )
            for c in claims
        )

    def total_held(self) -> int:
        return sum(r.amount_minor for r in escrow_aging(release_id=self.release_id, currency=self.currency))

    def allocated(self) -> int:
        filters = DashboardFilters(release_id=self.release_id, currency=self.currency)
        return sum(r.amount_minor for r in revenue_by_source_song(filters=filters)) + sum(
            r.amount_minor for r in revenue_by_training_holder(filters=filters)
        )

    def refused(self, attempt: str, action: Callable[[], object]) -> None:
        try:
            action()
        except DomainError as error:
            self.say(f"{attempt}: refused, {error.code}: {error.message}")
        else:
            raise CommandError(f"{attempt.strip()} was accepted; four eyes must refuse it")

    def _staff(self, username: str) -> Any:
        user, _ = get_user_model().objects.get_or_create(
            username=username, defaults={"is_staff": True, "email": f"{username}@songforge.local"}
        )
        return user

    def _holder_account(self, holder: RightsHolder, *, by_staff_id: int) -> int:
        """The holder's own login (the account their API token belongs to), linked by the desk."""
        if holder.user_id is not None:
            return int(holder.user_id)
        slug = "-".join(holder.name.lower().split())[:100]
        user, _ = get_user_model().objects.get_or_create(
            username=f"holder-{slug}", defaults={"email": f"{slug}@holders.songforge.local"}
        )
        rights_holder_user_link(holder_id=holder.pk, user_id=user.pk, by_id=by_staff_id)
        return int(user.pk)

    def _rightful_holder(self, recording_id: int) -> RightsHolder:
        """The writer the demo invented for the recording's artist (the first of the artist's writers)."""
        from demo.catalog_build import demo_people

        artist = Recording.objects.filter(pk=recording_id).values_list("artist", flat=True).first() or ""
        writers = {a.name: a.writers for a in demo_people(0)[0]}.get(artist)
        name = writers[0] if writers else "Demo Claimant Publishing"
        holder, _ = rights_holder_get_or_create(name=name, kind="writer" if writers else "publisher", is_demo=True)
        return holder

    def _labels(self, recording_ids: list[int]) -> dict[int, str]:
        return {
            pk: f"'{title}' by {artist} ({external_id})"
            for pk, title, artist, external_id in Recording.objects.filter(pk__in=recording_ids).values_list(
                "pk", "title", "artist", "external_id"
            )
        }

    def say(self, text: str) -> None:
        self.stdout.write(f"  {text}")
