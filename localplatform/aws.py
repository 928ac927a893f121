"""moto in server mode: the local AWS, on a port of this machine."""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.endpoint import convert_to_response_dict
from botocore.model import OperationModel
from botocore.parsers import create_parser
from moto.backends import get_backend
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core import responses as moto_responses
from moto.core.base_backend import model_data
from moto.core.exceptions import HTTPException
from moto.core.request import Request
from moto.core.utils import method_names_from_class as moto_method_names
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

    def answer_in_process(self, session: Any) -> None:
        """Clients made from `session` (a boto3 session) from now on get their answers from the
        local AWS in this process, not over the loopback: the same state and DynamoDB
        serialization, without an HTTP round trip and a server thread per call (about half of a
        small DynamoDB call's time here).

        A call to a JSON API (DynamoDB, SQS, Cognito, KMS, Secrets Manager) goes straight from the
        request botocore serialized to moto's handler for it, and its answer through botocore's
        parser: signing the request, sending it through botocore's HTTP layer and moto's web app
        took 40 % of each small call's time, for nothing a caller in this process needs. Other
        calls (S3's) go through the local AWS's web app, as HTTP requests would. Reading an
        object's bytes (`OVER_HTTP`) still goes over HTTP, streamed."""
        session.events.register("before-call", self._answer_call)
        session.events.register("before-send", self._answer)

    def _answer_call(
        self, model: OperationModel, params: dict[str, Any], request_signer: Any, **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        service = model.service_model
        if service.resolved_protocol != "json" or not params.get("url", "").startswith(self.url + "/"):
            return None
        url = f"https://{service.endpoint_prefix}.{request_signer.region_name}.amazonaws.com{params['url_path']}"
        handler = self._handlers.find(service.service_name, url)
        if handler is None:
            return None
        request = Request.from_primitives(params["method"], url, params["headers"], params["body"])
        serialized = self._dynamodb_lock if service.service_name == "dynamodb" else contextlib.nullcontext()
        try:
            with serialized:
                status, headers, body = handler(request, url, request.headers)
        except HTTPException as error:  # how moto's web app answers them
            status, headers, body = error.code, error.get_headers(), error.get_body()
        http = _response(url, params["method"], status, headers, body.encode() if isinstance(body, str) else body)
        return http, _parsed(http, model)

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
        return _response(request.url, request.method, int(status.split(" ", 1)[0]), headers, content)

    def stop_listening(self) -> None:
        """Close the port: only clients answered in process reach the local AWS any more."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def stop(self) -> None:
        """Close the port and empty the local AWS."""
        self.stop_listening()
        self._costs.close()


def _response(url: str, method: str, status: int, headers: Any, content: bytes) -> AWSResponse:
    """An answer given in process, as botocore receives one over HTTP."""
    raw = HTTPResponse(
        body=io.BytesIO(content), headers=dict(headers), status=status, preload_content=False, request_method=method
    )
    return AWSResponse(url, status, raw.headers, raw)


def _parsed(http: AWSResponse, model: OperationModel) -> dict[str, Any]:
    """The answer as botocore's endpoint parses it, modeled error fields included (a cancelled
    transaction's reasons)."""
    response = convert_to_response_dict(http, model)
    parser = create_parser(model.service_model.resolved_protocol)
    parsed = parser.parse(response, model.output_shape)
    if http.status_code >= 300:
        code = parsed.get("Error", {}).get("Code")
        shape = model.service_model.shape_for_error_code(code) if code else None
        if shape is not None:
            parsed.update(parser.parse(response, shape))
    return parsed


class CallHandlers:
    """moto's handler for a request to a local service, found as moto's own in-process mock
    finds it (the backend's URL patterns), once per service and URL."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str], Callable[..., Any] | None] = {}

    def find(self, service: str, url: str) -> Callable[..., Any] | None:
        key = (service, url)
        if key not in self._found:
            self._found[key] = self._lookup(service.replace("-", ""), url)
        return self._found[key]

    @staticmethod
    def _lookup(backend_name: str, url: str) -> Callable[..., Any] | None:
        if backend_name not in LOCAL_SERVICES:
            return None
        backends = get_backend(backend_name)[DEFAULT_ACCOUNT_ID]
        backend = backends["us-east-1"] if "us-east-1" in backends else backends["aws"]
        for pattern, handler in backend.urls.items():
            if re.match(pattern, url):
                return handler
        return None


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
