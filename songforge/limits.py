"""Request body limits, enforced before Django reads (and spools) a body.

``RequestBodyLimitMiddleware`` answers 413 when the declared ``Content-Length`` is over
``SONGFORGE_MAX_REQUEST_BYTES``; nothing of the body is read. ``CountingUploadHandler`` is the
second fence for bodies without a length (chunked): it counts bytes as they arrive and stops the
upload at the same limit. The reverse proxy should refuse bigger bodies first (see
docs/security.md: ``client_max_body_size`` for nginx).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse


def _too_large_message() -> str:
    megabytes = settings.MAX_REQUEST_BYTES // (1024 * 1024)
    return f"The request is larger than {megabytes} MB, the most SongForge accepts; send a smaller file."


class RequestBodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.MAX_REQUEST_BYTES:
            return JsonResponse(
                {
                    "code": "request_too_large",
                    "message": _too_large_message(),
                    "extra": {"max_bytes": settings.MAX_REQUEST_BYTES},
                },
                status=413,
            )
        return self.get_response(request)


class CountingUploadHandler(FileUploadHandler):
    """Passes file chunks through to the next handler, refusing once the request passes the limit."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.MAX_REQUEST_BYTES:
            raise RequestDataTooBig(_too_large_message())
        return raw_data

    def file_complete(self, file_size: int) -> Any:
        return None
