"""The local AWS keeps DynamoDB's promises under concurrent requests, over HTTP and in process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Lock
from time import sleep
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from localplatform.aws import LocalAws, serialize_dynamodb

TABLE = "concurrency"


def _session(aws: LocalAws, *, in_process: bool) -> Any:
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local")
    if in_process:
        aws.answer_in_process(session)
    return session


@pytest.fixture(params=[False, True], ids=["over HTTP", "in process"])
def dynamodb(request: pytest.FixtureRequest) -> Iterator[object]:
    aws = LocalAws("127.0.0.1", 0, "us-east-1")
    try:
        client = _session(aws, in_process=request.param).client("dynamodb", endpoint_url=aws.url)
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client
        client.delete_table(TableName=TABLE)  # moto's state is the process's: the next test makes it anew
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
        sleep(0.1)
        with count:
            in_flight.append(in_flight[-1] - 1)
        return [b"{}"]

    app = serialize_dynamodb(backend, Lock())
    environ = {"HTTP_X_AMZ_TARGET": target} if target else {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: app(dict(environ), None), range(4)))
    assert (max(in_flight) == 1) is one_at_a_time


def test_clients_of_a_session_answered_in_process_reach_all_but_an_objects_bytes_without_http() -> None:
    aws = LocalAws("127.0.0.1", 0, "us-east-1")
    try:
        _answered_in_process_but_an_objects_bytes(aws)
    finally:
        aws.stop()


def _answered_in_process_but_an_objects_bytes(aws: LocalAws) -> None:
    session = _session(aws, in_process=True)
    dynamodb, sqs, s3 = (session.client(name, endpoint_url=aws.url) for name in ("dynamodb", "sqs", "s3"))
    bucket, table = f"objects-{uuid.uuid4()}", f"{TABLE}-{uuid.uuid4()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"over HTTP")
    queue = sqs.create_queue(QueueName=f"work-{uuid.uuid4()}")["QueueUrl"]
    aws.stop_listening()  # nothing listens any more: only what is answered in process still works
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
    s3.put_object(Bucket=bucket, Key="k", Body=b"in process")
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == len(b"in process")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    with pytest.raises(EndpointConnectionError):  # an object's bytes are streamed over HTTP, in process or not
        s3.get_object(Bucket=bucket, Key="k")
