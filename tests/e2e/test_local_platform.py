"""The local platform as a user meets it: over HTTP, with the real ingest path behind it."""

from __future__ import annotations

import json
import signal
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from chalicelib.settings import load_settings
from tests.local_platform import RunningPlatform, refused_start
from tests.openapi import assert_conforms, check_reply

pytestmark = pytest.mark.e2e


def test_health_answers_per_the_contract(running_platform: RunningPlatform) -> None:
    response = requests.get(f"{running_platform.api_url}/health", timeout=10)
    assert response.status_code == 200
    assert response.headers["X-Request-Id"]
    assert_conforms("GET", "/health", 200, response.json())


def test_a_path_with_no_route_answers_404_in_the_error_shape(running_platform: RunningPlatform) -> None:
    response = requests.get(f"{running_platform.api_url}/no/such/path", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["request_id"] == response.headers["X-Request-Id"]
    check_reply("GET", "/no/such/path", 404, response.json())  # no operation: the error shape


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/health", "GET"),
        ("CONNECT", "/files", "GET, POST"),
        ("PROPFIND", "/queries/01JDXR7B2K0000000000000000", "DELETE, GET"),
        ("DELETE", "/health", "GET"),
        ("PATCH", "/files", "GET, POST"),
    ],
)
def test_a_method_the_path_does_not_take_is_405_in_the_error_shape_with_allow(
    running_platform: RunningPlatform, method: str, path: str, allowed: str
) -> None:
    response = requests.request(method, running_platform.api_url + path, timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.json()["error"]["request_id"] == response.headers["X-Request-Id"]


def test_a_refused_method_with_a_body_leaves_the_next_request_on_the_connection_whole(
    running_platform: RunningPlatform,
) -> None:
    with requests.Session() as session:
        for method in ("QUERY", "PATCH"):
            refused = session.request(method, running_platform.api_url + "/files", data=b'{"a": 1}', timeout=10)
            assert refused.status_code == 405
            assert session.get(running_platform.api_url + "/health", timeout=10).status_code == 200


def test_a_request_line_too_long_to_read_is_414_in_the_error_shape(running_platform: RunningPlatform) -> None:
    response = requests.get(running_platform.api_url + "/files/" + "a" * 70_000, timeout=10)
    assert response.status_code == 414
    assert response.json()["error"]["code"] == "invalid_request"


def test_an_unknown_method_on_no_route_is_404_in_the_error_shape(running_platform: RunningPlatform) -> None:
    response = requests.request("TRACE", running_platform.api_url + "/nowhere", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("declared", [b"10737418240", b"\xb2"], ids=["10-GiB", "superscript-two"])
def test_a_body_over_the_gateway_limit_or_of_no_length_is_refused_before_it_is_read(
    running_platform: RunningPlatform, declared: bytes
) -> None:
    url = urlparse(running_platform.api_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as connection:
        connection.sendall(
            b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: " + declared + b"\r\n\r\n"
        )
        chunks = []
        while chunk := connection.recv(65536):  # the server closes the connection after answering
            chunks.append(chunk)
        reply = b"".join(chunks).decode()
    head, _, body = reply.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 413")
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def test_concurrent_requests_each_keep_their_own_request_id(running_platform: RunningPlatform) -> None:
    def call(_: int) -> tuple[str, str]:
        response = requests.get(f"{running_platform.api_url}/health", timeout=10)
        return response.headers["X-Request-Id"], response.json()["status"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(call, range(64)))
    assert len({request_id for request_id, _ in results}) == 64
    logged = {entry["request_id"] for entry in running_platform.logs() if entry.get("message") == "request"}
    assert {request_id for request_id, _ in results} <= logged


def test_an_object_in_the_bucket_reaches_the_ingest_handler_through_sqs(running_platform: RunningPlatform) -> None:
    key = f"tenants/t-{uuid.uuid4().hex}/raw/file one.csv"
    bucket = running_platform.aws_client("s3").list_buckets()["Buckets"][0]["Name"]
    running_platform.aws_client("s3").put_object(Bucket=bucket, Key=key, Body=b"a,b\n1,2\n")
    [received] = running_platform.wait_for_log(
        lambda entry: entry.get("message") == "object received" and entry["key"] == key
    )
    assert received["size"] == 8
    assert received["event_name"] == "ObjectCreated:Put"


def test_the_platform_writes_the_env_file_sam_local_takes(running_platform: RunningPlatform) -> None:
    """`sam local invoke --env-vars <file>`: the functions then use this platform's AWS and resources."""
    [line] = [line for line in running_platform.lines if line.strip().startswith("sam local")]
    path = Path(line.split("--env-vars", 1)[1].split()[0])
    parameters = json.loads(path.read_text())["Parameters"]
    assert parameters["AWS_ENDPOINT_URL"] == running_platform.aws_url
    settings = load_settings({name: value for name, value in parameters.items() if name.startswith("SDP_")})
    assert settings.stage == "local"
    cognito = running_platform.aws_client("cognito-idp")
    assert cognito.describe_user_pool(UserPoolId=settings.user_pool_id)["UserPool"]["Id"] == settings.user_pool_id
    assert running_platform.aws_client("s3").head_bucket(Bucket=settings.data_bucket)


def test_a_failing_message_is_retried_dead_lettered_then_settled(running_platform: RunningPlatform) -> None:
    sqs = running_platform.aws_client("sqs")
    queue_url = sqs.get_queue_url(QueueName="sdp-local-ingest")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="sdp-local-ingest-dlq")["QueueUrl"]
    body = f"poison {uuid.uuid4()}"
    message_id = sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]

    attempts = running_platform.wait_for_log(
        lambda entry: (
            entry.get("message") == "message failed"
            and entry["message_id"] == message_id
            and entry["receive_count"] == 5
        )
    )
    assert attempts
    counts = [
        e["receive_count"]
        for e in running_platform.logs()
        if e.get("message_id") == message_id and "receive_count" in e
    ]
    assert counts == [1, 2, 3, 4, 5]
    # SQS moved it to the dead-letter queue, where the dead-letter function took it: it names no
    # file, so it is logged whole, and not retried.
    [settled] = running_platform.wait_for_log(
        lambda entry: entry.get("message") == "dead letter is not an S3 notification" and entry["body"] == body
    )
    assert settled["level"] == "ERROR"
    depth = sqs.get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert depth == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_everything_and_nothing_keeps_listening(signum: int) -> None:
    running = RunningPlatform()
    ports = [urlparse(running.api_url).port, urlparse(running.aws_url).port]
    assert requests.get(f"{running.api_url}/health", timeout=10).status_code == 200

    assert running.stop(signum) == 0
    assert "Stopped." in running.lines
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.mark.parametrize("option", ["--port", "--aws-port"])
def test_a_busy_port_is_reported_and_the_process_exits(option: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        ports = {"--port": "0", "--aws-port": "0", option: str(busy.getsockname()[1])}
        result = refused_start(*[part for pair in ports.items() for part in pair])
    assert result.returncode == 1
    assert "Address already in use" in result.stderr
