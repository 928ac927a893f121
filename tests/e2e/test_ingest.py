"""Automatic metadata capture on the running local platform: upload, and the table appears."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api import HttpApi, sign_up, upload_direct, upload_presigned, wait_settled
from tests.local_platform import RunningPlatform
from tests.openapi import assert_conforms

pytestmark = pytest.mark.e2e

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def test_an_upload_becomes_a_typed_table_without_anyone_asking(running_platform: RunningPlatform) -> None:
    api = HttpApi(running_platform.api_url)
    account = sign_up(api)
    reply = upload_direct(api, account, "Quoted Things.csv", (CORPUS / "quoted.csv").read_bytes())
    record = wait_settled(api, account, reply.body["file_id"])
    assert_conforms("GET", "/files/{file_id}", 200, record)
    assert record["status"] == "READY", record["error"]
    assert (record["table"], record["row_count"], record["format"]) == ("quoted_things", 3, "csv")
    assert len(record["sha256"]) == 64
    tables = api.call("GET", "/tables", token=account.id_token).body
    assert_conforms("GET", "/tables", 200, tables)
    assert tables["tables"] == [
        {
            "table": "quoted_things",
            "file_id": record["file_id"],
            "columns": record["columns"],
            "row_count": 3,
            "file_count": 1,
        }
    ]


def test_a_presigned_gzip_upload_is_read_inside(running_platform: RunningPlatform) -> None:
    api = HttpApi(running_platform.api_url)
    account = sign_up(api)
    file_id = upload_presigned(api, account, "Sales 2024.csv.gz", gzip.compress((CORPUS / "tabs.tsv").read_bytes()))
    record = wait_settled(api, account, file_id)
    assert (record["status"], record["format"], record["compression"], record["table"]) == (
        "READY",
        "tsv",
        "gzip",
        "sales_2024",
    )


def test_a_broken_file_fails_with_the_line_and_stays_downloadable(running_platform: RunningPlatform) -> None:
    api = HttpApi(running_platform.api_url)
    account = sign_up(api)
    reply = upload_direct(api, account, "ragged.csv", (CORPUS / "ragged.csv").read_bytes())
    record = wait_settled(api, account, reply.body["file_id"])
    assert record["status"] == "FAILED"
    assert record["error"] == {"code": "malformed_file", "message": "Line 3: expected 3 fields, found 2."}
    assert api.call("GET", f"/files/{record['file_id']}/content", token=account.id_token).status == 200


def test_one_tenants_tables_never_show_up_for_another(running_platform: RunningPlatform) -> None:
    api = HttpApi(running_platform.api_url)
    first, second = sign_up(api), sign_up(api)
    reply = upload_direct(api, first, "secret.csv", b"a,b\n1,2\n")
    wait_settled(api, first, reply.body["file_id"])
    mine = upload_direct(api, second, "secret.csv", b"c\n3\n")
    assert wait_settled(api, second, mine.body["file_id"])["table"] == "secret"  # names are per tenant
    assert [t["file_id"] for t in api.call("GET", "/tables", token=second.id_token).body["tables"]] == [
        mine.body["file_id"]
    ]


@pytest.fixture(scope="module")
def limited_platform() -> Iterator[RunningPlatform]:
    """The platform with ingest's limits scaled down: 4 times its compressed size (of 1 MiB at
    least) is the most a compressed file may expand to; two ingest workers."""
    running = RunningPlatform(
        "--retry-delay", "0", settings={"SDP_INGEST_MAX_EXPANSION": "4", "SDP_INGEST_WORKERS": "2"}
    )
    try:
        yield running
    finally:
        running.stop()


def test_one_tenants_gzip_bomb_fails_while_another_tenants_file_becomes_ready(
    limited_platform: RunningPlatform,
) -> None:
    api = HttpApi(limited_platform.api_url)
    bomber, neighbour = sign_up(api), sign_up(api)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = compressor.compress(b"a,b\n") + compressor.compress(b"1,2\n" * (64 * 1024 * 1024 // 4)) + compressor.flush()

    bombed = upload_direct(api, bomber, "bomb.csv.gz", bomb)
    small = upload_direct(api, neighbour, "small.csv", b"region,amount\nnorth,1.5\n")
    ready = wait_settled(api, neighbour, small.body["file_id"], timeout=60)
    failed = wait_settled(api, bomber, bombed.body["file_id"], timeout=60)

    assert (ready["status"], ready["row_count"]) == ("READY", 1)
    assert (failed["status"], failed["error"]["code"]) == ("FAILED", "file_too_large")
    assert "more than 4 times its compressed size" in failed["error"]["message"]
    assert [t["table"] for t in api.call("GET", "/tables", token=bomber.id_token).body["tables"]] == []
    assert [t["table"] for t in api.call("GET", "/tables", token=neighbour.id_token).body["tables"]] == ["small"]
