"""The ingest corpus: each file uploaded through the API, delivered by S3 → SQS to the ingest
handler, ends READY with its exact row count and right types, or FAILED with a precise reason."""

from __future__ import annotations

import gzip
import io
import random
import zipfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb
import pytest
from chalice.test import Client

from chalicelib.ingest.detect import LATIN1_NOTE
from chalicelib.ingest.pipeline import Ingest
from chalicelib.keys import curated_prefix
from chalicelib.services import Services, TenantServices, install
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


def test_latin1_text_is_read_as_latin1_and_the_record_says_so(ingestor: Ingestor) -> None:
    record = ingestor.upload("latin1.csv", (CORPUS / "latin1.csv").read_bytes())
    assert sorted(ingestor.rows(record)) == [("François", "Zürich"), ("José", "München")]
    assert record["notes"] == [LATIN1_NOTE]
    assert "Latin-1" in record["notes"][0]


def test_utf8_text_has_no_notes(ingestor: Ingestor) -> None:
    record = ingestor.upload("semicolon_bom.csv", (CORPUS / "semicolon_bom.csv").read_bytes())
    assert (record["status"], record["notes"]) == ("READY", [])


# ASCII well past what detection samples (1 MiB), then one Latin-1 byte: the file is not UTF-8.
LATE_LATIN1 = b"id,city\n" + b"".join(b"%d,Paris\n" % n for n in range(200_000)) + b"200000,Z\xfcrich\n"


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_a_file_that_is_not_utf8_only_past_the_sample_is_read_as_latin1(ingestor: Ingestor, compress: bool) -> None:
    assert len(LATE_LATIN1) > 2 * 1024 * 1024
    data = gzip.compress(LATE_LATIN1) if compress else LATE_LATIN1
    record = ingestor.upload("late.csv.gz" if compress else "late.csv", data)
    assert record["status"] == "READY", record["error"]
    assert (record["row_count"], _types(record), record["notes"]) == (
        200_001,
        {"id": "bigint", "city": "varchar"},
        [LATIN1_NOTE],
    )
    assert (200_000, "Zürich") in ingestor.rows(record)


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


def test_nested_field_names_become_safe_names_at_every_depth(ingestor: Ingestor) -> None:
    record = ingestor.upload("nested_names.jsonl", (CORPUS / "nested_names.jsonl").read_bytes())
    assert record["status"] == "READY", record["error"]
    assert record["columns"][1] == {
        "name": "customer",
        "type": (
            "row(first_name varchar, c_2nd bigint, orders array(row(order_id bigint, line_items row(sku varchar))))"
        ),
        "original_name": "Customer",
    }
    assert sorted(ingestor.rows(record), key=lambda row: row[0]) == [
        (1, {"first_name": "Ann", "c_2nd": 2, "orders": [{"order_id": 7, "line_items": {"sku": "a"}}]}),
        (2, {"first_name": "Bob", "c_2nd": None, "orders": []}),
        (3, None),
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
    assert _types(record) == {"id": "bigint", "comment": "varchar", "amount": "double"}
    assert record["table"] == "quoted"
    assert sorted(ingestor.rows(record))[1] == (2, "line one\nline two", 20.0)


def test_a_gzip_of_several_members_padded_with_zeros_is_read_whole(ingestor: Ingestor) -> None:
    """As gzip(1) reads it: each member in turn, the zero bytes some tools pad files with skipped."""
    data = gzip.compress(b"id,name\n1,ann\n") + gzip.compress(b"2,bob\n") + b"\x00" * 64
    record = ingestor.upload("members.csv.gz", data)
    assert (record["status"], record["compression"], record["row_count"]) == ("READY", "gzip", 2), record["error"]
    assert sorted(ingestor.rows(record)) == [(1, "ann"), (2, "bob")]


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
        "{'k': i::VARCHAR} AS obj, TIME '01:02:03' AS clock, "
        "CASE WHEN i > 0 THEN MAP {'m': {'Unit Price': i, 'When': [TIME '01:02:03']}} END AS props "
        "FROM range(1000) t(i)"
    ).write_parquet(str(path))
    record = ingestor.upload("events.parquet", path.read_bytes())
    assert record["status"] == "READY", record["error"]
    assert (record["format"], record["row_count"]) == ("parquet", 1000)
    assert record["columns"][0] == {"name": "event_id", "type": "bigint", "original_name": "Event Id"}
    assert _types(record) == {
        "event_id": "bigint",
        "day": "date",
        "at": "timestamp",
        "at_tz": "timestamp",
        "ratio": "decimal(10,2)",
        "pair": "array(bigint)",
        "obj": "row(k varchar)",
        "clock": "varchar",
        "props": "map(varchar, row(unit_price bigint, when array(varchar)))",
    }
    rows = ingestor.rows(record)
    assert len([row for row in rows if row[0] is None]) == 334
    assert [row[-1] for row in rows if row[0] == 1] == [{"m": {"unit_price": 1, "when": ["01:02:03"]}}]
    assert sum(row[-1] is None for row in rows) == 1  # a null map stays null


def _zip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner.csv", data)
    return buffer.getvalue()


def _compressed_squares() -> bytes:
    return gzip.compress(b"n,square\n" + b"".join(b"%d,%d\n" % (n, n * n) for n in range(2000)))


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
        "Line 2: a quoted value is never closed.",
    ),
    ("broken.jsonl", lambda: (CORPUS / "broken.jsonl").read_bytes(), "malformed_file", "Line 3"),
    ("array.json", lambda: (CORPUS / "array.json").read_bytes(), "unsupported_format", "JSON array"),
    ("blank.csv", lambda: (CORPUS / "blank.csv").read_bytes(), "empty_file", "empty"),
    ("junk.csv", lambda: random.Random(7).randbytes(20_000), "unsupported_format", "binary data"),
    ("archive.csv", lambda: _zip(b"a,b\n1,2\n"), "unsupported_format", "ZIP archive"),
    ("picture.csv", lambda: b"\x89PNG\r\n\x1a\n" + bytes(200), "unsupported_format", "PNG image"),
    ("program.csv", lambda: b"\x7fELF\x02\x01\x01" + bytes(200), "unsupported_format", "ELF executable"),
    ("cut.parquet", lambda: b"PAR1" + bytes(100), "malformed_file", "no Parquet footer"),
    (
        "cut.csv.gz",
        lambda: _compressed_squares()[:5000],
        "malformed_file",
        "The compressed data is corrupt: it ends before its gzip stream does.",
    ),
    (
        "garbled.csv.gz",
        lambda: _compressed_squares()[:10] + b"\xff" * 40 + _compressed_squares()[50:],
        "malformed_file",
        "The compressed data is corrupt: Error -3 while decompressing data: invalid block type.",
    ),
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
    assert says, "every failure's message is checked"
    assert says in record["error"]["message"], record["error"]
    assert (record["table"], record["row_count"], record["columns"]) == (None, None, [])
    assert record["sha256"] is not None
    assert ingestor.api.call("GET", "/tables", token=ingestor.account.id_token).body == {
        "tables": [],
        "next_token": None,
    }


def test_a_failed_files_bytes_stay_downloadable(ingestor: Ingestor) -> None:
    from tests.api import download

    data = (CORPUS / "ragged.csv").read_bytes()
    record = ingestor.upload("ragged.csv", data)
    assert record["status"] == "FAILED"
    assert download(ingestor.api, ingestor.account, record["file_id"]) == data


# Reading in pieces: a plain CSV is cut at record boundaries while it arrives and each piece is
# converted while the next arrives. Whatever the file, the outcome must be the whole file's.

SMALL_PIECE = 64 * 1024


class _SmallPiecesTenant(TenantServices):
    """A tenant's services, cutting files into 64 KiB pieces (after the first MiB)."""

    @cached_property
    def ingest(self) -> Ingest:
        databases = self._platform.conversion_databases
        return Ingest(
            self.records, self.tables, self.objects, self.catalog, self.settings, databases, piece_bytes=SMALL_PIECE
        )


class _SmallPieces(Services):
    tenant_services = _SmallPiecesTenant


@pytest.fixture
def pieces_ingestor(platform_services: Services, client: Client, app: Any) -> Ingestor:
    install(_SmallPieces(platform_services.settings, platform_services.clients))
    return Ingestor(platform_services, client, app)


def _quoted_lines(rows: int) -> bytes:
    """A CSV over 1 MiB whose quoted values hold commas, doubled quotes and newlines throughout."""
    lines = [b"id,comment,amount"]
    for n in range(rows):
        comment = b'"line %d\nsaid ""hi"", twice"' % n if n % 3 == 0 else b"plain %d" % n
        lines.append(b"%d,%s,%d.5" % (n, comment, n))
    return b"\n".join(lines) + b"\n"


def _parts(ingestor: Ingestor, record: dict[str, Any]) -> list[str]:
    return ingestor.stored_keys(curated_prefix(ingestor.account.tenant_id, record["file_id"]))


# Each case, and whether its pieces give up and leave it to the whole-file read (None: either).
CUT_CASES: list[tuple[str, Callable[[], bytes], bool | None]] = [
    ("quoted newlines", lambda: _quoted_lines(60_000), False),
    ("crlf", lambda: _quoted_lines(60_000).replace(b"\n", b"\r\n"), False),
    # A quote inside an unquoted value (read as it is) throws the count of quotes off, so a cut
    # can fall inside a later quoted value: that piece fails, and the whole file is read.
    (
        "stray quotes",
        lambda: b"".join(b'%d,5" screen,1\n' % n for n in range(40_000)) + _quoted_lines(30_000)[18:],
        None,
    ),
    ("late type change", lambda: b"id,v\n" + b"".join(b"%d,%d\n" % (n, n) for n in range(300_000)) + b"1,x\n", True),
    ("late latin-1", lambda: LATE_LATIN1, True),
    ("late ragged row", lambda: b"a,b\n" + b"1,2\n" * 400_000 + b"3\n" + b"4,5\n" * 10, True),
    ("late unterminated quote", lambda: b"a,b\n" + b"1,2\n" * 400_000 + b'3,"open\n4,5\n', True),
]


@pytest.mark.parametrize(("case", "make", "whole_read"), CUT_CASES, ids=[case[0] for case in CUT_CASES])
def test_a_file_read_in_pieces_ends_as_the_whole_file_does(
    ingestor: Ingestor,
    pieces_ingestor: Ingestor,
    logs: list[dict[str, Any]],
    case: str,
    make: Callable[[], bytes],
    whole_read: bool | None,
) -> None:
    data = make()
    assert len(data) > 1.5 * 1024 * 1024, case  # past the first MiB, so that it is cut
    whole = _settled(ingestor, data)
    install(pieces_ingestor.services)
    logs.clear()
    in_pieces = _settled(pieces_ingestor, data)
    assert in_pieces == whole
    gave_up = any(entry["message"].startswith("read in pieces stopped") for entry in logs)
    assert whole_read is None or gave_up == whole_read


def test_a_plain_csv_is_converted_piece_by_piece(pieces_ingestor: Ingestor) -> None:
    data = _quoted_lines(60_000)
    record = pieces_ingestor.upload("quoted.csv", data)
    assert (record["status"], record["row_count"]) == ("READY", 60_000), record["error"]
    assert len(_parts(pieces_ingestor, record)) > 3  # each piece its own Parquet file
    rows = sorted(pieces_ingestor.rows(record))
    assert rows[3] == (3, 'line 3\nsaid "hi", twice', 3.5)
    assert [row[0] for row in rows] == list(range(60_000))


def test_a_gzip_csv_is_converted_piece_by_piece_as_it_is_inflated(pieces_ingestor: Ingestor) -> None:
    data = _quoted_lines(60_000)
    record = pieces_ingestor.upload("quoted.csv.gz", gzip.compress(data))
    assert (record["status"], record["compression"], record["row_count"]) == ("READY", "gzip", 60_000)
    assert len(_parts(pieces_ingestor, record)) > 3  # cut while it arrived, as a plain file is
    assert [row[0] for row in sorted(pieces_ingestor.rows(record))] == list(range(60_000))


def _settled(ingestor: Ingestor, data: bytes) -> dict[str, Any]:
    record = ingestor.upload("cut.csv", data)
    shown = {key: record[key] for key in ("status", "row_count", "columns", "error", "notes", "format")}
    rows = sorted(ingestor.rows(record), key=repr) if record["status"] == "READY" else []
    return {"record": shown, "rows": rows}
