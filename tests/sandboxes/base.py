"""A small loopback HTTP server that the service sandboxes build on.

Each sandbox subclasses `Sandbox` and implements `handle(request) -> Response`. The base
class gives every sandbox the same three things: a real HTTP listener on a free loopback
port (so the real SDK clients talk to it over TCP), a record of every request (so tests can
count calls), and injectable faults (so tests can make the next N matching requests fail
with a chosen status, body and headers before the normal handler runs).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """One request as the sandbox received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body) if self.body else None

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        """A header, case-insensitively."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


@dataclass(kw_only=True)
class Response:
    """What a sandbox answers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        """A JSON answer."""
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        return cls(status=status, body=json.dumps(payload).encode(), headers=all_headers)

    @classmethod
    def empty(cls, status: int = 204) -> Response:
        """An answer with no body."""
        return cls(status=status)


@dataclass(kw_only=True)
class Fault:
    """A canned answer for the next `times` requests matching `method` and `path`."""

    response: Response
    method: str | None = None
    path: re.Pattern[str] | None = None
    times: int = 1
    during: Callable[[], bool] | None = None  # an outage: applies only while this holds
    after_handling: bool = False  # the request is carried out, then its answer is lost

    def matches(self, request: RecordedRequest) -> bool:
        """Whether this fault applies to the request."""
        if self.method is not None and self.method.upper() != request.method:
            return False
        if self.during is not None and not self.during():
            return False
        return self.path is None or self.path.search(request.path) is not None


class Sandbox:
    """Base class: a threaded HTTP server on 127.0.0.1 with a request log and faults."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- to implement -----------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Response:
        """Answer one request (called under the sandbox lock)."""
        raise NotImplementedError

    # -- life cycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`, once started."""
        if self._server is None:
            raise RuntimeError("sandbox not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        """Listen on a free loopback port; returns the base URL."""
        sandbox = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY each answer
            # would wait out the peer's 40 ms delayed ACK.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers=dict(self.headers.items()),
                    body=body,
                )
                response = sandbox.dispatch(request)
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if response.body and self.command != "HEAD":
                    self.wfile.write(response.body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests and faults ----------------------------------------------------------------
    def dispatch(self, request: RecordedRequest) -> Response:
        """Record the request, then answer with a pending fault or the sandbox's handler."""
        with self._lock:
            self.requests.append(request)
            for fault in self._faults:
                if fault.times > 0 and fault.matches(request):
                    fault.times -= 1
                    if fault.after_handling:
                        self.handle(request)
                    return fault.response
            return self.handle(request)

    def inject(
        self,
        status: int,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        body: Any = None,
        headers: dict[str, str] | None = None,
        during: Callable[[], bool] | None = None,
        after_handling: bool = False,
    ) -> Fault:
        """Answer the next `times` matching requests with `status` (and a JSON `body`), only
        while `during()` holds if given; `after_handling`: carry the request out first (its
        answer is lost on the way back)."""
        if body is None:
            response = Response(status=status, headers=dict(headers or {}))
        else:
            response = Response.json(body, status=status, headers=headers)
        fault = Fault(
            response=response,
            method=method,
            path=re.compile(path) if path is not None else None,
            times=times,
            during=during,
            after_handling=after_handling,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many recorded requests match `method` and the `path` regex."""
        pattern = re.compile(path) if path is not None else None
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (pattern is None or pattern.search(r.path))
            )

    def reset_log(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()
