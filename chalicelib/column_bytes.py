"""What reading a column costs: the compressed bytes of its chunks in the platform's Parquet files.

Athena bills the bytes it reads, and of a Parquet file it reads only the column chunks a query
needs; each file's footer says how large every chunk is. Ingest sums them per column as a file
becomes READY (kept with the table, files/tables.py), which is what a query's estimate adds up; the
local engine sums the same figures over the partitions a query reads, as what it scanned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

ColumnBytes = dict[str, int]  # a column's name → the compressed bytes of its chunks


def parquet_column_bytes(files: Sequence[Path]) -> ColumnBytes:
    """The compressed size of each top-level column's chunks, over every row group of `files`
    (a nested column's leaves count for the column they belong to)."""
    if not files:
        return {}
    import duckdb  # loaded where Parquet is at hand: ingest and the local engine

    with duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}) as con:
        rows = con.execute(
            "SELECT split_part(path_in_schema, ', ', 1), sum(total_compressed_size)::BIGINT "
            "FROM parquet_metadata(?) GROUP BY ALL",
            [[str(path) for path in files]],
        ).fetchall()
    return {column: int(size) for column, size in rows}


def bytes_of(columns: Sequence[str], sizes: Mapping[str, int]) -> int:
    """What reading `columns` costs, by the sizes given (a column without any: nothing)."""
    return sum(sizes.get(column, 0) for column in columns)
