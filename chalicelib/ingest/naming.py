"""SQL-safe names for tables (API.md's rule) and columns."""

from __future__ import annotations

import re

DATA_EXTENSIONS = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json", ".parquet")
# Athena allows longer names; these leave room for a uniqueness suffix.
MAX_TABLE_NAME = 120
MAX_COLUMN_NAME = 120

_UNSAFE = re.compile(r"[^a-z0-9_]+")


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text.lower())


def table_base_name(file_name: str) -> str:
    """The table name a file gets before it is made unique in its tenant.

    The name without its data extensions (`.gz` last, then one of `.csv`, `.tsv`, `.txt`,
    `.jsonl`, `.ndjson`, `.json`, `.parquet`), lower-cased, each run of characters outside
    [a-z0-9_] turned into one `_`, a leading digit prefixed with `t_`: `Sales 2024.csv.gz` →
    `sales_2024`. A name with nothing left (`.csv`, `€€€.csv`) becomes `t_` + its sanitised self
    or `table`.
    """
    name = file_name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    for extension in DATA_EXTENSIONS:
        if name.lower().endswith(extension):
            name = name[: -len(extension)]
            break
    base = _safe(name)[:MAX_TABLE_NAME]
    if not base.strip("_"):
        return "table"
    return f"t_{base}"[:MAX_TABLE_NAME] if base[0].isdigit() else base


def column_names(originals: list[str], blank: str = "column") -> list[str]:
    """SQL-safe, unique column (or struct field) names, in order: lower-case [a-z0-9_], not
    starting with a digit; an empty name becomes `column_<n>` (`<blank>_<n>`); repeats get `_2`, `_3`…"""
    names: list[str] = []
    taken: set[str] = set()
    for position, original in enumerate(originals, start=1):
        name = _safe(original.strip()).strip("_")[:MAX_COLUMN_NAME] or f"{blank}_{position}"
        if name[0].isdigit():
            name = f"c_{name}"
        unique, suffix = name, 2
        while unique in taken:
            unique, suffix = f"{name}_{suffix}", suffix + 1
        taken.add(unique)
        names.append(unique)
    return names
