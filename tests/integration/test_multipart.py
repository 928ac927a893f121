"""Multipart uploads end to end through the app, with a low threshold so the files stay small."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest
import requests
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from chalice.test import Client

from chalicelib.aws.clients import AwsClients
from chalicelib.services import Services, install
from chalicelib.settings import MIB
from tests.api import Account, ChaliceApi, add_member, download, sign_up
from tests.openapi import assert_conforms

# The keys the data bucket's URLs are signed with here, so that a test can sign as S3 checks.
SIGNING_KEYS = Credentials("AKIAPARTSIGNINGTEST", "part-signing-test-secret")


@pytest.fixture
def api(platform_services: Services, client: Client) -> ChaliceApi:
    settings = platform_services.settings.model_copy(
        update={"multipart_threshold_bytes": 1 * MIB, "multipart_part_bytes": 5 * MIB}
    )
    s3 = platform_services.clients.session.client(
        "s3",
        aws_access_key_id=SIGNING_KEYS.access_key,
        aws_secret_access_key=SIGNING_KEYS.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "auto"}),
    )
    install(Services(settings, AwsClients(platform_services.clients.session, {"s3": s3})))
    transport = ChaliceApi(client)
    transport.aws_client = platform_services.clients.client
    return transport


def _start(api: ChaliceApi, account: Account, size: int) -> dict[str, Any]:
    started = api.call("POST", "/uploads", json_body={"name": "big.csv", "size": size}, token=account.id_token)
    assert started.status == 201, started
    assert_conforms("POST", "/uploads", 201, started.body)
    return started.body


def _part_bytes(number: int, size: int) -> bytes:
    return hashlib.sha256(str(number).encode()).digest() * (size // 32) + b"x" * (size % 32)


def _put(url: str, data: bytes) -> str:
    response = requests.put(url, data=data, timeout=60)
    assert response.status_code == 200
    return response.headers["ETag"]


def test_a_multipart_upload_completes_and_downloads_byte_identical(api: ChaliceApi) -> None:
    account = sign_up(api)
    sizes = [5 * MIB, 5 * MIB, 1 * MIB + 7]
    started = _start(api, account, sum(sizes))
    upload = started["upload"]
    assert (upload["method"], upload["part_size"], upload["part_count"], upload["next_part"]) == (
        "MULTIPART",
        5 * MIB,
        3,
        None,
    )

    etags = [
        _put(part["url"], _part_bytes(part["part_number"], size))
        for part, size in zip(upload["parts"], sizes, strict=True)
    ]
    parts = [{"part_number": number, "etag": etag} for number, etag in enumerate(etags, start=1)]
    completed = api.call(
        "POST", f"/uploads/{started['file_id']}/complete", json_body={"parts": parts}, token=account.id_token
    )
    assert completed.status == 200, completed
    assert_conforms("POST", "/uploads/{file_id}/complete", 200, completed.body)
    assert completed.body["size"] == sum(sizes)

    expected = b"".join(_part_bytes(n, size) for n, size in enumerate(sizes, start=1))
    assert download(api, account, started["file_id"]) == expected
    again = api.call(
        "POST", f"/uploads/{started['file_id']}/complete", json_body={"parts": parts}, token=account.id_token
    )
    assert again.status == 200
    finished = api.call("GET", f"/uploads/{started['file_id']}/parts", token=account.id_token)
    assert (finished.status, finished.error_code) == (409, "upload_finished")


def test_an_interrupted_upload_resumes_with_fresh_urls_and_the_parts_already_there(api: ChaliceApi) -> None:
    account = sign_up(api)
    sizes = [5 * MIB, 2 * MIB]
    started = _start(api, account, sum(sizes))
    first = _put(started["upload"]["parts"][0]["url"], _part_bytes(1, sizes[0]))

    resumed = api.call("GET", f"/uploads/{started['file_id']}/parts?from=1", token=account.id_token)
    assert resumed.status == 200
    assert_conforms("GET", "/uploads/{file_id}/parts", 200, resumed.body)
    parts = resumed.body["upload"]["parts"]
    assert parts[0]["etag"].strip('"') == first.strip('"')
    assert "etag" not in parts[1]
    second = _put(parts[1]["url"], _part_bytes(2, sizes[1]))
    completed = api.call(
        "POST",
        f"/uploads/{started['file_id']}/complete",
        json_body={"parts": [{"part_number": 1, "etag": first}, {"part_number": 2, "etag": second}]},
        token=account.id_token,
    )
    assert completed.status == 200


@pytest.mark.parametrize(
    ("parts", "code"),
    [
        (lambda e: [{"part_number": 1, "etag": e[0]}], "size_mismatch"),
        (lambda e: [{"part_number": 2, "etag": e[1]}, {"part_number": 1, "etag": e[0]}], "invalid_parts"),
        (lambda e: [{"part_number": 1, "etag": e[0]}, {"part_number": 1, "etag": e[0]}], "invalid_parts"),
        (lambda e: [{"part_number": 1, "etag": e[0]}, {"part_number": 2, "etag": '"0000"'}], "invalid_parts"),
        (lambda e: [{"part_number": 1, "etag": e[0]}, {"part_number": 3, "etag": e[1]}], "invalid_parts"),
        (lambda e: [], "invalid_request"),
        (lambda e: [{"part_number": 0, "etag": e[0]}], "invalid_request"),
        (lambda e: [{"part_number": True, "etag": e[0]}, {"part_number": 2, "etag": e[1]}], "invalid_request"),
        (lambda e: [{"part_number": 1.5, "etag": e[0]}, {"part_number": 2, "etag": e[1]}], "invalid_request"),
        (lambda e: [{"part_number": "1", "etag": e[0]}, {"part_number": 2, "etag": e[1]}], "invalid_request"),
    ],
)
def test_a_bad_completion_is_400_and_the_upload_can_still_finish(api: ChaliceApi, parts: Any, code: str) -> None:
    account = sign_up(api)
    sizes = [5 * MIB, 3 * MIB]
    started = _start(api, account, sum(sizes))
    etags = [
        _put(p["url"], _part_bytes(p["part_number"], s)) for p, s in zip(started["upload"]["parts"], sizes, strict=True)
    ]
    path = f"/uploads/{started['file_id']}/complete"
    bad = api.call("POST", path, json_body={"parts": parts(etags)}, token=account.id_token)
    assert (bad.status, bad.error_code) == (400, code)
    good = [{"part_number": n, "etag": e} for n, e in enumerate(etags, start=1)]
    assert api.call("POST", path, json_body={"parts": good}, token=account.id_token).status == 200


def test_deleting_an_upload_in_progress_aborts_it_and_frees_its_quota(api: ChaliceApi) -> None:
    account = sign_up(api)
    started = _start(api, account, 6 * MIB)
    _put(started["upload"]["parts"][0]["url"], _part_bytes(1, 5 * MIB))
    s3 = api.aws_client("s3")
    assert s3.list_multipart_uploads(Bucket="sdp-local-data").get("Uploads")

    assert api.call("DELETE", f"/files/{started['file_id']}", token=account.id_token).status == 204
    uploads = s3.list_multipart_uploads(Bucket="sdp-local-data").get("Uploads", [])
    assert [u for u in uploads if started["file_id"] in u["Key"]] == []
    tenant = api.aws_client("dynamodb").get_item(
        TableName="sdp-local", Key={"PK": {"S": f"TENANT#{account.tenant_id}"}, "SK": {"S": "TENANT"}}
    )["Item"]
    assert (tenant["bytes_used"]["N"], tenant["file_count"]["N"]) == ("0", "0")


def test_a_huge_file_gets_bigger_parts_and_its_urls_in_pages(api: ChaliceApi) -> None:
    account = sign_up(api)
    api.aws_client("dynamodb").update_item(
        TableName="sdp-local",
        Key={"PK": {"S": f"TENANT#{account.tenant_id}"}, "SK": {"S": "TENANT"}},
        UpdateExpression="SET quota_bytes = :b",
        ExpressionAttributeValues={":b": {"N": str(6 * 1024**4)}},
    )
    size = 5 * 1024**4  # 5 TiB: S3 allows 10,000 parts, so parts must grow past 5 MiB
    started = _start(api, account, size)
    upload = started["upload"]
    assert upload["part_size"] == 525 * MIB
    assert upload["part_count"] == 9987
    assert [part["part_number"] for part in upload["parts"]] == list(range(1, 1001))
    assert upload["next_part"] == 1001

    page = api.call("GET", f"/uploads/{started['file_id']}/parts?from=9001", token=account.id_token).body["upload"]
    assert [part["part_number"] for part in page["parts"]] == list(range(9001, 9988))
    assert page["next_part"] is None
    # Strict ASCII digits: "²" and "٣" are digits to str.isdigit(), not to int().
    past = api.call("GET", f"/uploads/{started['file_id']}/parts?from=9988", token=account.id_token).body["upload"]
    assert (past["parts"], past["next_part"]) == ([], None)  # past the last part: an empty page
    for bad in ("0", "10001", "x", "", "-1", "1.0", "+5", " 5", "%C2%B2", "%D9%A3", "%EF%BC%95"):
        reply = api.call("GET", f"/uploads/{started['file_id']}/parts?from={bad}", token=account.id_token)
        assert (reply.status, reply.error_code) == (400, "invalid_request"), bad


def _signature_for(url: str, content_length: int) -> str:
    """The SigV4 signature S3 computes for a PUT of this presigned URL sent with this
    Content-Length (moto checks no signatures: this is the check S3 makes)."""
    parts = urlsplit(url)
    fields = dict(parse_qsl(parts.query))
    unsigned = "&".join(pair for pair in parts.query.split("&") if not pair.startswith("X-Amz-Signature="))
    request = AWSRequest(
        "PUT", urlunsplit(parts._replace(query=unsigned)), headers={"Content-Length": str(content_length)}
    )
    request.context["timestamp"] = fields["X-Amz-Date"]
    auth = S3SigV4QueryAuth(SIGNING_KEYS, "s3", "us-east-1", expires=int(fields["X-Amz-Expires"]))
    return auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)


def test_each_part_url_holds_its_part_to_its_exact_size(api: ChaliceApi) -> None:
    account = sign_up(api)
    size = 2 * 5 * MIB + 7
    started = _start(api, account, size)
    resumed = api.call("GET", f"/uploads/{started['file_id']}/parts?from=2", token=account.id_token)
    assert resumed.status == 200
    assert_conforms("GET", "/uploads/{file_id}/parts", 200, resumed.body)

    for listed in (started["upload"]["parts"], resumed.body["upload"]["parts"]):
        sizes = {part["part_number"]: part["size"] for part in listed}
        assert sizes == {1: 5 * MIB, 2: 5 * MIB, 3: 7} if len(listed) == 3 else {2: 5 * MIB, 3: 7}
        for part in listed:
            url, declared = part["url"], part["size"]
            signed = dict(parse_qsl(urlsplit(url).query))
            assert signed["X-Amz-SignedHeaders"].split(";") == ["content-length", "host"]
            assert signed["X-Amz-Signature"] == _signature_for(url, declared)
            # A part of any other length, larger or smaller, does not match the signature.
            for other in (declared + 1, declared - 1, 5 * 1024**3):
                assert _signature_for(url, other) != signed["X-Amz-Signature"]


def _started_by(api: ChaliceApi, account: Account) -> tuple[str, list[dict[str, Any]]]:
    """A two-part upload `account` started, its parts uploaded: its file id and the parts to complete it."""
    sizes = [5 * MIB, 1 * MIB]
    started = _start(api, account, sum(sizes))
    etags = [
        _put(part["url"], _part_bytes(part["part_number"], size))
        for part, size in zip(started["upload"]["parts"], sizes, strict=True)
    ]
    return started["file_id"], [{"part_number": n, "etag": etag} for n, etag in enumerate(etags, start=1)]


def test_only_the_member_who_started_an_upload_or_an_admin_sends_and_completes_it(api: ChaliceApi) -> None:
    admin = sign_up(api)
    starter, other = add_member(api, admin, "analyst"), add_member(api, admin, "analyst", label="other")
    viewer = add_member(api, admin, "viewer")
    stranger = sign_up(api, label="stranger")
    file_id, parts = _started_by(api, starter)

    for member, status, code in (
        (other, 403, "forbidden"),
        (viewer, 403, "forbidden"),
        (stranger, 404, "file_not_found"),
    ):
        listed = api.call("GET", f"/uploads/{file_id}/parts", token=member.id_token)
        completed = api.call("POST", f"/uploads/{file_id}/complete", json_body={"parts": parts}, token=member.id_token)
        assert (listed.status, listed.error_code) == (status, code), member.email
        assert (completed.status, completed.error_code) == (status, code), member.email
        assert "url" not in str(listed.body)
    assert api.call("GET", f"/files/{file_id}", token=starter.id_token).body["status"] == "UPLOADING"
    s3 = api.aws_client("s3")
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket="sdp-local-data").get("Uploads", [])] == [
        f"tenants/{admin.tenant_id}/raw/{file_id}"
    ]

    assert api.call("GET", f"/uploads/{file_id}/parts", token=starter.id_token).status == 200
    assert api.call("GET", f"/uploads/{file_id}/parts", token=admin.id_token).status == 200
    completed = api.call("POST", f"/uploads/{file_id}/complete", json_body={"parts": parts}, token=admin.id_token)
    assert completed.status == 200, completed

    own_id, own_parts = _started_by(api, other)
    done = api.call("POST", f"/uploads/{own_id}/complete", json_body={"parts": own_parts}, token=other.id_token)
    assert done.status == 200, done
