"""The local AWS: moto, with the costs of AWS, in a process of its own (`python -m localplatform.aws`).

The platform's process starts it (awsprocess.py) and sends its own clients' calls to it over a
local socket; anything else reaches it over HTTP, on its port. The platform's interpreter and this
one each use a core: moto answering was nearly half of the platform's time.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import logging
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import AuthenticationError
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core import responses as moto_responses
from moto.core.base_backend import model_data
from moto.core.exceptions import HTTPException
from moto.core.request import Request
from moto.core.utils import method_names_from_class as moto_method_names
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder, run_wsgi_app

from localplatform import dynamodb as local_dynamodb
from localplatform import s3 as local_s3
from localplatform import sqs as local_sqs
from localplatform.awsprocess import Answer, Asked, HttpRequest, JsonCall
from localplatform.network import address_family, url_host
from localplatform.runner import GIL_SWITCH_SECONDS

# The services the local platform asks for (their models are loaded on first use otherwise).
LOCAL_SERVICES = ("cognitoidp", "dynamodb", "iam", "kms", "s3", "secretsmanager", "sqs", "sts")


class AwsServer:
    """moto's web app on a port (the same app as ThreadedMotoServer), for whoever speaks HTTP to it
    (presigned uploads, an object's bytes, the user pool's keys), and `answer` for the platform's
    own clients (see awsprocess.py), with the same state and the same one-at-a-time DynamoDB.

    Built here rather than with ThreadedMotoServer so that a busy port raises OSError (werkzeug
    would exit the process; ThreadedMotoServer would hang), and so that stop() closes the
    listening socket, not only the serving loop.
    """

    def __init__(self, host: str, port: int, region: str) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # The costs of AWS, not moto's: see localplatform/dynamodb.py and s3.py.
        self._costs = contextlib.ExitStack()
        self._costs.enter_context(aws_costs(region))
        self._dynamodb_lock = threading.Lock()
        self._app = serialize_dynamodb(ServiceDispatcher(), self._dynamodb_lock)
        self._handlers = CallHandlers()
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

    def answer(self, asked: Asked) -> Answer | None:
        """The answer to a call the platform's clients made (`Asked`); None for one this cannot
        answer, which the client then sends over HTTP."""
        if isinstance(asked, JsonCall):
            return self._answer_json(asked)
        return self._answer_http(asked)

    def _answer_json(self, call: JsonCall) -> Answer | None:
        """Straight to moto's handler for it: no signature to check, no web app to pass."""
        url = f"https://{call.endpoint_prefix}.{call.region}.amazonaws.com{call.path}"
        return self._handled(call.service, call.method, url, call.headers, call.body)

    def _handled(
        self, service: str, method: str, url: str, headers: dict[str, Any], body: bytes | str
    ) -> Answer | None:
        """moto's handler's answer to a request for `url`, as moto's in-process mock asks it; None
        if no handler of the local services answers that URL."""
        handler = self._handlers.find(service, url)
        if handler is None:
            return None
        request = Request.from_primitives(method, url, headers, body)
        serialized = self._dynamodb_lock if service == "dynamodb" else contextlib.nullcontext()
        try:
            with serialized:
                status, answered_headers, content = handler(request, url, request.headers)
        except HTTPException as error:  # how moto's web app answers them
            status, answered_headers, content = error.code, error.get_headers(), error.get_body()
        content = content.encode() if isinstance(content, str) else content
        answered = {name: str(value) for name, value in dict(answered_headers).items()}
        if method != "HEAD":  # moto's S3 answers may name the object's length, not the body's
            answered["Content-Length"] = str(len(content))
        return Answer(int(status), answered, content)

    def _answer_http(self, request: HttpRequest) -> Answer | None:
        """S3's requests straight to moto's handler, as its in-process mock answers them; an
        object's bytes through moto's web app, as the same request over HTTP would be: None if
        they are larger than the request allows."""
        if request.largest_answer is None and request.service == "s3":
            url = f"https://s3.amazonaws.com{request.path}"  # the bucket in the path, as sent
            answered = self._handled(request.service, request.method, url, request.headers, request.body)
            if answered is not None:
                return answered
        environ = EnvironBuilder(
            path=request.path, base_url=self.url, method=request.method, headers=request.headers, data=request.body
        ).get_environ()
        chunks, status, headers = run_wsgi_app(self._app, environ)
        try:
            length = headers.get("Content-Length")
            if request.largest_answer is not None and (length is None or int(length) > request.largest_answer):
                return None
            content = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        if request.method != "HEAD":  # moto's S3 answers may name the object's length, not the body's
            headers["Content-Length"] = str(len(content))
        return Answer(int(status.split(" ", 1)[0]), dict(headers), content)

    def stop(self) -> None:
        """Close the port and empty the local AWS."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._costs.close()


class CallHandlers:
    """moto's handler for a request to a local service, found as moto's own in-process mock
    finds it (the backend's URL patterns, matched without the query), the patterns looked up once
    per service."""

    def __init__(self) -> None:
        self._patterns: dict[str, list[tuple[re.Pattern[str], Callable[..., Any]]]] = {}

    def find(self, service: str, url: str) -> Callable[..., Any] | None:
        if service not in self._patterns:
            self._patterns[service] = self._lookup(service.replace("-", ""))
        located = url.split("?", 1)[0]
        return next((handler for pattern, handler in self._patterns[service] if pattern.match(located)), None)

    @staticmethod
    def _lookup(backend_name: str) -> list[tuple[re.Pattern[str], Callable[..., Any]]]:
        if backend_name not in LOCAL_SERVICES:
            return []
        backends = get_backend(backend_name)[DEFAULT_ACCOUNT_ID]
        backend = backends["us-east-1"] if "us-east-1" in backends else backends["aws"]
        return [(re.compile(pattern), handler) for pattern, handler in backend.urls.items()]


class ServiceDispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which of its service apps answers a signed request.

    moto finds the app afresh for every request, under a lock, walking its list of several hundred
    services: a tenth of the local platform's time went there. For a request signed for one of
    the local services, the app depends only on the service and region it was signed for (and,
    for DynamoDB, on its target: tables or streams), so the first answer serves every later one.
    """

    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._by_scope: dict[tuple[str, ...], Any] = {}

    def get_application(self, environ: dict[str, Any]) -> Any:
        scope = _signed_scope(environ)
        if scope is None:
            return super().get_application(environ)
        app = self._by_scope.get(scope)
        if app is None:
            app = self._by_scope[scope] = super().get_application(environ)
        return app


def _signed_scope(environ: dict[str, Any]) -> tuple[str, ...] | None:
    """(region, service, target prefix) of a request signed for a local service; else None."""
    if environ.get("PATH_INFO", "").startswith(("/moto-api", "/latest/")):
        return None
    try:  # "AWS4-HMAC-SHA256 Credential=key/date/region/service/aws4_request, ..."
        _, _, region, service, _ = environ["HTTP_AUTHORIZATION"].split(",")[0].split()[1].split("/")
    except (KeyError, IndexError, ValueError):
        return None
    if service.replace("-", "") not in LOCAL_SERVICES:
        return None
    return region, service, environ.get("HTTP_X_AMZ_TARGET", "").split(".")[0]


_WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialize_dynamodb(app: _WsgiApp, lock: threading.Lock) -> _WsgiApp:
    """Answer DynamoDB requests one at a time.

    moto's transactions are not isolated: a cancelled one puts back a copy of every table it
    touched, taken when it started, undoing writes other threads made meanwhile. DynamoDB itself
    isolates transactions, so the local AWS must too, or concurrent requests lose writes.
    """

    def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    return serialized


@contextlib.contextmanager
def aws_costs(region: str) -> Iterator[None]:
    """While open, moto answers with the costs of AWS, not its own: DynamoDB and S3 read what a
    request names, not every item and object, and SQS forgets deleted messages
    (localplatform/dynamodb.py, s3.py, sqs.py); no model instance is kept after its use
    (`forget_instances`); a handler's actions are listed once (`_method_names`)."""
    local_dynamodb.install(region)
    local_s3.install()
    local_sqs.install(region)
    forget_instances()
    moto_responses.method_names_from_class = _method_names
    try:
        yield
    finally:
        moto_responses.method_names_from_class = moto_method_names
        remember_instances()
        local_sqs.uninstall(region)
        local_s3.uninstall()
        local_dynamodb.uninstall(region)


@functools.cache
def _method_names(handler_class: type) -> list[str]:
    """The actions a moto handler class answers. moto lists its class's members on every request
    to find the one it asks for, walking several hundred (5 % of the local platform's time); a
    class's members do not change."""
    return moto_method_names(handler_class)


class _Forgotten(list):  # type: ignore[type-arg]
    """What moto keeps of a model's instances here: nothing."""

    def append(self, instance: object) -> None:
        return None


def forget_instances() -> None:
    """Stop moto keeping every model instance it ever made.

    moto lists each instance of its models (an S3 object, a DynamoDB item, an SQS message, and
    every copy of one) so that its reset can clear them. The local platform never resets, and the
    lists held every message and object that had ever passed, deleted or not: memory grew with
    every file ingested. What is stored stays referenced where it is stored.
    """
    for service in LOCAL_SERVICES:
        importlib.import_module(f"moto.{service}.models")
    for models in model_data.values():
        for model in models.values():
            model.instances_tracked = _Forgotten()


def remember_instances() -> None:
    """Let moto list its models' instances again, as its own reset expects (tests that use moto
    in-process after a local platform stopped in the same process)."""
    for models in model_data.values():
        for model in models.values():
            if isinstance(model.instances_tracked, _Forgotten):
                model.instances_tracked = []


class CallListener:
    """Answers the platform's clients on a local socket: each connection (a client thread's, one
    call at a time) in a thread of its own. Only a client holding `authkey` can connect."""

    def __init__(self, server: AwsServer, folder: Path, authkey: bytes) -> None:
        self._server = server
        self._listener = Listener(str(folder / "calls"), family="AF_UNIX", authkey=authkey)
        self._closed = threading.Event()
        self.address = self._listener.address
        threading.Thread(target=self._accept, name="local-aws-listener", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection = self._listener.accept()
            except (OSError, AuthenticationError):  # closed, or a connection without the key
                continue
            threading.Thread(target=self._converse, args=(connection,), name="local-aws-calls", daemon=True).start()

    def _converse(self, connection: Connection) -> None:
        with connection:
            while True:
                try:
                    asked = connection.recv()
                except (EOFError, OSError):  # the client's connection closed
                    return
                try:
                    answer = self._server.answer(asked)
                except Exception as error:  # moto failed: the client gets a 500, as over HTTP
                    traceback.print_exc()
                    failure = {"__type": "InternalFailure", "message": f"the local AWS failed: {error}"}
                    answer = Answer(500, {"Content-Type": "application/json"}, json.dumps(failure).encode())
                try:
                    connection.send(answer)
                except OSError:
                    return

    def close(self) -> None:
        self._closed.set()
        self._listener.close()


def _announce(started: dict[str, Any]) -> None:
    """The one line the platform's process reads: where this listens, or why it could not."""
    sys.stdout.write(json.dumps(started) + "\n")
    sys.stdout.flush()


class _Stopped(Exception):
    """SIGTERM."""


def _stop(*_: object) -> None:
    raise _Stopped


def main(argv: list[str] | None = None) -> None:
    """The local AWS's process: the key for its calls' socket on stdin, then until stdin closes
    (the platform stops it, or its process ended) or SIGTERM. One line on stdout says where it
    listens, or why it could not."""
    parser = argparse.ArgumentParser(prog="localplatform.aws")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--region", required=True)
    args = parser.parse_args(argv)
    authkey = bytes.fromhex(sys.stdin.readline().strip())
    # Ctrl-C reaches the terminal's whole process group; the platform stops this process itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    try:
        server = AwsServer(args.host, args.port, args.region)
    except OSError as error:
        _announce({"error": str(error)})
        raise SystemExit(1) from None
    with tempfile.TemporaryDirectory(prefix="sdp-aws-") as folder:
        listener = CallListener(server, Path(folder), authkey)
        signal.signal(signal.SIGTERM, _stop)
        _announce({"url": server.url, "calls": listener.address})
        with contextlib.suppress(_Stopped):
            sys.stdin.read()
        listener.close()
        server.stop()
    # No interpreter teardown: the local AWS may hold millions of objects, and exit would walk them
    # in one garbage collection after another for tens of seconds. Nothing is left to save.
    os._exit(0)


if __name__ == "__main__":
    main()
