"""A real loopback HTTP server that stands in for HiveBoard's ingest endpoint in tests.

SDK tests need to see exactly what went over the wire and to script how the server answers
(errors, rate limits, slowness) without mocking the HTTP stack, so this is a genuine
``ThreadingHTTPServer`` on 127.0.0.1 that records every request it receives.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

INGEST_PATH = "/v1/ingest"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it.

    ``body`` holds the bytes exactly as sent (still gzip-compressed if the client compressed
    them); ``json`` is the parsed body after undoing ``Content-Encoding``, or None if it was
    not valid JSON. ``response_status`` is what the recorder answered.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    received_at: float
    response_status: int = 0


@dataclass
class _Scripted:
    status: int
    body: Any
    headers: dict[str, str]
    remaining: int


def _decode_body(raw: bytes, encoding: str) -> bytes | None:
    """Undo Content-Encoding so tests can read compressed bodies; None when it is undecodable."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return raw
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(raw)
        if encoding == "deflate":
            return zlib.decompress(raw)
    except (OSError, EOFError, zlib.error):
        return None
    return None


def _parse_json(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _event_count(parsed: Any) -> int:
    if isinstance(parsed, dict) and isinstance(parsed.get("events"), list):
        return len(parsed["events"])
    return 0


class IngestRecorder:
    """Loopback stand-in for ``POST /v1/ingest`` that records requests and scripts answers.

    Usage::

        with IngestRecorder() as rec:
            rec.respond(503, times=2)          # first two requests fail, then default 200
            ...point the SDK at rec.url...
            events = rec.wait_for_events(3)    # [(envelope, event), ...]
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.delay: float = 0.0
        self._script: deque[_Scripted] = deque()
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> IngestRecorder:
        """Bind an ephemeral port on 127.0.0.1 and serve from a daemon thread."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="ingest-recorder",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> IngestRecorder:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("IngestRecorder is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- scripting -------------------------------------------------------------------------

    def respond(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Queue a scripted answer for the next ``times`` requests, ahead of the default.

        ``body`` may be bytes, str, or anything JSON-serialisable; None gives the default
        ingest summary for 2xx and a small ``{"error", "message"}`` object otherwise.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._cond:
            self._script.append(_Scripted(status, body, dict(headers or {}), times))

    def clear(self) -> None:
        """Forget recorded requests and pending scripted answers."""
        with self._cond:
            self.requests.clear()
            self._script.clear()

    # -- inspection ------------------------------------------------------------------------

    def bodies(self) -> list[Any]:
        """Parsed JSON bodies of every ``POST /v1/ingest``, in arrival order (retries included)."""
        with self._cond:
            return [r.json for r in self.requests if _is_ingest(r) and r.json is not None]

    def events(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Every ingested event paired with the envelope of the batch that carried it."""
        out: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for body in self.bodies():
            if not isinstance(body, dict) or not isinstance(body.get("events"), list):
                continue
            envelope = body.get("envelope") or {}
            out.extend((envelope, event) for event in body["events"])
        return out

    def wait_for_events(
        self, n: int, timeout: float = 5.0
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Block until at least ``n`` events arrived, then return ``events()``."""
        with self._cond:
            ok = self._cond.wait_for(lambda: self._count_events() >= n, timeout=timeout)
            if not ok:
                raise AssertionError(
                    f"expected at least {n} ingested events within {timeout}s, got "
                    f"{self._count_events()} in {len(self.requests)} request(s): "
                    f"{self._describe()}"
                )
        return self.events()

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests of any kind arrived, then return them."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self.requests) >= n, timeout=timeout)
            if not ok:
                raise AssertionError(
                    f"expected at least {n} requests within {timeout}s, got "
                    f"{len(self.requests)}: {self._describe()}"
                )
            return list(self.requests)

    def _count_events(self) -> int:
        return sum(_event_count(r.json) for r in self.requests if _is_ingest(r))

    def _describe(self) -> str:
        parts = [
            f"{r.method} {r.path} -> {r.response_status} ({_event_count(r.json)} events)"
            for r in self.requests
        ]
        return "; ".join(parts) or "none"

    # -- request handling (called from server threads) -------------------------------------

    def _answer(self, method: str, path: str, parsed: Any, decoded: bool) -> _Scripted:
        """Pick the scripted answer if one is queued, else the default for this request."""
        with self._cond:
            if self._script:
                head = self._script[0]
                head.remaining -= 1
                if head.remaining <= 0:
                    self._script.popleft()
                return head
        if method == "POST" and path == INGEST_PATH:
            if not decoded or not isinstance(parsed, dict):
                return _Scripted(400, {"error": "invalid_json", "message": "bad body"}, {}, 1)
            return _Scripted(200, None, {}, 1)
        return _Scripted(404, {"error": "not_found", "message": f"no route {path}"}, {}, 1)

    def _record(self, request: RecordedRequest) -> None:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()


def _is_ingest(r: RecordedRequest) -> bool:
    return r.method == "POST" and r.path == INGEST_PATH


def _render_body(status: int, body: Any, parsed: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if body is None:
        if 200 <= status < 300:
            body = {
                "accepted": _event_count(parsed),
                "rejected": 0,
                "duplicates": 0,
                "errors": [],
                "warnings": [],
            }
        else:
            body = {"error": f"http_{status}", "message": "scripted response"}
    return json.dumps(body).encode("utf-8")


def _make_handler(recorder: IngestRecorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like a real server behind requests.Session

        def _read_body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _handle(self) -> None:
            received_at = time.monotonic()
            raw = self._read_body()
            headers: dict[str, str] = {}
            for key, value in self.headers.items():
                k = key.lower()
                headers[k] = f"{headers[k]}, {value}" if k in headers else value
            decoded = _decode_body(raw, headers.get("content-encoding", ""))
            parsed = _parse_json(decoded)
            path = self.path.split("?", 1)[0]
            answer = recorder._answer(self.command, path, parsed, parsed is not None)
            recorder._record(
                RecordedRequest(
                    method=self.command,
                    path=path,
                    headers=headers,
                    body=raw,
                    json=parsed,
                    received_at=received_at,
                    response_status=answer.status,
                )
            )
            if recorder.delay > 0:
                time.sleep(recorder.delay)
            payload = _render_body(answer.status, answer.body, parsed)
            try:
                self.send_response(answer.status)
                sent = {k.lower() for k in answer.headers}
                if "content-type" not in sent:
                    self.send_header("Content-Type", "application/json")
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (e.g. its timeout fired during .delay)

        do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet; the recorded requests are the log."""

    return Handler
