"""moto in server mode: the local AWS, on a port of this machine."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server


class LocalAws:
    """moto's HTTP server in a thread (the same app as ThreadedMotoServer).

    Built here rather than with ThreadedMotoServer so that a busy port raises OSError (werkzeug
    would exit the process; ThreadedMotoServer would hang), and so that stop() closes the
    listening socket, not only the serving loop.
    """

    def __init__(self, host: str, port: int) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        with socket.create_server((host, port), backlog=128) as listener:
            self._server = make_server(
                host,
                port,
                serialize_dynamodb(DomainDispatcherApplication(create_backend_app)),
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=listener.fileno(),  # werkzeug duplicates it
            )
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

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
