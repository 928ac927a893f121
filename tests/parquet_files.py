"""Parquet files for the tests, made with pyarrow, among them some DuckDB cannot read though Parquet allows them."""

from __future__ import annotations

import base64
import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

ROWS = 1000


def parquet(table: pa.Table, **options: Any) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


def prices() -> pa.Table:
    """Decimals, which Parquet stores as FIXED_LEN_BYTE_ARRAY."""
    return pa.table(
        {"id": pa.array(range(ROWS)), "price": pa.array([n / 4 for n in range(ROWS)]).cast(pa.decimal128(12, 2))}
    )


def byte_stream_split(table: pa.Table, column: str) -> bytes:
    return parquet(table, use_dictionary=False, use_byte_stream_split=[column])


def with_codec(codec: int) -> bytes:
    """An uncompressed Parquet file of one column `a` whose footer names another codec (Parquet's
    CompressionCodec number: 3 is LZO, which pyarrow cannot write). In the footer's thrift, the
    column's path (a list of one string, "a") comes right before its codec (field 4, an i32)."""
    plain = parquet(pa.table({"a": pa.array(range(ROWS))}), compression="none", use_dictionary=False)
    path_then_codec = b"\x19\x18\x01a\x15\x00"
    assert plain.count(path_then_codec) == 1
    return plain.replace(path_then_codec, path_then_codec[:-1] + bytes([codec * 2]))  # zigzag


def page_past_the_end() -> bytes:
    """A snappy Parquet file whose first page header says its page is far longer than the file.

    The header follows the magic: thrift fields 1 (type), 2 (uncompressed size) and 3 (compressed
    size), each an i32 (0x15) and a zigzag varint. The compressed size is made the largest varint
    of the same length, so that nothing else moves."""
    data = bytearray(parquet(pa.table({"k": pa.array(range(100))}), compression="snappy", use_dictionary=False))
    at = 4
    for _ in range(3):
        assert data[at] == 0x15
        start = at = at + 1
        while data[at] & 0x80:
            at += 1
        at += 1
    data[start:at] = b"\xfe" * (at - start - 1) + b"\x7e"
    return bytes(data)


class _KeysInMemory(pe.KmsClient):
    def __init__(self, _config: pe.KmsConnectionConfig) -> None:
        pe.KmsClient.__init__(self)

    def wrap_key(self, key_bytes: bytes, _master_key_identifier: str) -> bytes:
        return base64.b64encode(key_bytes)

    def unwrap_key(self, wrapped_key: bytes, _master_key_identifier: str) -> bytes:
        return base64.b64decode(wrapped_key)


def encrypted() -> bytes:
    """Parquet modular encryption, footer encrypted too (the default): the file starts and ends with PARE."""
    table = pa.table({"a": pa.array(range(ROWS))})
    properties = pe.CryptoFactory(_KeysInMemory).file_encryption_properties(
        pe.KmsConnectionConfig(), pe.EncryptionConfiguration(footer_key="footer", column_keys={"columns": ["a"]})
    )
    buffer = io.BytesIO()
    with pq.ParquetWriter(buffer, table.schema, encryption_properties=properties) as writer:
        writer.write_table(table)
    return buffer.getvalue()
