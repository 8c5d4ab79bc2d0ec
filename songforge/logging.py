"""Structured logging: every line carries the request id or job id it belongs to."""

from __future__ import annotations

import contextvars
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import dramatiq
from django.http import HttpRequest, HttpResponse
from dramatiq.broker import MessageProxy

context_id: contextvars.ContextVar[str] = contextvars.ContextVar("songforge_context_id", default="-")


class ContextFilter(logging.Filter):
    """Stamps each record with the current request or job id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.context_id = context_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "context_id": getattr(record, "context_id", context_id.get()),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class RequestIdMiddleware:
    """Takes X-Request-ID from the proxy or makes one, and echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex[:16]
        token = context_id.set(f"req:{request_id[:64]}")
        try:
            response = self.get_response(request)
        finally:
            context_id.reset(token)
        response["X-Request-ID"] = request_id[:64]
        return response


class JobIdMiddleware(dramatiq.Middleware):
    """Sets the log context to the Dramatiq message id while an actor runs."""

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        context_id.set(f"job:{message.actor_name}:{message.message_id[:12]}")

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        context_id.set("-")
