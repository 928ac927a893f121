"""Uploads at size and under concurrency, over HTTP on the local platform."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.api import Account, HttpApi, sign_up, upload_direct
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


# The client side of a large upload, in a process of its own so that its peak memory is its own:
# PUT each part (made when needed, dropped after) or stream the download, hashing the bytes.
# VmHWM is the process's peak resident memory; read after the imports, it is the baseline.
CLIENT = """
import hashlib, json, sys
import requests

def peak_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

job = json.load(sys.stdin)
baseline = peak_mib()
digest, total, etags = hashlib.sha256(), 0, []
with requests.Session() as session:
    if job["mode"] == "upload":
        for part in job["parts"]:
            length = part["size"]  # the URL signs exactly this Content-Length
            block = hashlib.sha256(part["part_number"].to_bytes(4, "big")).digest() * (2**20 // 32)
            whole, rest = divmod(length, 2**20)
            data = block * whole + block[:rest]
            digest.update(data)
            total += len(data)
            response = session.put(part["url"], data=data, timeout=120)
            assert response.status_code == 200, response.text
            etags.append({"part_number": part["part_number"], "etag": response.headers["ETag"]})
            del data, response  # the response keeps the request, and so the part
    else:
        with session.get(job["url"], stream=True, timeout=120) as response:
            assert response.status_code == 200
            for chunk in response.iter_content(chunk_size=2**20):
                digest.update(chunk)
                total += len(chunk)
print(json.dumps({"sha256": digest.hexdigest(), "bytes": total, "etags": etags, "grew_mib": peak_mib() - baseline}))
"""


def _client(job: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT], input=json.dumps(job), capture_output=True, text=True, check=True, timeout=600
    )
    return json.loads(done.stdout)


def test_a_200_mib_file_goes_up_in_parts_and_comes_back_identical(running_platform: RunningPlatform) -> None:
    api = HttpApi(running_platform.api_url)
    account = sign_up(api)
    size = 200 * MIB

    started = api.call("POST", "/uploads", json_body={"name": "big.csv", "size": size}, token=account.id_token)
    assert started.status == 201, started
    upload = started.body["upload"]
    assert upload["method"] == "MULTIPART"
    part_size = upload["part_size"]
    assert len(upload["parts"]) == upload["part_count"] == -(-size // part_size)
    assert [part["size"] for part in upload["parts"]][-2:] == [part_size, size - (upload["part_count"] - 1) * part_size]
    assert sum(part["size"] for part in upload["parts"]) == size

    sent = _client({"mode": "upload", "parts": upload["parts"]})
    assert sent["bytes"] == size
    completed = api.call(
        "POST",
        f"/uploads/{started.body['file_id']}/complete",
        json_body={"parts": sent["etags"]},
        token=account.id_token,
    )
    assert completed.status == 200, completed
    assert completed.body["size"] == size

    url = api.call("GET", f"/files/{started.body['file_id']}/content", token=account.id_token).body["url"]
    received = _client({"mode": "download", "url": url})
    assert (received["bytes"], received["sha256"]) == (size, sent["sha256"])
    # At most two parts' worth was ever held by the client (a part as it is made), never the file.
    assert sent["grew_mib"] < 3 * part_size / MIB < size / MIB, sent["grew_mib"]
    assert received["grew_mib"] < 3 * part_size / MIB, received["grew_mib"]

    # Deleting it leaves no version of it behind (and the local AWS no 200 MiB to carry along).
    assert api.call("DELETE", f"/files/{started.body['file_id']}", token=account.id_token).status == 204
    s3 = running_platform.aws_client("s3")
    bucket = s3.list_buckets()["Buckets"][0]["Name"]
    left = s3.list_object_versions(Bucket=bucket, Prefix=f"tenants/{account.tenant_id}/")
    assert left.get("Versions", []) + left.get("DeleteMarkers", []) == []


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
