"""Column types: what DuckDB read, what the curated Parquet stores, what Athena and Glue call it.

Every type DuckDB can produce maps to one Athena (Trino) type. Where Parquet and Athena have no
faithful equivalent (TIME, INTERVAL, UUID, unsigned and 128-bit integers, time zones), the value is
converted when the curated copy is written, so the table's declared type and its data agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ColumnType:
    storage: str  # the DuckDB type written to the curated Parquet
    athena: str  # the name API.md and SQL users see: bigint, double, varchar, array(varchar), …
    glue: str  # the Hive DDL name the Glue catalog takes: bigint, double, string, array<string>, …


_SCALARS: dict[str, ColumnType] = {
    "boolean": ColumnType("BOOLEAN", "boolean", "boolean"),
    "tinyint": ColumnType("TINYINT", "tinyint", "tinyint"),
    "smallint": ColumnType("SMALLINT", "smallint", "smallint"),
    "integer": ColumnType("INTEGER", "integer", "int"),
    "bigint": ColumnType("BIGINT", "bigint", "bigint"),
    "utinyint": ColumnType("SMALLINT", "smallint", "smallint"),
    "usmallint": ColumnType("INTEGER", "integer", "int"),
    "uinteger": ColumnType("BIGINT", "bigint", "bigint"),
    "ubigint": ColumnType("DECIMAL(20,0)", "decimal(20,0)", "decimal(20,0)"),
    "hugeint": ColumnType("DECIMAL(38,0)", "decimal(38,0)", "decimal(38,0)"),
    "uhugeint": ColumnType("DECIMAL(38,0)", "decimal(38,0)", "decimal(38,0)"),
    "float": ColumnType("FLOAT", "real", "float"),
    "double": ColumnType("DOUBLE", "double", "double"),
    "date": ColumnType("DATE", "date", "date"),
    "timestamp": ColumnType("TIMESTAMP", "timestamp", "timestamp"),
    "timestamp_s": ColumnType("TIMESTAMP", "timestamp", "timestamp"),
    "timestamp_ms": ColumnType("TIMESTAMP", "timestamp", "timestamp"),
    "timestamp_ns": ColumnType("TIMESTAMP", "timestamp", "timestamp"),
    # Stored in UTC (the connection's time zone), as a plain timestamp: what Athena reads.
    "timestamp with time zone": ColumnType("TIMESTAMP", "timestamp", "timestamp"),
    "blob": ColumnType("BLOB", "varbinary", "binary"),
}
_TEXT = ColumnType("VARCHAR", "varchar", "string")


def column_type(duckdb_type: Any) -> ColumnType:
    """The storage, Athena and Glue types for a DuckDBPyType (nested types included)."""
    kind = duckdb_type.id
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "decimal":
        children = dict(duckdb_type.children)
        precision, scale = children["precision"], children["scale"]
        return ColumnType(
            f"DECIMAL({precision},{scale})", f"decimal({precision},{scale})", f"decimal({precision},{scale})"
        )
    if kind in ("list", "array"):
        child = column_type(dict(duckdb_type.children)["child"])
        return ColumnType(f"{child.storage}[]", f"array({child.athena})", f"array<{child.glue}>")
    if kind == "struct":
        fields = [(name, column_type(child)) for name, child in duckdb_type.children]
        return ColumnType(
            "STRUCT(" + ", ".join(f"{_quoted(name)} {child.storage}" for name, child in fields) + ")",
            "row(" + ", ".join(f"{_field(name)} {child.athena}" for name, child in fields) + ")",
            "struct<" + ",".join(f"{name}:{child.glue}" for name, child in fields) + ">",
        )
    if kind == "map":
        children = dict(duckdb_type.children)
        key, value = column_type(children["key"]), column_type(children["value"])
        return ColumnType(
            f"MAP({key.storage}, {value.storage})",
            f"map({key.athena}, {value.athena})",
            f"map<{key.glue},{value.glue}>",
        )
    # varchar, JSON, UUID, TIME, INTERVAL, ENUM, UNION, BIT…: text holds them without loss.
    return _TEXT


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _field(name: str) -> str:
    """A row field name as Trino writes it: bare when it is a plain identifier."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else _quoted(name)
