"""Finding files and tables: by a piece of a name (the file's, its table's, a column's) and by
status, format or column type.

A tenant's files are indexed in SEARCH_BUCKETS items of its own (`SEARCH#{bucket}`), its tables in
as many more (`TABLE_SEARCH#{bucket}`): each entry is one attribute of its bucket item, named by
the file's id (the table's name), holding one short line of what a search looks at. An entry is
written in the same transaction as what it describes, so it is never behind it. A search reads the
tenant's buckets whole (a Query of its own partition: never a Scan, never another tenant's items)
and filters the lines here: on the local platform, reading a few large items costs a fraction of
reading every record, and in AWS a fraction of the read units. The files a page shows are then read
themselves, so a page is always what the records say.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib import keys
from chalicelib.aws.dynamo import to_item
from chalicelib.errors import BadRequest

FORMATS = ("csv", "tsv", "jsonl", "parquet")
STATUSES = ("UPLOADING", "PROCESSING", "READY", "FAILED")
MAX_TEXT = 255
# Buckets of a tenant's index, and the longest entry: 64 items of at most 400 KB hold the entries
# of 40,000 files even at the longest, several times the default quota of files.
SEARCH_BUCKETS = 64
MAX_ENTRY_CHARS = 600
_FIELDS = "\t"  # between an entry's fields: no name holds a control character
_NAMES = "\n"  # between the names of an entry's text


@dataclass(frozen=True)
class Search:
    text: str | None = None  # lower-cased: names are matched without regard to case
    status: str | None = None
    format: str | None = None
    column_type: str | None = None

    @classmethod
    def of(cls, params: Mapping[str, str], *, files: bool) -> Search | None:
        """The search a list route's query parameters ask for; None for the plain listing."""
        given = {name: params[name] for name in ("q", "status", "format", "column_type") if name in params}
        if not given:
            return None
        if not files and ({"status", "format"} & given.keys()):
            raise BadRequest("invalid_request", "status and format filter files: tables take q and column_type.")
        for name, text in given.items():
            if not 1 <= len(text) <= MAX_TEXT or any(ord(c) < 32 or ord(c) == 127 for c in text):
                raise BadRequest(
                    "invalid_request", f"{name}: give 1 to {MAX_TEXT} characters, none a control character."
                )
        status = given.get("status")
        if status is not None and status not in STATUSES:
            raise BadRequest("invalid_request", f"status: one of {', '.join(STATUSES)}.")
        format_ = given.get("format")
        if format_ is not None and format_ not in FORMATS:
            raise BadRequest("invalid_request", f"format: one of {', '.join(FORMATS)}.")
        text, column_type = given.get("q"), given.get("column_type")
        return cls(text.lower() if text else None, status, format_, column_type.lower() if column_type else None)

    @property
    def scope(self) -> str:
        """The search as a page token names it: a token of one search is refused by another."""
        return "&".join(f"{name}={value}" for name, value in sorted(vars(self).items()) if value is not None)

    def finds(self, entry: str) -> bool:
        """Whether an index entry (`entry`) is one this search finds."""
        status, format_, types, text = entry.split(_FIELDS, 3)
        return (
            (self.status is None or status == self.status)
            and (self.format is None or format_ == self.format)
            and (self.column_type is None or self.column_type in types.split(","))
            and (self.text is None or any(self.text in name for name in text.split(_NAMES)))
        )


def entry(
    names: Iterable[str | None],
    columns: Sequence[Mapping[str, str]],
    status: str | None = None,
    format_: str | None = None,
) -> str:
    """What a search looks at of a file or a table, as one line: its status and format, its
    columns' types, and its names and its columns', lower-cased (cut to MAX_ENTRY_CHARS: a file of
    very many columns is found by the first of them)."""
    text = _NAMES.join([name.lower() for name in names if name] + [column["name"].lower() for column in columns])
    types = ",".join(sorted({column["type"] for column in columns}))
    return _FIELDS.join([status or "", format_ or "", types, text])[:MAX_ENTRY_CHARS]


class SearchIndex:
    """One kind of a tenant's index entries (files' or tables'), by the key each is found by."""

    def __init__(self, dynamodb: Any, table: str, prefix: str) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._prefix = prefix

    def put(self, tenant_id: str, key: str, line: str) -> dict[str, Any]:
        """A transaction item that writes the entry of `key`."""
        return self._update(tenant_id, key, "SET #key = :line", {":line": {"S": line}})

    def remove(self, tenant_id: str, key: str) -> dict[str, Any]:
        """A transaction item that takes the entry of `key` out of the index."""
        return self._update(tenant_id, key, "REMOVE #key", None)

    def find(
        self, tenant_id: str, search: Search, limit: int, after: str | None, *, newest_first: bool
    ) -> tuple[list[str], str | None]:
        """Up to `limit` keys of the entries the search finds, in key order (`newest_first`: the
        reverse), after the key `after`; and the last one if more may follow."""
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": {"S": keys.tenant_partition(tenant_id)}, ":prefix": {"S": self._prefix}},
            ConsistentRead=True,
        )
        # Read as DynamoDB sends them (every entry a string): thousands of entries, no conversion.
        found = sorted(
            (
                key
                for page in pages
                for item in page["Items"]
                for key, line in item.items()
                if key not in ("PK", "SK") and search.finds(line["S"])
            ),
            reverse=newest_first,
        )
        if after is not None:
            found = [key for key in found if (key < after if newest_first else key > after)]
        page = found[:limit]
        return page, page[-1] if len(found) > limit else None

    def _update(self, tenant_id: str, key: str, expression: str, values: dict[str, Any] | None) -> dict[str, Any]:
        bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % SEARCH_BUCKETS
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_item(keys.search_bucket(tenant_id, self._prefix, bucket)),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {"#key": key},
        }
        if values:
            update["ExpressionAttributeValues"] = values
        return {"Update": update}
