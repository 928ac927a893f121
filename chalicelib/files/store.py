"""File records and each tenant's storage quota, in the platform's DynamoDB table (tables are
files/tables.py's).

A record and its quota reservation are written in one transaction, and so are a deletion and
its release: the tenant's `bytes_used` and `file_count` are exact under any concurrency, and a
tenant over its quota is refused before a single byte is stored.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from typing import Any

from chalicelib import keys
from chalicelib.aws.dynamo import (
    TransactionCancelled,
    batch_get,
    from_item,
    get_item,
    query_page,
    query_prefix,
    to_item,
    transact,
    value,
)
from chalicelib.errors import Conflict, PayloadTooLarge
from chalicelib.files.records import FileRecord, IngestClaim, Status
from chalicelib.files.search import Search, SearchIndex
from chalicelib.times import now


@dataclass(frozen=True)
class Quota:
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
        self._index = SearchIndex(dynamodb, table, keys.SEARCH_PREFIX)

    def quota(self, tenant_id: str) -> Quota:
        """The tenant's quota: its own override, else the default."""
        return self.quota_of(get_item(self._dynamodb, self._table, keys.tenant(tenant_id)) or {})

    def quota_of(self, item: dict[str, Any]) -> Quota:
        """The quota of the tenant whose item this is."""
        return Quota(
            bytes=item.get("quota_bytes", self._default_quota.bytes),
            files=item.get("quota_files", self._default_quota.files),
        )

    def create(self, record: FileRecord) -> None:
        """Store a new record and reserve its size and one file of the tenant's quota, or neither."""
        quota = self.quota(record.tenant_id)
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
            transact(
                self._dynamodb,
                [
                    self._put_record(record, "attribute_not_exists(PK)"),
                    charge,
                    self._listed(record),
                    self.indexed(record),
                ],
            )
        except TransactionCancelled as cancelled:
            if cancelled.failed(1):
                raise QuotaExceeded() from cancelled.error
            raise

    def get(self, tenant_id: str, file_id: str) -> FileRecord | None:
        item = get_item(self._dynamodb, self._table, keys.file(tenant_id, file_id))
        return FileRecord.from_fields(item) if item else None

    def page(
        self, tenant_id: str, limit: int, after: str | None, search: Search | None = None
    ) -> tuple[list[FileRecord], str | None]:
        """Up to `limit` records (those `search` finds, if given), newest first, after the file id
        `after`; and the last id if more may follow."""
        if search is not None:
            found, last = self._index.find(tenant_id, search, limit, after, newest_first=True)
            records = batch_get(self._dynamodb, self._table, [keys.file(tenant_id, file_id) for file_id in found])
            by_id = {record["file_id"]: FileRecord.from_fields(record) for record in records}
            return [by_id[file_id] for file_id in found if file_id in by_id], last
        items, last = query_page(
            self._dynamodb,
            self._table,
            keys.tenant_partition(tenant_id),
            keys.FILE_PREFIX,
            limit,
            after,
            newest_first=True,
        )
        return [FileRecord.from_fields(item) for item in items], last

    def indexed(self, record: FileRecord) -> dict[str, Any]:
        """A transaction item that writes the record's search entry as the record now stands."""
        return self._index.put(record.tenant_id, record.file_id, record.search_entry())

    def uploading(self, tenant_id: str) -> list[FileRecord]:
        """The tenant's records still waiting for their bytes: read from their `UPLOADING#` entries,
        which come and go with the wait in the same transactions as the record, so that this costs
        what waits, not what the tenant holds.

        Records stored before the entries existed have none: the first time a tenant asks (its
        tenant item has no `uploads_listed` yet), its records are read once the old way, each still
        waiting gets its entry, and the tenant is marked."""
        tenant = get_item(self._dynamodb, self._table, keys.tenant(tenant_id), projection="uploads_listed")
        if not (tenant or {}).get("uploads_listed"):
            return self._list_uploading(tenant_id)
        entries = query_prefix(self._dynamodb, self._table, keys.tenant_partition(tenant_id), keys.UPLOADING_PREFIX)
        file_ids = [entry["SK"].removeprefix(keys.UPLOADING_PREFIX) for entry in entries]
        records = batch_get(self._dynamodb, self._table, [keys.file(tenant_id, file_id) for file_id in file_ids])
        return [
            record
            for record in map(FileRecord.from_fields, records)
            if record.status is Status.UPLOADING  # so it is, by the transactions that write both
        ]

    def _list_uploading(self, tenant_id: str) -> list[FileRecord]:
        """Read every record of the tenant once, and give each still waiting its entry (only while
        it still waits: a claim meanwhile has taken it off)."""
        items = query_prefix(
            self._dynamodb,
            self._table,
            keys.tenant_partition(tenant_id),
            keys.FILE_PREFIX,
            where="#status = :uploading",
            values={":uploading": Status.UPLOADING.value},
            names={"#status": "status"},
        )
        records = [FileRecord.from_fields(item) for item in items]
        for record in records:
            still_waiting = {
                "ConditionCheck": {
                    "TableName": self._table,
                    "Key": to_item(keys.file(tenant_id, record.file_id)),
                    "ConditionExpression": "#status = :uploading",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":uploading": value(Status.UPLOADING.value)},
                }
            }
            with contextlib.suppress(TransactionCancelled):  # claimed or deleted meanwhile
                transact(self._dynamodb, [still_waiting, self._listed(record)])
        self._dynamodb.update_item(
            TableName=self._table,
            Key=to_item(keys.tenant(tenant_id)),
            UpdateExpression="SET uploads_listed = :true",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":true": value(True)},
        )
        return records

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
        """Remove the record and give its quota back; once only. Its partitions go first (`withdraw`)."""
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
        if record.status is Status.UPLOADING:  # a record never goes back to UPLOADING once claimed
            items.append(self._unlisted(record))
        items.append(self._index.remove(record.tenant_id, record.file_id))
        try:
            transact(self._dynamodb, items)
        except TransactionCancelled as cancelled:
            if not cancelled.failed(0):
                raise
            # Deleted meanwhile by another request: its quota was given back there.

    def record_unannounced(self, record: FileRecord) -> FileRecord | None:
        """Record an object that arrived without an upload through the API. Its bytes are stored
        already, so its quota is charged whatever is left; None if the tenant does not exist or
        a record appeared meanwhile."""
        charge = {
            "Update": {
                "TableName": self._table,
                "Key": to_item(keys.tenant(record.tenant_id)),
                "UpdateExpression": "ADD bytes_used :size, file_count :one",
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeValues": {":size": value(record.size), ":one": value(1)},
            }
        }
        try:
            transact(
                self._dynamodb,
                [
                    self._put_record(record, "attribute_not_exists(PK)"),
                    charge,
                    self._listed(record),
                    self.indexed(record),
                ],
            )
        except TransactionCancelled:
            return None
        return record

    def claim(self, record: FileRecord, claim: IngestClaim, size: int) -> FileRecord | None:
        """Take the record for ingesting object version `claim.etag`, as PROCESSING; None if another
        attempt holds it, that version is done already, or the file is being deleted. A record
        that keeps its first version (`Upload.keeps_first_version`) is claimed for one version
        only, `claim.version_id`: once, and again only to take over an attempt whose lease ran out.

        `size` becomes the record's size (a version written over the file brings its own), and the
        quota follows the difference.
        """
        if record.upload.keeps_first_version:
            taken = "(#ingest.#version = :version AND #status = :processing AND #ingest.#lease < :now)"
            names, values = {"#version": "version_id"}, {":version": value(claim.version_id)}
        else:
            taken = "#ingest.#etag <> :etag OR (#status = :processing AND #ingest.#lease < :now)"
            names, values = {"#etag": "etag"}, {":etag": value(claim.etag)}
        condition = f"attribute_exists(PK) AND #deleting = :false AND (attribute_not_exists(#ingest) OR {taken})"
        claimed = replace(record, status=Status.PROCESSING, ingest=claim, size=size, error=None, updated_at=now())
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": to_item(keys.file(record.tenant_id, record.file_id)),
                    "UpdateExpression": (
                        "SET #status = :processing, #ingest = :claim, #size = :size, #updated = :at "
                        "REMOVE #error ADD #claims :one"
                    ),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {
                        "#status": "status",
                        "#error": "error",
                        "#size": "size",
                        "#updated": "updated_at",
                        "#deleting": "deleting",
                        "#ingest": "ingest",
                        "#lease": "lease_until",
                        "#claims": "claims",
                    }
                    | names,
                    "ExpressionAttributeValues": {
                        ":processing": value(Status.PROCESSING.value),
                        ":claim": value(claimed.to_fields()["ingest"]),
                        ":size": value(size),
                        ":at": value(claimed.updated_at),
                        ":false": value(False),
                        ":now": value(int(time.time())),
                        ":one": value(1),
                    }
                    | values,
                }
            }
        ]
        if record.status is Status.UPLOADING:  # waiting no more: off the list
            items.append(self._unlisted(record))
        if record.status is not Status.PROCESSING:
            items.append(self.indexed(claimed))
        if size != record.size:
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_item(keys.tenant(record.tenant_id)),
                        "UpdateExpression": "ADD bytes_used :delta",
                        "ExpressionAttributeValues": {":delta": value(size - record.size)},
                    }
                }
            )
        try:
            transact(self._dynamodb, items)
        except TransactionCancelled as cancelled:
            if cancelled.failed(0):
                return None
            raise
        return claimed

    def release(self, claimed: FileRecord) -> None:
        """Give up a claim that failed, so that the queue's next delivery may take over at once."""
        assert claimed.ingest is not None
        with contextlib.suppress(self._dynamodb.exceptions.ConditionalCheckFailedException):
            self._dynamodb.update_item(
                TableName=self._table,
                Key=to_item(keys.file(claimed.tenant_id, claimed.file_id)),
                UpdateExpression="SET #ingest.#lease = :expired",
                ConditionExpression="#ingest.#token = :token",
                ExpressionAttributeNames={"#ingest": "ingest", "#lease": "lease_until", "#token": "token"},
                ExpressionAttributeValues={":expired": value(0), ":token": value(claimed.ingest.token)},
            )

    def still_held(self, claimed: FileRecord) -> FileRecord | None:
        """The record as it is now, if the attempt that claimed it still holds it (and it is not
        being deleted); its `claims` then counts this attempt's claim as the latest."""
        assert claimed.ingest is not None
        current = self.get(claimed.tenant_id, claimed.file_id)
        held = current is not None and not current.deleting and current.held_by(claimed.ingest.token)
        return current if held else None

    def ready_update(self, claimed: FileRecord, ready: FileRecord) -> dict[str, Any]:
        """The transaction item that marks the claimed record READY with what ingest found, only
        while that very attempt holds it: the table's own items go in the same transaction
        (files/tables.py `commit`)."""
        return self._settle_item(
            claimed,
            {
                "status": Status.READY.value,
                "format": ready.format,
                "compression": ready.compression,
                "sha256": ready.sha256,
                "row_count": ready.row_count,
                "columns": ready.columns,
                "table": ready.table,
                "drift": ready.drift,
                "error": None,
                "notes": ready.notes,
                "updated_at": ready.updated_at,
            },
        )

    def fail(self, claimed: FileRecord, code: str, message: str, found: FileRecord | None = None) -> bool:
        """Mark the claimed record FAILED with a reason (it no longer names a table), keeping what
        ingest did learn of the file (`found`: its hash, format); False if the claim was lost."""
        changes = {
            "status": Status.FAILED.value,
            "error": {"code": code, "message": message},
            "table": None,
            "drift": None,
            "columns": [],
            "row_count": None,
            "sha256": found.sha256 if found else None,
            "format": found.format if found else None,
            "compression": found.compression if found else None,
            "notes": found.notes if found else [],
            "updated_at": now(),
        }
        failed = replace(claimed, status=Status.FAILED, table=None, columns=[], format=changes["format"])
        return self._settle(claimed, changes, also=[self.indexed(failed)])

    def _settle(self, claimed: FileRecord, changes: dict[str, Any], also: list[dict[str, Any]]) -> bool:
        """Write an ingest's outcome (and `also` these items); False if the attempt no longer holds the record."""
        try:
            transact(self._dynamodb, [self._settle_item(claimed, changes), *also])
        except TransactionCancelled as cancelled:
            if cancelled.failed(0):
                return False
            raise
        return True

    def _settle_item(self, claimed: FileRecord, changes: dict[str, Any]) -> dict[str, Any]:
        """The update writing an ingest's outcome (a None value removes the attribute), which
        holds only while that very attempt holds the record."""
        assert claimed.ingest is not None
        names = {"#token": "token"}
        values = {":false": value(False), ":token": value(claimed.ingest.token)}
        sets, removes = [], []
        for index, (attribute, new) in enumerate(changes.items()):
            names[f"#a{index}"] = attribute
            if new is None:
                removes.append(f"#a{index}")
            else:
                values[f":v{index}"] = value(new)
                sets.append(f"#a{index} = :v{index}")
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_item(keys.file(claimed.tenant_id, claimed.file_id)),
                "UpdateExpression": f"SET {', '.join(sets)}" + (f" REMOVE {', '.join(removes)}" if removes else ""),
                "ConditionExpression": "attribute_exists(PK) AND deleting = :false AND ingest.#token = :token",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _put_record(self, record: FileRecord, condition: str) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_item({**keys.file(record.tenant_id, record.file_id), **record.to_fields()}),
                "ConditionExpression": condition,
            }
        }

    def _listed(self, record: FileRecord) -> dict[str, Any]:
        """A transaction item that lists a record waiting for its bytes (`uploading`)."""
        entry = {**keys.uploading(record.tenant_id, record.file_id), "file_id": record.file_id}
        return {"Put": {"TableName": self._table, "Item": to_item(entry)}}

    def _unlisted(self, record: FileRecord) -> dict[str, Any]:
        """A transaction item that takes a record off the list of those waiting for their bytes."""
        return {"Delete": {"TableName": self._table, "Key": to_item(keys.uploading(record.tenant_id, record.file_id))}}
