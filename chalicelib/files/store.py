"""File records and each tenant's storage quota, in the platform's DynamoDB table.

A record and its quota reservation are written in one transaction, and so are a deletion and
its release: the tenant's `bytes_used` and `file_count` are exact under any concurrency, and a
tenant over its quota is refused before a single byte is stored.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from chalicelib import keys
from chalicelib.aws.dynamo import (
    BATCH_GET_KEYS,
    TransactionCancelled,
    batch_get,
    from_item,
    query_prefix,
    to_item,
    transact,
    value,
)
from chalicelib.errors import Conflict, PayloadTooLarge
from chalicelib.files.records import FileRecord, IngestClaim, Status
from chalicelib.times import now


@dataclass(frozen=True)
class Quota:
    bytes: int
    files: int


# Every table name is of these characters (chalicelib/ingest/naming.py), well under a key's 1 KiB.
TABLE_NAME = re.compile(r"[a-z0-9_]{1,255}")


@dataclass(frozen=True)
class PublishedTable:
    """A table a query may read: a READY file's, with what its record holds."""

    name: str
    file_id: str
    columns: list[dict[str, str]]
    row_count: int
    version: str  # the ingest that published it (its claim's token): published again, it has another


class QuotaExceeded(PayloadTooLarge):
    code = "quota_exceeded"
    message = "Your tenant's storage quota is used up: delete files to make room."


class FileStore:
    def __init__(self, dynamodb: Any, table: str, default_quota: Quota) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._default_quota = default_quota

    def quota(self, tenant_id: str) -> Quota:
        """The tenant's quota: its own override, else the default."""
        item = self._get(keys.tenant(tenant_id)) or {}
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
                self._dynamodb, [self._put_record(record, "attribute_not_exists(PK)"), charge, self._listed(record)]
            )
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
        """The tenant's records still waiting for their bytes: read from their `UPLOADING#` entries,
        which come and go with the wait in the same transactions as the record, so that this costs
        what waits, not what the tenant holds.

        Records stored before the entries existed have none: the first time a tenant asks (its
        tenant item has no `uploads_listed` yet), its records are read once the old way, each still
        waiting gets its entry, and the tenant is marked."""
        if not (self._get(keys.tenant(tenant_id), projection="uploads_listed") or {}).get("uploads_listed"):
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
        """Remove the record and give its quota back; once only. Its table names go first (`withdraw`)."""
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
                self._dynamodb, [self._put_record(record, "attribute_not_exists(PK)"), charge, self._listed(record)]
            )
        except TransactionCancelled:
            return None
        return record

    def claim(self, record: FileRecord, claim: IngestClaim, size: int) -> FileRecord | None:
        """Take the record for ingesting object version `claim.etag`, as PROCESSING; None if another
        attempt holds it, that version is done already, or the file is being deleted. A record
        that keeps its first version (`Upload.keeps_first_version`) is claimed for one version
        only, `claim.version_id`: once, and again only to take over an attempt whose lease ran out.

        The object's real size replaces the declared one, and the quota follows the difference.
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

    def take_table_name(self, claimed: FileRecord, base: str) -> str | None:
        """A name for the claimed file's table, unique in the tenant and now held by the file; None
        if the attempt no longer holds the record (the file is being deleted, or a newer attempt
        took over), and then no name is taken.

        `base` if it is free or the file's already; else a name of that base the file holds from
        an earlier attempt; else `base_N`, N the next of the base's suffix counter (2, 3, …), and
        the next again only if that very name is taken (a file named `sales_7.csv`). So a name
        costs a few writes however many of its base the tenant holds. A counter starts at 1 (the
        base) whenever it is first needed, even where names of that base were taken before it
        existed: those are then stepped over once.

        The `TABLE#` item and the record's `table_names` are written together, so that the record
        always knows every name its file holds (`table_names`), and the entry only holds the name:
        the record says whether the table is there and what it holds (`finish`, `published`).
        """
        own = sorted((name for name in claimed.table_names if _numbered(name, base)), key=_suffix)
        for name in (base, *own):
            taken = self._take(claimed, name)
            if taken is not False:
                return name if taken else None
        while True:
            name = f"{base}_{self._next_suffix(claimed.tenant_id, base)}"
            taken = self._take(claimed, name)
            if taken is not False:
                return name if taken else None

    def _take(self, claimed: FileRecord, name: str) -> bool | None:
        """Take `name` for the claimed file: True if it is the file's now, False if another file
        holds it, None if the attempt no longer holds the record."""
        assert claimed.ingest is not None
        file_key = keys.file(claimed.tenant_id, claimed.file_id)
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item({**keys.table(claimed.tenant_id, name), "name": name, "file_id": claimed.file_id}),
                    "ConditionExpression": "attribute_not_exists(PK) OR file_id = :file_id",
                    "ExpressionAttributeValues": {":file_id": value(claimed.file_id)},
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": to_item(file_key),
                    "UpdateExpression": "ADD table_names :name",
                    "ConditionExpression": "attribute_exists(PK) AND deleting = :false AND ingest.#token = :token",
                    "ExpressionAttributeNames": {"#token": "token"},
                    "ExpressionAttributeValues": {
                        ":name": value({name}),
                        ":false": value(False),
                        ":token": value(claimed.ingest.token),
                    },
                }
            },
        ]
        try:
            transact(self._dynamodb, items)
        except TransactionCancelled as cancelled:
            if cancelled.failed(1):
                return None
            if cancelled.failed(0):
                return False
            raise
        return True

    def _next_suffix(self, tenant_id: str, base: str) -> int:
        """The base's next suffix: 2 the first time, then one more each time (atomic)."""
        response = self._dynamodb.update_item(
            TableName=self._table,
            Key=to_item(keys.table_suffix(tenant_id, base)),
            UpdateExpression="SET last_suffix = if_not_exists(last_suffix, :one) + :one",
            ExpressionAttributeValues={":one": value(1)},
            ReturnValues="UPDATED_NEW",
        )
        return int(from_item(response["Attributes"])["last_suffix"])

    def table_names(self, tenant_id: str, file_id: str) -> list[str]:
        """Every table name the file holds: its table's, and any an ingest took and did not get to
        use; read from its record alone (a record stored before the record kept them gives its
        table's name)."""
        item = self._dynamodb.get_item(
            TableName=self._table,
            Key=to_item(keys.file(tenant_id, file_id)),
            ConsistentRead=True,
            ProjectionExpression="table_names, #table",
            ExpressionAttributeNames={"#table": "table"},
        ).get("Item")
        if not item:
            return []
        fields = from_item(item)
        return sorted(set(fields.get("table_names", ())) | ({fields["table"]} if fields.get("table") else set()))

    def release_table_name(self, tenant_id: str, name: str, file_id: str) -> None:
        """Free the name, if this file still holds it, and strike it from the file's record (in one
        transaction: a name the record lists is always the file's)."""
        items = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": to_item(keys.table(tenant_id, name)),
                    "ConditionExpression": "file_id = :file_id",
                    "ExpressionAttributeValues": {":file_id": value(file_id)},
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": to_item(keys.file(tenant_id, file_id)),
                    "UpdateExpression": "DELETE table_names :name",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": {":name": value({name})},
                }
            },
        ]
        try:
            transact(self._dynamodb, items)
        except TransactionCancelled as cancelled:
            if not (cancelled.failed(0) or cancelled.failed(1)):
                raise
            # Not the file's name (any more), or no record: nothing of it to free.

    def finish(self, claimed: FileRecord, ready: FileRecord) -> bool:
        """Mark the claimed record READY with what ingest found, which publishes its table (the
        record is what `published` reads); False if the claim was lost meanwhile (the file is being
        deleted, or a newer version came)."""
        assert ready.table is not None
        changes = {
            "status": Status.READY.value,
            "format": ready.format,
            "compression": ready.compression,
            "sha256": ready.sha256,
            "row_count": ready.row_count,
            "columns": ready.columns,
            "table": ready.table,
            "error": None,
            "notes": ready.notes,
            "updated_at": ready.updated_at,
        }
        still_named = {  # the name must still be this file's (a failed attempt may have released it)
            "ConditionCheck": {
                "TableName": self._table,
                "Key": to_item(keys.table(claimed.tenant_id, ready.table)),
                "ConditionExpression": "file_id = :file_id",
                "ExpressionAttributeValues": {":file_id": value(claimed.file_id)},
            }
        }
        return self._settle(claimed, changes, also=[still_named])

    def fail(self, claimed: FileRecord, code: str, message: str, found: FileRecord | None = None) -> bool:
        """Mark the claimed record FAILED with a reason (it no longer names a table), keeping what
        ingest did learn of the file (`found`: its hash, format); False if the claim was lost."""
        changes = {
            "status": Status.FAILED.value,
            "error": {"code": code, "message": message},
            "table": None,
            "columns": [],
            "row_count": None,
            "sha256": found.sha256 if found else None,
            "format": found.format if found else None,
            "compression": found.compression if found else None,
            "notes": found.notes if found else [],
            "updated_at": now(),
        }
        return self._settle(claimed, changes)

    def _settle(self, claimed: FileRecord, changes: dict[str, Any], also: list[dict[str, Any]] | None = None) -> bool:
        """Write an ingest's outcome (a None value removes the attribute), only while that very
        attempt still holds the record."""
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
        update = {
            "Update": {
                "TableName": self._table,
                "Key": to_item(keys.file(claimed.tenant_id, claimed.file_id)),
                "UpdateExpression": f"SET {', '.join(sets)}" + (f" REMOVE {', '.join(removes)}" if removes else ""),
                "ConditionExpression": "attribute_exists(PK) AND deleting = :false AND ingest.#token = :token",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        try:
            transact(self._dynamodb, [update, *(also or [])])
        except TransactionCancelled as cancelled:
            if cancelled.failed(0):
                return False
            raise
        return True

    def published(self, tenant_id: str, names: Sequence[str]) -> dict[str, PublishedTable]:
        """Those of `names` that are tables now, by name, each looked up by its name alone: its
        `TABLE#` item says which file holds it, that file's record whether it is published
        (strongly consistent reads, 100 names a batch, in the order given). A batch with a name
        that is no table is the last read: a query naming it is refused at that name, whatever
        follows. A name no table can have is not asked for (a key can be 1 KiB at most).
        """
        found: dict[str, PublishedTable] = {}
        unique = list(dict.fromkeys(names))
        for start in range(0, len(unique), BATCH_GET_KEYS):
            batch = unique[start : start + BATCH_GET_KEYS]
            askable = list(itertools.takewhile(TABLE_NAME.fullmatch, batch))
            entries = batch_get(
                self._dynamodb,
                self._table,
                [keys.table(tenant_id, name) for name in askable],
                projection="#name, file_id",
                names={"#name": "name"},
            )
            tables = self._published(tenant_id, [(entry["name"], entry["file_id"]) for entry in entries])
            found |= {table.name: table for table in tables}
            if len(tables) < len(batch):
                break
        return found

    def table_page(self, tenant_id: str, limit: int, after: str | None) -> tuple[list[PublishedTable], str | None]:
        """Up to `limit` tables in name order, after the name `after`; and the last name read if
        more may follow. Names of files that are not (or no longer) READY are passed over, and
        reading goes on until `limit` tables or the end: a page costs what it shows, and the
        few names taken by files still being ingested or left by a failed attempt."""
        tables: list[PublishedTable] = []
        while True:
            query: dict[str, Any] = {
                "TableName": self._table,
                "KeyConditionExpression": "PK = :pk AND begins_with(SK, :table)",
                "ExpressionAttributeValues": {
                    ":pk": value(keys.tenant_partition(tenant_id)),
                    ":table": value(keys.TABLE_PREFIX),
                },
                "ProjectionExpression": "#name, file_id",
                "ExpressionAttributeNames": {"#name": "name"},
                "Limit": limit - len(tables),
                "ConsistentRead": True,
            }
            if after is not None:
                query["ExclusiveStartKey"] = to_item(keys.table(tenant_id, after))
            response = self._dynamodb.query(**query)
            entries = [(entry["name"], entry["file_id"]) for entry in map(from_item, response["Items"])]
            tables += self._published(tenant_id, entries)
            last = response.get("LastEvaluatedKey")
            if last is None:
                return tables, None
            after = from_item(last)["SK"].removeprefix(keys.TABLE_PREFIX)
            if len(tables) >= limit:
                return tables, after

    def _published(self, tenant_id: str, entries: list[tuple[str, str]]) -> list[PublishedTable]:
        """The names (with the file each `TABLE#` item names) whose file's record publishes them:
        READY, not being deleted, and giving that name. A name's item is taken before its file is
        READY (and kept by a file being ingested again, or left by an ingest that failed midway),
        so the item alone does not make a table; a READY record always holds the item of the name
        it gives (`finish` checks it in the same transaction, and a name is released only once its
        record is no longer READY or is being deleted)."""
        records = batch_get(
            self._dynamodb,
            self._table,
            [keys.file(tenant_id, file_id) for file_id in {file_id for _, file_id in entries}],
            projection="file_id, #status, deleting, #table, #columns, row_count, ingest.#token",
            names={"#status": "status", "#table": "table", "#columns": "columns", "#token": "token"},
        )
        by_id = {record["file_id"]: record for record in records}
        tables = []
        for name, file_id in entries:
            record = by_id.get(file_id)
            if (
                record is not None
                and record["status"] == Status.READY.value
                and not record.get("deleting", False)
                and record.get("table") == name
            ):
                tables.append(
                    PublishedTable(name, file_id, record["columns"], record["row_count"], record["ingest"]["token"])
                )
        return tables

    def still_published(self, tenant_id: str, file_id: str, version: str) -> dict[str, Any]:
        """A transaction item that holds only while the file's table is the one ingest attempt
        `version` published: READY, not being deleted, not published again since."""
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": to_item(keys.file(tenant_id, file_id)),
                "ConditionExpression": "#status = :ready AND deleting = :false AND ingest.#token = :version",
                "ExpressionAttributeNames": {"#status": "status", "#token": "token"},
                "ExpressionAttributeValues": {
                    ":ready": value(Status.READY.value),
                    ":false": value(False),
                    ":version": value(version),
                },
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

    def _get(self, key: dict[str, str], projection: str | None = None) -> dict[str, Any] | None:
        request: dict[str, Any] = {"TableName": self._table, "Key": to_item(key), "ConsistentRead": True}
        if projection:
            request["ProjectionExpression"] = projection
        item = self._dynamodb.get_item(**request).get("Item")
        return from_item(item) if item else None


def _numbered(name: str, base: str) -> bool:
    """Whether `name` is `base` with a number suffix (`sales_7` of `sales`)."""
    return name.startswith(f"{base}_") and name[len(base) + 1 :].isdigit()


def _suffix(name: str) -> int:
    return int(name.rsplit("_", 1)[1])
