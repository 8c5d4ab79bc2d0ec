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


MIN_SECTION_BARS, MAX_SECTION_BARS = 4, 16


def section_bars(*, seconds: float, tempo_bpm: float, fixed: int | None = None) -> int:
    """Bars per full section so the form lasts about ``seconds`` (4 to 16); ``fixed`` wins.

    The nearest whole number of bars: the generate form's "about 1, 2 or 3 minutes" must give three
    different lengths at any tempo (rounded to even bars with at least 8, a 1-minute song at 100 BPM
    lasted 2:14 and at 70 BPM one and two minutes were the same 3:12).
    """
    if fixed:
        return fixed
    total_bars = seconds * tempo_bpm / 60.0 / 4.0
    per_unit = total_bars / FORM_UNITS
    return int(min(MAX_SECTION_BARS, max(MIN_SECTION_BARS, round(per_unit))))
