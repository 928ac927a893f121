"""The ingest corpus: each file uploaded through the API, delivered by S3 → SQS to the ingest
handler, ends READY with its exact row count and right types, or FAILED with a precise reason."""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.ingestor import Ingestor

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def _types(record: dict[str, Any]) -> dict[str, str]:
    return {column["name"]: column["type"] for column in record["columns"]}


READY: list[tuple[str, str, int, dict[str, str]]] = [
    ("quoted.csv", "csv", 3, {"id": "bigint", "comment": "varchar", "amount": "double"}),
    ("semicolon_bom.csv", "csv", 2, {"name": "varchar", "city": "varchar", "visits": "bigint"}),
    ("tabs.tsv", "tsv", 2, {"day": "date", "product": "varchar", "units": "bigint"}),
    ("header_only.csv", "csv", 0, {"a": "varchar", "b": "varchar", "c": "varchar"}),
    ("latin1.csv", "csv", 2, {"name": "varchar", "city": "varchar"}),
    ("typed.csv", "csv", 3, {"flag": "boolean", "at": "timestamp", "n": "bigint", "x": "double", "label": "varchar"}),
    ("pipes.csv", "csv", 2, {"k": "varchar", "v": "bigint"}),
    ("hash_lines.csv", "csv", 2, {"id": "varchar", "note": "varchar"}),
    (
        "nested.jsonl",
        "jsonl",
        3,
        {"id": "bigint", "user": "row(name varchar, tags array(varchar))", "score": "double"},
    ),
]


@pytest.mark.parametrize(("name", "format", "rows", "types"), READY, ids=[case[0] for case in READY])
def test_corpus_files_become_tables(
    ingestor: Ingestor, name: str, format: str, rows: int, types: dict[str, str]
) -> None:
    data = (CORPUS / name).read_bytes()
    record = ingestor.upload(name, data)
    assert record["status"] == "READY", record["error"]
    assert (record["format"], record["row_count"], _types(record)) == (format, rows, types)
    assert record["size"] == len(data)
    assert record["table"]
    assert len(ingestor.rows(record)) == rows


def test_quoted_delimiters_and_newlines_stay_inside_their_values(ingestor: Ingestor) -> None:
    record = ingestor.upload("quoted.csv", (CORPUS / "quoted.csv").read_bytes())
    assert sorted(ingestor.rows(record)) == [
        (1, "Hello, world", 10.5),
        (2, "line one\nline two", 20.0),
        (3, 'she said "hi"', 30.25),
    ]


def test_latin1_text_is_read_as_latin1(ingestor: Ingestor) -> None:
    record = ingestor.upload("latin1.csv", (CORPUS / "latin1.csv").read_bytes())
    assert sorted(ingestor.rows(record)) == [("François", "Zürich"), ("José", "München")]


def test_a_bom_does_not_become_part_of_the_first_name(ingestor: Ingestor) -> None:
    record = ingestor.upload("semicolon_bom.csv", (CORPUS / "semicolon_bom.csv").read_bytes())
    assert record["columns"][0] == {"name": "name", "type": "varchar"}


def test_dirty_header_names_become_safe_unique_names_and_keep_the_originals(ingestor: Ingestor) -> None:
    record = ingestor.upload("dirty_headers.csv", (CORPUS / "dirty_headers.csv").read_bytes())
    assert record["columns"] == [
        {"name": "order_id", "type": "bigint", "original_name": "Order ID"},
        {"name": "order_id_2", "type": "bigint", "original_name": "order id"},
        {"name": "c_2024", "type": "bigint", "original_name": "2024"},
        {"name": "column_4", "type": "bigint", "original_name": ""},
        {"name": "amount", "type": "double", "original_name": "Amount (€)"},
    ]


def test_a_column_that_turns_to_text_after_300000_rows_is_text(ingestor: Ingestor) -> None:
    lines = ["id,value"] + [f"{n},{n * 2}" for n in range(300_000)] + ["300000,not a number"]
    lines += [f"{n},{n}" for n in range(300_001, 300_011)]
    record = ingestor.upload("turns.csv", ("\n".join(lines) + "\n").encode())
    assert record["status"] == "READY", record["error"]
    assert record["row_count"] == 300_011
    assert _types(record) == {"id": "bigint", "value": "varchar"}


def test_gzip_csv_is_read_inside(ingestor: Ingestor) -> None:
    data = gzip.compress((CORPUS / "quoted.csv").read_bytes())
    record = ingestor.upload("quoted.csv.gz", data)
    assert (record["status"], record["format"], record["compression"], record["row_count"]) == (
        "READY",
        "csv",
        "gzip",
        3,
    )
    assert record["table"] == "quoted"


def test_very_wide_rows(ingestor: Ingestor) -> None:
    width = 2_000
    header = ",".join(f"c{n}" for n in range(width))
    rows = [",".join(str(n * r) for n in range(width)) for r in range(5)]
    long_value = "x" * (2 * 1024 * 1024)
    rows.append(",".join([long_value] + ["1"] * (width - 1)))
    record = ingestor.upload("wide.csv", ("\n".join([header, *rows]) + "\n").encode())
    assert record["status"] == "READY", record["error"]
    assert (record["row_count"], len(record["columns"])) == (6, width)
    assert _types(record)["c0"] == "varchar"
    assert _types(record)["c1"] == "bigint"


def test_parquet_with_nulls_dates_and_timestamps_is_read_from_its_footer(ingestor: Ingestor, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    duckdb.sql(
        "SELECT CASE WHEN i % 3 = 0 THEN NULL ELSE i END AS \"Event Id\", DATE '2024-01-01' + i::INTEGER AS day, "
        "TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (i) HOUR AS at, "
        "TIMESTAMPTZ '2024-01-01 00:00:00+02' AS at_tz, (i / 7)::DECIMAL(10, 2) AS ratio, [i, i + 1] AS pair, "
        "{'k': i::VARCHAR} AS obj, TIME '01:02:03' AS clock FROM range(1000) t(i)"
    ).write_parquet(str(path))
    record = ingestor.upload("events.parquet", path.read_bytes())
    assert record["status"] == "READY", record["error"]
    assert (record["format"], record["row_count"]) == ("parquet", 1000)
    assert record["columns"][0] == {"name": "event_id", "type": "bigint", "original_name": "Event Id"}
    assert _types(record) | {} == {
        "event_id": "bigint",
        "day": "date",
        "at": "timestamp",
        "at_tz": "timestamp",
        "ratio": "decimal(10,2)",
        "pair": "array(bigint)",
        "obj": "row(k varchar)",
        "clock": "varchar",
    }
    nulls = [row for row in ingestor.rows(record) if row[0] is None]
    assert len(nulls) == 334


def _zip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner.csv", data)
    return buffer.getvalue()


FAILED: list[tuple[str, Callable[[], bytes], str, str]] = [
    (
        "ragged.csv",
        lambda: (CORPUS / "ragged.csv").read_bytes(),
        "malformed_file",
        "Line 3: expected 3 fields, found 2.",
    ),
    (
        "unterminated.csv",
        lambda: (CORPUS / "unterminated.csv").read_bytes(),
        "malformed_file",
        "quoted value is never closed",
    ),
    ("broken.jsonl", lambda: (CORPUS / "broken.jsonl").read_bytes(), "malformed_file", "Line 3"),
    ("array.json", lambda: (CORPUS / "array.json").read_bytes(), "unsupported_format", "JSON array"),
    ("blank.csv", lambda: (CORPUS / "blank.csv").read_bytes(), "empty_file", "empty"),
    ("junk.csv", lambda: random.Random(7).randbytes(20_000), "unsupported_format", "binary data"),
    ("archive.csv", lambda: _zip(b"a,b\n1,2\n"), "unsupported_format", "ZIP archive"),
    ("picture.csv", lambda: b"\x89PNG\r\n\x1a\n" + bytes(200), "unsupported_format", "PNG image"),
    ("program.csv", lambda: b"\x7fELF\x02\x01\x01" + bytes(200), "unsupported_format", "ELF executable"),
    ("cut.parquet", lambda: b"PAR1" + bytes(100), "malformed_file", "no Parquet footer"),
    ("corrupt.csv.gz", lambda: gzip.compress(b"a,b\n1,2\n" * 100)[:40] + b"\x00" * 50, "malformed_file", ""),
    (
        "double.csv.gz",
        lambda: gzip.compress(gzip.compress(b"a,b\n1,2\n")),
        "unsupported_format",
        "gzip-compressed twice",
    ),
]


@pytest.mark.parametrize(("name", "make", "code", "says"), FAILED, ids=[case[0] for case in FAILED])
def test_corpus_files_that_cannot_be_tables_fail_with_a_precise_reason(
    ingestor: Ingestor, name: str, make: Callable[[], bytes], code: str, says: str
) -> None:
    data = make()
    record = ingestor.upload(name, data)
    assert record["status"] == "FAILED"
    assert record["error"]["code"] == code, record["error"]
    assert says in record["error"]["message"]
    assert (record["table"], record["row_count"], record["columns"]) == (None, None, [])
    assert record["sha256"] is not None
    assert ingestor.api.call("GET", "/tables", token=ingestor.account.id_token).body == {"tables": []}


def test_a_failed_files_bytes_stay_downloadable(ingestor: Ingestor) -> None:
    from tests.api import download

    data = (CORPUS / "ragged.csv").read_bytes()
    record = ingestor.upload("ragged.csv", data)
    assert record["status"] == "FAILED"
    assert download(ingestor.api, ingestor.account, record["file_id"]) == data
