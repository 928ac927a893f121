"""`sdp.Client` against the local platform over HTTP; every reply from the API is checked against
docs/openapi.yaml on the way in."""

from __future__ import annotations

import csv
import datetime
import io
from pathlib import Path
from typing import Any

import httpx
import pytest

import sdp
from tests.api import ENDLESS_QUERY, PASSWORD, unique_email
from tests.local_platform import RunningPlatform
from tests.openapi import check_reply

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


class CheckedTransport(httpx.HTTPTransport):
    """Real HTTP; each answer from the API (not from storage) must be one the document allows."""

    def __init__(self, api_url: str) -> None:
        super().__init__()
        self.api_url = api_url

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        url = str(request.url)
        if url.startswith(self.api_url):
            response.read()
            body: Any = response.json() if response.content else None
            check_reply(request.method, url[len(self.api_url) :], response.status_code, body)
        return response


def new_client(platform: RunningPlatform, home: Path) -> sdp.Client:
    client = sdp.Client(platform.api_url, store=sdp.CredentialStore(home), transport=CheckedTransport(platform.api_url))
    address = unique_email("lib")
    assert client.signup(address, PASSWORD).confirmation_required is False
    assert client.login(address, PASSWORD).email == address
    return client


def test_uploads_of_each_size_become_tables_and_results_come_back_every_way(
    running_platform: RunningPlatform, tmp_path: Path
) -> None:
    client = new_client(running_platform, tmp_path / "ann")
    assert client.health().status == "ok"
    small = client.upload(io.BytesIO(b"id,label\n1,one\n2,two\n"), "small.csv")
    assert (small.status, small.table, small.row_count) == ("READY", "small", 2)

    path = tmp_path / "numbers.csv"
    with path.open("w") as target:
        target.write("id,half,day\n")
        n = 0
        while target.tell() <= 4 * MIB + 1:  # just over what goes in the request: a presigned POST
            target.write(f"{n},{n / 2},2024-01-{n % 28 + 1:02d}\n")
            n += 1
    seen: list[int] = []
    numbers = client.upload(path, progress=lambda sent, _total: seen.append(sent))
    assert (numbers.status, numbers.row_count, numbers.size) == ("READY", n, path.stat().st_size)
    assert seen[-1] == path.stat().st_size
    assert [(c.name, c.type) for c in numbers.columns] == [("id", "bigint"), ("half", "double"), ("day", "date")]

    result = client.query("SELECT id, half, day FROM numbers WHERE id < 2500 ORDER BY id")
    assert [c.name for c in result.columns] == ["id", "half", "day"]
    rows = list(result.rows)  # three pages of at most 1,000
    assert len(rows) == 2500
    assert rows[0] == [0, 0.0, "2024-01-01"]
    assert rows[2499] == [2499, 1249.5, f"2024-01-{2499 % 28 + 1:02d}"]

    written = result.to_csv(tmp_path / "out.csv")
    with written.open() as source:
        lines = list(csv.reader(source))
    assert lines[0] == ["id", "half", "day"]
    assert len(lines) == 2501
    frame = result.to_pandas()
    assert frame.shape == (2500, 3)
    assert frame["day"].iloc[0] == datetime.date(2024, 1, 1)
    assert frame["half"].sum() == sum(n / 2 for n in range(2500))
    assert str(result.to_arrow().schema.field("id").type) == "int64"

    assert {t.table for t in client.tables()} == {"small", "numbers"}
    assert [f.file_id for f in client.files()] == [numbers.file_id, small.file_id]
    assert client.table("numbers").row_count == n
    client.delete_file(small.file_id)
    with pytest.raises(sdp.NotFound):
        client.file(small.file_id)


def test_a_failed_file_and_a_failed_or_cancelled_query_raise_with_the_platforms_words(
    running_platform: RunningPlatform, tmp_path: Path
) -> None:
    client = new_client(running_platform, tmp_path / "ann")
    with pytest.raises(sdp.FileFailed) as failed:
        client.upload(io.BytesIO(b'a,b\n1,"open\n'), "broken.csv")
    assert failed.value.code == "malformed_file"
    assert "Line 2" in failed.value.message

    with pytest.raises(sdp.SqlRefused) as refused:
        client.query("SELECT FROM WHERE")
    assert refused.value.code == "invalid_sql"
    assert refused.value.line == 1

    with pytest.raises(sdp.QueryFailed) as division:
        client.query("SELECT 1 / 0")
    assert division.value.code == "query_failed"

    endless = client.query(ENDLESS_QUERY, wait=False)
    assert endless.cancel().status == "CANCELLED"
    with pytest.raises(sdp.QueryFailed) as cancelled:
        endless.wait()
    assert cancelled.value.code == "query_cancelled"


def test_another_tenants_ids_are_not_found_through_the_library(
    running_platform: RunningPlatform, tmp_path: Path
) -> None:
    ann = new_client(running_platform, tmp_path / "ann")
    bob = new_client(running_platform, tmp_path / "bob")
    secret = ann.upload(io.BytesIO(b"code\n4242\n"), "secret.csv")
    asked = ann.query("SELECT code FROM secret")
    assert list(asked.rows) == [[4242]]

    for attempt in (
        lambda: bob.file(secret.file_id),
        lambda: bob.delete_file(secret.file_id),
        lambda: bob.file_content_url(secret.file_id),
        lambda: bob.get_query(asked.query_id),
        lambda: bob.cancel_query(asked.query_id),
        lambda: bob.query_result(asked.query_id),
        lambda: bob.table("secret"),
    ):
        with pytest.raises(sdp.NotFound):
            attempt()
    with pytest.raises(sdp.SqlRefused) as refused:
        bob.query("SELECT code FROM secret")
    assert refused.value.code == "forbidden_sql"
    assert list(bob.files()) == []
    assert list(bob.queries()) == []
    assert ann.file(secret.file_id).status == "READY"
