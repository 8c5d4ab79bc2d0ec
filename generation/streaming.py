"""HTTP range requests (RFC 9110 section 14) for the web player, streamed from Django storage.

One ``bytes=`` range per request is served as 206 Partial Content: ``a-b``, open-ended
``a-`` and suffix ``-n``. A range that starts past the end is 416 with ``bytes */size``.
Anything else (no Range header, multiple ranges, a malformed header, another unit) gets
the whole file as 200: RFC 9110 lets a server ignore a Range it does not support. The
file is read through ``storage.open`` + ``seek`` in chunks, so it works on the local file
system and on S3 storage alike and never loads a whole song into memory here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.db.models.fields.files import FieldFile
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

CHUNK_BYTES = 64 * 1024
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """(first, last) inclusive for a satisfiable single range; None to ignore it; False if unsatisfiable."""
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None  # several ranges, another unit or bad syntax: serve the whole file
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:  # suffix: the last n bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return False
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # syntactically invalid per RFC 9110: ignore
    if first >= size:
        return False
    last = int(last_text) if last_text else size - 1
    return first, min(last, size - 1)


def _chunks(field_file: FieldFile, name: str, first: int, length: int) -> Iterator[bytes]:
    handle = field_file.storage.open(name, "rb")
    try:
        handle.seek(first)
        remaining = length
        while remaining > 0:
            data = handle.read(min(CHUNK_BYTES, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        handle.close()


def ranged_file_response(request: HttpRequest, field_file: FieldFile, content_type: str) -> HttpResponseBase:
    """Stream ``field_file`` whole (200) or in part (206), or refuse the range (416)."""
    name = field_file.name
    if not name:
        raise Http404("There is no file to play.")
    size = int(field_file.storage.size(name))
    requested = parse_range(request.headers.get("Range"), size)
    if requested is False:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        refused["Accept-Ranges"] = "bytes"
        return refused
    if isinstance(requested, tuple):
        (first, last), status = requested, 206
    else:
        first, last, status = 0, size - 1, 200
    length = max(0, last - first + 1)
    response = StreamingHttpResponse(_chunks(field_file, name, first, length), status=status, content_type=content_type)
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    if status == 206:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    return response
