"""File records and each tenant's storage quota, in the platform's DynamoDB table.

A record and its quota reservation are written in one transaction, and so are a deletion and
its release: the tenant's `bytes_used` and `file_count` are exact under any concurrency, and a
tenant over its quota is refused before a single byte is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chalicelib import keys
from chalicelib.aws.dynamo import TransactionCancelled, from_item, to_item, transact, value
from chalicelib.errors import Conflict, PayloadTooLarge
from chalicelib.files.records import FileRecord, Status
from chalicelib.tenancy.store import now


@dataclass(frozen=True)
class Quota:
    bytes: int
    files: int


@dataclass(frozen=True)
class Usage:
    bytes: int
    files: int


class QuotaExceeded(PayloadTooLarge):
    code = "quota_exceeded"
    message = "Your tenant's storage quota is used up: delete files to make room."


class FileStore:
    def __init__(self, dynamodb: Any, table: str, default_quota: Quota) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._default_quota = default_quota

    def quota(self, tenant_id: str) -> tuple[Quota, Usage]:
        """The tenant's quota (its own override, else the default) and what it uses now."""
        item = self._get(keys.tenant(tenant_id)) or {}
        quota = Quota(
            bytes=item.get("quota_bytes", self._default_quota.bytes),
            files=item.get("quota_files", self._default_quota.files),
        )
        return quota, Usage(bytes=item.get("bytes_used", 0), files=item.get("file_count", 0))

    def create(self, record: FileRecord) -> None:
        """Store a new record and reserve its size and one file of the tenant's quota, or neither."""
        quota, _ = self.quota(record.tenant_id)
        if record.size > quota.bytes:
            raise QuotaExceeded(message=f"The file is larger than your tenant's whole quota ({quota.bytes} bytes).")
        charge = {
            "Update": {
                "TableName": self._table,
                "Key": to_item(keys.tenant(record.tenant_id)),
                "UpdateExpression": "ADD bytes_used :size, file_count :one",
                # No arithmetic in conditions: compare what is used now with the room left.
                "ConditionExpression": (
                    "attribute_exists(PK) AND bytes_used <= :bytes_room AND file_count <= :files_room"
                ),
                "ExpressionAttributeValues": {
                    ":size": value(record.size),
                    ":one": value(1),
                    ":bytes_room": value(quota.bytes - record.size),
                    ":files_room": value(quota.files - 1),
                },
            }
        }
        try:
            transact(self._dynamodb, [self._put_record(record, "attribute_not_exists(PK)"), charge])
        except TransactionCancelled as cancelled:
            if cancelled.failed(1):
                raise QuotaExceeded() from cancelled.error
            raise

    def get(self, tenant_id: str, file_id: str) -> FileRecord | None:
        item = self._get(keys.file(tenant_id, file_id))
        return FileRecord.from_fields(item) if item else None

    def page(self, tenant_id: str, limit: int, after: str | None) -> tuple[list[FileRecord], str | None]:
        """Up to `limit` records, newest first, after the file id `after`; and the last id if more may follow."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :file)",
            "ExpressionAttributeValues": {
                ":pk": value(keys.tenant_partition(tenant_id)),
                ":file": value(keys.FILE_PREFIX),
            },
            "ScanIndexForward": False,
            "Limit": limit,
            "ConsistentRead": True,
        }
        if after is not None:
            query["ExclusiveStartKey"] = to_item(keys.file(tenant_id, after))
        response = self._dynamodb.query(**query)
        records = [FileRecord.from_fields(from_item(item)) for item in response["Items"]]
        last = response.get("LastEvaluatedKey")
        return records, (from_item(last)["SK"].removeprefix(keys.FILE_PREFIX) if last else None)

    def uploading(self, tenant_id: str) -> list[FileRecord]:
        """The tenant's records still waiting for their bytes."""
        paginator = self._dynamodb.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :file)",
            FilterExpression="#status = :uploading",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":pk": value(keys.tenant_partition(tenant_id)),
                ":file": value(keys.FILE_PREFIX),
                ":uploading": value(Status.UPLOADING.value),
            },
        )
        return [FileRecord.from_fields(from_item(item)) for page in pages for item in page["Items"]]

    def update_upload(self, record: FileRecord) -> FileRecord:
        """Save a changed upload (new part URLs extend its deadline) of a record still uploading."""
        updated = replace(record, updated_at=now())
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=to_item({**keys.file(record.tenant_id, record.file_id), **updated.to_fields()}),
                ConditionExpression="#status = :uploading AND deleting = :false",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":uploading": value(Status.UPLOADING.value), ":false": value(False)},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException as error:
            raise Conflict("upload_finished", "This upload has finished or is being deleted.") from error
        return updated

    def mark_deleting(self, tenant_id: str, file_id: str) -> FileRecord | None:
        """Flag the record as being deleted (ingest then stops short); None if there is no record."""
        try:
            response = self._dynamodb.update_item(
                TableName=self._table,
                Key=to_item(keys.file(tenant_id, file_id)),
                UpdateExpression="SET deleting = :true",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":true": value(True)},
                ReturnValues="ALL_NEW",
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return None
        return FileRecord.from_fields(from_item(response["Attributes"]))

    def delete(self, record: FileRecord) -> None:
        """Remove the record and its table name, and give its quota back; once only."""
        items: list[dict[str, Any]] = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": to_item(keys.file(record.tenant_id, record.file_id)),
                    "ConditionExpression": "attribute_exists(PK)",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": to_item(keys.tenant(record.tenant_id)),
                    "UpdateExpression": "ADD bytes_used :size, file_count :one",
                    "ExpressionAttributeValues": {":size": value(-record.size), ":one": value(-1)},
                }
            },
        ]
        if record.table:
            items.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": to_item(keys.table(record.tenant_id, record.table)),
                        "ConditionExpression": "attribute_not_exists(PK) OR file_id = :file_id",
                        "ExpressionAttributeValues": {":file_id": value(record.file_id)},
                    }
                }
            )
        try:
            transact(self._dynamodb, items)
        except TransactionCancelled as cancelled:
            if not cancelled.failed(0):
                raise
            # Deleted meanwhile by another request: its quota was given back there.

    def tables(self, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's tables (one per READY file), by name."""
        paginator = self._dynamodb.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :table)",
            ExpressionAttributeValues={
                ":pk": value(keys.tenant_partition(tenant_id)),
                ":table": value(keys.TABLE_PREFIX),
            },
            ConsistentRead=True,
        )
        return [from_item(item) for page in pages for item in page["Items"]]

    def _put_record(self, record: FileRecord, condition: str) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item({**keys.file(record.tenant_id, record.file_id), **record.to_fields()}),
                "ConditionExpression": condition,
            }
        }

    def _get(self, key: dict[str, str]) -> dict[str, Any] | None:
        item = self._dynamodb.get_item(TableName=self._table, Key=to_item(key), ConsistentRead=True).get("Item")
        return from_item(item) if item else None
