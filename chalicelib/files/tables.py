"""Each tenant's tables: a table is the READY files added to it, one partition each.

A `TABLE#{name}` item is the table: its id (a table deleted and made again under the same name is
another table), its columns with the file that added each, its counts, a version that moves with
every file added, replaced or deleted, and the partitions a query must pass over. Every ingest
attempt that adds a file takes the table's next partition number (`_seq`) and lists it as
`pending` in the same write; its partition is written to the catalog only after that, and the
transaction that makes the file READY takes the number off `pending`. A withdrawn file's number
moves to `gone` in one write and leaves it once its partition is dropped. So a query reads the
partitions below `next_seq` that are neither pending nor gone (`Table.hidden`), as the item stood
when the query was submitted: it sees each file whole, or not at all, and never twice.

Beside it, one `TABLE_FILE#{table_id}#{file_id}` item per READY file (its partition, rows, drift,
and the compressed bytes of each of its columns), the table's bytes per column summed over its READY
files in `TABLE_BYTES#{table_id}#{bucket}` items (written in the same transactions as the counts:
what a query would scan is read from them, whatever the number of files), and one
`TABLE_SHA#{table_id}#{sha256}` item per distinct content, whose condition refuses a file identical
to one already in the table. The file's record lists every partition its attempts took
(`table_seqs`), so that withdrawing the file reads one item.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib import keys
from chalicelib.aws.dynamo import (
    BATCH_GET_KEYS,
    TransactionCancelled,
    batch_delete,
    batch_get,
    from_item,
    get_item,
    query_page,
    to_item,
    transact,
    value,
)
from chalicelib.catalog import CatalogTable
from chalicelib.column_bytes import ColumnBytes
from chalicelib.columns import Column, ColumnType
from chalicelib.errors import BadRequest
from chalicelib.files.records import FileRecord
from chalicelib.files.search import Search, SearchIndex, entry
from chalicelib.ids import new_id
from chalicelib.times import now

# API.md's table names: what ingest/naming.py makes of a file name, at most 120 characters.
TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,119}")
# Tries at a write that other attempts at the same table keep getting in before.
WRITE_TRIES = 20
# A table's bytes per column are shared among this many items, each column in one of them by its
# name: one update expression (4 KB at most) adds a file's bytes to every column of a bucket, and a
# file of the widest table (5,000 columns) still writes fewer items than a transaction takes.
BYTES_BUCKETS = 32


class SchemaMoved(Exception):
    """The table's columns changed since the file was read with them: it is read again."""


@dataclass(frozen=True)
class TableColumn:
    name: str
    original_name: str | None
    type: ColumnType
    added_by: str  # the file whose rows first had it
    added_at: str

    @property
    def column(self) -> Column:
        return Column(self.name, self.original_name, self.type)

    def view(self) -> dict[str, str]:
        return self.column.view()

    def to_fields(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "original_name": self.original_name,
            "storage": self.type.storage,
            "athena": self.type.athena,
            "glue": self.type.glue,
            "added_by": self.added_by,
            "added_at": self.added_at,
        }

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> TableColumn:
        kind = ColumnType(fields["storage"], fields["athena"], fields["glue"])
        return cls(fields["name"], fields.get("original_name"), kind, fields["added_by"], fields["added_at"])


@dataclass(frozen=True)
class Table:
    name: str
    table_id: str
    created_at: str
    columns: tuple[TableColumn, ...] = ()
    schema_version: int = 0  # moves when a column is added
    version: int = 0  # moves when a file is added, replaced or deleted
    next_seq: int = 1
    pending: frozenset[int] = frozenset()  # partitions of attempts not settled yet
    gone: frozenset[int] = frozenset()  # partitions of withdrawn files, until dropped
    file_count: int = 0
    row_count: int = 0
    last_file_id: str | None = None  # the file most recently added
    created_by: str | None = None  # the file whose ingest made the item

    @property
    def shown(self) -> bool:
        """Whether the table is there for queries and listings: it has a READY file."""
        return self.file_count > 0

    @property
    def hidden(self) -> tuple[int, ...]:
        """The partitions below `next_seq` that a query passes over."""
        return tuple(sorted(self.pending | self.gone))

    @property
    def in_catalog(self) -> CatalogTable:
        return CatalogTable(self.name, self.table_id)

    def column_views(self) -> list[dict[str, str]]:
        return [column.view() for column in self.columns]

    def view(self) -> dict[str, Any]:
        """API.md's table entry (GET /tables)."""
        return {
            "table": self.name,
            "file_id": self.last_file_id,
            "columns": self.column_views(),
            "row_count": self.row_count,
            "file_count": self.file_count,
        }

    def history(self) -> list[dict[str, str]]:
        """Which file added which column, when: in the order the columns were added."""
        return [
            {"column": column.name, "type": column.type.athena, "file_id": column.added_by, "added_at": column.added_at}
            for column in self.columns
        ]

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Table:
        return cls(
            name=fields["name"],
            table_id=fields["table_id"],
            created_at=fields["created_at"],
            columns=tuple(TableColumn.from_fields(column) for column in fields.get("columns", [])),
            schema_version=int(fields.get("schema_version", 0)),
            version=int(fields.get("version", 0)),
            next_seq=int(fields.get("next_seq", 1)),
            pending=frozenset(int(n) for n in fields.get("pending", ())),
            gone=frozenset(int(n) for n in fields.get("gone", ())),
            file_count=int(fields.get("file_count", 0)),
            row_count=int(fields.get("row_count", 0)),
            last_file_id=fields.get("last_file_id"),
            created_by=fields.get("created_by"),
        )

    def to_fields(self) -> dict[str, Any]:
        """The item as a new table is stored (its sets are written by the updates that fill them)."""
        return {
            "name": self.name,
            "table_id": self.table_id,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "columns": [column.to_fields() for column in self.columns],
            "schema_version": self.schema_version,
            "version": self.version,
            "next_seq": self.next_seq,
            "file_count": self.file_count,
            "row_count": self.row_count,
            "last_file_id": self.last_file_id,
        }


@dataclass(frozen=True)
class TableFile:
    """One READY file of a table: its partition, its rows and how its columns differed."""

    file_id: str
    name: str
    seq: int
    row_count: int
    added_at: str
    sha256: str
    added_columns: tuple[str, ...] = ()
    missing_columns: tuple[str, ...] = ()
    column_bytes: ColumnBytes = field(default_factory=dict)  # its curated copy's, per column

    def view(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "name": self.name,
            "row_count": self.row_count,
            "added_at": self.added_at,
            "added_columns": list(self.added_columns),
            "missing_columns": list(self.missing_columns),
        }

    def to_fields(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "name": self.name,
            "seq": self.seq,
            "row_count": self.row_count,
            "added_at": self.added_at,
            "sha256": self.sha256,
            "added_columns": list(self.added_columns),
            "missing_columns": list(self.missing_columns),
            "column_bytes": self.column_bytes,
        }

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> TableFile:
        return cls(
            file_id=fields["file_id"],
            name=fields["name"],
            seq=int(fields["seq"]),
            row_count=int(fields["row_count"]),
            added_at=fields["added_at"],
            sha256=fields["sha256"],
            added_columns=tuple(fields.get("added_columns", ())),
            missing_columns=tuple(fields.get("missing_columns", ())),
            column_bytes={name: int(size) for name, size in fields.get("column_bytes", {}).items()},
        )


@dataclass(frozen=True)
class Joined:
    """A table as an ingest attempt found it when it took partition `seq` of it."""

    table: Table
    seq: int

    @property
    def entry(self) -> str:
        return seq_entry(self.table.name, self.table.table_id, self.seq)


@dataclass(frozen=True)
class Duplicate:
    """The READY file of the table whose content a file repeats."""

    file_id: str


def seq_entry(name: str, table_id: str, seq: int) -> str:
    """How a record lists a partition its attempts took (no table name holds '|')."""
    return f"{name}|{table_id}|{seq}"


def parse_entry(entry: str) -> tuple[str, str, int]:
    name, table_id, seq = entry.split("|")
    return name, table_id, int(seq)


def check_table_name(name: str | None) -> str | None:
    """API.md's rule for a table asked for by name (None: none asked for)."""
    if name is None:
        return None
    if not TABLE_NAME.fullmatch(name) or not name.strip("_"):
        raise BadRequest(
            "invalid_table_name",
            "A table name is 1 to 120 characters of a-z, 0-9 and _, not starting with a digit (table=sales_2024).",
        )
    return name


def table_still(table: str, tenant_id: str, name: str, table_id: str, version: int) -> dict[str, Any]:
    """A transaction item that holds only while the table is the one a query looked up."""
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": to_item(keys.table(tenant_id, name)),
            "ConditionExpression": "table_id = :id AND version = :version",
            "ExpressionAttributeValues": {":id": value(table_id), ":version": value(version)},
        }
    }


class Tables:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._index = SearchIndex(dynamodb, table, keys.TABLE_SEARCH_PREFIX)

    # Reading ------------------------------------------------------------------------------------

    def get(self, tenant_id: str, name: str) -> Table | None:
        """The table item of that name, shown or not (strongly consistent); None if there is none."""
        if not TABLE_NAME.fullmatch(name):
            return None  # not asked of DynamoDB: a key can be 1 KiB at most
        item = get_item(self._dynamodb, self._table, keys.table(tenant_id, name))
        return Table.from_fields(item) if item else None

    def shown(self, tenant_id: str, name: str) -> Table | None:
        table = self.get(tenant_id, name)
        return table if table is not None and table.shown else None

    def published(self, tenant_id: str, names: Sequence[str]) -> dict[str, Table]:
        """Those of `names` that are tables now, by name (strongly consistent reads, 100 names a
        batch, in the order given). A batch with a name that is no table is the last read: a query
        naming it is refused at that name, whatever follows."""
        found: dict[str, Table] = {}
        unique = list(dict.fromkeys(names))
        for start in range(0, len(unique), BATCH_GET_KEYS):
            batch = unique[start : start + BATCH_GET_KEYS]
            askable = list(itertools.takewhile(TABLE_NAME.fullmatch, batch))
            items = batch_get(self._dynamodb, self._table, [keys.table(tenant_id, name) for name in askable])
            tables = [table for table in map(Table.from_fields, items) if table.shown]
            found |= {table.name: table for table in tables}
            if len(tables) < len(batch):
                break
        return found

    def page(
        self, tenant_id: str, limit: int, after: str | None, search: Search | None = None
    ) -> tuple[list[Table], str | None]:
        """Up to `limit` tables (those `search` finds, if given) in name order, after the name
        `after`; and the last name read if more may follow. Tables with no READY file yet (or none
        any more) are passed over."""
        if search is not None:
            found, last = self._index.find(tenant_id, search, limit, after, newest_first=False)
            items = batch_get(self._dynamodb, self._table, [keys.table(tenant_id, name) for name in found])
            by_name = {table.name: table for table in map(Table.from_fields, items) if table.shown}
            return [by_name[name] for name in found if name in by_name], last
        # A page costs what it shows, and the few tables with no READY file (yet) it passes over.
        tables: list[Table] = []
        while True:
            items, after = query_page(
                self._dynamodb,
                self._table,
                keys.tenant_partition(tenant_id),
                keys.TABLE_PREFIX,
                limit - len(tables),
                after,
            )
            tables += [table for table in map(Table.from_fields, items) if table.shown]
            if after is None or len(tables) >= limit:
                return tables, after

    def files(self, tenant_id: str, table: Table, limit: int, after: str | None) -> tuple[list[TableFile], str | None]:
        """Up to `limit` of the table's files, oldest upload first, after the file id `after`."""
        items, last = query_page(
            self._dynamodb,
            self._table,
            keys.tenant_partition(tenant_id),
            keys.table_files_of(table.table_id),
            limit,
            after,
        )
        return [TableFile.from_fields(item) for item in items], last

    def file_of(self, tenant_id: str, table_id: str, file_id: str) -> TableFile | None:
        item = get_item(self._dynamodb, self._table, keys.table_file(tenant_id, table_id, file_id))
        return TableFile.from_fields(item) if item else None

    def holder_of(self, tenant_id: str, table_id: str, sha256: str) -> str | None:
        item = get_item(self._dynamodb, self._table, keys.table_sha(tenant_id, table_id, sha256))
        return item["file_id"] if item else None

    # Adding a file ------------------------------------------------------------------------------

    def join(self, claimed: FileRecord, name: str, *, named: bool) -> Joined | None:
        """Take the next partition of the table for the claimed file; None if the attempt no longer
        holds the record (the file is being deleted, or a newer attempt took over).

        `named`: the table of exactly that name, made if there is none. Otherwise `name` is a base
        for a new table of the file's own: `name` if free, else `name_N`, N the next of the base's
        suffix counter (2, 3, …), and the next again only if that very name is taken. A new table's
        item is made in the same write that takes its first partition and lists it on the record:
        no table is ever made that its file's record does not list.
        """
        for _ in range(WRITE_TRIES):
            joined = self._join_named(claimed, name) if named else self._join_new(claimed, name)
            if joined is not False:
                return joined
        raise RuntimeError(f"table {name} kept changing while a file was added to it")

    def _join_named(self, claimed: FileRecord, name: str) -> Joined | bool | None:
        made = self._take_seq(
            claimed, Table(name=name, table_id=new_id(), created_at=now(), created_by=claimed.file_id), new=True
        )
        if made is not False:
            return made
        existing = self.get(claimed.tenant_id, name)
        return False if existing is None else self._take_seq(claimed, existing)

    def _join_new(self, claimed: FileRecord, base: str) -> Joined | bool | None:
        """A new table of the file's own: one of that base an earlier attempt at the file made
        (its record lists it) and did not get to make READY, else the base name, else the base with
        the next suffix."""
        own = sorted({name for name, _, _ in map(parse_entry, claimed.table_seqs) if _of_base(name, base)})
        for candidate in itertools.chain(own, [base], self._suffixed(claimed.tenant_id, base)):
            table = Table(name=candidate, table_id=new_id(), created_at=now(), created_by=claimed.file_id)
            made = self._take_seq(claimed, table, new=True)
            if made is not False:
                return made
            existing = self.get(claimed.tenant_id, candidate)
            if existing is not None and existing.created_by == claimed.file_id and not existing.shown:
                return self._take_seq(claimed, existing)
        raise AssertionError("the suffixes never run out")

    def _suffixed(self, tenant_id: str, base: str) -> Iterator[str]:
        while True:
            yield f"{base}_{self._next_suffix(tenant_id, base)}"

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

    def _take_seq(self, claimed: FileRecord, table: Table, *, new: bool = False) -> Joined | bool | None:
        """Partition `next_seq` of the table (`new`: the table's item made with it, if the name is
        free), listed pending on the table and on the record in one write; None if the claim is
        lost, False if the table changed meanwhile or the name is taken (try again)."""
        assert claimed.ingest is not None
        seq = table.next_seq
        entry = seq_entry(table.name, table.table_id, seq)
        key = to_item(keys.table(claimed.tenant_id, table.name))
        taken: dict[str, Any]
        if new:
            made = {**keys.table(claimed.tenant_id, table.name), **table.to_fields(), "next_seq": seq + 1}
            taken = {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(made) | {"pending": value({seq})},
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
        else:
            taken = {
                "Update": {
                    "TableName": self._table,
                    "Key": key,
                    "UpdateExpression": "SET next_seq = :next ADD pending :seq",
                    "ConditionExpression": "table_id = :id AND next_seq = :current",
                    "ExpressionAttributeValues": {
                        ":next": value(seq + 1),
                        ":seq": value({seq}),
                        ":id": value(table.table_id),
                        ":current": value(seq),
                    },
                }
            }
        listed = {
            "Update": {
                "TableName": self._table,
                "Key": to_item(keys.file(claimed.tenant_id, claimed.file_id)),
                "UpdateExpression": "ADD table_seqs :entry",
                "ConditionExpression": "attribute_exists(PK) AND deleting = :false AND ingest.#token = :token",
                "ExpressionAttributeNames": {"#token": "token"},
                "ExpressionAttributeValues": {
                    ":entry": value({entry}),
                    ":false": value(False),
                    ":token": value(claimed.ingest.token),
                },
            }
        }
        try:
            transact(self._dynamodb, [taken, listed])
        except TransactionCancelled as cancelled:
            if cancelled.failed(1):
                return None
            if cancelled.failed(0):
                return False
            raise
        return Joined(replace(table, next_seq=seq + 1, pending=table.pending | {seq}), seq)

    def commit(
        self,
        settle: dict[str, Any],
        tenant_id: str,
        joined: Joined,
        added: TableFile,
        columns: Sequence[TableColumn],
        replaced: TableFile | None,
        also: Sequence[dict[str, Any]] = (),
    ) -> bool | Duplicate:
        """Make the file READY (`settle`: its record's update, which holds only while the attempt
        does) and add its partition to the table, in one transaction: its rows are there exactly
        when the record says READY. `columns`: the table's columns with the file's; `replaced`: the
        file's own earlier partition of this table, which goes in the same write; `also`: items
        of the record's own to write with it (its search entry).

        True if done; False if the claim was lost; a Duplicate if the table holds a READY file of
        the same content. Raises SchemaMoved if the table's columns changed since it was joined.
        """
        table = joined.table
        values: dict[str, Any] = {
            ":id": table.table_id,
            ":schema": table.schema_version,
            ":one": 1,
            ":file": added.file_id,
            ":seq": {joined.seq},
            ":seqn": joined.seq,
            ":files": 0 if replaced else 1,
            ":rows": added.row_count - (replaced.row_count if replaced else 0),
        }
        sets = ["version = version + :one", "last_file_id = :file"]
        names: dict[str, str] = {}
        if tuple(columns) != table.columns:
            sets += ["#columns = :columns", "schema_version = schema_version + :one"]
            values[":columns"] = [column.to_fields() for column in columns]
            names["#columns"] = "columns"
        adds = ["file_count :files", "row_count :rows"]
        if replaced is not None:
            adds.append("gone :replaced")
            values[":replaced"] = {replaced.seq}
        table_update = {
            "Update": {
                "TableName": self._table,
                "Key": to_item(keys.table(tenant_id, table.name)),
                "UpdateExpression": f"SET {', '.join(sets)} ADD {', '.join(adds)} DELETE pending :seq",
                # Any change of columns since the join, even one adding a column this file lacks,
                # sends the file back to be read with them: the check costs one number.
                # ... and a partition withdrawn meanwhile (its file failed or was deleted) is not
                # made READY: the attempt reads the file again, into a partition of its own.
                "ConditionExpression": "table_id = :id AND schema_version = :schema AND NOT contains(gone, :seqn)",
                "ExpressionAttributeValues": {name: value(given) for name, given in values.items()},
            }
            | ({"ExpressionAttributeNames": names} if names else {})
        }
        listed = {
            "Put": {
                "TableName": self._table,
                "Item": to_item({**keys.table_file(tenant_id, table.table_id, added.file_id), **added.to_fields()}),
            }
        }
        content = {
            "Put": {
                "TableName": self._table,
                "Item": to_item({**keys.table_sha(tenant_id, table.table_id, added.sha256), "file_id": added.file_id}),
                "ConditionExpression": "attribute_not_exists(PK) OR file_id = :file",
                "ExpressionAttributeValues": {":file": value(added.file_id)},
            }
        }
        sizes = _difference(added.column_bytes, replaced.column_bytes if replaced else {})
        items = [settle, table_update, listed, content, *also, *self._add_bytes(tenant_id, table.table_id, sizes)]
        if tuple(columns) != table.columns:  # what a search of tables looks at changes with them
            items.append(self._index.put(tenant_id, table.name, entry([table.name], [c.view() for c in columns])))
        try:
            transact(self._dynamodb, items)
        except TransactionCancelled as cancelled:
            if cancelled.failed(0):
                return False
            if cancelled.failed(1):
                raise SchemaMoved() from cancelled.error
            if cancelled.failed(3):
                holder = self.holder_of(tenant_id, table.table_id, added.sha256)
                if holder is None:  # its file was withdrawn meanwhile: this one may take its place
                    raise SchemaMoved() from cancelled.error
                return Duplicate(holder)
            raise
        if replaced is not None and replaced.sha256 != added.sha256:
            self._release_content(tenant_id, table.table_id, replaced)
        return True

    def _add_bytes(self, tenant_id: str, table_id: str, sizes: ColumnBytes) -> list[dict[str, Any]]:
        """The updates adding `sizes` (negative: taking them off) to the table's bytes per column."""
        buckets: dict[int, dict[str, int]] = {}
        for column, size in sizes.items():
            if size:
                buckets.setdefault(_bytes_bucket(column), {})[column] = size
        updates = []
        for bucket, shares in sorted(buckets.items()):
            names = {f"#c{n}": column for n, column in enumerate(shares)}
            updates.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_item(keys.table_bytes(tenant_id, table_id, bucket)),
                        "UpdateExpression": "ADD " + ", ".join(f"{name} :c{name[2:]}" for name in names),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": {f":c{n}": value(size) for n, size in enumerate(shares.values())},
                    }
                }
            )
        return updates

    def column_bytes(self, tenant_id: str, table_id: str, columns: Sequence[str]) -> ColumnBytes:
        """The compressed bytes of each of `columns` over the table's READY files: a read of the
        buckets those columns are in, however many files the table has."""
        bucket_keys = [keys.table_bytes(tenant_id, table_id, n) for n in sorted({_bytes_bucket(c) for c in columns})]
        totals: ColumnBytes = {}
        for item in batch_get(self._dynamodb, self._table, bucket_keys):
            totals |= {name: int(size) for name, size in item.items() if name not in ("PK", "SK")}
        return {column: max(totals.get(column, 0), 0) for column in columns}

    # Withdrawing a file -------------------------------------------------------------------------

    def entries_of(self, tenant_id: str, file_id: str) -> list[str]:
        """Every partition the file's attempts took (`seq_entry`), read from its record alone."""
        fields = get_item(self._dynamodb, self._table, keys.file(tenant_id, file_id), projection="table_seqs")
        return sorted((fields or {}).get("table_seqs", ()))

    def hide(self, tenant_id: str, file_id: str, entry: str) -> Table | None:
        """Take partition `entry` out of what queries read (and out of the table's counts, if it is
        the file's READY one), in one write; the table as it was, or None if it is gone."""
        name, table_id, seq = parse_entry(entry)
        for _ in range(WRITE_TRIES):
            table = self.get(tenant_id, name)
            if table is None or table.table_id != table_id:
                return None
            counted = self.file_of(tenant_id, table_id, file_id)
            if counted is not None and counted.seq != seq:
                counted = None
            values: dict[str, Any] = {":id": table_id, ":seq": {seq}}
            update = "ADD gone :seq"
            items: list[dict[str, Any]] = []
            if counted is not None:
                update += ", file_count :minus, row_count :rows, version :one"
                values |= {":minus": -1, ":rows": -counted.row_count, ":one": 1}
                items.append(
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": to_item(keys.table_file(tenant_id, table_id, file_id)),
                            "ConditionExpression": "seq = :seq",
                            "ExpressionAttributeValues": {":seq": value(seq)},
                        }
                    }
                )
                # Its content is free for another file in the same write as its rows go.
                items.append(
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": to_item(keys.table_sha(tenant_id, table_id, counted.sha256)),
                        }
                    }
                )
                items += self._add_bytes(tenant_id, table_id, _difference({}, counted.column_bytes))
            table_update = {
                "Update": {
                    "TableName": self._table,
                    "Key": to_item(keys.table(tenant_id, name)),
                    "UpdateExpression": f"{update} DELETE pending :seq",
                    "ConditionExpression": "table_id = :id",
                    "ExpressionAttributeValues": {key: value(given) for key, given in values.items()},
                }
            }
            try:
                transact(self._dynamodb, [table_update, *items])
            except TransactionCancelled as cancelled:
                if cancelled.failed(0):
                    return None
                if cancelled.failed(1):
                    continue  # the file's partition changed meanwhile: look again
                raise
            return table
        raise RuntimeError(f"table {name} kept changing while a file was withdrawn from it")

    def forget(self, tenant_id: str, file_id: str, entry: str) -> Table | None:
        """Once partition `entry` is dropped from the catalog: strike it from the table and the
        record, and remove the table if no file is left in it nor on the way; the table removed,
        or None if it stays (or was gone)."""
        name, table_id, seq = parse_entry(entry)
        key = keys.table(tenant_id, name)
        condition = "table_id = :id"
        try:
            response = self._dynamodb.update_item(
                TableName=self._table,
                Key=to_item(key),
                UpdateExpression="DELETE gone :seq",
                ConditionExpression=condition,
                ExpressionAttributeValues={":id": value(table_id), ":seq": value({seq})},
                ReturnValues="ALL_NEW",
            )
            table: Table | None = Table.from_fields(from_item(response["Attributes"]))
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            table = None
        # The record is gone: nothing lists the partition any more.
        with contextlib.suppress(self._dynamodb.exceptions.ConditionalCheckFailedException):
            self._dynamodb.update_item(
                TableName=self._table,
                Key=to_item(keys.file(tenant_id, file_id)),
                UpdateExpression="DELETE table_seqs :entry",
                ConditionExpression="attribute_exists(PK)",
                ExpressionAttributeValues={":entry": value({entry})},
            )
        if table is None:
            return None
        if table.file_count == 0 and not table.pending and not table.gone:
            return table if self._remove_if_empty(tenant_id, table) else None
        if table.last_file_id == file_id:
            self._refresh_last_file(tenant_id, table, file_id)
        return None

    def _remove_if_empty(self, tenant_id: str, table: Table) -> bool:
        """Remove the table item if it still has no file, none on the way and no partition left."""
        try:
            self._dynamodb.delete_item(
                TableName=self._table,
                Key=to_item(keys.table(tenant_id, table.name)),
                ConditionExpression=(
                    "table_id = :id AND file_count = :zero AND attribute_not_exists(pending) "
                    "AND attribute_not_exists(gone)"
                ),
                ExpressionAttributeValues={":id": value(table.table_id), ":zero": value(0)},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        # Not in the same write: a search reads the table items it finds, and passes over one gone.
        self._dynamodb.update_item(**self._index.remove(tenant_id, table.name)["Update"])
        # Every file's bytes were taken off: what is left in the buckets is zeros.
        buckets = [keys.table_bytes(tenant_id, table.table_id, bucket) for bucket in range(BYTES_BUCKETS)]
        batch_delete(self._dynamodb, self._table, buckets)
        return True

    def _refresh_last_file(self, tenant_id: str, table: Table, withdrawn: str) -> None:
        """The table's most recently added file was withdrawn: name the newest one left."""
        newest, _ = query_page(
            self._dynamodb,
            self._table,
            keys.tenant_partition(tenant_id),
            keys.table_files_of(table.table_id),
            1,
            None,
            newest_first=True,
            projection="file_id",
        )
        if not newest:
            return
        # Another file was added meanwhile, and named.
        with contextlib.suppress(self._dynamodb.exceptions.ConditionalCheckFailedException):
            self._dynamodb.update_item(
                TableName=self._table,
                Key=to_item(keys.table(tenant_id, table.name)),
                UpdateExpression="SET last_file_id = :newest",
                ConditionExpression="table_id = :id AND last_file_id = :withdrawn",
                ExpressionAttributeValues={
                    ":newest": value(newest[0]["file_id"]),
                    ":id": value(table.table_id),
                    ":withdrawn": value(withdrawn),
                },
            )

    def _release_content(self, tenant_id: str, table_id: str, held: TableFile) -> None:
        """Free the content a file held in the table (only if the file still holds it)."""
        # Not the file's (any more).
        with contextlib.suppress(self._dynamodb.exceptions.ConditionalCheckFailedException):
            self._dynamodb.delete_item(
                TableName=self._table,
                Key=to_item(keys.table_sha(tenant_id, table_id, held.sha256)),
                ConditionExpression="file_id = :file",
                ExpressionAttributeValues={":file": value(held.file_id)},
            )


def _bytes_bucket(column: str) -> int:
    return zlib.crc32(column.encode()) % BYTES_BUCKETS


def _difference(added: ColumnBytes, taken: ColumnBytes) -> ColumnBytes:
    """Per column, what `added` has more than `taken`."""
    return {column: added.get(column, 0) - taken.get(column, 0) for column in added.keys() | taken.keys()}


def _of_base(name: str, base: str) -> bool:
    """Whether `name` is `base`, or `base` with a number suffix (`sales_7` of `sales`)."""
    return name == base or (name.startswith(f"{base}_") and name[len(base) + 1 :].isdigit())


def merged_columns(
    table: Table, file_columns: Sequence[Column], file_id: str, *, replacing_itself: bool
) -> tuple[tuple[TableColumn, ...], tuple[str, ...], tuple[str, ...]]:
    """The table's columns once the file is added, and the file's drift: the columns it adds and
    those it lacks. Columns match by their (cleaned) name. A file that is the table's only file,
    read again (a new version), sets the columns afresh, each kept as first added where it is
    unchanged. Raises SchemaMoved where a column the table has came with another type: the file
    was read before that column was the table's, and is read again with it."""
    held = {column.name: column for column in table.columns}
    at = now()
    if replacing_itself:
        kept = [held.get(column.name) for column in file_columns]
        columns = tuple(
            old if old is not None and old.type == column.type else _first_in(column, file_id, at)
            for old, column in zip(kept, file_columns, strict=True)
        )
        return columns, tuple(column.name for column in file_columns if column.name not in held), ()
    for column in file_columns:
        if column.name in held and held[column.name].type != column.type:
            raise SchemaMoved()
    added = tuple(_first_in(column, file_id, at) for column in file_columns if column.name not in held)
    present = {column.name for column in file_columns}
    missing = tuple(column.name for column in table.columns if column.name not in present)
    return (*table.columns, *added), tuple(column.name for column in added), missing


def _first_in(column: Column, file_id: str, at: str) -> TableColumn:
    return TableColumn(column.name, column.original_name, column.type, file_id, at)
