"""Song form: the section plan a composition follows and how loud each section plays.

Long-range form comes from this plan (intro-verse-chorus-verse-chorus-bridge-chorus-outro), not
from the model's 512-token context.
"""

from __future__ import annotations

from generation.ml.tokenizer import TICKS_PER_BEAT

FORM = ("intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro")
SECTION_LOUDNESS = {"intro": 0, "verse": 1, "chorus": 2, "bridge": 1, "outro": 0}
BAR_TICKS = 4 * TICKS_PER_BEAT
FORM_UNITS = 7.0  # the form in full-section units: five full sections and two halves (intro, outro)


def section_bars(*, seconds: float, tempo_bpm: float, fixed: int | None = None) -> int:
    """Bars per full section so the form lasts about ``seconds`` (even, 8 to 16); ``fixed`` wins."""
    if fixed:
        return fixed
    total_bars = seconds * tempo_bpm / 60.0 / 4.0
    per_unit = total_bars / FORM_UNITS
    return int(min(16, max(8, round(per_unit / 2) * 2)))
