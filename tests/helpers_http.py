"""A real local HTTP file server for download tests (stdlib only, 127.0.0.1, a free port).

Serves the files of one folder, honours ``Range: bytes=N-`` (206 with ``Content-Range``),
answers 404 for missing files and 416 for a range past the end (or ignores ``Range`` for chosen
files), records every request and its ``Range`` header, and can cut transfers short to simulate
a dropped connection: the response announces the full ``Content-Length`` but sends only
``cut_bytes`` bytes, then closes.

Use it through the ``http_server`` fixture, made visible to a test module by importing it::

    from tests.helpers_http import http_server_fixture  # noqa: F401

    def test_x(http_server):
        (http_server.root / "f.bin").write_bytes(b"...")
        url = http_server.url("f.bin")
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

_RANGE = re.compile(r"^bytes=(\d+)-$")


@dataclass
class Request:
    name: str  # the file name requested (URL path without the leading slash, unquoted)
    range: str | None  # the Range header as received, or None
    status: int = 0  # the status sent back


@dataclass
class FileServer:
    """State shared between the test and the server thread."""

    root: Path
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    # name -> "first" (cut the first full 200 response only) or "always" (cut every response)
    cut: dict[str, str] = field(default_factory=dict)
    cut_bytes: int = 1000
    # names for which the server ignores Range headers and always answers 200 with the whole file
    ignore_range: set[str] = field(default_factory=set)
    _cut_done: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    @property
    def template(self) -> str:
        """A URL template in the form of ``dataset.zenodo.url``."""
        return f"http://127.0.0.1:{self.port}/{{name}}"

    @property
    def ranges(self) -> list[str]:
        """The Range headers received, in order (requests without one are left out)."""
        return [r.range for r in self.requests if r.range is not None]

    def count(self, name: str | None = None) -> int:
        return sum(1 for r in self.requests if name is None or r.name == name)

    def _should_cut(self, name: str, status: int) -> bool:
        mode = self.cut.get(name)
        if mode == "always":
            return True
        if mode == "first" and status == 200 and name not in self._cut_done:
            self._cut_done.add(name)
            return True
        return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-body (requests closing a failed stream) is expected here.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep pytest output clean

        def _send_empty(self, status: int, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            name = unquote(urlsplit(self.path).path).lstrip("/")
            rng = self.headers.get("Range")
            req = Request(name, rng)
            with state._lock:
                state.requests.append(req)
            path = state.root / name
            if not name or "/" in name or not path.is_file():
                req.status = 404
                self._send_empty(404)
                return
            data = path.read_bytes()
            size = len(data)
            start = 0
            status = 200
            if rng is not None and name not in state.ignore_range:
                match = _RANGE.match(rng.strip())
                if match is None:
                    req.status = 416
                    self._send_empty(416, {"Content-Range": f"bytes */{size}"})
                    return
                start = int(match.group(1))
                if start >= size:
                    req.status = 416
                    self._send_empty(416, {"Content-Range": f"bytes */{size}"})
                    return
                status = 206
            body = data[start:]
            with state._lock:
                cut = state._should_cut(name, status)
            req.status = status
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(body)))  # always the full size
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            if cut:
                self.send_header("Connection", "close")
            self.end_headers()
            if cut:
                self.wfile.write(body[: min(state.cut_bytes, max(len(body) - 1, 0))])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture(name="http_server")
def http_server_fixture(tmp_path: Path) -> Iterator[FileServer]:
    """``http_server``: a running file server over ``tmp_path/srv``; shut down after the test.

    Registered under the name ``http_server`` so that tests can take an ``http_server``
    argument without shadowing an imported name (ruff F811).
    """
    root = tmp_path / "srv"
    root.mkdir()
    state = FileServer(root)
    server = _Server(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="http_server", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
