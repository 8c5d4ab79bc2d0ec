"""Reads of the catalog: who holds a recording's rights, and search.

Search ranks recordings by how well the query matches their title, artist and
album, tolerating typos and accents; both sides are compared after
``catalog.text.normalise`` (lower case, no accents or punctuation). PostgreSQL
(migration 0003) uses a stored ``simple`` tsvector with a GIN index, ranked by
ts_rank_cd with a bonus for a prefix match; a query that matches nothing has each
word corrected against a vocabulary table with a pg_trgm index (the recipe in the
pg_trgm docs), so typos cost one small index lookup per word instead of a trigram
scan over every recording. SQLite has neither, so there a prefilter on query
tokens and trigrams narrows candidates and Python ranks them with difflib.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from operator import and_, or_

from django.db import connection
from django.db.models import Q, QuerySet

from catalog.models import Recording, RecordingShare, RightsHolder
from catalog.services import escrow_holder
from catalog.text import normalise

__all__ = [
    "HolderLabel",
    "HolderShare",
    "RecordingHolders",
    "holder_kind_label",
    "holder_labels",
    "holder_recordings",
    "recording_holders",
    "recording_search",
]


@dataclass(frozen=True)
class HolderShare:
    holder_id: int
    holder_name: str
    share_bps: int
    is_escrow: bool


@dataclass(frozen=True)
class RecordingHolders:
    """Both sides of a recording; each side sums to 10,000 bps (an unknown side is 100% escrow)."""

    recording_id: int
    master: tuple[HolderShare, ...]
    publishing: tuple[HolderShare, ...]
    is_rights_complete: bool

    def side(self, side: str) -> tuple[HolderShare, ...]:
        return self.master if side == RecordingShare.Side.MASTER else self.publishing


def recording_holders(recording_id: int) -> RecordingHolders:
    """Shares per side, ordered by holder id; a side without holders goes wholly to the escrow holder."""
    recording = Recording.objects.only("id", "rights_status").get(pk=recording_id)
    rows = RecordingShare.objects.filter(recording_id=recording_id).select_related("holder").order_by("holder_id")
    sides: dict[str, list[HolderShare]] = {side: [] for side in RecordingShare.Side.values}
    for row in rows:
        sides[row.side].append(
            HolderShare(
                holder_id=row.holder_id,
                holder_name=row.holder.name,
                share_bps=row.share_bps,
                is_escrow=row.holder.kind == RightsHolder.Kind.ESCROW,
            )
        )
    for side, shares in sides.items():
        if not shares:
            escrow = escrow_holder()
            sides[side] = [HolderShare(holder_id=escrow.id, holder_name=escrow.name, share_bps=10_000, is_escrow=True)]
    return RecordingHolders(
        recording_id=recording.id,
        master=tuple(sides[RecordingShare.Side.MASTER]),
        publishing=tuple(sides[RecordingShare.Side.PUBLISHING]),
        is_rights_complete=recording.is_rights_complete,
    )


@dataclass(frozen=True)
class HolderLabel:
    """How a rights holder is shown: its name, and its kind as stored and as a label ("Label", "Writer")."""

    holder_id: int
    name: str
    kind: str
    kind_label: str


def holder_kind_label(kind: str) -> str:
    """The display label of a holder kind; an unknown kind is shown as it is."""
    return str(RightsHolder.Kind(kind).label) if kind in RightsHolder.Kind.values else kind


def holder_labels(holder_ids: Sequence[int]) -> dict[int, HolderLabel]:
    """Name and kind of each existing holder in ``holder_ids`` (one query); missing ids are left out."""
    rows = RightsHolder.objects.filter(pk__in=list(holder_ids)).values_list("pk", "name", "kind")
    return {
        pk: HolderLabel(holder_id=pk, name=name, kind=kind, kind_label=holder_kind_label(kind))
        for pk, name, kind in rows
    }


def holder_recordings(holder_id: int) -> QuerySet[Recording]:
    return Recording.objects.filter(shares__holder_id=holder_id).distinct().order_by("artist", "title")


def recording_search(query: str, limit: int = 20) -> list[Recording]:
    """Recordings best matching ``query`` over title, artist and album, best first (at most ``limit``)."""
    text = normalise(query)
    limit = max(1, min(int(limit), 100))
    if not text:
        return []
    if connection.vendor == "postgresql":
        return _search_postgres(text, limit)
    return _search_python(text, limit)


# Full-text matches ranked per query: a very common word can match a tenth of the catalog, so at most
# this many matches are ranked (plus every title-prefix match, found through its own index).
_PG_RANK_CAP = 500
_PG_CORRECTIONS_PER_WORD = 4

_PG_SEARCH_SQL = """
SELECT {columns}
  FROM catalog_recording r
 WHERE r.id IN (
        (SELECT id FROM catalog_recording
          WHERE search_vector @@ to_tsquery('simple'::regconfig, %(tsquery)s) LIMIT %(cap)s)
        UNION
        (SELECT id FROM catalog_recording
          WHERE search_text LIKE %(prefix)s AND search_vector @@ to_tsquery('simple'::regconfig, %(tsquery)s)
          ORDER BY search_text LIMIT %(limit)s))
 ORDER BY ts_rank_cd(r.search_vector, to_tsquery('simple'::regconfig, %(tsquery)s))
          + CASE WHEN r.search_text LIKE %(prefix)s THEN 1.0 ELSE 0 END DESC,
          r.id
 LIMIT %(limit)s
"""

# pg_trgm's recipe for spelling suggestions: the closest vocabulary words for every query word at once.
_PG_CORRECTIONS_SQL = """
SELECT query.position, close.word
  FROM unnest(%(words)s::text[]) WITH ORDINALITY AS query(word, position)
  CROSS JOIN LATERAL (
        SELECT word FROM catalog_search_word
         WHERE word %% query.word
         ORDER BY word <-> query.word, word
         LIMIT %(count)s) AS close
"""


def _pg_search_sql() -> str:
    """The search statement selecting the model's columns only (not the tsvector behind the index)."""
    columns = ", ".join(f"r.{connection.ops.quote_name(field.column)}" for field in Recording._meta.concrete_fields)
    return _PG_SEARCH_SQL.replace("{columns}", columns)


def _tsquery_term(word: str, *, is_prefix: bool) -> str:
    return f"'{word}'" + (":*" if is_prefix else "")


def _search_postgres(text: str, limit: int) -> list[Recording]:
    """Full text first (every word, the last as a prefix); if nothing matches, correct each word against the
    vocabulary with pg_trgm and search again; if still nothing, accept recordings matching any word."""
    words = [word.replace("'", "") for word in text.split() if word.replace("'", "")]
    if not words:
        return []
    params: dict[str, str | int] = {
        "prefix": text.replace("\\", "").replace("%", "").replace("_", "") + "%",
        "limit": limit,
        "cap": _PG_RANK_CAP,
    }
    last = len(words) - 1
    exact = " & ".join(_tsquery_term(w, is_prefix=i == last) for i, w in enumerate(words))
    results = list(Recording.objects.raw(_pg_search_sql(), {**params, "tsquery": exact}))
    if results:
        return results
    with connection.cursor() as cursor:
        cursor.execute(_PG_CORRECTIONS_SQL, {"words": words, "count": _PG_CORRECTIONS_PER_WORD})
        corrections = cursor.fetchall()
    alternatives = []
    for index, word in enumerate(words):
        options = [_tsquery_term(word, is_prefix=False)]  # prefix scans are costly; corrections cover it
        options += [_tsquery_term(w.replace("'", ""), is_prefix=False) for pos, w in corrections if pos == index + 1]
        alternatives.append("(" + " | ".join(dict.fromkeys(options)) + ")")
    for joiner in (" & ", " | ") if len(alternatives) > 1 else (" & ",):
        results = list(Recording.objects.raw(_pg_search_sql(), {**params, "tsquery": joiner.join(alternatives)}))
        if results:
            break
    return results


def _trigrams(word: str) -> set[str]:
    padded = f"  {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def _similarity(token: str, word: str, memo: dict[tuple[str, str], float]) -> float:
    key = (token, word)
    if key not in memo:
        matcher = difflib.SequenceMatcher(None, token, word)
        is_close = matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6
        memo[key] = matcher.ratio() if is_close else 0.0
    return memo[key]


def _score(query: str, tokens: list[str], candidate: str, memo: dict[tuple[str, str], float]) -> float:
    words = candidate.split()
    if not words:
        return 0.0
    total = 0.0
    for token in tokens:
        best = max(_similarity(token, word, memo) for word in words)
        total += best if best >= 0.6 else 0.0
    score = total / len(tokens)
    if candidate.startswith(query):
        score += 0.2
    elif query in candidate:
        score += 0.1
    return score


_PREFILTER_CAP = 2000


def _search_python(text: str, limit: int) -> list[Recording]:
    """SQLite fallback: rows containing every query word, else (typos) any word or one of its inner trigrams,
    narrowed in SQL and ranked with difflib in Python."""
    tokens = text.split()
    every_word = reduce(and_, (Q(search_text__contains=token) for token in tokens))
    candidates = list(Recording.objects.filter(every_word).values_list("id", "search_text")[:_PREFILTER_CAP])
    if not candidates:
        needles: set[str] = set()
        for token in tokens:
            needles.add(token)
            if len(token) >= 4:
                needles.update(gram for gram in _trigrams(token) if gram.strip() == gram)
        any_needle = reduce(or_, (Q(search_text__contains=needle) for needle in sorted(needles)))
        candidates = list(Recording.objects.filter(any_needle).values_list("id", "search_text")[:_PREFILTER_CAP])
    memo: dict[tuple[str, str], float] = {}
    scored = [(score, pk) for pk, candidate in candidates if (score := _score(text, tokens, candidate, memo)) > 0]
    scored.sort(key=lambda pair: (-pair[0], pair[1]))
    ids = [pk for _, pk in scored[:limit]]
    by_id = Recording.objects.in_bulk(ids)
    return [by_id[pk] for pk in ids if pk in by_id]


def recording_exists(*, recording_id: int) -> bool:
    return Recording.objects.filter(pk=recording_id).exists()


def _recordings_among(recording_ids: Sequence[int] | None) -> QuerySet[Recording]:
    recordings = Recording.objects.all()
    return recordings if recording_ids is None else recordings.filter(pk__in=recording_ids)


def recording_ids_by_external_id(
    *, external_ids: Sequence[str], recording_ids: Sequence[int] | None = None
) -> dict[str, int]:
    """external_id -> Recording id for those of ``external_ids`` that exist (among ``recording_ids`` if given)."""
    recordings = _recordings_among(recording_ids)
    found: dict[str, int] = {}
    for start in range(0, len(external_ids), 500):
        chunk = list(external_ids[start : start + 500])
        found.update(recordings.filter(external_id__in=chunk).values_list("external_id", "id"))
    return found


def recording_ids_by_source(*, sources: Sequence[str], recording_ids: Sequence[int] | None = None) -> dict[str, int]:
    """source -> the oldest Recording id arranged from it (among ``recording_ids`` if given)."""
    recordings = _recordings_among(recording_ids)
    found: dict[str, int] = {}
    for start in range(0, len(sources), 500):
        chunk = list(sources[start : start + 500])
        for source, pk in recordings.filter(source__in=chunk).order_by("id").values_list("source", "id"):
            found.setdefault(source, pk)
    return found
