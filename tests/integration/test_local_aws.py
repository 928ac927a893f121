"""The local AWS, in its own process, keeps DynamoDB's promises under concurrent requests, over HTTP
and answering the platform's clients directly; it ends with the platform."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from pathlib import Path
from threading import Lock
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from botocore.httpsession import URLLib3Session

from localplatform.aws import CallHandlers, serialize_dynamodb
from localplatform.awsprocess import LARGEST_ANSWER_BYTES, LocalAws

TABLE = "concurrency"
PROJECT_DIR = Path(__file__).resolve().parents[2]


def _session(aws: LocalAws, *, directly: bool) -> Any:
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    if directly:
        aws.answer_directly(session)
    return session


@pytest.fixture(params=[False, True], ids=["over HTTP", "directly"])
def dynamodb(request: pytest.FixtureRequest) -> Iterator[object]:
    aws = LocalAws("127.0.0.1", 0, "us-east-1")
    try:
        client = _session(aws, directly=request.param).client("dynamodb", endpoint_url=aws.url)
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client
    finally:
        aws.stop()


def test_a_cancelled_transaction_never_undoes_other_writes(dynamodb: object) -> None:
    # A larger table makes a cancelled transaction's work (and any window for lost writes) longer.
    for n in range(300):
        dynamodb.put_item(TableName=TABLE, Item={"PK": {"S": f"filler-{n}"}})

    def write(n: int) -> None:
        item = {"Put": {"TableName": TABLE, "Item": {"PK": {"S": f"written-{n}"}}}}
        dynamodb.transact_write_items(TransactItems=[item])

    def cancel(n: int) -> None:
        check = {
            "ConditionCheck": {
                "TableName": TABLE,
                "Key": {"PK": {"S": f"absent-{n}"}},
                "ConditionExpression": "attribute_exists(PK)",
            }
        }
        with pytest.raises(ClientError, match="TransactionCanceled"):
            dynamodb.transact_write_items(TransactItems=[check])

    with ThreadPoolExecutor(max_workers=8) as pool:
        work = [pool.submit(write if n % 2 else cancel, n) for n in range(200)]
        for done in work:
            done.result()

    written = [
        n for n in range(1, 200, 2) if "Item" in dynamodb.get_item(TableName=TABLE, Key={"PK": {"S": f"written-{n}"}})
    ]
    assert written == list(range(1, 200, 2))


@pytest.mark.parametrize(("target", "one_at_a_time"), [("DynamoDB_20120810.TransactWriteItems", True), (None, False)])
def test_dynamodb_requests_are_answered_one_at_a_time(target: str | None, one_at_a_time: bool) -> None:
    in_flight = []
    count = Lock()

    def backend(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with count:
            in_flight.append(in_flight[-1] + 1 if in_flight else 1)
        time.sleep(0.1)
        with count:
            in_flight.append(in_flight[-1] - 1)
        return [b"{}"]

    app = serialize_dynamodb(backend, Lock())
    environ = {"HTTP_X_AMZ_TARGET": target} if target else {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: app(dict(environ), None), range(4)))
    assert (max(in_flight) == 1) is one_at_a_time


def test_clients_of_a_session_answered_directly_send_nothing_over_http_but_a_large_objects_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent_over_http: list[str] = []
    send = URLLib3Session.send

    def recorded(self: URLLib3Session, request: Any) -> Any:
        sent_over_http.append(request.url)
        return send(self, request)

    monkeypatch.setattr(URLLib3Session, "send", recorded)
    aws = LocalAws("127.0.0.1", 0, "us-east-1")
    try:
        _answered_directly_but_a_large_objects_bytes(aws, sent_over_http)
    finally:
        aws.stop()


def _answered_directly_but_a_large_objects_bytes(aws: LocalAws, sent_over_http: list[str]) -> None:
    session = _session(aws, directly=True)
    dynamodb, sqs, s3 = (session.client(name, endpoint_url=aws.url) for name in ("dynamodb", "sqs", "s3"))
    bucket, table = f"objects-{uuid.uuid4()}", f"{TABLE}-{uuid.uuid4()}"
    s3.create_bucket(Bucket=bucket)
    queue = sqs.create_queue(QueueName=f"work-{uuid.uuid4()}")["QueueUrl"]
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName=table, Item={"PK": {"S": "a"}, "note": {"S": "é"}})
    assert dynamodb.get_item(TableName=table, Key={"PK": {"S": "a"}})["Item"]["note"] == {"S": "é"}
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):  # errors keep their codes
        dynamodb.put_item(TableName=table, Item={"PK": {"S": "a"}}, ConditionExpression="attribute_not_exists(PK)")
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as cancelled:  # and their modeled fields
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"PK": {"S": "b"}}}},
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": {"PK": {"S": "z"}},
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )
    assert [reason["Code"] for reason in cancelled.value.response["CancellationReasons"]] == [
        "None",
        "ConditionalCheckFailed",
    ]
    sqs.send_message(QueueUrl=queue, MessageBody="hello")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue)["Messages"]] == ["hello"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"directly")
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == len(b"directly")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"directly"
    assert s3.get_object(Bucket=bucket, Key="k", Range="bytes=2-4")["Body"].read() == b"rec"
    assert sent_over_http == []
    large = bytes(range(256)) * (LARGEST_ANSWER_BYTES // 256 + 1)
    s3.put_object(Bucket=bucket, Key="large", Body=large)
    assert s3.get_object(Bucket=bucket, Key="large")["Body"].read() == large  # streamed over HTTP
    assert sent_over_http == [f"{aws.url}/{bucket}/large"]


# What differs between two runs of the same S3 requests whatever answers them.
RUN_SPECIFIC = {"ResponseMetadata", "VersionId", "UploadId", "LastModified", "Initiated", "Owner", "Initiator"}


def _s3_answers(s3: Any, bucket: str) -> list[Any]:
    """The answers to the S3 requests the platform makes, errors included, without what differs
    between runs (the bucket's name, ids, times)."""

    def answer(operation: str, **request: Any) -> Any:
        try:
            response = getattr(s3, operation)(**request)
        except ClientError as error:
            return {
                "error": error.response["Error"].get("Code"),
                "status": error.response["ResponseMetadata"]["HTTPStatusCode"],
            }
        if "Body" in response:
            response["Body"] = response["Body"].read()
        return response

    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    answers = [
        answer(
            "put_object",
            Bucket=bucket,
            Key="tenants/t/raw/f",
            Body=b"a,b\n1,2\n",
            ContentType="text/csv",
            Metadata={"sdp-upload": "presigned-post"},
        ),
        answer("put_object", Bucket=bucket, Key="tenants/t/raw/f", Body=b"a,b\n3,4\n"),
        answer("head_object", Bucket=bucket, Key="tenants/t/raw/f"),
        answer("head_object", Bucket=bucket, Key="tenants/t/raw/missing"),
        answer("get_object", Bucket=bucket, Key="tenants/t/raw/missing"),
        answer("put_object", Bucket=f"{bucket}-missing", Key="k", Body=b"x"),
        answer("list_objects_v2", Bucket=bucket, Prefix="tenants/t/"),
        answer("list_object_versions", Bucket=bucket, Prefix="tenants/t/raw/f"),
    ]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="tenants/t/raw/big")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="tenants/t/raw/big", UploadId=upload, PartNumber=1, Body=b"p" * 10)
    answers += [
        answer("list_parts", Bucket=bucket, Key="tenants/t/raw/big", UploadId=upload),
        answer(
            "complete_multipart_upload",
            Bucket=bucket,
            Key="tenants/t/raw/big",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        ),
    ]
    versions = s3.list_object_versions(Bucket=bucket, Prefix="tenants/t/")["Versions"]
    answers.append(
        answer(
            "delete_objects",
            Bucket=bucket,
            Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions], "Quiet": True},
        )
    )
    answers.append(answer("list_object_versions", Bucket=bucket, Prefix="tenants/t/"))
    return json.loads(json.dumps(_without_run_specifics(answers, bucket), default=str))


def _without_run_specifics(value: Any, bucket: str) -> Any:
    if isinstance(value, dict):
        return {key: _without_run_specifics(item, bucket) for key, item in value.items() if key not in RUN_SPECIFIC}
    if isinstance(value, list):
        return [_without_run_specifics(item, bucket) for item in value]
    return value.replace(bucket, "<bucket>") if isinstance(value, str) else value


def test_s3_answers_the_platforms_clients_directly_as_it_answers_over_http() -> None:
    aws = LocalAws("127.0.0.1", 0, "us-east-1")
    try:
        over_http, directly = (
            _s3_answers(_session(aws, directly=direct).client("s3", endpoint_url=aws.url), f"b-{uuid.uuid4()}")
            for direct in (False, True)
        )
    finally:
        aws.stop()
    assert directly == over_http
    assert {"error": "NoSuchKey", "status": 404} in directly
    # Answered by moto's handler itself, not its web app: the handler is found for a path-style URL.
    handlers = CallHandlers()
    for path in ("/b", "/b/tenants/t/raw/f?versionId=v", "/b?list-type=2&prefix=tenants%2F", "/b/k?uploads"):
        assert handlers.find("s3", f"https://s3.amazonaws.com{path}") is not None, path


def test_the_local_aws_ends_with_the_process_that_started_it(tmp_path: Path) -> None:
    """Whatever ends the platform's process (a kill included), the local AWS's process and its
    port go with it."""
    started = tmp_path / "started.json"
    script = (
        "import json, sys, time\n"
        "from localplatform.awsprocess import LocalAws\n"
        "aws = LocalAws('127.0.0.1', 0, 'us-east-1')\n"
        f"open({str(started)!r}, 'w').write(json.dumps({{'url': aws.url, 'pid': aws.pid}}))\n"
        "time.sleep(120)\n"
    )
    platform = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_DIR)
    try:
        deadline = time.monotonic() + 60
        while not started.exists() or not started.read_text():
            assert platform.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.1)
        aws = json.loads(started.read_text())
        assert requests.get(f"{aws['url']}/moto-api/", timeout=5).ok
    finally:
        platform.kill()
        platform.wait()
    deadline = time.monotonic() + 30
    while Path(f"/proc/{aws['pid']}").exists() and _state(aws["pid"]) != "Z":
        assert time.monotonic() < deadline, "the local AWS outlived the process that started it"
        time.sleep(0.1)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{aws['url']}/moto-api/", timeout=5)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def test_only_a_client_with_the_key_is_answered() -> None:
    aws = LocalAws("127.0.0.1", 0, "us-east-1")
    try:
        with pytest.raises(AuthenticationError):
            Client(aws._address, family="AF_UNIX", authkey=b"guessed")
        dynamodb = _session(aws, directly=True).client("dynamodb", endpoint_url=aws.url)
        assert dynamodb.list_tables()["TableNames"] == []  # and it still answers those that have it
    finally:
        aws.stop()


def test_a_port_in_use_is_refused_with_the_reason() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken, pytest.raises(OSError, match="in use"):
        LocalAws("127.0.0.1", taken.getsockname()[1], "us-east-1")
