"""Demo artists whose ten songs hang together, for benchmarks that need coherent upload sets.

Consecutive entries of the demo catalog are deliberately varied (each draws its own style,
tempo, key and sounds), so ten of them are not what one artist uploads and their averages all
look alike. Here each set is one invented artist (a :class:`~demo.catalog_build.Persona`):
works from one corpus category, one arrangement style, a tempo within a few BPM, one key offset
and one set of instruments, rendered exactly like catalog entries. No Django; deterministic and
cached like ``build_demo_catalog`` (a rerun reuses the audio already written).
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

from demo import catalog_build as db

logger = logging.getLogger(__name__)

CATEGORY_STYLES = {
    "folk": ("folk", "pop", "dance"),
    "chorale": ("ballad", "chamber"),
    "polyphony": ("chamber", "ballad"),
}
CATEGORY_CYCLE = ("folk", "chorale", "polyphony")


def persona(seed: int, index: int) -> tuple[str, db.Persona]:
    """The corpus category and habits of demo artist ``index``."""
    rng = random.Random(f"persona:{seed}:{index}")
    category = CATEGORY_CYCLE[index % len(CATEGORY_CYCLE)]
    style = rng.choice(CATEGORY_STYLES[category])
    low, high = db.TEMPO_RANGES[style]
    melody = rng.choice(db.MELODY_PROGRAMS)
    return category, db.Persona(
        style=style,
        tempo=float(rng.randint(low + 4, high - 4)),
        transpose=rng.randint(-5, 6),
        melody_program=melody,
        chord_program=rng.choice(db.STYLES[style]["chords"]),
        bass_program=rng.choice(db.STYLES[style]["bass"]),
        melody_octave=rng.choice((0, 0, 12, -12)) if melody not in (40, 73, 75) else 0,
    )


# Artists that differ in everything the artist-style benchmark judges: sounds, drums (or none), scale
# and tempo. (name, corpus category, habits); programs are General MIDI (0-based).
STYLE_ARTISTS: tuple[tuple[str, str, db.Persona], ...] = (
    (
        "lullaby",
        "folk",
        db.Persona("ballad", 70.0, 0, 10, 46, 32, tempo_spread=1, drums="none", scale="major_pentatonic"),
    ),
    ("breakbeat", "folk", db.Persona("dance", 158.0, -3, 80, 16, 38, tempo_spread=1, drums="breakbeat", scale="minor")),
    (
        "dorian fiddle",
        "folk",
        db.Persona("folk", 104.0, 2, 40, 24, 32, tempo_spread=2, drums="backbeat", scale="dorian"),
    ),
    (
        "mixolydian clav",
        "folk",
        db.Persona("pop", 116.0, -5, 29, 7, 34, tempo_spread=2, drums="backbeat", scale="mixolydian"),
    ),
    (
        "brushes ballad",
        "chorale",
        db.Persona("ballad", 84.0, 4, 71, 48, 35, tempo_spread=2, drums="brushes", scale="harmonic_minor"),
    ),
    (
        "house",
        "folk",
        db.Persona("dance", 126.0, 5, 81, 89, 39, tempo_spread=1, drums="four", scale="minor_pentatonic"),
    ),
)


def style_persona(seed: int, index: int) -> tuple[str, db.Persona]:
    """Artist ``index`` of :data:`STYLE_ARTISTS` (cycled): its category and habits."""
    _, category, habits = STYLE_ARTISTS[index % len(STYLE_ARTISTS)]
    return category, habits


def build_artist_sets(
    out_dir: Path | str,
    *,
    sets: int = 10,
    songs: int = 10,
    seconds: float = 30.0,
    seed: int = 0,
    kind: str = "demo",
    soundfont: Path | None = None,
) -> list[list[Path]]:
    """WAV files of ``songs`` songs for each of ``sets`` demo artists: ``[[set 0 paths], ...]``.

    Artists take disjoint works of their category, so no two sets share a song. ``kind`` "demo"
    draws :func:`persona` habits; "style" takes :data:`STYLE_ARTISTS`. ``soundfont`` renders with
    another General MIDI sound font than TimGM6mb (its name joins the cache folder).
    """
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    works = db.corpus_works(seed)
    by_category: dict[str, list[db.Work]] = {}
    for work in works:
        by_category.setdefault(work.category, []).append(work)
    cursors = dict.fromkeys(by_category, 0)
    result: list[list[Path]] = []
    for index in range(sets):
        category, habits = style_persona(seed, index) if kind == "style" else persona(seed, index)
        paths: list[Path] = []
        while len(paths) < songs:
            pool = by_category[category]
            work = pool[cursors[category] % len(pool)]
            cursors[category] += 1
            folder = f"{kind}-{soundfont.stem}-" if soundfont else ("style-" if kind == "style" else "")
            path = out / f"{folder}artist-{index:02d}" / f"song-{len(paths):02d}.wav"
            record = path.with_suffix(".json")
            if record.exists() and path.exists() and json.loads(record.read_text()).get("work") == work.source:
                paths.append(path)
                continue
            try:
                piece = db.parse_work(work)
            except Exception as error:  # unusable corpus files are skipped, as in the catalog build
                logger.info("skipping %s: %s", work.source, error)
                continue
            rng = random.Random(f"artist-song:{seed}:{index}:{len(paths)}")
            arrangement = db.arrange(piece, rng, seconds=seconds, persona=habits)
            audio = db.render(arrangement, seconds=seconds, sample_rate=22050, soundfont=soundfont)
            audio = db.add_room(
                audio, sample_rate=22050, room_seconds=arrangement.room_seconds, wet=arrangement.room_wet, rng=rng
            )
            db.write_audio(path, db.finish(audio, sample_rate=22050), 22050, "wav")
            made = {"work": work.source, "category": category, "arrangement": db.arrangement_record(arrangement)}
            record.write_text(json.dumps(made))
            paths.append(path)
        result.append(paths)
    return result
