"""What one file may take (chalicelib/ingest/limits.py), through the ingest handler: a file over
a limit ends FAILED at once with the limit's code, in one delivery, never retried."""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.ingest.convert import ConversionDatabase, Converter
from chalicelib.ingest.detect import detect
from chalicelib.ingest.limits import Budget, Limits
from chalicelib.ingest.problems import OverLimit
from chalicelib.ingest.stream import READ_CHUNK_BYTES, Content, Seen, read_object
from chalicelib.settings import MIB, load_settings
from localplatform.pump import Invocation
from tests.api import upload_direct
from tests.ingestor import Ingestor, refused_at_once

LIMITS = Limits.from_settings(load_settings())


def _bomb(content_bytes: int) -> bytes:
    """A gzip whose content, one row repeated, is `content_bytes` long and about a thousandth of it compressed."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"1,2\n" * (MIB // 4)
    parts = [compressor.compress(b"a,b\n")]
    parts += [compressor.compress(block) for _ in range(content_bytes // MIB)]
    return b"".join(parts) + compressor.flush()


def test_a_gzip_bomb_ends_file_too_large(limited: Any, logs: list[dict[str, Any]]) -> None:
    ingestor = limited(ingest_max_expansion=4)  # 4 MiB of content at most, for any file under 1 MiB
    bomb = _bomb(64 * MIB)
    assert len(bomb) < 200_000
    record = refused_at_once(ingestor, "bomb.csv.gz", bomb, logs)
    assert record["error"]["code"] == "file_too_large"
    assert "more than 4 times its compressed size" in record["error"]["message"]


def test_a_bomb_is_refused_as_it_inflates_not_after() -> None:
    """The content is counted as it is inflated: what the cap refuses is never inflated further,
    however much the stored bytes still hold (here 640 members of 64 MiB each: 40 GiB)."""
    member = gzip.compress(b"0" * 64 * MIB)
    taken: list[int] = []

    def stored() -> Iterator[bytes]:
        for number in range(640):
            taken.append(number)
            yield member

    limits = Limits.from_settings(load_settings().model_copy(update={"ingest_max_content_bytes": 100 * MIB}))
    content = Content(stored(), len(member) * 640, limits)
    inflated: list[int] = []
    with pytest.raises(OverLimit) as refused:
        inflated.extend(len(chunk) for chunk in content)
    assert refused.value.code == "file_too_large"
    assert sum(inflated) <= 100 * MIB
    assert len(taken) == 2  # the second member crossed the cap; nothing after it was read


def test_content_over_the_absolute_cap_ends_file_too_large(limited: Any, logs: list[dict[str, Any]]) -> None:
    ingestor = limited(ingest_max_content_bytes=MIB)
    rows = b"region,amount\n" + b"north,1.5\nsouth,2\n" * 150_000
    assert len(rows) > 2 * MIB

    plain = refused_at_once(ingestor, "plain.csv", rows, logs)
    assert plain["error"] == {
        "code": "file_too_large",
        "message": f"The file's content is larger than {MIB} bytes, the most ingest reads: "
        "split it into smaller files.",
    }
    compressed = refused_at_once(ingestor, "squares.csv.gz", gzip.compress(rows), logs)
    assert compressed["error"]["code"] == "file_too_large"
    assert f"larger than {MIB} bytes once decompressed" in compressed["error"]["message"]


@pytest.mark.parametrize(
    ("name", "data", "count"),
    [
        ("wide.jsonl", json.dumps({f"k{n}": n for n in range(11)}).encode() + b"\n", 11),
        # One column, but a record of ten fields inside it: eleven columns to a table.
        ("nested.jsonl", json.dumps({"user": {f"f{n}": n for n in range(10)}}).encode() + b"\n", 11),
        # Line 1 is narrow; a later record brings the fields.
        (
            "late.jsonl",
            b'{"a": 1}\n' + json.dumps({"a": 2, "more": {f"f{n}": n for n in range(9)}}).encode() + b"\n",
            11,
        ),
    ],
    ids=["jsonl-line-1", "jsonl-nested-fields", "jsonl-later-record"],
)
def test_too_many_columns(limited: Any, logs: list[dict[str, Any]], name: str, data: bytes, count: int) -> None:
    ingestor = limited(ingest_max_columns=10)
    record = refused_at_once(ingestor, name, data, logs)
    assert record["error"] == {
        "code": "too_many_columns",
        "message": f"The file has {count} columns (fields of nested records counted); at most 10 are read.",
    }


def _wide_csv(columns: int) -> bytes:
    return b",".join(b"c%d" % n for n in range(columns)) + b"\n" + b",".join([b"1"] * columns) + b"\n"


def test_a_csv_of_as_many_columns_as_allowed_is_read_and_one_more_is_refused(
    limited: Any, logs: list[dict[str, Any]]
) -> None:
    ingestor = limited(ingest_max_columns=10)
    record = ingestor.upload("ten.csv", _wide_csv(10))
    assert (record["status"], len(record["columns"])) == ("READY", 10)
    refused = refused_at_once(ingestor, "eleven.csv", _wide_csv(11), logs)
    assert refused["error"] == {
        "code": "too_many_columns",
        "message": "The file has 11 columns (fields of nested records counted); at most 10 are read.",
    }


def _nested(depth: int, key: bytes = b"a") -> bytes:
    """A JSON record `depth` levels deep: itself, then lists in lists."""
    return b'{"' + key + b'": ' + b"[" * (depth - 1) + b"1" + b"]" * (depth - 1) + b"}\n"


def test_a_first_line_nested_past_the_limit_ends_too_deeply_nested(
    ingestor: Ingestor, logs: list[dict[str, Any]]
) -> None:
    """Deeper than the parser's stack would go: measured without recursion, refused, not retried."""
    record = refused_at_once(ingestor, "deep.jsonl", _nested(100_000), logs)
    assert record["error"] == {
        "code": "too_deeply_nested",
        "message": f"Line 1 nests objects and arrays 100000 levels deep; at most {LIMITS.max_nesting} are read.",
    }


def test_a_later_record_nested_past_the_limit_ends_too_deeply_nested(limited: Any, logs: list[dict[str, Any]]) -> None:
    ingestor = limited(ingest_max_nesting=3)
    record = refused_at_once(ingestor, "deep.jsonl", _nested(2) + _nested(5, key=b"b"), logs)
    assert record["error"] == {
        "code": "too_deeply_nested",
        "message": "A record nests objects and arrays 5 levels deep; at most 3 are read.",
    }


def test_a_first_line_too_deep_for_the_parser_is_malformed_not_a_platform_error(
    limited: Any, logs: list[dict[str, Any]]
) -> None:
    """With the limit set past what Python's parser can recurse into, its RecursionError is the
    file's problem: malformed_file, in one delivery."""
    ingestor = limited(ingest_max_nesting=1_000_000)
    record = refused_at_once(ingestor, "deep.jsonl", _nested(100_000), logs)
    assert record["error"] == {
        "code": "malformed_file",
        "message": "Line 1 nests objects and arrays too deeply to be read.",
    }


def test_a_file_whose_time_is_spent_ends_ingest_timeout_in_one_delivery(ingestor: Ingestor, app: Any) -> None:
    """The invocation has no more than its margin left: the file ends FAILED at once, with its
    own code, and the message succeeds (the queue does not deliver it again)."""
    settings = ingestor.services.settings
    reply = upload_direct(ingestor.api, ingestor.account, "sales.csv", b"region,amount\nnorth,1.5\n")
    sqs = ingestor.services.clients.client("sqs")
    queue = sqs.get_queue_url(QueueName=settings.ingest_queue_name)["QueueUrl"]
    messages = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages"):
        messages += [m for m in batch if reply.body["file_id"] in m["Body"]]
    [message] = messages
    event = {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message["Attributes"],
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sdp-local-ingest",
                "awsRegion": "us-east-1",
            }
        ]
    }
    almost_over = Invocation("ingest", 3008, settings.ingest_time_margin_seconds * 1000, None)
    assert app.handler_map["ingest"](event, almost_over) == {"batchItemFailures": []}
    record = ingestor.record(reply.body["file_id"])
    assert (record["status"], record["error"]["code"]) == ("FAILED", "ingest_timeout")
    assert record["error"]["message"] == (
        "Reading the file took longer than the 0 seconds ingest gives one file: split it into smaller files."
    )


def _typed_rows(megabytes: int) -> bytes:
    row = b"12345,67.5,abcdef,2024-01-01,true\n"
    return b"id,x,label,day,flag\n" + row * (megabytes * MIB // len(row))


def test_the_budget_interrupts_a_conversion_under_way(tmp_path: Path) -> None:
    """DuckDB is stopped mid-statement: without the interrupt this conversion would run to its end."""
    source = tmp_path / "source"
    source.write_bytes(_typed_rows(400))
    (tmp_path / "curated").mkdir()
    head = source.open("rb").read(1024 * 1024)
    detected = detect(head, b"", limits=LIMITS)
    started = time.monotonic()
    budget = Budget(lambda: 900_000, limit_seconds=0.5, margin_seconds=0)
    with ConversionDatabase(tmp_path, LIMITS) as database:
        converter = Converter(database, LIMITS, budget)
        try:
            with pytest.raises(OverLimit) as stopped:
                converter.convert(source, detected, tmp_path / "curated" / "part-0.parquet")
        finally:
            converter.close()
    assert stopped.value.code == "ingest_timeout"
    assert time.monotonic() - started < 30  # a bound on the wait, not a speed measure


def _trickle(stop_after: float) -> Iterator[bytes]:
    """JSON Lines (read whole once arrived: nothing converts them meanwhile) that go on arriving,
    slowly, for `stop_after` seconds."""
    ends = time.monotonic() + stop_after
    while time.monotonic() < ends:
        yield b'{"id": 1}\n' * (READ_CHUNK_BYTES // 10)
        time.sleep(0.01)


def test_the_budget_stops_a_read_still_arriving(tmp_path: Path) -> None:
    budget = Budget(lambda: 900_000, limit_seconds=0.5, margin_seconds=0)
    started = time.monotonic()
    with ConversionDatabase(tmp_path, LIMITS) as database, pytest.raises(OverLimit) as stopped:
        read_object(_trickle(60), tmp_path, 0, LIMITS, budget, Seen(), database)
    assert stopped.value.code == "ingest_timeout"
    assert time.monotonic() - started < 30  # stopped while the bytes still arrived, not after


def test_a_local_stop_ends_the_ingest_under_way(tmp_path: Path) -> None:
    """The local pump's invocation has no time left once the platform stops: an ingest reading
    the time from it stops too, so that `make run` stops at once."""
    stop = threading.Event()
    invocation = Invocation("ingest", 3008, 900_000, stop)
    budget = Budget(invocation.get_remaining_time_in_millis, limit_seconds=900, margin_seconds=60)
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    with ConversionDatabase(tmp_path, LIMITS) as database, pytest.raises(OverLimit) as stopped:
        read_object(_trickle(60), tmp_path, 0, LIMITS, budget, Seen(), database)
    assert stopped.value.code == "ingest_timeout"
    assert time.monotonic() - started < 30  # stopped while the bytes still arrived, not after
