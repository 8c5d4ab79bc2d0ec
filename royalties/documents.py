"""Per-holder statements as CSV and PDF (rendering only; figures come from selectors)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from catalog.selectors import holder_labels
from royalties.money import format_minor
from royalties.selectors import holder_balance, holder_earnings, payouts_for
from songforge.spreadsheet import safe_row

EARNINGS_COLUMNS = ("period", "isrc", "release", "currency", "amount_minor", "amount")


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """Stream CSV text line by line (for StreamingHttpResponse)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(safe_row(row))


def holder_statement_rows(*, holder_id: int, period: str) -> list[tuple[Any, ...]]:
    return [
        (
            row["period"],
            row["release__isrc"] or "",
            row["release__title"] or "",
            row["currency"],
            -int(row["total"]),
            format_minor(-int(row["total"]), row["currency"]),
        )
        for row in holder_earnings(holder_id=holder_id, period=period)
    ]


def holder_statement_csv(*, holder_id: int, period: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EARNINGS_COLUMNS)
    writer.writerows(safe_row(row) for row in holder_statement_rows(holder_id=holder_id, period=period))
    return out.getvalue()


def holder_statement_pdf(*, holder_id: int, period: str) -> bytes:
    """A one-document statement: earnings per release, payouts and the balance carried."""
    holder = holder_labels([holder_id])[holder_id]
    rows = holder_statement_rows(holder_id=holder_id, period=period)
    payouts = list(payouts_for(holder_id=holder_id, period=period))
    currencies = sorted({row[3] for row in rows} | {p.currency for p in payouts})
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, title=f"SongForge statement {period} – {holder.name}")
    story: list[Any] = [
        Paragraph(f"SongForge royalty statement — {period}", styles["Title"]),
        Paragraph(f"Rights holder: {holder.name}", styles["Normal"]),
        Spacer(1, 12),
    ]
    table_rows: list[list[str]] = [["Period", "ISRC", "Release", "Amount"]]
    table_rows += [[row[0], row[1], str(row[2])[:40], row[5]] for row in rows] or [["", "", "No earnings", ""]]
    table = Table(table_rows, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("ALIGN", (3, 0), (3, -1), "RIGHT"),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ]
        )
    )
    story += [table, Spacer(1, 12)]
    for payout in payouts:
        state = "paid" if payout.paid_transaction_id else "approved, awaiting payment"
        story.append(
            Paragraph(f"Payout: {format_minor(payout.amount_minor, payout.currency)} ({state})", styles["Normal"])
        )
    for currency in currencies:
        owed = holder_balance(holder_id=holder_id, currency=currency, up_to_period=period)
        story.append(Paragraph(f"Balance carried forward: {format_minor(owed, currency)}", styles["Normal"]))
    document.build(story)
    return buffer.getvalue()
