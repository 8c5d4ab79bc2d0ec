"""Formatting filters and server-side SVG charts for the pages.

Charts are plain inline SVG drawn here (no JavaScript, no CDN): each has a
``<title>`` and ``<desc>`` for screen readers, and pages show the same figures in
a table next to it. Inputs are lists of ``(label, value)`` pairs prepared by views.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

PALETTE = ("#4b2bd6", "#d6492b", "#1b7f5c", "#b8860b", "#2b7fd6", "#9c2bd6", "#5c6b1b", "#d62b86", "#2bb0b8", "#6b4a1b")


@register.filter
def duration(seconds: Any) -> str:
    """212.4 -> "3:32"; empty when unknown."""
    if seconds is None or seconds == "":
        return "—"
    total = round(float(seconds))
    return f"{total // 60}:{total % 60:02d}"


@register.filter
def duration_ms(milliseconds: Any) -> str:
    if milliseconds is None or milliseconds == "":
        return "—"
    return duration(int(milliseconds) / 1000)


@register.filter
def share_percent(share: Any, digits: int = 1) -> str:
    """A share between 0 and 1 as a percentage: 0.423 -> "42.3%"."""
    if share is None or share == "":
        return "—"
    return f"{float(share) * 100:.{int(digits)}f}%"


@register.filter
def bps_percent(bps: Any) -> str:
    """Basis points as a percentage: 6700 -> "67.00%"."""
    if bps is None or bps == "":
        return "—"
    return f"{Decimal(int(bps)) / 100:.2f}%"


@register.filter
def money(amount_minor: Any, currency: str = "") -> str:
    """Integer minor units to a readable amount: (123456, "EUR") -> "1,234.56 EUR" (royalties.money rules)."""
    if amount_minor is None or amount_minor == "":
        return "—"
    from royalties.money import format_minor

    return format_minor(int(amount_minor), currency)


@register.filter
def ppb_percent(ppb: Any, digits: int = 2) -> str:
    """Parts per billion as a percentage: 670_000_000 -> "67.00%"."""
    if ppb is None or ppb == "":
        return "—"
    return f"{Decimal(int(ppb)) / 10_000_000:.{int(digits)}f}%"


@register.filter
def label(key: str) -> str:
    """A report key as a label: "longest_shared_notes" -> "Longest shared notes"."""
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@register.filter
def number(value: Any, digits: int = 1) -> str:
    if value is None or value == "":
        return "—"
    return f"{float(value):,.{int(digits)}f}"


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


@register.simple_tag
def bar_chart(items: Sequence[tuple[str, float]], title: str, value_format: str = "percent") -> SafeString:
    """Horizontal bars, one per (label, value); values are shares (0..1) or plain numbers.

    Labels and values are HTML text (legible at any width); each bar is a small SVG.
    """
    rows = [(str(label), float(value)) for label, value in items]
    if not rows:
        return format_html('<p class="muted">No figures to chart yet.</p>')
    top = max((value for _, value in rows), default=0.0) or 1.0
    description = "; ".join(f"{label}: {_fmt(value, value_format)}" for label, value in rows)
    parts = [f'<figure class="bar-chart" role="img" aria-label="{escape(title)}: {escape(description)}">']
    for index, (label, value) in enumerate(rows):
        percent = max(value / top * 100, 0.5 if value > 0 else 0.0)
        parts.append(
            f'<div class="bar-row" aria-hidden="true"><span class="bar-label">{escape(label)}</span>'
            f'<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none">'
            f'<rect x="0" y="0" width="{percent:.2f}" height="10" rx="1" fill="{_colour(index)}"/></svg>'
            f'<span class="bar-value">{_fmt(value, value_format)}</span></div>'
        )
    parts.append("</figure>")
    return mark_safe("".join(parts))  # noqa: S308 - every label is escaped above


def _fmt(value: float, value_format: str) -> str:
    if value_format.startswith("money:"):
        from royalties.money import format_minor

        return format_minor(round(value), value_format.removeprefix("money:"))
    if value_format == "percent":
        return f"{value * 100:.1f}%"
    if value_format == "integer":
        return f"{round(value):,}"
    return f"{value:,.2f}"


@register.simple_tag
def donut_chart(items: Sequence[tuple[str, float]], title: str) -> SafeString:
    """A ring of shares (0..1) and an HTML legend; shares are drawn as given, not renormalised."""
    rows = [(str(label), float(value)) for label, value in items if float(value) > 0]
    if not rows:
        return format_html('<p class="muted">No figures to chart yet.</p>')
    size, radius, stroke = 220, 80, 34
    circumference = 2 * math.pi * radius
    chart_id = f"d-{id(rows)}"
    parts = [
        f'<figure class="donut-chart"><svg class="chart donut" viewBox="0 0 {size} {size}" role="img" '
        f'aria-labelledby="{chart_id}-t"><title id="{chart_id}-t">{escape(title)}</title>'
        f"<desc>{escape('; '.join(f'{label}: {value * 100:.1f}%' for label, value in rows))}</desc>"
        f'<g transform="rotate(-90 {size / 2} {size / 2})">'
    ]
    offset = 0.0
    for index, (_, value) in enumerate(rows):
        length = value * circumference
        parts.append(
            f'<circle cx="{size / 2}" cy="{size / 2}" r="{radius}" fill="none" stroke="{_colour(index)}" '
            f'stroke-width="{stroke}" stroke-dasharray="{length:.2f} {circumference - length:.2f}" '
            f'stroke-dashoffset="{-offset:.2f}"/>'
        )
        offset += length
    parts.append('</g></svg><figcaption><ul class="legend">')
    for index, (label, value) in enumerate(rows):
        parts.append(
            f'<li><span class="swatch" style="background:{_colour(index)}" aria-hidden="true"></span>'
            f"{escape(label)} — {value * 100:.1f}%</li>"
        )
    parts.append("</ul></figcaption></figure>")
    return mark_safe("".join(parts))  # noqa: S308 - every label is escaped above


@register.simple_tag
def line_chart(
    x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], title: str, value_format: str = "integer"
) -> SafeString:
    """One line per (name, values) over the shared x labels (periods)."""
    lines = [(str(name), [float(v) for v in values]) for name, values in series]
    if not x_labels or not lines:
        return format_html('<p class="muted">No figures to chart yet.</p>')
    width, height, left, right, bottom, top_pad = 640, 240, 96, 36, 30, 10
    top = max((max(values, default=0.0) for _, values in lines), default=0.0) or 1.0
    plot_w, plot_h = width - left - right, height - bottom - top_pad
    step = plot_w / max(len(x_labels) - 1, 1)
    chart_id = f"l-{id(lines)}"
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height + 24 * len(lines)}" role="img" '
        f'aria-labelledby="{chart_id}-t"><title id="{chart_id}-t">{escape(title)}</title>'
        f"<desc>{escape(title)} for {escape(', '.join(str(x) for x in x_labels))}</desc>"
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" class="axis"/>'
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" class="axis"/>'
        f'<text x="{left - 6}" y="{top_pad + 10}" text-anchor="end" class="chart-value">'
        f"{_fmt(top, value_format)}</text>"
        f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end" class="chart-value">0</text>'
    ]
    every = math.ceil(len(x_labels) / 6)  # at most about six period labels, so they never overlap
    for index, label in enumerate(x_labels):
        if index % every:
            continue
        parts.append(
            f'<text x="{left + index * step:.1f}" y="{height - 8}" text-anchor="middle" class="chart-label">'
            f"{escape(str(label))}</text>"
        )
    for index, (name, values) in enumerate(lines):
        points = " ".join(
            f"{left + i * step:.1f},{top_pad + plot_h - value / top * plot_h:.1f}" for i, value in enumerate(values)
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{_colour(index)}" stroke-width="3"/>'
            + "".join(
                f'<circle cx="{left + i * step:.1f}" cy="{top_pad + plot_h - value / top * plot_h:.1f}" r="4" '
                f'fill="{_colour(index)}"/>'
                for i, value in enumerate(values)
            )
        )
        y = height + 14 + index * 24
        parts.append(
            f'<rect x="{left}" y="{y - 11}" width="14" height="14" fill="{_colour(index)}"/>'
            f'<text x="{left + 20}" y="{y}" class="chart-label">{escape(name[:60])}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label is escaped above
