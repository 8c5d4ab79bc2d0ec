"""Finding 11: artwork bombs and broken images gave 500; a control character in a release title made
DDEX XML that is not well-formed; a title beginning with "=" reached holders' CSV statements as a
formula."""

from __future__ import annotations

import csv
import io
import struct
import zlib

import pytest
from PIL import Image

from distribution.artwork import artwork_check
from distribution.errors import InvalidArtwork
from distribution.forms import PublishForm
from royalties.documents import csv_rows
from songforge.spreadsheet import safe_cell


def png_header(width: int, height: int, *, with_pixels: bool = False) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr)
    if with_pixels:
        body += chunk(b"IDAT", zlib.compress(b"\x00" * 10))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def test_a_png_claiming_20000_by_20000_is_refused_without_decoding():
    with pytest.raises(InvalidArtwork) as refused:
        artwork_check(io.BytesIO(png_header(20000, 20000)))
    assert refused.value.http_status == 400
    assert refused.value.code == "artwork_too_large"


def test_a_3000_square_header_without_pixels_is_refused():
    with pytest.raises(InvalidArtwork) as refused:
        artwork_check(io.BytesIO(png_header(3000, 3000, with_pixels=True)))
    assert refused.value.http_status == 400
    assert "picture data is missing or damaged" in refused.value.message


def test_a_real_cover_passes():
    buffer = io.BytesIO()
    Image.new("RGB", (3000, 3000), (200, 40, 90)).save(buffer, format="PNG")
    assert artwork_check(io.BytesIO(buffer.getvalue())).extension == ".png"


def test_a_control_character_in_a_title_is_refused_naming_the_field():
    form = PublishForm(
        data={
            "title": "Bad\x01Title",
            "artist_name": "Ada",
            "genre": "Pop",
            "language": "en",
            "ai_disclosure": "Made with AI.\nTwo lines are fine.",
        }
    )
    assert not form.is_valid()
    assert list(form.errors) == ["title"]
    assert form.errors["title"] == [
        "Remove the invisible control character (U+0001) from this text; it cannot go into a release or statement."
    ]


@pytest.mark.django_db
def test_the_api_names_the_field_with_the_control_character(owner_api):
    from django.urls import reverse

    response = owner_api.post(reverse("api-upload-set-create"), {"title": "Album\x07"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["message"].startswith("title: Remove the invisible control character (U+0007)")


@pytest.mark.parametrize("title", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_formula_prefixes_reach_csv_exports_as_text(title):
    text = "".join(csv_rows(["release", "amount"], [[title, "-12.50"]]))
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row == ["'" + title, "-12.50"]  # the amount stays a number


def test_plain_values_pass_unchanged():
    assert [safe_cell(v) for v in ("Morning Forge", "-12.50", 1200, None, "")] == [
        "Morning Forge",
        "-12.50",
        1200,
        None,
        "",
    ]
