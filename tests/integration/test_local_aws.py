"""The local AWS keeps DynamoDB's promises under concurrent requests."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Lock
from time import sleep
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localplatform.aws import LocalAws, serialize_dynamodb

TABLE = "concurrency"


@pytest.fixture
def dynamodb() -> Iterator[object]:
    aws = LocalAws("127.0.0.1", 0)
    try:
        client = boto3.client(
            "dynamodb",
            endpoint_url=aws.url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
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
        sleep(0.1)
        with count:
            in_flight.append(in_flight[-1] - 1)
        return [b"{}"]

    app = serialize_dynamodb(backend)
    environ = {"HTTP_X_AMZ_TARGET": target} if target else {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: app(dict(environ), None), range(4)))
    assert (max(in_flight) == 1) is one_at_a_time
