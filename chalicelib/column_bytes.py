"""What reading a column costs: the compressed bytes of its chunks in the platform's Parquet files.

Athena bills the bytes it reads, and of a Parquet file it reads only the column chunks a query
needs; each file's footer says how large every chunk is. Ingest sums them per column as a file
becomes READY (kept with the table, files/tables.py), which is what a query's estimate adds up; the
local engine sums the same figures over the partitions a query reads, as what it scanned.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ColumnBytes = dict[str, int]  # a column's name → the compressed bytes of its chunks

_database: Any = None  # one in-memory DuckDB for footers: opening one costs more than reading a footer
_opening = threading.Lock()


def parquet_column_bytes(files: Sequence[Path]) -> ColumnBytes:
    """The compressed size of each top-level column's chunks, over every row group of `files`
    (a nested column's leaves count for the column they belong to)."""
    totals: ColumnBytes = defaultdict(int)
    for sizes in column_bytes_by_file(files).values():
        for column, size in sizes.items():
            totals[column] += size
    return dict(totals)


def column_bytes_by_file(files: Sequence[Path]) -> dict[str, ColumnBytes]:
    """`parquet_column_bytes` of each file, by its path as given."""
    if not files:
        return {}
    with _footers() as cursor:
        rows = cursor.execute(
            "SELECT file_name, split_part(path_in_schema, ', ', 1), sum(total_compressed_size)::BIGINT "
            "FROM parquet_metadata(?) GROUP BY ALL",
            [[str(path) for path in files]],
        ).fetchall()
    found: dict[str, ColumnBytes] = {str(path): {} for path in files}
    for name, column, size in rows:
        found[name][column] = int(size)
    return found


def _footers() -> Any:
    """A cursor of the process's footer-reading database (a cursor each: each thread its own)."""
    global _database
    with _opening:
        if _database is None:
            import duckdb  # loaded where Parquet is at hand: ingest and the local engine

            _database = duckdb.connect(
                config={"autoinstall_known_extensions": False, "autoload_known_extensions": False, "threads": 1}
            )
        return _database.cursor()
