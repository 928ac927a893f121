"""A table's columns as ingest finds them and the catalog, the engines and the API show them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ColumnType:
    storage: str  # the DuckDB type written to the curated Parquet
    athena: str  # the name API.md and SQL users see: bigint, double, varchar, array(varchar), …
    glue: str  # the Hive DDL name the Glue catalog takes: bigint, double, string, array<string>, …


@dataclass(frozen=True)
class Column:
    name: str
    original_name: str | None
    type: ColumnType

    def view(self) -> dict[str, str]:
        view = {"name": self.name, "type": self.type.athena}
        if self.original_name is not None and self.original_name != self.name:
            view["original_name"] = self.original_name
        return view
