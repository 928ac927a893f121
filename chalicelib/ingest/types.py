"""Column types: what DuckDB read, what the curated Parquet stores, what Athena and Glue call it.

Every type DuckDB can produce maps to one Athena (Trino) type. Where Parquet and Athena have no
faithful equivalent (TIME, INTERVAL, UUID, unsigned and 128-bit integers, time zones), the value is
converted when the curated copy is written, so the table's declared type and its data agree.
Struct field names are made SQL-safe at any depth, as column names are: Glue's `struct<…>` and
Athena's `row(…)` cannot carry a name like `first name`.
"""

from __future__ import annotations

from typing import Any

from chalicelib.columns import ColumnType
from chalicelib.ingest.naming import column_names
from chalicelib.quoting import identifier

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
        names = _field_names(duckdb_type)
        fields = [(name, column_type(child)) for name, (_, child) in zip(names, duckdb_type.children, strict=True)]
        return ColumnType(
            "STRUCT(" + ", ".join(f"{identifier(name)} {child.storage}" for name, child in fields) + ")",
            "row(" + ", ".join(f"{name} {child.athena}" for name, child in fields) + ")",
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


def stored(expression: str, duckdb_type: Any, depth: int = 0) -> str:
    """SQL turning `expression`, a value of `duckdb_type`, into its storage type, struct fields
    renamed to their safe names at any depth (a cast matches struct fields by name, so those are
    rebuilt field by field)."""
    if not _renames(duckdb_type):
        return f"CAST({expression} AS {column_type(duckdb_type).storage})"
    kind, children = duckdb_type.id, duckdb_type.children
    if kind == "struct":
        fields = ", ".join(
            f"{identifier(safe)} := {stored(f'{expression}.{identifier(name)}', child, depth)}"
            for safe, (name, child) in zip(_field_names(duckdb_type), children, strict=True)
        )
        return f"CASE WHEN {expression} IS NULL THEN NULL ELSE struct_pack({fields}) END"
    if kind in ("list", "array"):
        item = f"item{depth}"  # one name per level: an inner lambda must not hide an outer one
        return f"list_transform({expression}, lambda {item}: {stored(item, dict(children)['child'], depth + 1)})"
    entry, parts = f"entry{depth}", dict(children)  # a map: its entries rebuilt, key and value
    key, value = stored(f"{entry}.key", parts["key"], depth + 1), stored(f"{entry}.value", parts["value"], depth + 1)
    rebuilt = f"lambda {entry}: struct_pack(key := {key}, value := {value})"
    return f"map_from_entries(list_transform(map_entries({expression}), {rebuilt}))"


def read_as(table_type: Any, file_type: Any) -> str:
    """The table's type (`table_type`, its storage type parsed) as a reader of the file is given
    it: each struct field, at any depth, under the name the file gives the field of the same safe
    name in `file_type` (what the file's values were inferred as; None where it has no such
    value), since a reader matches fields by their names as written; a field the file lacks keeps
    the table's name (and reads NULL)."""
    kind = table_type.id
    file_kind = file_type.id if file_type is not None else None
    if kind == "struct":
        own_names = dict(zip(_field_names(file_type), file_type.children, strict=True)) if file_kind == "struct" else {}
        fields = []
        for safe, child in table_type.children:
            name, file_child = own_names.get(safe, (safe, None))
            fields.append(f"{identifier(name)} {read_as(child, file_child)}")
        return "STRUCT(" + ", ".join(fields) + ")"
    if kind == "list":
        file_child = dict(file_type.children)["child"] if file_kind in ("list", "array") else None
        return f"{read_as(dict(table_type.children)['child'], file_child)}[]"
    if kind == "map":
        parts, own = dict(table_type.children), dict(file_type.children) if file_kind == "map" else {}
        return f"MAP({read_as(parts['key'], own.get('key'))}, {read_as(parts['value'], own.get('value'))})"
    return str(table_type)


def nested_fields(duckdb_type: Any) -> int:
    """How many named fields the type holds at any depth: those of its records, and of the
    records its lists and maps hold (a plain value: none)."""
    fields = sum(nested_fields(child) for child in _nested(duckdb_type))
    return fields + len(duckdb_type.children) if duckdb_type.id == "struct" else fields


def nesting(duckdb_type: Any) -> int:
    """How many levels of records, lists and maps the type nests (a plain value: none)."""
    children = _nested(duckdb_type)
    return 1 + max(nesting(child) for child in children) if children else 0


def _nested(duckdb_type: Any) -> list[Any]:
    """The types a struct, list or map type holds; none for any other."""
    kind = duckdb_type.id
    if kind == "struct":
        return [child for _, child in duckdb_type.children]
    if kind in ("list", "array", "map"):
        return [child for name, child in duckdb_type.children if name in ("child", "key", "value")]
    return []


def _field_names(struct_type: Any) -> list[str]:
    return column_names([name for name, _ in struct_type.children], blank="field")


def _renames(duckdb_type: Any) -> bool:
    """Whether a struct somewhere in the type has a field whose safe name differs from its own."""
    kind = duckdb_type.id
    if kind == "struct":
        originals = [name for name, _ in duckdb_type.children]
        return _field_names(duckdb_type) != originals or any(_renames(child) for _, child in duckdb_type.children)
    if kind in ("list", "array", "map"):
        return any(_renames(child) for name, child in duckdb_type.children if name in ("child", "key", "value"))
    return False
