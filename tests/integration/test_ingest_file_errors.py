"""A file's own problem is never retried as if the platform broke: through the ingest handler, a
file DuckDB cannot read (an encoding or codec it lacks, a corrupt footer or page, a value out of
range, records that are not objects, more memory than ingest gives one file, columns the catalog
cannot describe) ends FAILED at its first delivery with its own code and a message saying what to
do; a failure of the platform (S3, DynamoDB throttling) is still delivered again. The files are made
here, with pyarrow."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from botocore.awsrequest import AWSResponse

from chalicelib.ingest.convert import ConversionDatabase
from chalicelib.ingest.limits import Budget, Limits
from chalicelib.ingest.problems import FileProblem
from chalicelib.ingest.stream import Seen, read_object
from chalicelib.settings import load_settings
from tests.api import upload_direct
from tests.ingestor import Ingestor, refused_at_once
from tests.parquet_files import ROWS, byte_stream_split, encrypted, page_past_the_end, parquet, prices, with_codec

UNSUPPORTED: list[tuple[str, Callable[[], bytes], str]] = [
    (
        "decimals",
        lambda: byte_stream_split(prices(), "price"),
        'Column "price" of this Parquet file uses the BYTE_STREAM_SPLIT encoding on FIXED_LEN_BYTE_ARRAY values, '
        "which the platform cannot read (it reads it on FLOAT, DOUBLE, INT32 and INT64 only): write that column "
        "with PLAIN or dictionary encoding.",
    ),
    (
        "float16",
        lambda: byte_stream_split(pa.table({"h": pa.array([1.5] * ROWS, pa.float16())}), "h"),
        'Column "h" of this Parquet file uses the BYTE_STREAM_SPLIT encoding on FIXED_LEN_BYTE_ARRAY values',
    ),
    (
        "lzo",
        lambda: with_codec(3),
        'Column "a" of this Parquet file is compressed with LZO, which the platform cannot read: write it with '
        "zstd, snappy, gzip, brotli, lz4 or no compression.",
    ),
]


@pytest.mark.parametrize(("case", "make", "says"), UNSUPPORTED, ids=[case[0] for case in UNSUPPORTED])
def test_parquet_the_platform_cannot_read_is_unsupported_at_the_first_delivery(
    ingestor: Ingestor, logs: list[dict[str, Any]], case: str, make: Callable[[], bytes], says: str
) -> None:
    data = make()
    record = refused_at_once(ingestor, f"{case}.parquet", data, logs)
    assert record["error"]["code"] == "unsupported_format"
    assert record["error"]["message"].startswith(says), record["error"]
    assert (record["format"], record["sha256"]) == ("parquet", hashlib.sha256(data).hexdigest())


def test_byte_stream_split_is_read_on_numbers_and_unsupported_on_other_values(
    ingestor: Ingestor, logs: list[dict[str, Any]]
) -> None:
    """The check refuses only what DuckDB cannot read: the same encoding on 4- and 8-byte numbers
    is read, whatever the column's type."""
    table = pa.table(
        {
            "i": pa.array(range(ROWS), pa.int32()),
            "l": pa.array(range(ROWS), pa.int64()),
            "f": pa.array([n / 3 for n in range(ROWS)], pa.float32()),
            "d": pa.array([n / 3 for n in range(ROWS)], pa.float64()),
        }
    )
    data = parquet(table, use_dictionary=False, use_byte_stream_split=["i", "l", "f", "d"])
    record = ingestor.upload("split.parquet", data)
    assert (record["status"], record["row_count"]) == ("READY", ROWS), record["error"]
    assert [column["type"] for column in record["columns"]] == ["integer", "bigint", "real", "double"]
    assert sorted(ingestor.rows(record))[7][:2] == (7, 7)
    refused = refused_at_once(ingestor, "prices.parquet", byte_stream_split(prices(), "price"), logs)
    assert refused["error"]["code"] == "unsupported_format"


def test_an_encrypted_parquet_file_is_unsupported_and_a_csv_that_starts_alike_is_read(
    ingestor: Ingestor, logs: list[dict[str, Any]]
) -> None:
    """Parquet's modular encryption hides the footer too: the file starts and ends with PARE."""
    record = refused_at_once(ingestor, "secret.parquet", encrypted(), logs)
    assert record["error"] == {
        "code": "unsupported_format",
        "message": "This Parquet file is encrypted (its footer too), which the platform cannot read: "
        "upload it unencrypted.",
    }
    alike = ingestor.upload("family.csv", b"PARENT,RELATION\nann,COMPARE")  # "PARE" at both ends, text
    assert (alike["status"], alike["format"], alike["row_count"]) == ("READY", "csv", 1), alike["error"]


def _events() -> bytes:
    return parquet(pa.table({"id": pa.array(range(10_000)), "name": pa.array([f"n{n}" for n in range(10_000)])}))


def _footer_length(data: bytes) -> int:
    return int.from_bytes(data[-8:-4], "little")


def _footer_garbled() -> bytes:
    data = _events()
    footer = _footer_length(data)
    return data[: len(data) - 8 - footer] + b"\xff" * footer + data[-8:]


def _footer_too_long() -> bytes:
    data = _events()
    return data[:-8] + (2 * len(data)).to_bytes(4, "little") + b"PAR1"


def _pages_cut_out() -> bytes:
    """The footer kept, the pages it points to gone."""
    data = _events()
    return data[:4] + data[-8 - _footer_length(data) :]


def _pages_garbled() -> bytes:
    data = bytearray(_events())
    for at in range(100, 400):
        data[at] ^= 0x5A
    return bytes(data)


def _timestamps_out_of_range() -> bytes:
    return parquet(pa.table({"at": pa.array([0, 2**62], pa.timestamp("ms"))}))


MALFORMED: list[tuple[str, Callable[[], bytes], str]] = [
    ("footer garbled", _footer_garbled, "The Parquet file cannot be read: don't know what type: \\x0f"),
    ("footer too long", _footer_too_long, "The Parquet file cannot be read: Footer length error in the file"),
    (
        "pages cut out",
        _pages_cut_out,
        "The Parquet file cannot be read: Prefetch registered for bytes outside the file,",
    ),
    ("pages garbled", _pages_garbled, "The Parquet file cannot be read: Failed to read the file: Snappy decompression"),
    (
        "timestamp out of range",
        _timestamps_out_of_range,
        "The Parquet file cannot be read: Could not convert Timestamp(MS) to Timestamp(US)",
    ),
    ("unknown codec", lambda: with_codec(9), "The Parquet file cannot be read: TProtocolException: Invalid data"),
    (
        "page past the end",
        page_past_the_end,
        "The Parquet file cannot be read: Could not read enough bytes from the file: attempted to read",
    ),
]


@pytest.mark.parametrize(("case", "make", "says"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_a_corrupt_parquet_file_is_malformed_at_the_first_delivery(
    ingestor: Ingestor, logs: list[dict[str, Any]], case: str, make: Callable[[], bytes], says: str
) -> None:
    record = refused_at_once(ingestor, "broken.parquet", make(), logs)
    assert record["error"]["code"] == "malformed_file"
    assert record["error"]["message"].startswith(says), record["error"]
    scratch = ingestor.services.settings.scratch_dir or "/tmp"
    assert scratch not in record["error"]["message"]  # the platform's own paths are not the user's business


# JSON Lines ---------------------------------------------------------------------------------------


def _lines(*records: Any) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def test_json_records_of_many_fields_or_sparse_fields_are_rows_not_maps(ingestor: Ingestor) -> None:
    """DuckDB makes a map of an object with over 200 fields, or with fields most records lack;
    records must stay rows, one column per field."""
    wide = ingestor.upload("wide.jsonl", _lines(*({f"k{n}": n + r for n in range(250)} for r in range(3))))
    assert (wide["status"], wide["row_count"], len(wide["columns"])) == ("READY", 3, 250), wide["error"]
    sparse = ingestor.upload("sparse.jsonl", _lines(*({"id": n, f"k{n}": n} for n in range(300))))
    assert (sparse["status"], len(sparse["columns"])) == ("READY", 301), sparse["error"]
    assert sorted(ingestor.rows(sparse))[5][:7] == (5, None, None, None, None, None, 5)


NOT_RECORDS: list[tuple[str, bytes, str, str]] = [
    (
        "a number",
        _lines({"a": 1}, {"a": 2}, 5, {"a": 3}),
        "malformed_file",
        "Line 3 is a number, not a JSON object: write one object per line.",
    ),
    (
        "an array far on",
        _lines(*({"a": n} for n in range(30_000)), [1, 2]),
        "malformed_file",
        "Line 30001 is an array, not a JSON object: write one object per line.",
    ),
    (
        "a field of no name",
        _lines({"a": 1}, {"": 2}),
        "malformed_file",
        'Line 2 has a field with an empty name (""): every field needs a name to be a column.',
    ),
    ("no field at all", _lines({}, None, {}), "malformed_file", "No record has a field: there is no column to read."),
]


@pytest.mark.parametrize(("case", "data", "code", "says"), NOT_RECORDS, ids=[case[0] for case in NOT_RECORDS])
def test_json_lines_that_are_not_records_are_malformed_at_the_first_delivery(
    ingestor: Ingestor, logs: list[dict[str, Any]], case: str, data: bytes, code: str, says: str
) -> None:
    record = refused_at_once(ingestor, "lines.jsonl", data, logs)
    assert record["error"] == {"code": code, "message": says}


def test_json_records_with_more_fields_between_them_than_columns_are_too_many_columns(
    limited: Any, logs: list[dict[str, Any]]
) -> None:
    ingestor = limited(ingest_max_columns=10)
    record = refused_at_once(ingestor, "sparse.jsonl", _lines(*({"id": n, f"k{n}": n} for n in range(20))), logs)
    assert record["error"] == {
        "code": "too_many_columns",
        "message": "The records have more than 10 fields between them; at most 10 are read.",
    }


# Memory -------------------------------------------------------------------------------------------


def _one_long_value(megabytes: int) -> bytes:
    """A Parquet file of a few KiB (zstd) holding one value of `megabytes` MiB."""
    return parquet(pa.table({"text": pa.array(["x" * (megabytes << 20)]), "n": [1]}), compression="zstd")


def test_a_file_that_needs_more_memory_than_ingest_gives_is_too_large_at_the_first_delivery(
    limited: Any, logs: list[dict[str, Any]]
) -> None:
    """Converting a 40 MiB value takes more than 128 MB and less than 256 MB: the configured limit
    decides, and a file over it is refused once, not delivered again."""
    data = _one_long_value(40)
    assert len(data) < 64 * 1024
    record = refused_at_once(limited(ingest_memory_limit="128MB"), "long.parquet", data, logs)
    assert record["error"] == {
        "code": "file_too_large",
        "message": "Converting the file needs more memory than ingest gives one file (128MB), even spilling "
        "to disk: its values or rows are too large. Split it into smaller files, or shorten its longest values.",
    }
    roomier = limited(ingest_memory_limit="256MB").upload("long.parquet", data)
    assert (roomier["status"], roomier["row_count"]) == ("READY", 1), roomier["error"]


# Columns the catalog and the record cannot hold ------------------------------------------------


def test_columns_too_long_to_describe_are_too_many_columns_at_the_first_delivery(
    ingestor: Ingestor, logs: list[dict[str, Any]]
) -> None:
    """1,500 columns named with 200 characters each: far fewer than the limit, but a record that
    describes them is over DynamoDB's 400 KB item."""
    names = [f"{n:04d} " + "x" * 195 for n in range(1500)]
    data = (",".join(names) + "\n" + ",".join("1" for _ in names) + "\n").encode()
    record = refused_at_once(ingestor, "long names.csv", data, logs)
    assert record["error"]["code"] == "too_many_columns"
    assert record["error"]["message"].startswith("The file's 1500 columns take ")
    assert record["error"]["message"].endswith(
        "bytes to describe (names, original names and types), more than a file's record holds (262144): use "
        "fewer or shorter column names, or split the columns into several files."
    )


def test_a_column_type_too_long_for_the_catalog_is_too_many_columns_at_the_first_delivery(
    ingestor: Ingestor, logs: list[dict[str, Any]]
) -> None:
    """A record holding 150 objects of 10 fields each, named with 115 characters: Glue takes at
    most 131,072 characters for a column's type."""
    group = {f"field {n} " + "y" * 107: n for n in range(10)}
    record = refused_at_once(
        ingestor, "deep.jsonl", _lines({"id": 1, "o": {f"group {g}": group for g in range(150)}}), logs
    )
    assert record["error"]["code"] == "too_many_columns"
    assert record["error"]["message"].startswith('The type of column "o" takes ')
    assert record["error"]["message"].endswith(
        "characters to write, more than the catalog holds (131072): it has too many fields, or their names "
        "are too long."
    )


# The platform's own failures ------------------------------------------------------------------


class _Raw:
    """An HTTP body botocore can read, for an answer made up in a test."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def test_an_s3_failure_is_delivered_again(ingestor: Ingestor, logs: list[dict[str, Any]]) -> None:
    """S3 answers the ingest's first read with errors (500, through botocore's own retries): the
    message fails, the queue delivers it again, and the file is READY then."""
    s3 = ingestor.tenant.clients.s3
    failed: list[str] = []

    def internal_error(request: Any, **_: Any) -> AWSResponse | None:
        if len(failed) == 5:  # the first delivery's call and botocore's four retries, with backoff
            return None
        failed.append(request.url)
        body = b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
        return AWSResponse(request.url, 500, {"Content-Type": "application/xml"}, _Raw(body))

    s3.meta.events.register("before-send.s3.GetObject", internal_error)
    try:
        record = ingestor.upload("sales.csv", b"region,amount\nnorth,1.5\nsouth,2\n")
    finally:
        s3.meta.events.unregister("before-send.s3.GetObject", internal_error)
    assert len(failed) == 5
    assert [entry["receive_count"] for entry in logs if entry["message"] == "message failed"] == [1]
    assert (record["status"], record["row_count"]) == ("READY", 2), record["error"]


def test_dynamodb_throttling_is_delivered_again(ingestor: Ingestor, logs: list[dict[str, Any]]) -> None:
    """The table is still throttling the ingest's first write (its claim) after botocore's
    retries: the message fails, the queue delivers it again, and the file is READY then. (Answered
    before the call, so that moto, which sees every request sent, never applies it.)"""
    dynamodb = ingestor.tenant.clients.dynamodb
    throttled: list[str] = []

    def still_throttled(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if throttled:
            return None
        throttled.append(model.name)
        error = {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}
        return AWSResponse("https://dynamodb", 400, {}, _Raw(b"")), {"Error": error, "ResponseMetadata": {}}

    reply = upload_direct(ingestor.api, ingestor.account, "sales.csv", b"region,amount\nnorth,1.5\nsouth,2\n")
    assert reply.status == 201, reply
    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", still_throttled)
    try:
        ingestor.drain()
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", still_throttled)
    assert throttled == ["TransactWriteItems"]
    assert [entry["receive_count"] for entry in logs if entry["message"] == "message failed"] == [1]
    record = ingestor.record(reply.body["file_id"])
    assert (record["status"], record["row_count"]) == ("READY", 2), record["error"]


# Fuzzed files -------------------------------------------------------------------------------------


def _fuzzed(base: bytes, rng: random.Random) -> bytes:
    """`base` with a few bytes changed, a run zeroed, or cut short with its magic put back."""
    data = bytearray(base)
    kind = rng.randrange(3)
    if kind == 0:
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(4, len(data) - 4)] = rng.randrange(256)
    elif kind == 1:
        at = rng.randrange(4, len(data) - 4)
        end = min(len(data) - 4, at + rng.randint(1, 200))
        data[at:end] = bytes(end - at)
    else:
        data = data[: rng.randrange(8, len(data) - 4)] + b"PAR1"
    return bytes(data)


FUZZ_BASES: list[tuple[str, Callable[[], bytes]]] = [
    ("snappy", _events),
    (
        "zstd dictionary",
        lambda: parquet(pa.table({"k": pa.array(["x", "y"] * 500).dictionary_encode()}), compression="zstd"),
    ),
    (
        "nested",
        lambda: parquet(
            pa.table(
                {
                    "o": pa.array([{"b": [{"c": [n]}]} for n in range(ROWS)]),
                    "m": pa.array([[("k", n)] for n in range(ROWS)], pa.map_(pa.string(), pa.int64())),
                }
            )
        ),
    ),
    (
        "delta",
        lambda: parquet(
            pa.table({"s": pa.array([f"s{n}" for n in range(ROWS)]), "i": pa.array(range(ROWS))}),
            use_dictionary=False,
            column_encoding={"s": "DELTA_BYTE_ARRAY", "i": "DELTA_BINARY_PACKED"},
            data_page_version="2.0",
        ),
    ),
    (
        "int96",
        lambda: parquet(
            pa.table({"t": pa.array(range(ROWS), pa.timestamp("ns"))}), use_deprecated_int96_timestamps=True
        ),
    ),
    ("decimals", lambda: parquet(prices(), compression="gzip")),
]


@pytest.mark.parametrize(("base", "make"), FUZZ_BASES, ids=[case[0] for case in FUZZ_BASES])
def test_a_fuzzed_parquet_file_is_read_or_is_the_files_problem(
    tmp_path: Path, base: str, make: Callable[[], bytes]
) -> None:
    """Whatever is wrong with a Parquet file's bytes is the file's problem: the read ends with a
    table or a FileProblem, never an error the queue would deliver again."""
    limits = Limits.from_settings(load_settings())
    original = make()
    rng = random.Random(base)
    outcomes: set[str] = set()
    with ConversionDatabase(tmp_path, limits) as database:
        for attempt in range(25):
            scratch = tmp_path / str(attempt)
            scratch.mkdir()
            data = _fuzzed(original, rng)
            try:
                read_object([data], scratch, len(data), limits, Budget.unlimited(), Seen(), database)
                outcomes.add("READY")
            except FileProblem as problem:
                outcomes.add(problem.code)
    assert outcomes <= {"READY", "malformed_file", "unsupported_format", "too_deeply_nested", "file_too_large"}
    assert outcomes - {"READY"}, "some of the fuzzed files are broken"


def test_the_curated_row_groups_take_a_share_of_the_memory_limit(limited: Any) -> None:
    """Each thread writing the curated Parquet holds a row group in memory until it is full: with
    64 MB and 2 threads, about 4 MB each (DuckDB's own default, 122,880 rows, would be one of
    10 MB here; for wide rows under a low limit, more than the memory holds)."""
    ingestor = limited(ingest_memory_limit="64MB", ingest_threads=2)
    header = ",".join(f"c{n}" for n in range(100))
    rows = "".join(",".join(str(row + n) for n in range(100)) + "\n" for row in range(12_000))
    record = ingestor.upload("wide.csv.gz", gzip.compress(f"{header}\n{rows}".encode()))
    assert (record["status"], record["row_count"]) == ("READY", 12_000), record["error"]
    folder = ingestor.partition(record)
    groups = duckdb.sql(
        f"SELECT DISTINCT file_name, row_group_id, row_group_bytes FROM parquet_metadata('{folder}/*.parquet')"
    ).fetchall()
    assert len(groups) > 1
    vector = 2048 * 100 * 8  # DuckDB closes a row group at the first vector (2,048 rows) past its target
    assert max(size for _, _, size in groups) <= 64 * 10**6 // 16 + vector
    assert sorted(ingestor.rows(record))[-1][:2] == (11_999, 12_000)
