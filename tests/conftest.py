"""Fixtures shared by every layer: settings for the `local` stage and moto-backed AWS clients."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"  # the same files `sam local invoke -e` takes

# Set before the app is imported: the settings model reads them once. moto answers every
# AWS call in-process (mock_aws), so no real account is ever reached.
TEST_ENVIRONMENT = {
    "SDP_STAGE": "local",
    "SDP_TABLE_NAME": "sdp-test",
    "SDP_DATA_BUCKET": "sdp-test-data",
    "SDP_INGEST_QUEUE_NAME": "sdp-test-ingest",
    "SDP_INGEST_DLQ_NAME": "sdp-test-ingest-dlq",
    "SDP_USER_POOL_ID": "us-east-1_test",
    "SDP_USER_POOL_CLIENT_ID": "testclient",
    "SDP_JWKS_URL": "http://127.0.0.1:5000/us-east-1_test/.well-known/jwks.json",
    "SDP_RESULTS_BUCKET": "sdp-test-results",
    "SDP_PAGINATION_SECRET_ID": "sdp-test-pagination",
    "SDP_TENANT_ROLE_ARN": "arn:aws:iam::123456789012:role/sdp-test-tenant-data",
    "SDP_WAREHOUSE_DIR": tempfile.mkdtemp(prefix="sdp-test-warehouse-"),
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
for _name, _value in TEST_ENVIRONMENT.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL", None)


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Whatever a test (or chalice's test client) puts in os.environ goes with it."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True, scope="session")
def _replies_checked_against_the_document() -> None:
    """Every reply a test receives must be one docs/openapi.yaml allows (tests/openapi.py)."""
    from tests.api import check_every_reply
    from tests.openapi import check_reply

    check_every_reply(check_reply)


def load_event(name: str) -> dict[str, Any]:
    """A recorded event from events/."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@pytest.fixture
def app() -> Any:
    from app import app as chalice_app

    return chalice_app


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from chalice.test import Client

    with Client(app, stage_name="local") as test_client:
        yield test_client


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A boto3 session whose every client talks to moto, in-process, with the local platform's
    costs (`aws_costs`: DynamoDB and S3 as the local AWS answers them).

    DynamoDB requests are answered one at a time, as the local AWS answers them
    (localplatform/aws.py): moto's tables are not safe to change from two threads at once, and
    requests are not the only writers (the local engine writes a query's end from its own thread).
    """
    import boto3
    from moto import mock_aws
    from moto.core.models import botocore_stubber

    answer = botocore_stubber.process_request
    lock = threading.Lock()

    def one_dynamodb_request_at_a_time(request: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        if not (target.decode() if isinstance(target, bytes) else target).startswith("DynamoDB_"):
            return answer(request)
        with lock:
            return answer(request)

    from localplatform.aws import aws_costs

    monkeypatch.setattr(botocore_stubber, "process_request", one_dynamodb_request_at_a_time)
    with mock_aws(), aws_costs(os.environ["AWS_DEFAULT_REGION"]):
        yield boto3.session.Session()


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """The platform's log records during the test, as the JSON documents it writes."""
    import logging

    from chalicelib.observability import SERVICE, logger

    records: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(json.loads(self.format(record)))

    handler = Collect()
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(SERVICE).addHandler(handler)
    try:
        yield records
    finally:
        logging.getLogger(SERVICE).removeHandler(handler)


@pytest.fixture
def local_resources(aws: Any) -> Any:
    """The local stage's resources, created in moto (in-process) from template.yaml."""
    from localplatform.resources import provision

    return provision(aws)


@pytest.fixture
def platform_services(aws: Any, local_resources: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """The app's services, installed, on the local stage's resources."""
    from chalicelib.aws.clients import AwsClients
    from chalicelib.services import Services, install
    from chalicelib.settings import load_settings

    for name, value in local_resources.settings_environment("http://127.0.0.1:5000").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SDP_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    services = Services(load_settings(), AwsClients(aws))
    install(services)
    try:
        yield services
    finally:
        services.close()
        install(None)


@pytest.fixture(scope="session")
def running_platform() -> Iterator[Any]:
    """One `python -m localplatform` for the whole session, on free ports."""
    from tests.local_platform import RunningPlatform

    running = RunningPlatform("--retry-delay", "0")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(params=["chalice", "http"])
def api(request: pytest.FixtureRequest) -> Any:
    """The API through chalice's test client (moto in-process) and over HTTP (the local platform)."""
    from tests.api import ChaliceApi, HttpApi

    if request.param == "http":
        running = request.getfixturevalue("running_platform")
        transport: Any = HttpApi(running.api_url)
        transport.aws_client = running.aws_client
        return transport
    from tests.ingestor import drain_ingest_queue

    services = request.getfixturevalue("platform_services")
    app = request.getfixturevalue("app")
    transport = ChaliceApi(request.getfixturevalue("client"))
    transport.aws_client = services.clients.client
    transport.run_ingest = lambda: drain_ingest_queue(services, app)
    return transport
