"""A local HTTP server implementing docs/platoon-api.md, with injectable faults.

``server.faults["POST /v1/releases"] = ["drop"]`` makes the next matching
request misbehave: ``drop`` processes it and closes the connection without an
answer; ``500``/``503``/``400``… answer that status without processing;
``slow`` processes it and answers after ``slow_seconds`` (past the client's
read timeout).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class PlatoonServer:
    def __init__(self, *, token: str) -> None:
        self.token = token
        self.releases: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.requests: list[str] = []
        self.slow_seconds = 1.0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- the contract ---------------------------------------------------------
    def handle(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"error": "unauthorized", "message": "Missing or wrong bearer token."}
        if method == "POST" and path == "/v1/releases":
            return self._idempotent(headers, body, lambda: self._create(body))
        match = re.fullmatch(r"/v1/releases/([^/]+)(?:/(audio|artwork|splits|submit|takedown))?", path)
        if not match:
            return 404, {"error": "not_found", "message": f"No route {method} {path}."}
        release_id, part = match.group(1), match.group(2)
        release = self.releases.get(release_id)
        if release is None:
            return 404, {"error": "not_found", "message": f"No release {release_id}."}
        if method == "GET" and part is None:
            return 200, self._public(release)
        if method == "PUT" and part in {"audio", "artwork"}:
            expected = "audio/wav" if part == "audio" else "image/"
            if not (headers.get("Content-Type") or "").startswith(expected):
                return 415, {"error": "unsupported_media_type", "message": f"{part} needs {expected}*"}
            release[part] = body
            return 200, {"id": release_id, part: {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}}
        if method == "POST" and part == "splits":
            return self._idempotent(headers, body, lambda: self._splits(release, body))
        if method == "POST" and part == "submit":
            return self._idempotent(headers, body, lambda: self._submit(release))
        if method == "POST" and part == "takedown":
            return self._idempotent(headers, body, lambda: self._takedown(release))
        return 405, {"error": "method_not_allowed", "message": f"{method} {path} is not allowed."}

    def _idempotent(self, headers: Any, body: bytes, action: Any) -> tuple[int, dict[str, Any]]:
        key = headers.get("Idempotency-Key")
        if not key:
            return 400, {"error": "idempotency_key_required", "message": "Send an Idempotency-Key header."}
        digest = hashlib.sha256(body).hexdigest()
        with self.lock:
            if key in self.idempotency:
                stored_digest, status, answer = self.idempotency[key]
                if stored_digest != digest:
                    return 409, {"error": "idempotency_key_reused", "message": "Key reused with another body."}
                return status, answer
            status, answer = action()
            if status < 500:
                self.idempotency[key] = (digest, status, answer)
            return status, answer

    def _create(self, body: bytes) -> tuple[int, dict[str, Any]]:
        data = json.loads(body)
        missing = [f for f in ("title", "display_artist", "tracks") if not data.get(f)]
        if missing or not data["tracks"][0].get("isrc"):
            return 422, {"error": "invalid_release", "message": f"Missing fields: {missing or ['tracks[0].isrc']}"}
        release_id = f"plt_{len(self.releases) + 1}"
        self.releases[release_id] = {"id": release_id, "status": "draft", "metadata": data, "store_links": {}}
        return 201, self._public(self.releases[release_id])

    def _splits(self, release: dict[str, Any], body: bytes) -> tuple[int, dict[str, Any]]:
        data = json.loads(body)
        total = sum(int(line["share_ppb"]) for line in data.get("splits", []))
        if total != 1_000_000_000:
            return 422, {"error": "invalid_splits", "message": f"Splits total {total} ppb, not 1,000,000,000."}
        release["splits"] = data["splits"]
        return 200, {"id": release["id"], "splits": len(data["splits"])}

    def _submit(self, release: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        missing = [part for part in ("audio", "artwork", "splits") if part not in release]
        if missing:
            return 409, {"error": "incomplete_release", "message": f"Upload {', '.join(missing)} first."}
        release["status"] = "submitted"
        return 200, self._public(release)

    def _takedown(self, release: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        release["status"] = "taken_down"
        return 200, self._public(release)

    @staticmethod
    def _public(release: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": release["id"],
            "status": release["status"],
            "store_links": release.get("store_links", {}),
            "reasons": release.get("reasons", []),
        }


def _handler_for(server: PlatoonServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            route = f"{self.command} {self.path}"
            server.requests.append(route)
            faults = server.faults.get(route)
            fault = faults.pop(0) if faults else None
            if fault and fault.isdigit():
                self._answer(int(fault), {"error": "injected", "message": f"injected {fault}"})
                return
            status, answer = server.handle(self.command, self.path, self.headers, body)
            if fault == "drop":
                self.close_connection = True
                return  # processed, but the client never hears back
            if fault == "slow":
                time.sleep(server.slow_seconds)
            with contextlib.suppress(OSError):  # the client may have given up waiting
                self._answer(status, answer)

        def _answer(self, status: int, answer: dict[str, Any]) -> None:
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler
