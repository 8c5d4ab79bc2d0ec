"""One rule for free text people type: no control characters.

A control character (``\\x01``, a NUL, C1 codes) in a release title made the DDEX XML not
well-formed, yet the release was marked submitted. Text fields refuse them at input with a message
naming the character; single-line fields also refuse tabs and line breaks. The validators plug
into Django form fields and DRF serializer fields alike (DRF converts Django's ValidationError), and
DRF's error handler prefixes the message with the field's name.
"""

from __future__ import annotations

import re
import tempfile

from django.conf import settings
from django.core.exceptions import ValidationError

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CONTROL_OR_BREAK = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def control_character_in(value: str, *, is_multiline: bool = False) -> str | None:
    """The first control character in ``value`` as ``U+XXXX``, or None when there is none."""
    found = (_CONTROL if is_multiline else _CONTROL_OR_BREAK).search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def _refuse(value: object, *, is_multiline: bool) -> None:
    if not isinstance(value, str):
        return
    found = control_character_in(value, is_multiline=is_multiline)
    if found is not None:
        kind = (
            "control character" if is_multiline or found not in {"U+0009", "U+000A", "U+000D"} else "tab or line break"
        )
        raise ValidationError(
            f"Remove the invisible {kind} ({found}) from this text; it cannot go into a release or statement.",
            code="control_character",
        )


def no_control_characters(value: object) -> None:
    """Validator for single-line text (titles, names)."""
    _refuse(value, is_multiline=False)


def no_control_characters_multiline(value: object) -> None:
    """Validator for text areas: tabs and line breaks allowed, other control characters refused."""
    _refuse(value, is_multiline=True)


def without_server_paths(text: str) -> str:
    """``text`` with this server's folders (data, outbox, media, code, temporary) replaced by names.

    For text that artists or third parties may read (delivery events, error details): where files
    live on the server is nobody's business outside it.
    """
    folders = [
        (str(settings.OUTBOX_DIR), "<outbox>"),
        (str(settings.MEDIA_ROOT), "<media>"),
        (str(settings.DATA_DIR), "<data>"),
        (str(settings.BASE_DIR), "<app>"),
        (tempfile.gettempdir(), "<tmp>"),
    ]
    for folder, name in sorted(folders, key=lambda pair: -len(pair[0])):
        if folder and folder != "/":
            text = text.replace(folder, name)
    return text
