"""The local DynamoDB answers every request exactly as moto's own does, at DynamoDB's cost: the
same random requests go to both (moto's in another region), and each answer must be the same."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from localplatform.dynamodb import (
    CompactItem,
    LocalDynamoDB,
    PagedTable,
    _checked_alone,
    _lexed_condition,
    _parsed_update,
)
from localplatform.dynamodb import install as install_local_dynamodb
from localplatform.dynamodb import uninstall as uninstall_local_dynamodb

LOCAL, MOTO = "us-east-1", "us-west-2"
TABLE = "things"
PARTITIONS = ["A", "B", "C"]
# Sort keys that share prefixes, and some at the edges of the character range.
SORT_KEYS = [f"{kind}#{n:03d}" for kind in ("FILE", "FILE#x", "TABLE", "Q") for n in range(12)] + [
    "",
    "FILE",
    "FILE$",
    "FILE#\U0010ffff",
    "\U0010ffff",
]


# Update expressions with their attribute names: valid ones, and ones moto refuses for the
# expression alone (a key updated, two clauses of a kind, overlapping paths), with or without names.
UPDATES: list[tuple[str, dict[str, str]]] = [
    ("ADD n :one SET tag = :tag", {}),
    ("ADD #n :one SET #t = :tag", {"#n": "n", "#t": "tag"}),
    ("SET tag = :tag REMOVE gone ADD n :one", {}),
    ("SET SK = :tag ADD n :one", {}),
    ("SET #k = :tag ADD n :one", {"#k": "PK"}),
    ("SET tag = :tag SET n = :one", {}),
    ("ADD n :one ADD #n :one SET tag = :tag", {"#n": "n"}),
    ("SET tag = :tag, #t = :tag ADD n :one", {"#t": "tag"}),
    ("SET #t = :tag ADD n :one", {"#t": "SK"}),  # the same text as a valid one, other names
]


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        install_local_dynamodb(LOCAL)
        try:
            pair = []
            for region in (LOCAL, MOTO):
                client = boto3.client("dynamodb", region_name=region)
                client.create_table(
                    TableName=TABLE,
                    KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                    AttributeDefinitions=[
                        {"AttributeName": "PK", "AttributeType": "S"},
                        {"AttributeName": "SK", "AttributeType": "S"},
                    ],
                    BillingMode="PAY_PER_REQUEST",
                )
                pair.append(client)
            assert isinstance(dynamodb_backends[DEFAULT_ACCOUNT_ID][LOCAL], LocalDynamoDB)
            assert not isinstance(dynamodb_backends[DEFAULT_ACCOUNT_ID][MOTO], LocalDynamoDB)
            yield pair[0], pair[1]
        finally:
            uninstall_local_dynamodb(LOCAL)


def _answer(client: Any, operation: str, request: dict[str, Any]) -> Any:
    try:
        response = getattr(client, operation)(**request)
    except ClientError as error:
        return {"error": error.response["Error"]["Code"], "reasons": error.response.get("CancellationReasons")}
    response.pop("ResponseMetadata", None)
    return response


def _key(rng: random.Random) -> dict[str, Any]:
    return {"PK": {"S": rng.choice(PARTITIONS)}, "SK": {"S": rng.choice(SORT_KEYS)}}


def _write(rng: random.Random) -> tuple[str, dict[str, Any]]:
    kind = rng.choice(["put", "update", "delete", "transaction"])
    if kind == "put":
        item = _key(rng) | {"n": {"N": str(rng.randint(0, 9))}, "tag": {"S": rng.choice("xyz")}}
        request: dict[str, Any] = {"TableName": TABLE, "Item": item}
        if rng.random() < 0.5:
            request["ConditionExpression"] = rng.choice(["attribute_not_exists(PK)", "n < :five"])
            if "five" in request["ConditionExpression"]:
                request["ExpressionAttributeValues"] = {":five": {"N": "5"}}
        return "put_item", request
    if kind == "update":
        expression, names = rng.choice(UPDATES)
        return "update_item", {
            "TableName": TABLE,
            "Key": _key(rng),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":tag": {"S": rng.choice("xyz")}},
            "ReturnValues": "ALL_NEW",
        } | ({"ExpressionAttributeNames": names} if names else {})
    if kind == "delete":
        return "delete_item", {"TableName": TABLE, "Key": _key(rng), "ReturnValues": "ALL_OLD"}
    operations = []
    for _ in range(rng.randint(1, 4)):
        key = _key(rng)
        operation = rng.choice(["Put", "Update", "Delete", "ConditionCheck"])
        if operation == "Put":
            operations.append({"Put": {"TableName": TABLE, "Item": key | {"n": {"N": "7"}}}})
        elif operation == "Update":
            operations.append(
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": key,
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                }
            )
        elif operation == "Delete":
            operations.append({"Delete": {"TableName": TABLE, "Key": key}})
        else:  # fails about half the time: the whole transaction is then cancelled
            operations.append(
                {"ConditionCheck": {"TableName": TABLE, "Key": key, "ConditionExpression": "attribute_exists(PK)"}}
            )
    return "transact_write_items", {"TransactItems": operations}


def _query(rng: random.Random) -> dict[str, Any]:
    values: dict[str, Any] = {":pk": {"S": rng.choice(PARTITIONS)}}
    condition = "PK = :pk"
    shape = rng.choice(["all", "begins", "=", "<", "<=", ">", ">=", "between"])
    low, high = sorted([rng.choice(SORT_KEYS), rng.choice(SORT_KEYS)])
    if shape == "begins":
        condition += " AND begins_with(SK, :low)"
        values[":low"] = {"S": rng.choice(["FILE#", "FILE", "TABLE#00", "Q#01", "", "FILE#\U0010ffff", "\U0010ffff"])}
    elif shape == "between":
        condition += " AND SK BETWEEN :low AND :high"
        values |= {":low": {"S": low}, ":high": {"S": high}}
    elif shape != "all":
        condition += f" AND SK {shape} :low"
        values[":low"] = {"S": low}
    request: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": rng.random() < 0.5,
        "ConsistentRead": True,
    }
    if rng.random() < 0.7:
        request["Limit"] = rng.randint(1, 6)
    if rng.random() < 0.3:
        request["FilterExpression"] = "tag = :x"
        values[":x"] = {"S": "x"}
    if rng.random() < 0.3:
        request["ProjectionExpression"] = "SK, n"
    return request


def _every_page(client: Any, request: dict[str, Any]) -> list[Any]:
    pages, start = [], None
    while True:
        page = _answer(client, "query", request | ({"ExclusiveStartKey": start} if start else {}))
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages


@pytest.mark.parametrize("seed", range(3))
def test_random_requests_are_answered_as_moto_answers_them(clients: tuple[Any, Any], seed: int) -> None:
    local, moto = clients
    rng = random.Random(seed)
    for _ in range(120):
        operation, request = _write(rng)
        assert _answer(local, operation, request) == _answer(moto, operation, request), (operation, request)
        query = _query(rng)
        assert _every_page(local, query) == _every_page(moto, query), query


def test_a_cancelled_transaction_puts_back_exactly_what_it_changed(clients: tuple[Any, Any]) -> None:
    local, _ = clients
    for n in range(50):
        local.put_item(TableName=TABLE, Item={"PK": {"S": "A"}, "SK": {"S": f"s{n:02d}"}, "n": {"N": str(n)}})
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][LOCAL].tables[TABLE]
    assert isinstance(table, PagedTable)
    before = {key.value: item for key, item in table.items[_partition(table, "A")].items()}

    with pytest.raises(ClientError, match="TransactionCanceled"):
        local.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {"PK": {"S": "A"}, "SK": {"S": "new"}}}},
                {"Delete": {"TableName": TABLE, "Key": {"PK": {"S": "A"}, "SK": {"S": "s01"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"PK": {"S": "A"}, "SK": {"S": "s02"}},
                        "UpdateExpression": "SET n = :zero",
                        "ExpressionAttributeValues": {":zero": {"N": "0"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"PK": {"S": "A"}, "SK": {"S": "absent"}},
                        "ConditionExpression": "attribute_exists(PK)",
                    }
                },
            ]
        )

    after = {key.value: item for key, item in table.items[_partition(table, "A")].items()}
    assert dynamodb_backends[DEFAULT_ACCOUNT_ID][LOCAL].tables[TABLE] is table  # no copy of the table put back
    assert sorted(after) == sorted(before)
    assert after["s02"].attrs["n"].value == "2"
    # The items the transaction did not name are the very same objects: nothing else was copied.
    assert all(after[key] is before[key] for key in before if key not in ("s01", "s02"))


def _partition(table: PagedTable, name: str) -> Any:
    return next(key for key in table.items if key.value == name)


def test_the_local_dynamodb_parses_an_expression_once_and_moto_each_time(clients: tuple[Any, Any]) -> None:
    local, moto = clients

    def update(client: Any, tag: str) -> Any:
        return client.update_item(
            TableName=TABLE,
            Key={"PK": {"S": "A"}, "SK": {"S": "parsed"}},
            UpdateExpression="ADD n :one SET tag = :parsed_tag",
            ConditionExpression="attribute_not_exists(tag) OR tag <> :parsed_tag",
            ExpressionAttributeValues={":one": {"N": "1"}, ":parsed_tag": {"S": tag}},
            ReturnValues="ALL_NEW",
        )["Attributes"]

    updates, conditions = _parsed_update.cache_info(), _lexed_condition.cache_info()
    for client in (local, moto):
        for number, tag in enumerate("xyz", start=1):  # one parse shared: each request's own values apply
            assert update(client, tag) == {
                "PK": {"S": "A"},
                "SK": {"S": "parsed"},
                "n": {"N": str(number)},
                "tag": {"S": tag},
            }
    # moto validates a request, then applies it: two parses a request, three requests of the local
    # DynamoDB's (one parse each for the expression's first), none of moto's own.
    for parsed, before in ((_parsed_update, updates), (_lexed_condition, conditions)):
        assert parsed.cache_info().misses - before.misses == 1
        assert parsed.cache_info().hits - before.hits == 2 * 3 - 1


def test_what_an_update_expression_alone_decides_is_checked_once_and_refused_each_time(
    clients: tuple[Any, Any],
) -> None:
    local, moto = clients
    valid = {
        "TableName": TABLE,
        "Key": {"PK": {"S": "A"}, "SK": {"S": "alone"}},
        "UpdateExpression": "SET #t = :tag ADD checked_once :one",
        "ExpressionAttributeNames": {"#t": "tag"},
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":tag": {"S": "x"}},
        "ReturnValues": "ALL_NEW",
    }
    refused = valid | {"ExpressionAttributeNames": {"#t": "SK"}}  # the same text, a key updated
    before = _checked_alone.cache_info()
    for _ in range(3):
        for request in (valid, refused):
            assert _answer(local, "update_item", request) == _answer(moto, "update_item", request)
    assert _answer(local, "update_item", refused)["error"] == "ValidationException"
    assert _checked_alone.cache_info().misses - before.misses == 1 + 4  # the refused one: each time
    # moto validates the first request twice (before it creates the item, then to apply it).
    assert _checked_alone.cache_info().hits - before.hits == 1 + 2


def test_items_are_kept_packed_between_requests_and_read_back_whole(clients: tuple[Any, Any]) -> None:
    local, moto = clients
    item = {
        "PK": {"S": "A"},
        "SK": {"S": "kept"},
        "columns": {"L": [{"M": {"name": {"S": "id"}, "type": {"S": "BIGINT"}, "nullable": {"BOOL": False}}}]},
        "size": {"N": "1234567890123"},
        "notes": {"NULL": True},
        "tags": {"SS": ["b", "a"]},
        "sizes": {"NS": ["1", "2.5"]},
        "digest": {"B": b"\x00\xffbytes"},
        "name": {"S": "sales é.csv"},
    }
    update = {
        "Key": {"PK": {"S": "A"}, "SK": {"S": "kept"}},
        "UpdateExpression": "SET columns[0].#type = :type ADD size :one",
        "ExpressionAttributeNames": {"#type": "type"},
        "ExpressionAttributeValues": {":type": {"S": "DOUBLE"}, ":one": {"N": "1"}},
        "ReturnValues": "ALL_NEW",
    }
    for client in (local, moto):
        client.put_item(TableName=TABLE, Item=item)
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][LOCAL].tables[TABLE]
    stored = table.items[_partition(table, "A")]
    assert all(isinstance(kept, CompactItem) and set(kept.__dict__) >= {"packed"} for kept in stored.values())
    assert not any("attrs" in kept.__dict__ for kept in stored.values())

    key = {"PK": {"S": "A"}, "SK": {"S": "kept"}}
    assert _answer(local, "get_item", {"TableName": TABLE, "Key": key}) == _answer(
        moto, "get_item", {"TableName": TABLE, "Key": key}
    )
    assert _answer(local, "update_item", {"TableName": TABLE} | update) == _answer(
        moto, "update_item", {"TableName": TABLE} | update
    )
    query = {"TableName": TABLE, "KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": {"S": "A"}}}
    assert _every_page(local, query) == _every_page(moto, query)
    assert not any("attrs" in kept.__dict__ for kept in stored.values())
