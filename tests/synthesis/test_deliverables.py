# mypy: disable-error-code="no-untyped-call"
from typing import Any

import av
import pytest
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from mutagen.wave import WAVE

from generation.synthesis.deliver import AI_COMMENT

from .conftest import PNG_BYTES, TAGS

# uses the shared render; one xdist worker builds it once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("synthesis")]


def decode(path: str) -> tuple[str, int, int, int, int]:
    with av.open(path) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.name, stream.sample_rate, stream.codec_context.channels, stream.bit_rate, samples


def test_m4a_is_aac_at_256_kbps_and_decodes_to_the_full_length(mastered):
    codec, rate, channels, bit_rate, samples = decode(mastered["files"]["listen_m4a"])
    assert (codec, rate, channels) == ("aac", 44100, 2)
    assert bit_rate == pytest.approx(256_000, rel=0.1)
    assert samples / 44100 == pytest.approx(mastered["length_s"], abs=0.1)


def test_mp3_is_320_kbps_and_decodes_to_the_full_length(mastered):
    codec, rate, channels, bit_rate, samples = decode(mastered["files"]["listen_mp3"])
    assert codec.startswith("mp3")
    assert (rate, channels, bit_rate) == (44100, 2, 320_000)
    assert samples / 44100 == pytest.approx(mastered["length_s"], abs=0.1)


def test_m4a_carries_title_artist_isrc_artwork_and_ai_note(mastered):
    tags = MP4(mastered["files"]["listen_m4a"]).tags
    assert tags is not None
    assert tags["\xa9nam"] == [TAGS["title"]]
    assert tags["\xa9ART"] == [TAGS["artist"]]
    assert bytes(tags["----:com.apple.iTunes:ISRC"][0]) == b"QZS8F2600001"
    assert bytes(tags["covr"][0]) == PNG_BYTES
    assert tags["\xa9cmt"] == [AI_COMMENT]


def test_mp3_carries_title_artist_isrc_artwork_and_ai_note(mastered):
    tags = ID3(mastered["files"]["listen_mp3"])
    assert tags["TIT2"].text == [TAGS["title"]]
    assert tags["TPE1"].text == [TAGS["artist"]]
    assert tags["TSRC"].text == ["QZS8F2600001"]
    assert tags.getall("APIC")[0].data == PNG_BYTES
    assert tags.getall("COMM")[0].text == [AI_COMMENT]


def test_wav_master_carries_the_ai_note(mastered):
    tags: Any = WAVE(mastered["files"]["master_wav"]).tags
    assert tags.getall("COMM")[0].text == [AI_COMMENT]
    assert tags["TIT2"].text == [TAGS["title"]]
