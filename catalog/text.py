"""Text normalisation shared by the writer of ``search_text`` and the search selector."""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalise(text: str) -> str:
    """Lower-case, strip accents and punctuation, collapse spaces: "Déjà-Vu!" -> "deja vu"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_NON_WORD.sub(" ", stripped).replace("_", " ").split())


def search_text_for(*, title: str, artist: str, album: str) -> str:
    return normalise(" ".join(part for part in (title, artist, album) if part))
