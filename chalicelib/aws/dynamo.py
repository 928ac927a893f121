"""The platform table's reads and writes every store shares: attribute values to and from plain
Python, an item, a page or all of a key prefix, batches, and transactions with their cancellations."""

from __future__ import annotations

import random
import time
from decimal import Decimal
from functools import cache
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.errors import ServiceUnavailable

BATCH_GET_KEYS = 100  # DynamoDB's most keys in one BatchGetItem
BATCH_WRITE_ITEMS = 25  # and items in one BatchWriteItem


@cache
def _codec() -> tuple[Any, Any]:
    # boto3's (de)serializers, loaded on first use: importing boto3 costs ~140 ms of cold start.
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """A dict of Python values as DynamoDB attribute values; None values are left out."""
    serializer = _codec()[0]
    return {name: serializer.serialize(_decimals(value)) for name, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values as plain Python (numbers as int or float, not Decimal)."""
    deserializer = _codec()[1]
    return {name: _numbers(deserializer.deserialize(value)) for name, value in item.items()}


def value(python_value: Any) -> dict[str, Any]:
    """One Python value as a DynamoDB attribute value (for expression values)."""
    return _codec()[0].serialize(_decimals(python_value))


def get_item(
    dynamodb: Any,
    table: str,
    key: dict[str, str],
    *,
    projection: str | None = None,
    names: dict[str, str] | None = None,
) -> dict[str, Any] | None:
    """The item at `key` as plain Python (a strongly consistent read); None if there is none.
    `projection` trims it, with its attribute `names`."""
    request: dict[str, Any] = {"TableName": table, "Key": to_item(key), "ConsistentRead": True}
    if projection:
        request["ProjectionExpression"] = projection
    if names:
        request["ExpressionAttributeNames"] = names
    item = dynamodb.get_item(**request).get("Item")
    return from_item(item) if item else None


def query_prefix(
    dynamodb: Any,
    table: str,
    partition: str,
    prefix: str,
    *,
    where: str | None = None,
    values: dict[str, Any] | None = None,
    names: dict[str, str] | None = None,
    projection: str | None = None,
    consistent: bool = True,
) -> list[dict[str, Any]]:
    """Every item of one partition whose sort key starts with `prefix`, as plain Python, all
    pages read; `where` filters them (with its `values` and `names`), `projection` trims them."""
    request = _prefix_query(table, partition, prefix, names, projection, consistent)
    request["ExpressionAttributeValues"] |= {name: value(given) for name, given in (values or {}).items()}
    if where:
        request["FilterExpression"] = where
    pages = dynamodb.get_paginator("query").paginate(**request)
    return [from_item(item) for page in pages for item in page["Items"]]


def query_page(
    dynamodb: Any,
    table: str,
    partition: str,
    prefix: str,
    limit: int,
    after: str | None,
    *,
    newest_first: bool = False,
    names: dict[str, str] | None = None,
    projection: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the partition's items whose sort key starts with `prefix`: up to `limit`, in
    sort-key order (`newest_first`: the reverse), after the item whose sort key is `prefix` +
    `after`; and the last one's sort key less `prefix` if more may follow (the next page's
    `after`). Strongly consistent; `projection` trims the items."""
    request = _prefix_query(table, partition, prefix, names, projection, consistent=True)
    request |= {"Limit": limit, "ScanIndexForward": not newest_first}
    if after is not None:
        request["ExclusiveStartKey"] = to_item({"PK": partition, "SK": f"{prefix}{after}"})
    response = dynamodb.query(**request)
    last = response.get("LastEvaluatedKey")
    return [from_item(item) for item in response["Items"]], (
        from_item(last)["SK"].removeprefix(prefix) if last else None
    )


def _prefix_query(
    table: str,
    partition: str,
    prefix: str,
    names: dict[str, str] | None,
    projection: str | None,
    consistent: bool,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
        "ExpressionAttributeValues": {":pk": value(partition), ":prefix": value(prefix)},
        "ConsistentRead": consistent,
    }
    if projection:
        request["ProjectionExpression"] = projection
    if names:
        request["ExpressionAttributeNames"] = names
    return request


def batch_get(
    dynamodb: Any,
    table: str,
    keys: list[dict[str, str]],
    *,
    projection: str | None = None,
    names: dict[str, str] | None = None,
    consistent: bool = True,
    attempts: int = 6,
) -> list[dict[str, Any]]:
    """The items at `keys` that exist, as plain Python, in no particular order: 100 keys a request,
    and what DynamoDB leaves unprocessed (a busy partition, a response over 16 MB) asked again
    after a short wait; still left after `attempts` tries, ServiceUnavailable (503)."""
    found: list[dict[str, Any]] = []
    unique = list({tuple(sorted(key.items())): key for key in keys}.values())  # a key twice is refused
    for start in range(0, len(unique), BATCH_GET_KEYS):
        asked: dict[str, Any] = {"Keys": [to_item(key) for key in unique[start : start + BATCH_GET_KEYS]]}
        asked["ConsistentRead"] = consistent
        if projection:
            asked["ProjectionExpression"] = projection
        if names:
            asked["ExpressionAttributeNames"] = names
        request: dict[str, Any] = {table: asked}
        for attempt in range(attempts):
            response = dynamodb.batch_get_item(RequestItems=request)
            found += [from_item(item) for item in response["Responses"].get(table, [])]
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 - jitter, not secrecy
        else:
            raise ServiceUnavailable()
    return found


def batch_delete(dynamodb: Any, table: str, keys: list[dict[str, str]], attempts: int = 6) -> None:
    """Delete the items at `keys` (those that exist), 25 a request, what DynamoDB leaves
    unprocessed asked again after a short wait; still left after `attempts` tries, ServiceUnavailable."""
    for start in range(0, len(keys), BATCH_WRITE_ITEMS):
        batch = [{"DeleteRequest": {"Key": to_item(key)}} for key in keys[start : start + BATCH_WRITE_ITEMS]]
        request: dict[str, Any] = {table: batch}
        for attempt in range(attempts):
            request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                break
            time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 - jitter, not secrecy
        else:
            raise ServiceUnavailable()


class TransactionCancelled(Exception):
    """A cancelled transaction and why each of its items failed ('None' where it did not)."""

    def __init__(self, error: ClientError, codes: list[str]) -> None:
        super().__init__(str(error))
        self.error = error
        self.codes = codes

    def failed(self, index: int) -> bool:
        """Whether the condition of item `index` failed."""
        return index < len(self.codes) and self.codes[index] == "ConditionalCheckFailed"


def transact(dynamodb: Any, items: list[dict[str, Any]], attempts: int = 4) -> None:
    """Write all items or none; TransactionCancelled says which conditions failed.

    DynamoDB also cancels a transaction that races another on the same item
    (TransactionConflict, no condition failed): that one is retried after a short wait.
    """
    for attempt in range(attempts):
        try:
            dynamodb.transact_write_items(TransactItems=items)
            return
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            codes = [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]
            if "TransactionConflict" in codes and "ConditionalCheckFailed" not in codes and attempt < attempts - 1:
                time.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 - jitter, not secrecy
                continue
            raise TransactionCancelled(error, codes) from error


def _decimals(python_value: Any) -> Any:
    if isinstance(python_value, float):
        return Decimal(str(python_value))
    if isinstance(python_value, dict):
        return {key: _decimals(item) for key, item in python_value.items()}
    if isinstance(python_value, list | tuple):
        return [_decimals(item) for item in python_value]
    return python_value


def _numbers(python_value: Any) -> Any:
    if isinstance(python_value, Decimal):
        return int(python_value) if python_value == python_value.to_integral_value() else float(python_value)
    if isinstance(python_value, dict):
        return {key: _numbers(item) for key, item in python_value.items()}
    if isinstance(python_value, list):
        return [_numbers(item) for item in python_value]
    return python_value
