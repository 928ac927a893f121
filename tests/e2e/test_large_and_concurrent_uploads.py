"""Uploads at size and under concurrency, over HTTP on the local platform."""

from __future__ import annotations

import hashlib
import os
import resource
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.api import Account, HttpApi, sign_up, upload_direct
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


def _part(number: int, size: int) -> bytes:
    """Deterministic, incompressible-looking bytes for one part, made when needed and dropped after."""
    block = hashlib.sha256(number.to_bytes(4, "big")).digest() * (MIB // 32)
    whole, rest = divmod(size, MIB)
    return block * whole + block[:rest]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_200_mib_file_goes_up_in_parts_and_comes_back_identical(running_platform: RunningPlatform) -> None:
    api = HttpApi(running_platform.api_url)
    account = sign_up(api)
    size = 200 * MIB
    rss_before = _peak_rss_mib()

    started = api.call("POST", "/uploads", json_body={"name": "big.csv", "size": size}, token=account.id_token)
    assert started.status == 201, started
    upload = started.body["upload"]
    assert upload["method"] == "MULTIPART"
    part_size = upload["part_size"]

    sent = hashlib.sha256()
    parts = []
    with requests.Session() as session:
        for part in upload["parts"]:
            length = min(part_size, size - (part["part_number"] - 1) * part_size)
            data = _part(part["part_number"], length)
            sent.update(data)
            response = session.put(part["url"], data=data, timeout=120)
            assert response.status_code == 200
            parts.append({"part_number": part["part_number"], "etag": response.headers["ETag"]})
            del data
    completed = api.call(
        "POST", f"/uploads/{started.body['file_id']}/complete", json_body={"parts": parts}, token=account.id_token
    )
    assert completed.status == 200, completed
    assert completed.body["size"] == size

    url = api.call("GET", f"/files/{started.body['file_id']}/content", token=account.id_token).body["url"]
    received = hashlib.sha256()
    total = 0
    with requests.get(url, stream=True, timeout=120) as response:
        assert response.status_code == 200
        for chunk in response.iter_content(chunk_size=MIB):
            received.update(chunk)
            total += len(chunk)
    assert total == size
    assert received.hexdigest() == sent.hexdigest()
    # A few parts' worth was ever held here (a part, its copy in the HTTP client), never the file.
    assert _peak_rss_mib() - rss_before < 4 * part_size / MIB < size / MIB


def test_fifty_concurrent_uploads_from_two_tenants_are_all_kept_apart_and_counted(
    running_platform: RunningPlatform,
) -> None:
    api = HttpApi(running_platform.api_url)
    tenants = [sign_up(api, label="a"), sign_up(api, label="b")]
    jobs = [(tenants[n % 2], f"file-{n}.csv", os.urandom(100 + n)) for n in range(50)]

    def upload(job: tuple[Account, str, bytes]) -> tuple[Account, str, bytes, int]:
        account, name, data = job
        reply = upload_direct(HttpApi(running_platform.api_url), account, name, data, "application/octet-stream")
        return account, reply.body.get("file_id", ""), data, reply.status

    with ThreadPoolExecutor(max_workers=25) as pool:
        results = list(pool.map(upload, jobs))
    assert [status for *_, status in results] == [201] * 50

    dynamodb = running_platform.aws_client("dynamodb")
    for account in tenants:
        mine = {file_id: data for owner, file_id, data, _ in results if owner is account}
        listed = api.call("GET", "/files?limit=1000", token=account.id_token).body["files"]
        assert {record["file_id"] for record in listed} == set(mine)
        assert {record["file_id"]: record["size"] for record in listed} == {k: len(v) for k, v in mine.items()}
        tenant = dynamodb.get_item(
            TableName="sdp-local",
            Key={"PK": {"S": f"TENANT#{account.tenant_id}"}, "SK": {"S": "TENANT"}},
            ConsistentRead=True,
        )["Item"]
        assert int(tenant["file_count"]["N"]) == 25
        assert int(tenant["bytes_used"]["N"]) == sum(len(data) for data in mine.values())
        for file_id, data in list(mine.items())[:5]:
            url = api.call("GET", f"/files/{file_id}/content", token=account.id_token).body["url"]
            assert requests.get(url, timeout=30).content == data
