"""Cover art: the store requirement check and a generated cover when none is given.

Stores want a square 3000×3000 JPEG or PNG. The generated cover is a simple
abstract picture drawn from the song's own features (seed, tempo, key,
the master's loudness and length), so the same song always gets the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from PIL import Image, ImageDraw, UnidentifiedImageError

from distribution.errors import InvalidArtwork
from generation.selectors import GenerationReport

ARTWORK_SIZE = 3000
FORMATS = {"JPEG": ".jpg", "PNG": ".png"}


@dataclass(frozen=True)
class CheckedArtwork:
    content: bytes
    extension: str


def artwork_check(file: IO[bytes]) -> CheckedArtwork:
    """The artwork's bytes if it is a readable 3000×3000 JPEG or PNG, else ``InvalidArtwork``.

    The header is read first and the size checked before any pixel is decoded, so a header that
    claims 20000×20000 (a decompression bomb) is refused without allocating it; then the whole image
    is decoded once, so a header without (enough) pixel data is refused here rather than failing
    later in a delivery.
    """
    content = file.read()
    unreadable = InvalidArtwork(
        "The artwork is not a readable image; upload a 3000×3000 JPEG or PNG, or leave it empty to generate one."
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as probe:
                image_format, size = probe.format, probe.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidArtwork(
            f"The artwork claims more pixels than any cover needs; upload a {ARTWORK_SIZE}×{ARTWORK_SIZE} JPEG or PNG.",
            code="artwork_too_large",
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise unreadable from None
    if image_format not in FORMATS:
        raise InvalidArtwork(
            f"The artwork is a {image_format} image; stores accept JPEG or PNG only.",
            extra={"format": image_format},
        )
    if size != (ARTWORK_SIZE, ARTWORK_SIZE):
        width, height = size
        raise InvalidArtwork(
            f"The artwork is {width}×{height} pixels; stores need exactly {ARTWORK_SIZE}×{ARTWORK_SIZE}. "
            "Resize it, or leave it empty to generate one.",
            extra={"width": width, "height": height},
        )
    try:
        with Image.open(io.BytesIO(content)) as image:
            image.load()  # 3000×3000 at most, checked above
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidArtwork(
            "The artwork's picture data is missing or damaged; export it again as a 3000×3000 JPEG or PNG."
        ) from None
    return CheckedArtwork(content=content, extension=FORMATS[str(image_format)])


def artwork_generate(*, seed: int, report: Mapping[str, Any], title: str) -> bytes:
    """A deterministic 3000×3000 JPEG cover drawn from the song's features.

    Hue comes from the key, ring count from the tempo, contrast from the
    master's loudness; the seed, title and length place the shapes. ``report``
    is the generation's report JSON, read through ``GenerationReport``.
    """
    figures = GenerationReport.from_json(report)
    features = {
        "tempo_bpm": figures.shown_tempo_bpm,
        "key": figures.shown_key,
        "loudness_lufs": figures.loudness_lufs,
        "length_s": figures.shown_length_s,
    }
    digest = hashlib.sha256(json.dumps([seed, title, features], sort_keys=True, default=str).encode()).digest()
    rng = random.Random(digest)
    tempo = figures.shown_tempo_bpm if figures.shown_tempo_bpm is not None else 100.0
    loudness = figures.loudness_lufs if figures.loudness_lufs is not None else -14.0
    hue = (sum(figures.shown_key.encode()) * 37 + digest[0]) % 360
    contrast = max(0.3, min(1.0, (loudness + 30) / 24))

    def colour(shift: float, lightness: float) -> tuple[int, int, int]:
        angle = math.radians((hue + shift) % 360)
        base = 128 * lightness
        swing = 110 * contrast * lightness
        return (
            int(base + swing * math.cos(angle)),
            int(base + swing * math.cos(angle - 2.094)),
            int(base + swing * math.cos(angle + 2.094)),
        )

    small = 600  # draw at a fifth of the size, then scale up: fast and smooth
    image = Image.new("RGB", (small, small), colour(0, 0.5))
    draw = ImageDraw.Draw(image)
    for row in range(small):
        mix = row / small
        a, b = colour(0, 0.45), colour(60, 0.9)
        draw.line([(0, row), (small, row)], fill=tuple(int(a[i] * (1 - mix) + b[i] * mix) for i in range(3)))
    rings = max(3, min(24, int(tempo / 8)))
    centre_x, centre_y = rng.uniform(0.25, 0.75) * small, rng.uniform(0.25, 0.75) * small
    for ring in range(rings, 0, -1):
        radius = ring * small / rings * 0.7
        draw.ellipse(
            [centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius],
            outline=colour(180 + ring * 11, 0.95),
            width=max(2, int(small / rings / 6)),
        )
    for _ in range(6 + digest[1] % 6):
        x, y = rng.uniform(0, small), rng.uniform(0, small)
        size = rng.uniform(20, 120)
        draw.rectangle([x, y, x + size, y + size / 3], fill=colour(rng.uniform(90, 270), 0.8))
    cover = image.resize((ARTWORK_SIZE, ARTWORK_SIZE), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    cover.save(buffer, format="JPEG", quality=90, optimize=False)
    return buffer.getvalue()
