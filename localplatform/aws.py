"""moto in server mode: the local AWS, on a port of this machine."""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from moto.core.base_backend import model_data
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from urllib3.response import HTTPResponse
from werkzeug.serving import make_server
from werkzeug.test import EnvironBuilder, run_wsgi_app

from localplatform import dynamodb as local_dynamodb
from localplatform import s3 as local_s3
from localplatform import sqs as local_sqs
from localplatform.network import address_family, url_host

# The services the local platform asks for (their models are loaded on first use otherwise).
LOCAL_SERVICES = ("cognitoidp", "dynamodb", "iam", "kms", "s3", "secretsmanager", "sqs", "sts")

# Answered over HTTP even for clients in this process: an object's bytes are streamed to its reader
# (an object may be larger than memory). Whatever else is sent holds its whole body already.
OVER_HTTP = frozenset({("s3", "GetObject")})


class LocalAws:
    """moto's HTTP server in a thread (the same app as ThreadedMotoServer).

    Built here rather than with ThreadedMotoServer so that a busy port raises OSError (werkzeug
    would exit the process; ThreadedMotoServer would hang), and so that stop() closes the
    listening socket, not only the serving loop.
    """

    def __init__(self, host: str, port: int, region: str) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # The costs of AWS, not moto's: see localplatform/dynamodb.py and s3.py.
        self._costs = contextlib.ExitStack()
        self._costs.enter_context(aws_costs(region))
        self._app = serialize_dynamodb(ServiceDispatcher())
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
        small DynamoDB call's time here). Reading an object's bytes (`OVER_HTTP`) still goes over
        HTTP, streamed."""
        session.events.register("before-send", self._answer)

    def _answer(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        if (service, operation) in OVER_HTTP or not request.url.startswith(self.url + "/"):
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
        content = b"".join(chunks)
        if request.method != "HEAD":  # moto's S3 answers may name the object's length, not the body's
            headers["Content-Length"] = str(len(content))
        raw = HTTPResponse(
            body=io.BytesIO(content),
            headers=dict(headers),
            status=int(status.split(" ", 1)[0]),
            preload_content=False,
            request_method=request.method,
        )
        return AWSResponse(request.url, raw.status, raw.headers, raw)

    def stop_listening(self) -> None:
        """Close the port: only clients answered in process reach the local AWS any more."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def stop(self) -> None:
        """Close the port and empty the local AWS."""
        self.stop_listening()
        self._costs.close()


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


@contextlib.contextmanager
def aws_costs(region: str) -> Iterator[None]:
    """While open, moto answers with the costs of AWS, not its own: DynamoDB and S3 read what a
    request names, not every item and object, and SQS forgets deleted messages
    (localplatform/dynamodb.py, s3.py, sqs.py); no model instance is kept after its use
    (`forget_instances`)."""
    local_dynamodb.install(region)
    local_s3.install()
    local_sqs.install(region)
    forget_instances()
    try:
        yield
    finally:
        remember_instances()
        local_sqs.uninstall(region)
        local_s3.uninstall()
        local_dynamodb.uninstall(region)


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
