"""Each tenant's table names: which file holds a name, and which names are tables now.

A `TABLE#{name}` item holds a name for one file (names are unique in a tenant); the file's record
lists every name it holds (`table_names`) and, once READY, which one is its table (`table`). The
item alone does not make a table: a name is taken before its file is READY, kept by a file being
ingested again, or left by an ingest that failed midway. A name is a table while the record of the
file holding it is READY, not being deleted, and gives that name (`FileStore.finish` checks that
the name is still the file's in the same transaction: `name_still_held`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib import keys
from chalicelib.aws.dynamo import (
    BATCH_GET_KEYS,
    TransactionCancelled,
    batch_get,
    from_item,
    get_item,
    query_page,
    to_item,
    transact,
    value,
)
from chalicelib.files.records import FileRecord, Status

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

    def view(self) -> dict[str, Any]:
        """API.md's table entry (GET /tables)."""
        return {"table": self.name, "file_id": self.file_id, "columns": self.columns, "row_count": self.row_count}


@dataclass(frozen=True)
class StillPublished:
    """A condition for a transaction: the file's table is still the one ingest attempt `version`
    published (READY, not being deleted, not published again since)."""

    file_id: str
    version: str

    def check(self, table: str, tenant_id: str) -> dict[str, Any]:
        """The transaction item that holds only while this is so."""
        return {
            "ConditionCheck": {
                "TableName": table,
                "Key": to_item(keys.file(tenant_id, self.file_id)),
                "ConditionExpression": "#status = :ready AND deleting = :false AND ingest.#token = :version",
                "ExpressionAttributeNames": {"#status": "status", "#token": "token"},
                "ExpressionAttributeValues": {
                    ":ready": value(Status.READY.value),
                    ":false": value(False),
                    ":version": value(self.version),
                },
            }
        }


def name_still_held(table: str, tenant_id: str, name: str, file_id: str) -> dict[str, Any]:
    """A transaction item that holds only while `name` is the file's (a failed attempt may have
    released it)."""
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": to_item(keys.table(tenant_id, name)),
            "ConditionExpression": "file_id = :file_id",
            "ExpressionAttributeValues": {":file_id": value(file_id)},
        }
    }


class TableNames:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def take(self, claimed: FileRecord, base: str) -> str | None:
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

    def held_by(self, tenant_id: str, file_id: str) -> list[str]:
        """Every table name the file holds: its table's, and any an ingest took and did not get to
        use; read from its record alone (a record stored before the record kept them gives its
        table's name)."""
        fields = get_item(
            self._dynamodb,
            self._table,
            keys.file(tenant_id, file_id),
            projection="table_names, #table",
            names={"#table": "table"},
        )
        if not fields:
            return []
        return sorted(set(fields.get("table_names", ())) | ({fields["table"]} if fields.get("table") else set()))

    def release(self, tenant_id: str, name: str, file_id: str) -> None:
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

    def page(self, tenant_id: str, limit: int, after: str | None) -> tuple[list[PublishedTable], str | None]:
        """Up to `limit` tables in name order, after the name `after`; and the last name read if
        more may follow. Names of files that are not (or no longer) READY are passed over, and
        reading goes on until `limit` tables or the end: a page costs what it shows, and the
        few names taken by files still being ingested or left by a failed attempt."""
        tables: list[PublishedTable] = []
        while True:
            entries, after = query_page(
                self._dynamodb,
                self._table,
                keys.tenant_partition(tenant_id),
                keys.TABLE_PREFIX,
                limit - len(tables),
                after,
                projection="#name, file_id",
                names={"#name": "name"},
            )
            tables += self._published(tenant_id, [(entry["name"], entry["file_id"]) for entry in entries])
            if after is None or len(tables) >= limit:
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


def _numbered(name: str, base: str) -> bool:
    """Whether `name` is `base` with a number suffix (`sales_7` of `sales`)."""
    return name.startswith(f"{base}_") and name[len(base) + 1 :].isdigit()


def _suffix(name: str) -> int:
    return int(name.rsplit("_", 1)[1])
