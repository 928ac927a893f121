"""Serve the Chalice app in-process, answering the way API Gateway is configured to."""

from __future__ import annotations

import functools
import json
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from chalice.app import Chalice
from chalice.cli.factory import CLIFactory
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    ForbiddenError,
    LocalDevServer,
    LocalGatewayException,
    NotAuthorizedError,
    RouteMatcher,
    ThreadedHTTPServer,
)

from chalicelib.errors import (
    AppError,
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Unauthenticated,
    error_body,
)
from chalicelib.middleware import REQUEST_ID_HEADER
from localplatform.console import ConsoleFiles, ConsoleResponse
from localplatform.gateway import IdTokenVerifier, VerifyingGateway
from localplatform.network import address_family

PROJECT_DIR = Path(__file__).resolve().parent.parent

# API Gateway refuses request bodies over 10 MB before the function runs.
MAX_REQUEST_BYTES = 10 * 1024 * 1024


class LocalRequestHandler(ChaliceRequestHandler):
    """Chalice's local handler with token verification, Nagle off, a request-size cap and API.md's error bodies."""

    # Without this, keep-alive clients wait ~40 ms per request (Nagle plus delayed ACK).
    disable_nagle_algorithm = True

    def __init__(
        self,
        request: Any,
        client_address: Any,
        server: Any,
        app_object: Chalice,
        config: Config,
        verifier: IdTokenVerifier,
        console: ConsoleFiles,
    ) -> None:
        self.console = console
        self.local_gateway = VerifyingGateway(app_object, config, verifier)
        self._routes = app_object.routes
        self._matcher = RouteMatcher(list(app_object.routes))
        # The base __init__ serves the request, so it is skipped for the one that sets the gateway.
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def _generic_handle(self) -> None:
        length = self._content_length()
        if length is None or length > MAX_REQUEST_BYTES:
            # Answer before reading: the body is never held in memory; the connection closes.
            self.close_connection = True
            self._send_error(PayloadTooLarge(message="The request body is over 10 MiB; upload through POST /uploads."))
            return
        allowed = self._allowed_methods()
        if not allowed and self.command in ("GET", "HEAD") and (page := self.console.response(self.path)):
            self._send_console(page)
            return
        if allowed and self.command != "OPTIONS" and self.command not in allowed:
            self._refuse_method(allowed)
            return
        super()._generic_handle()

    def _send_console(self, page: ConsoleResponse) -> None:
        """A console file, where no API route is: the paths clients of the API call keep their meaning."""
        self._discard_body()
        self.send_response(HTTPStatus.OK)
        for name, value in (page.headers | {"Content-Length": str(len(page.body))}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(page.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own answers, in the API's error shape: to a method no handler
        takes (TRACE, CONNECT, …: 405 with the path's methods, or 404 where no route is), and to a
        request it cannot read (a malformed request line, headers too long)."""
        if code == HTTPStatus.NOT_IMPLEMENTED:
            allowed = self._allowed_methods()
            if allowed:
                self._refuse_method(allowed)
            else:
                self._discard_body()
                self._send_error(NotFound())
            return
        self.close_connection = True
        error = BadRequest("invalid_request", message or "The request could not be read.")
        error.status = code if 400 <= code < 500 else error.status  # 414 URI too long, 431 headers too large…
        self._send_error(error)

    def _refuse_method(self, allowed: list[str]) -> None:
        self._discard_body()
        self._send_error(MethodNotAllowed(), {"Allow": ", ".join(allowed)})

    def _discard_body(self) -> None:
        """Read the unread body of a request refused before it was read, so that the next request
        on the connection starts where it should: closing with bytes unread would reset it before
        the client has read the answer. A body of unknown length (chunked) or over the gateway's
        limit closes the connection instead."""
        length = self._content_length()
        chunked = bool(self.headers and self.headers.get("transfer-encoding"))
        if length is None or length > MAX_REQUEST_BYTES or chunked:
            self.close_connection = True
            return
        while length > 0 and (chunk := self.rfile.read(min(length, 65536))):
            length -= len(chunk)

    def _content_length(self) -> int | None:
        """The body's declared length (0 when none is declared); None when it is no length: only
        ASCII digits are ("²" is a digit to str.isdigit(), not to int())."""
        declared = self.headers.get("content-length", "0") if self.headers else "0"
        return int(declared) if declared.isascii() and declared.isdigit() else None

    def _allowed_methods(self) -> list[str]:
        """The methods the path's route takes; none where no route has this path."""
        try:
            route = self._matcher.match_route(self.path).route
        except ValueError:
            return []
        return sorted(self._routes[route])

    # The base class binds these to its own _generic_handle; bind them to ours.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle  # noqa: N815

    def _send_error_response(self, error: LocalGatewayException) -> None:
        # The gateway's own refusals, shaped like the Gateway Responses in template.yaml:
        # no Authorization header, no route for the path (API Gateway says 403 "Missing
        # Authentication Token"; we answer 404), or a broken authorizer.
        if isinstance(error, NotAuthorizedError):
            self._send_error(Unauthenticated())
        elif isinstance(error, ForbiddenError):
            self._send_error(NotFound())
        else:
            self._send_error(AppError())

    def _send_error(self, error: AppError, headers: dict[str, str] | None = None) -> None:
        request_id = str(uuid.uuid4())
        body = json.dumps(error_body(error, request_id), separators=(",", ":"))
        self._send_http_response(
            error.status, {"Content-Type": "application/json", REQUEST_ID_HEADER: request_id} | (headers or {}), body
        )

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the app writes one JSON access log line per request instead."""


class LocalHTTPServer(ThreadedHTTPServer):
    # The standard library listens with a backlog of 5: bursts of clients would be reset.
    request_queue_size = 256

    def __init__(self, server_address: tuple[str, int], handler: Any) -> None:
        self.address_family = address_family(server_address[0])  # the standard library's is IPv4 only
        super().__init__(server_address, handler)


def create_server(
    app: Chalice, verifier: IdTokenVerifier, console: ConsoleFiles, host: str, port: int
) -> LocalDevServer:
    """A threaded server for `app` and the console, with the `local` stage's configuration (port 0: any free one)."""
    config = CLIFactory(str(PROJECT_DIR)).create_config_obj(chalice_stage_name="local")
    handler = functools.partial(LocalRequestHandler, verifier=verifier, console=console)
    return LocalDevServer(app, config, host, port, handler_cls=handler, server_cls=LocalHTTPServer)
