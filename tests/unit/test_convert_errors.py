"""What the converter knows of DuckDB, pinned: where DuckDB changes (a message, what it reads), a
test here fails, so that the converter's reading of it is revisited.

- A full scratch disk, and a Parquet page that runs past the file's end, are told only by the
  message of DuckDB's I/O error (for the disk, the system's own words): any other I/O error is ours.
- The footer check refuses what DuckDB cannot read: BYTE_STREAM_SPLIT on FIXED_LEN_BYTE_ARRAY, LZO.
  Once DuckDB reads either, the check must let it through.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from chalicelib.ingest.convert import BYTE_STREAM_SPLIT_TYPES, READABLE_PARQUET_CODECS, disk_full, read_past_end
from tests.parquet_files import byte_stream_split, page_past_the_end, parquet, prices, with_codec


def test_a_full_disk_is_told_by_duckdbs_message() -> None:
    with pytest.raises(duckdb.IOException) as full:
        duckdb.connect().execute("COPY (SELECT range AS n FROM range(100000)) TO '/dev/full' (FORMAT parquet)")
    assert disk_full(full.value)


def test_a_page_past_the_end_is_told_by_duckdbs_message(tmp_path: Path) -> None:
    with pytest.raises(duckdb.IOException) as short:
        _read(tmp_path, page_past_the_end())
    assert read_past_end(short.value)
    assert not disk_full(short.value)


def test_any_other_io_error_is_neither(tmp_path: Path) -> None:
    with pytest.raises(duckdb.IOException) as missing:
        duckdb.connect().execute(f"SELECT * FROM read_csv('{tmp_path / 'missing.csv'}')")
    assert not disk_full(missing.value)
    assert not read_past_end(missing.value)
    with pytest.raises(duckdb.IOException) as full:
        duckdb.connect().execute("COPY (SELECT range AS n FROM range(100000)) TO '/dev/full' (FORMAT parquet)")
    assert not read_past_end(full.value)


def _read(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "file.parquet"
    path.write_bytes(data)
    duckdb.connect().execute(f"SELECT * FROM read_parquet('{path}')").fetchall()


def test_duckdb_cannot_read_byte_stream_split_on_fixed_length_values(tmp_path: Path) -> None:
    with pytest.raises(duckdb.Error, match="BYTE_STREAM_SPLIT"):
        _read(tmp_path, byte_stream_split(prices(), "price"))


@pytest.mark.parametrize("kind", BYTE_STREAM_SPLIT_TYPES)
def test_duckdb_reads_byte_stream_split_on_the_types_the_check_lets_through(tmp_path: Path, kind: str) -> None:
    arrow = {"FLOAT": pa.float32(), "DOUBLE": pa.float64(), "INT32": pa.int32(), "INT64": pa.int64()}[kind]
    _read(tmp_path, byte_stream_split(pa.table({"n": pa.array(range(100), arrow)}), "n"))


def test_duckdb_cannot_read_lzo(tmp_path: Path) -> None:
    assert "LZO" not in READABLE_PARQUET_CODECS
    with pytest.raises(duckdb.InvalidInputException, match='Unsupported compression codec "LZO"'):
        _read(tmp_path, with_codec(3))


@pytest.mark.parametrize("codec", [codec for codec in READABLE_PARQUET_CODECS if codec != "LZ4"])
def test_duckdb_reads_the_codecs_the_check_lets_through(tmp_path: Path, codec: str) -> None:
    # pyarrow writes LZ4_RAW for "lz4"; Parquet's older LZ4 is Hadoop's framing, which it no longer writes.
    written = {"UNCOMPRESSED": "none", "LZ4_RAW": "lz4"}.get(codec, codec.lower())
    _read(tmp_path, parquet(pa.table({"n": pa.array(range(100))}), compression=written))
