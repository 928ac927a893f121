"""An HTTP forward proxy for a client under test (`HTTP_PROXY`): it sees every request the client sends,
to the API and to storage alike, and can hold the ones a test names until the test lets them go."""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Hop-by-hop headers: the proxy's own business, never forwarded.
_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "upgrade"}


@dataclass(frozen=True)
class Forwarded:
    method: str
    url: str
    status: int

    @property
    def is_part_put(self) -> bool:
        return self.method == "PUT" and "partNumber=" in self.url


class ForwardProxy:
    def __init__(self) -> None:
        self.forwarded: list[Forwarded] = []
        self.held: list[str] = []
        # Part PUTs let through before the rest are held until `release()`; None lets all through.
        self.part_limit: int | None = None
        self._admitted_parts = 0
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def part_puts(self) -> list[Forwarded]:
        with self._lock:
            return [entry for entry in self.forwarded if entry.is_part_put and entry.status == 200]

    def holds(self, method: str, url: str) -> bool:
        """Whether to hold this request: a part PUT past the limit (counted as they arrive, not as they end)."""
        if not Forwarded(method, url, 0).is_part_put:
            return False
        with self._lock:
            if self.part_limit is not None and self._admitted_parts >= self.part_limit:
                self.held.append(url)
                return True
            self._admitted_parts += 1
            return False

    def record(self, entry: Forwarded) -> None:
        with self._lock:
            self.forwarded.append(entry)

    def release(self) -> None:
        self._released.set()

    def wait_released(self) -> None:
        self._released.wait(120)

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away mid-request (the one interrupted on purpose) is no error of the proxy's."""


def _handler(proxy: ForwardProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            return

        def _forward(self) -> None:
            if proxy.holds(self.command, self.path):
                proxy.wait_released()
                self.close_connection = True  # the client gave up on it: answer nothing
                return
            target = urlsplit(self.path)  # a proxy is sent the absolute URL
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            upstream = http.client.HTTPConnection(target.hostname or "", target.port, timeout=120)
            try:
                upstream.request(
                    self.command, target.path + (f"?{target.query}" if target.query else ""), body, headers
                )
                response = upstream.getresponse()
                data = response.read()
            finally:
                upstream.close()
            proxy.record(Forwarded(self.command, self.path, response.status))
            self.send_response_only(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in _HOP | {"transfer-encoding", "content-length"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward  # noqa: N815

    return Handler
