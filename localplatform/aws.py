"""moto in server mode: the local AWS, on a port of this machine."""

from __future__ import annotations

import io
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from urllib3.response import HTTPResponse
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder, run_wsgi_app

from localplatform.network import address_family, url_host

# Answered over HTTP even for clients in this process: S3's bodies are streamed (an object may be
# larger than memory), and its presigned URLs are for other processes anyway.
OVER_HTTP = frozenset({"s3"})


class LocalAws:
    """moto's HTTP server in a thread (the same app as ThreadedMotoServer).

    Built here rather than with ThreadedMotoServer so that a busy port raises OSError (werkzeug
    would exit the process; ThreadedMotoServer would hang), and so that stop() closes the
    listening socket, not only the serving loop.
    """

    def __init__(self, host: str, port: int) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._app = serialize_dynamodb(DomainDispatcherApplication(create_backend_app))
        with socket.create_server((host, port), family=address_family(host), backlog=128) as listener:
            self._server = make_server(
                host,
                port,
                self._app,
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=listener.fileno(),  # werkzeug duplicates it
            )
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{url_host(host)}:{port}"

    def answer_in_process(self, session: Any) -> None:
        """Clients made from `session` (a boto3 session) from now on get their answers straight
        from the local AWS's WSGI app, not over the loopback: the same app, state and DynamoDB
        serialization, without an HTTP round trip and a server thread per call (about half of a
        small DynamoDB call's time here). S3 (`OVER_HTTP`) still goes over HTTP."""
        session.events.register("before-send", self._answer)

    def _answer(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse | None:
        service = event_name.split(".")[1]
        if service in OVER_HTTP or not request.url.startswith(self.url + "/"):
            return None  # botocore sends it as usual
        body = request.body
        environ = EnvironBuilder(
            path=request.url.removeprefix(self.url),
            base_url=self.url,
            method=request.method,
            headers={name: v.decode() if isinstance(v, bytes) else v for name, v in request.headers.items()},
            data=body.read() if hasattr(body, "read") else body or b"",
        ).get_environ()
        chunks, status, headers = run_wsgi_app(self._app, environ, buffered=True)
        raw = HTTPResponse(
            body=io.BytesIO(b"".join(chunks)),
            headers=dict(headers),
            status=int(status.split(" ", 1)[0]),
            preload_content=False,
        )
        return AWSResponse(request.url, raw.status, raw.headers, raw)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


_WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialize_dynamodb(app: _WsgiApp) -> _WsgiApp:
    """Answer DynamoDB requests one at a time.

    moto's transactions are not isolated: a cancelled one puts back a copy of every table it
    touched, taken when it started, undoing writes other threads made meanwhile. DynamoDB itself
    isolates transactions, so the local AWS must too, or concurrent requests lose writes.
    """
    lock = threading.Lock()

    def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    return serialized
