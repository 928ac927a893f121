"""The platform's side of the local AWS: its process, and the platform's clients answered by it.

The local AWS (aws.py) runs in a process of its own, so that moto's work and the platform's each
have an interpreter and a core. The platform's own clients (the app's, the pumps', provisioning's)
send their calls to it over a local socket rather than HTTP:

- a call to a JSON API (DynamoDB, SQS, Cognito, KMS, Secrets Manager) goes, as botocore serialized
  it, to moto's handler for it (a botocore `before-call` hook), and botocore's own parser reads the
  answer, errors and a cancelled transaction's reasons included: signing it and passing it through
  botocore's HTTP layer, a loopback connection and moto's web app cost more than moto's answer;
- other calls (S3's) go, signed as for HTTP (a `before-send` hook), to moto's handler for them;
- an object's bytes (`STREAMED`) go through moto's web app in that process, as the same request
  over HTTP would, and come back up to `LARGEST_ANSWER_BYTES`; a larger object's are read over
  HTTP, streamed (an object may be larger than memory).
"""

from __future__ import annotations

import contextlib
import io
import json
import queue
import secrets
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.endpoint import convert_to_response_dict
from botocore.exceptions import EndpointConnectionError
from botocore.model import OperationModel
from botocore.parsers import create_parser
from urllib3.response import HTTPResponse

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Answers that may be larger than memory: an object's bytes. Whatever else is sent or answered is
# small, or held whole by its sender already.
STREAMED = frozenset({("s3", "GetObject")})
# The largest of those answered through the socket, held whole; a larger one is read over HTTP, streamed.
LARGEST_ANSWER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class JsonCall:
    """A call to a JSON API, as botocore serialized it."""

    service: str
    endpoint_prefix: str
    region: str
    method: str
    path: str
    headers: dict[str, Any]
    body: bytes | str


@dataclass(frozen=True)
class HttpRequest:
    """A request as botocore would send it over HTTP, its body read."""

    service: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    largest_answer: int | None = None  # bytes; None: any size


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


Asked = JsonCall | HttpRequest


class LocalAws:
    """The local AWS's process: started here, stopped by stop() (or when this process ends: its
    standard input closes). Raises OSError if it cannot listen on `host`:`port`."""

    def __init__(self, host: str, port: int, region: str) -> None:
        authkey = secrets.token_bytes(32)
        self._process = subprocess.Popen(  # noqa: S603 - this interpreter, running the local AWS
            [sys.executable, "-m", "localplatform.aws", "--host", host, "--port", str(port), "--region", region],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=PROJECT_DIR,
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(authkey.hex() + "\n")
        self._process.stdin.flush()
        started = json.loads(self._process.stdout.readline() or '{"error": "the local AWS ended as it started"}')
        if "error" in started:
            self._process.wait()
            raise OSError(started["error"])
        self.url: str = started["url"]
        self._address: str = started["calls"]
        self._authkey = authkey
        self._idle: queue.SimpleQueue[Connection] = queue.SimpleQueue()

    @property
    def pid(self) -> int:
        return self._process.pid

    def answer_directly(self, session: Any) -> None:
        """Clients made from `session` (a boto3 session) from now on send their calls straight to
        the local AWS's process (see the module's docstring)."""
        session.events.register("before-call", self._answer_call)
        session.events.register("before-send", self._answer)

    def _answer_call(
        self, model: OperationModel, params: dict[str, Any], request_signer: Any, **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        service = model.service_model
        if service.resolved_protocol != "json" or not params.get("url", "").startswith(self.url + "/"):
            return None
        call = JsonCall(
            service.service_name,
            service.endpoint_prefix,
            request_signer.region_name,
            params["method"],
            params["url_path"],
            dict(params["headers"]),
            params["body"],
        )
        answer = self._ask(call)
        if answer is None:  # no handler for it there: botocore sends it over HTTP
            return None
        http = _response(params["url"], params["method"], answer)
        return http, _parsed(http, model)

    def _answer(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        if not request.url.startswith(self.url + "/"):
            return None  # botocore sends it as usual
        body = request.body
        asked = HttpRequest(
            service,
            request.method,
            request.url.removeprefix(self.url),
            {name: v.decode() if isinstance(v, bytes) else v for name, v in request.headers.items()},
            body.read() if hasattr(body, "read") else body or b"",
            LARGEST_ANSWER_BYTES if (service, operation) in STREAMED else None,
        )
        answer = self._ask(asked)
        if answer is None:  # too large to answer whole: botocore reads it over HTTP
            return None
        return _response(request.url, request.method, answer)

    def _ask(self, asked: Asked) -> Answer | None:
        """The local AWS's answer, over a connection no other thread uses meanwhile."""
        try:
            connection = self._idle.get_nowait()
        except queue.Empty:
            connection = None
        try:
            if connection is None:
                connection = Client(self._address, family="AF_UNIX", authkey=self._authkey)
            connection.send(asked)
            answer: Answer | None = connection.recv()
        except (OSError, EOFError) as error:  # the process ended: as if nothing listened
            if connection is not None:
                connection.close()
            raise EndpointConnectionError(endpoint_url=self.url, error=error) from error
        self._idle.put(connection)
        return answer

    def stop(self) -> None:
        """Stop the local AWS's process: its port closes, and what it held is gone."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                break
        with contextlib.suppress(OSError):
            self._process.stdin.close()  # type: ignore[union-attr]
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()  # type: ignore[union-attr]


def _response(url: str, method: str, answer: Answer) -> AWSResponse:
    """An answer given by the local AWS's process, as botocore receives one over HTTP."""
    raw = HTTPResponse(
        body=io.BytesIO(answer.body),
        headers=answer.headers,
        status=answer.status,
        preload_content=False,
        request_method=method,
    )
    return AWSResponse(url, answer.status, raw.headers, raw)


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
