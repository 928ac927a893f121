"""moto in server mode: the local AWS, on a port of this machine."""

from __future__ import annotations

import logging
import socket
import threading

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
                DomainDispatcherApplication(create_backend_app),
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
