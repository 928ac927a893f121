"""Files through chalice's test client and over HTTP: uploads, reads, downloads, deletes, quotas."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from typing import Any

import pytest
import requests

from tests.api import (
    NOT_IDS,
    Api,
    ChaliceApi,
    add_member,
    download,
    dynamodb_requests,
    ingested_table,
    run_query,
    sign_up,
    upload_direct,
    upload_presigned,
    wait_settled,
)
from tests.ingestor import drain_ingest_queue
from tests.openapi import assert_conforms

TABLE = "sdp-local"
BUCKET = "sdp-local-data"
INGEST_QUEUE = "sdp-local-ingest"
CSV = b"region,amount\nnorth,1.5\nsouth,2\n"


def _tenant_item(api: Api, tenant_id: str) -> dict[str, Any]:
    item = api.aws_client("dynamodb").get_item(
        TableName=TABLE, Key={"PK": {"S": f"TENANT#{tenant_id}"}, "SK": {"S": "TENANT"}}, ConsistentRead=True
    )["Item"]
    return {name: int(value["N"]) for name, value in item.items() if "N" in value}


def _set_quota(api: Api, tenant_id: str, quota_bytes: int, quota_files: int = 1000) -> None:
    api.aws_client("dynamodb").update_item(
        TableName=TABLE,
        Key={"PK": {"S": f"TENANT#{tenant_id}"}, "SK": {"S": "TENANT"}},
        UpdateExpression="SET quota_bytes = :b, quota_files = :f",
        ExpressionAttributeValues={":b": {"N": str(quota_bytes)}, ":f": {"N": str(quota_files)}},
    )


def test_a_direct_upload_is_recorded_and_downloads_byte_identical(api: Api) -> None:
    account = sign_up(api)
    data = bytes(range(256)) * 100  # not UTF-8: must survive as bytes
    reply = upload_direct(api, account, "Sales 2024.csv", data, content_type="text/csv")
    assert reply.status == 201, reply
    assert_conforms("POST", "/files", 201, reply.body)
    record = reply.body
    assert (record["name"], record["size"], record["content_type"]) == ("Sales 2024.csv", len(data), "text/csv")
    assert record["status"] in ("UPLOADING", "PROCESSING", "READY", "FAILED")
    assert record["owner_id"] == account.user_id

    fetched = api.call("GET", f"/files/{record['file_id']}", token=account.id_token)
    assert fetched.status == 200
    assert_conforms("GET", "/files/{file_id}", 200, fetched.body)
    assert fetched.body["file_id"] == record["file_id"]
    assert download(api, account, record["file_id"]) == data


def test_a_presigned_post_upload_downloads_byte_identical(api: Api) -> None:
    account = sign_up(api)
    data = b"\x1f\x8b" + bytes(range(256)) * 40
    file_id = upload_presigned(api, account, "packed.csv.gz", data)
    record = api.call("GET", f"/files/{file_id}", token=account.id_token).body
    assert (record["name"], record["size"]) == ("packed.csv.gz", len(data))
    assert download(api, account, file_id) == data


def test_the_presigned_post_policy_pins_the_key_the_size_and_a_short_expiry(api: Api) -> None:
    account = sign_up(api)
    started = api.call("POST", "/uploads", json_body={"name": "a.csv", "size": 1234}, token=account.id_token)
    assert started.status == 201
    assert_conforms("POST", "/uploads", 201, started.body)
    upload = started.body["upload"]
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    key = f"tenants/{account.tenant_id}/raw/{started.body['file_id']}"

    assert upload["fields"]["key"] == key
    assert {"key": key} in policy["conditions"]
    assert not [c for c in policy["conditions"] if isinstance(c, list) and c[0] == "starts-with" and c[1] == "$key"]
    assert ["content-length-range", 1234, 1234] in policy["conditions"]
    assert {"x-amz-meta-sdp-upload": "presigned-post"} in policy["conditions"]  # tells a POST sent again
    assert {"bucket": BUCKET} in policy["conditions"]
    assert upload["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    expiration = time.mktime(time.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert 0 < expiration - time.time() <= started.body["expires_in"] + 5 <= 3600


def _post(upload: dict[str, Any], data: bytes) -> None:
    """Send bytes to a presigned POST as a browser form does. moto does not check the policy, so it
    takes any size; S3 refuses a size other than the declared one."""
    response = requests.post(upload["url"], data=upload["fields"], files={"file": ("f.csv", data)}, timeout=60)
    assert response.status_code in (200, 201, 204), response.text


def _raw_versions(api: Api, tenant_id: str, file_id: str) -> list[dict[str, Any]]:
    """Every version and delete marker of the file's raw object."""
    key = f"tenants/{tenant_id}/raw/{file_id}"
    listed = api.aws_client("s3").list_object_versions(Bucket=BUCKET, Prefix=key)
    return [v for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []) if v["Key"] == key]


def _ingest_done(api: Api) -> None:
    """Ingest every notification waiting, then wait (at most 60 s) until none is left or in flight:
    over HTTP, the local platform's pump ingests on its own. S3 queues a notification before it
    answers the upload, so an empty queue means every upload so far was seen."""
    api.ingest_pending()
    sqs = api.aws_client("sqs")
    queue = sqs.get_queue_url(QueueName=INGEST_QUEUE)["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    deadline = time.monotonic() + 60
    while any(int(n) for n in sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"].values()):
        assert time.monotonic() < deadline, "ingest did not settle within 60 s"
        time.sleep(0.1)


def _claims(api: Api, tenant_id: str, file_id: str) -> int:
    """How many times ingest claimed the file's record: one per ingest."""
    item = api.aws_client("dynamodb").get_item(
        TableName=TABLE, Key={"PK": {"S": f"TENANT#{tenant_id}"}, "SK": {"S": f"FILE#{file_id}"}}, ConsistentRead=True
    )["Item"]
    return int(item["claims"]["N"])


def _start_post(api: Api, account: Any, name: str, size: int) -> tuple[str, dict[str, Any]]:
    started = api.call("POST", "/uploads", json_body={"name": name, "size": size}, token=account.id_token)
    assert started.status == 201, started
    return started.body["file_id"], started.body["upload"]


def test_a_presigned_post_sent_again_after_ready_neither_replaces_the_file_nor_is_kept(api: Api) -> None:
    account = sign_up(api)
    file_id, upload = _start_post(api, account, "sales.csv", len(CSV))
    _post(upload, CSV)
    ready = wait_settled(api, account, file_id)
    assert ready["status"] == "READY", ready

    same_size = CSV.replace(b"north,1.5", b"west_,9.5")
    assert len(same_size) == len(CSV)
    _post(upload, same_size)
    _post(upload, CSV + b"east,3\n" * 1000)
    assert download(api, account, file_id) == CSV  # the file's own version, even before ingest
    _ingest_done(api)

    assert api.call("GET", f"/files/{file_id}", token=account.id_token).body == ready
    assert _claims(api, account.tenant_id, file_id) == 1  # no second ingest
    assert download(api, account, file_id) == CSV
    assert [v["Size"] for v in _raw_versions(api, account.tenant_id, file_id)] == [len(CSV)]
    assert _tenant_item(api, account.tenant_id).items() >= {"bytes_used": len(CSV), "file_count": 1}.items()
    query = run_query(api, account, "SELECT region FROM sales ORDER BY region")
    assert (query["status"], query["rows"]) == ("SUCCEEDED", [["north"], ["south"]])


def test_a_presigned_post_of_another_size_never_becomes_the_file(api: Api) -> None:
    account = sign_up(api)
    file_id, upload = _start_post(api, account, "sales.csv", len(CSV))
    _post(upload, CSV + b"west,3\n")
    _ingest_done(api)

    waiting = api.call("GET", f"/files/{file_id}", token=account.id_token).body
    assert (waiting["status"], waiting["size"]) == ("UPLOADING", len(CSV))
    assert _raw_versions(api, account.tenant_id, file_id) == []
    content = api.call("GET", f"/files/{file_id}/content", token=account.id_token)
    assert (content.status, content.error_code) == (409, "file_not_uploaded")
    assert _tenant_item(api, account.tenant_id)["bytes_used"] == len(CSV)  # the reservation, no more

    _post(upload, CSV)  # the declared size, while the POST is valid: this one is the file
    record = wait_settled(api, account, file_id)
    assert (record["status"], record["size"], record["row_count"]) == ("READY", len(CSV), 2)
    assert download(api, account, file_id) == CSV
    assert [v["Size"] for v in _raw_versions(api, account.tenant_id, file_id)] == [len(CSV)]
    assert _tenant_item(api, account.tenant_id)["bytes_used"] == len(CSV)


def test_of_several_presigned_posts_one_of_the_declared_size_is_the_file_and_the_only_one_kept(api: Api) -> None:
    account = sign_up(api)
    file_id, upload = _start_post(api, account, "sales.csv", len(CSV))
    other = CSV.replace(b"south,2", b"east_,7")
    for data in (CSV, other, CSV * 3):
        _post(upload, data)
    _ingest_done(api)

    record = api.call("GET", f"/files/{file_id}", token=account.id_token).body
    assert (record["status"], record["size"]) == ("READY", len(CSV))
    kept = download(api, account, file_id)
    assert [v["Size"] for v in _raw_versions(api, account.tenant_id, file_id)] == [len(CSV)]
    assert kept in (CSV, other)  # whichever an ingest claimed first
    assert record["sha256"] == hashlib.sha256(kept).hexdigest()
    assert _claims(api, account.tenant_id, file_id) == 1
    assert _tenant_item(api, account.tenant_id).items() >= {"bytes_used": len(CSV), "file_count": 1}.items()


def test_a_presigned_post_sent_again_after_its_file_was_deleted_does_not_bring_it_back(api: Api) -> None:
    account = sign_up(api)
    file_id, upload = _start_post(api, account, "sales.csv", len(CSV))
    _post(upload, CSV)
    assert wait_settled(api, account, file_id)["status"] == "READY"
    assert api.call("DELETE", f"/files/{file_id}", token=account.id_token).status == 204

    _post(upload, CSV)  # the URL is still valid
    _ingest_done(api)

    assert api.call("GET", f"/files/{file_id}", token=account.id_token).error_code == "file_not_found"
    assert api.call("GET", "/files", token=account.id_token).body["files"] == []
    assert _raw_versions(api, account.tenant_id, file_id) == []
    assert _tenant_item(api, account.tenant_id).items() >= {"bytes_used": 0, "file_count": 0}.items()


def test_files_list_newest_first_in_pages_with_tokens(api: Api) -> None:
    account = sign_up(api)
    ids = [upload_direct(api, account, f"f{n}.csv", CSV).body["file_id"] for n in range(5)]
    seen: list[str] = []
    token = None
    for _ in range(5):
        path = "/files?limit=2" + (f"&next_token={token}" if token else "")
        page = api.call("GET", path, token=account.id_token)
        assert page.status == 200
        assert_conforms("GET", "/files", 200, page.body)
        assert len(page.body["files"]) <= 2
        seen += [record["file_id"] for record in page.body["files"]]
        token = page.body["next_token"]
        if token is None:
            break
    assert seen == list(reversed(ids))


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", "1.5", ""])
def test_a_bad_limit_is_400(api: Api, limit: str) -> None:
    account = sign_up(api)
    reply = api.call("GET", f"/files?limit={limit}", token=account.id_token)
    assert (reply.status, reply.error_code) == (400, "invalid_request")


def test_a_forged_or_foreign_next_token_is_400(api: Api) -> None:
    first, second = sign_up(api), sign_up(api)
    for account in (first, second):
        for n in range(3):
            upload_direct(api, account, f"f{n}.csv", CSV)
    token = api.call("GET", "/files?limit=1", token=first.id_token).body["next_token"]
    _, _, mac = token.partition(".")
    forged_position = base64.urlsafe_b64encode(b"ZZZZZZZZZZZZZZZZZZZZZZZZZZ").rstrip(b"=").decode()
    for bad in (
        f"{forged_position}.{mac}",
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "garbage",
        "a.b.c",
        "%00",
    ):
        reply = api.call("GET", f"/files?next_token={bad}", token=first.id_token)
        assert (reply.status, reply.error_code) == (400, "invalid_token"), bad
    foreign = api.call("GET", f"/files?next_token={token}", token=second.id_token)
    assert (foreign.status, foreign.error_code) == (400, "invalid_token")


@pytest.mark.parametrize("name", ["", "a/b.csv", "a\\b.csv", "tab\there.csv", "new\nline.csv", "x" * 256, "\u0085next"])
def test_a_bad_name_is_400_on_every_upload_path(api: Api, name: str) -> None:
    account = sign_up(api)
    direct = upload_direct(api, account, name, CSV)
    presigned = api.call("POST", "/uploads", json_body={"name": name, "size": 10}, token=account.id_token)
    assert (direct.status, direct.error_code) == (400, "invalid_name")
    assert (presigned.status, presigned.error_code) == (400, "invalid_name")
    assert api.call("GET", "/files", token=account.id_token).body["files"] == []


def test_a_name_with_half_a_surrogate_pair_is_400(api: Api) -> None:
    account = sign_up(api)
    for raw in (b'{"name": "\\ud800x.csv", "size": 10}', b'{"name": "x\\udfff.csv", "size": 10}'):
        reply = api.call(
            "POST", "/uploads", raw=raw, token=account.id_token, headers={"Content-Type": "application/json"}
        )
        assert (reply.status, reply.error_code) == (400, "invalid_request"), raw
        assert reply.body["error"]["message"] == "The body holds text that is not valid Unicode."
    assert _tenant_item(api, account.tenant_id)["file_count"] == 0


def test_a_file_sent_without_a_name_is_named_by_its_id(api: Api) -> None:
    account = sign_up(api)
    reply = api.call("POST", "/files", raw=CSV, token=account.id_token, headers={"Content-Type": "text/csv"})
    assert (reply.status, reply.body["name"]) == (201, reply.body["file_id"])
    assert wait_settled(api, account, reply.body["file_id"])["status"] == "READY"


def test_a_size_or_part_number_written_as_a_whole_decimal_is_that_integer(api: Api) -> None:
    """JSON has one number type: 10.0 is the integer 10, as JSON Schema (and the document) say."""
    account = sign_up(api)
    reply = api.call("POST", "/uploads", json_body={"name": "a.csv", "size": 10.0}, token=account.id_token)
    assert (reply.status, reply.body["upload"]["method"]) == (201, "POST")
    assert api.call("GET", f"/files/{reply.body['file_id']}", token=account.id_token).body["size"] == 10


def test_unicode_names_are_kept(api: Api) -> None:
    account = sign_up(api)
    reply = upload_direct(api, account, "Ventes été 2024 — 売上.csv", CSV)
    assert reply.status == 201
    assert (
        api.call("GET", f"/files/{reply.body['file_id']}", token=account.id_token).body["name"]
        == "Ventes été 2024 — 売上.csv"
    )


def test_an_empty_body_is_400(api: Api) -> None:
    account = sign_up(api)
    reply = upload_direct(api, account, "empty.csv", b"")
    assert (reply.status, reply.error_code) == (400, "empty_file")


def test_a_body_over_the_direct_limit_is_413(api: Api) -> None:
    account = sign_up(api)
    reply = upload_direct(
        api, account, "big.bin", b"x" * (5 * 1024 * 1024 + 1), content_type="application/octet-stream"
    )
    assert (reply.status, reply.error_code) == (413, "payload_too_large")
    assert "/uploads" in reply.body["error"]["message"]
    assert _tenant_item(api, account.tenant_id)["bytes_used"] == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": "a.csv", "size": 0}, "invalid_size"),
        ({"name": "a.csv", "size": -5}, "invalid_size"),
        ({"name": "a.csv", "size": 5 * 1024**4 + 1}, "invalid_size"),
        ({"name": "a.csv", "size": "ten"}, "invalid_request"),
        ({"name": "a.csv", "size": "10"}, "invalid_request"),
        ({"name": "a.csv", "size": True}, "invalid_request"),
        ({"name": "a.csv", "size": 10.5}, "invalid_request"),
        ({"name": "a.csv"}, "invalid_request"),
        ({"name": "a.csv", "size": 10, "key": "tenants/other/raw/x"}, "invalid_request"),
        ({"name": "a.csv", "size": 10, "tenant_id": "other"}, "invalid_request"),
    ],
)
def test_a_bad_upload_request_is_400(api: Api, body: dict[str, Any], code: str) -> None:
    account = sign_up(api)
    reply = api.call("POST", "/uploads", json_body=body, token=account.id_token)
    assert (reply.status, reply.error_code) == (400, code)
    assert _tenant_item(api, account.tenant_id)["file_count"] == 0


def test_the_quota_refuses_what_does_not_fit_and_deleting_makes_room(api: Api) -> None:
    account = sign_up(api)
    _set_quota(api, account.tenant_id, quota_bytes=100, quota_files=3)
    first = upload_direct(api, account, "a.csv", b"x" * 60)
    assert first.status == 201
    over = upload_direct(api, account, "b.csv", b"x" * 41)
    assert (over.status, over.error_code) == (413, "quota_exceeded")
    assert_conforms("POST", "/files", 413, over.body)
    presigned_over = api.call("POST", "/uploads", json_body={"name": "c.csv", "size": 41}, token=account.id_token)
    assert (presigned_over.status, presigned_over.error_code) == (413, "quota_exceeded")
    assert upload_direct(api, account, "d.csv", b"x" * 40).status == 201
    assert _tenant_item(api, account.tenant_id).items() >= {"bytes_used": 100, "file_count": 2}.items()

    assert api.call("DELETE", f"/files/{first.body['file_id']}", token=account.id_token).status == 204
    assert _tenant_item(api, account.tenant_id)["bytes_used"] == 40
    assert upload_direct(api, account, "e.csv", b"x" * 60).status == 201


def test_the_file_count_quota(api: Api) -> None:
    account = sign_up(api)
    _set_quota(api, account.tenant_id, quota_bytes=10**9, quota_files=2)
    assert upload_direct(api, account, "a.csv", CSV).status == 201
    assert upload_direct(api, account, "b.csv", CSV).status == 201
    third = upload_direct(api, account, "c.csv", CSV)
    assert (third.status, third.error_code) == (413, "quota_exceeded")
    assert _tenant_item(api, account.tenant_id)["file_count"] == 2


def test_deleting_a_table_leaves_no_object_version_item_or_table_and_gives_the_quota_back(api: Api) -> None:
    account = sign_up(api)
    record = ingested_table(api, account, "Sales.csv", CSV)
    file_id = record["file_id"]
    s3, dynamodb = api.aws_client("s3"), api.aws_client("dynamodb")
    prefix = f"tenants/{account.tenant_id}/"

    def tenant_versions() -> list[str]:
        versions = s3.list_object_versions(Bucket=BUCKET, Prefix=prefix)
        return sorted(v["Key"] for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []))

    def items(sort_key_prefix: str) -> list[dict[str, Any]]:
        return dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues={":pk": {"S": f"TENANT#{account.tenant_id}"}, ":sk": {"S": sort_key_prefix}},
            ConsistentRead=True,
        )["Items"]

    # What there is to delete: raw and curated objects, the record, the table's name and its listing.
    attempt = re.compile(r"/[0-9a-f]{32}/")  # the ingest attempt's own curated folder
    assert [attempt.sub("/{attempt}/", key) for key in tenant_versions()] == [
        f"{prefix}curated/{file_id}/{{attempt}}/part-0.parquet",
        f"{prefix}raw/{file_id}",
    ]
    assert (len(items("FILE#")), len(items("TABLE#"))) == (1, 1)
    tables = api.call("GET", "/tables", token=account.id_token).body["tables"]
    assert [(t["table"], t["file_id"]) for t in tables] == [("sales", file_id)]

    reply = api.call("DELETE", f"/files/{file_id}", token=account.id_token)
    assert reply.status == 204
    assert tenant_versions() == []
    assert (items("FILE#"), items("TABLE#")) == ([], [])
    assert api.call("GET", "/tables", token=account.id_token).body == {"tables": [], "next_token": None}
    assert _tenant_item(api, account.tenant_id).items() >= {"bytes_used": 0, "file_count": 0}.items()
    assert api.call("GET", f"/files/{file_id}", token=account.id_token).error_code == "file_not_found"
    again = api.call("DELETE", f"/files/{file_id}", token=account.id_token)
    assert (again.status, again.error_code) == (404, "file_not_found")
    assert _tenant_item(api, account.tenant_id)["file_count"] == 0


def test_an_upload_whose_bytes_never_came_is_given_up_after_its_deadline(api: Api) -> None:
    account = sign_up(api)
    started = api.call("POST", "/uploads", json_body={"name": "late.csv", "size": 50}, token=account.id_token).body
    assert _tenant_item(api, account.tenant_id)["bytes_used"] == 50
    content = api.call("GET", f"/files/{started['file_id']}/content", token=account.id_token)
    assert (content.status, content.error_code) == (409, "file_not_uploaded")

    api.aws_client("dynamodb").update_item(
        TableName=TABLE,
        Key={"PK": {"S": f"TENANT#{account.tenant_id}"}, "SK": {"S": f"FILE#{started['file_id']}"}},
        UpdateExpression="SET upload.expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    assert api.call("GET", f"/files/{started['file_id']}", token=account.id_token).status == 404
    assert _tenant_item(api, account.tenant_id).items() >= {"bytes_used": 0, "file_count": 0}.items()


def test_a_viewer_reads_but_cannot_upload_or_delete(api: Api) -> None:
    admin = sign_up(api)
    viewer = add_member(api, admin, "viewer")
    file_id = upload_direct(api, admin, "a.csv", CSV).body["file_id"]

    assert upload_direct(api, viewer, "b.csv", CSV).error_code == "forbidden"
    assert (
        api.call("POST", "/uploads", json_body={"name": "b.csv", "size": 5}, token=viewer.id_token).error_code
        == "forbidden"
    )
    assert api.call("DELETE", f"/files/{file_id}", token=viewer.id_token).error_code == "forbidden"
    assert api.call("GET", f"/files/{file_id}", token=viewer.id_token).status == 200
    assert [f["file_id"] for f in api.call("GET", "/files", token=viewer.id_token).body["files"]] == [file_id]
    assert download(api, viewer, file_id) == CSV
    assert api.call("GET", "/tables", token=viewer.id_token).status == 200


def test_an_analyst_deletes_own_files_only_and_an_admin_any(api: Api) -> None:
    admin = sign_up(api)
    analyst = add_member(api, admin, "analyst")
    other_analyst = add_member(api, admin, "analyst", label="other")
    own = upload_direct(api, analyst, "own.csv", CSV).body["file_id"]
    theirs = upload_direct(api, other_analyst, "theirs.csv", CSV).body["file_id"]
    admins = upload_direct(api, admin, "admins.csv", CSV).body["file_id"]

    refused = api.call("DELETE", f"/files/{theirs}", token=analyst.id_token)
    assert (refused.status, refused.error_code) == (403, "forbidden")
    assert api.call("DELETE", f"/files/{admins}", token=analyst.id_token).status == 403
    assert api.call("DELETE", f"/files/{own}", token=analyst.id_token).status == 204
    assert api.call("DELETE", f"/files/{theirs}", token=admin.id_token).status == 204
    assert [f["file_id"] for f in api.call("GET", "/files", token=admin.id_token).body["files"]] == [admins]


def test_another_tenants_files_answer_404_and_never_appear(api: Api) -> None:
    owner, stranger = sign_up(api, label="owner"), sign_up(api, label="stranger")
    file_id = upload_direct(api, owner, "secret.csv", b"secret,1\n").body["file_id"]
    upload_direct(api, stranger, "mine.csv", CSV)

    for method, path in (
        ("GET", f"/files/{file_id}"),
        ("GET", f"/files/{file_id}/content"),
        ("DELETE", f"/files/{file_id}"),
    ):
        reply = api.call(method, path, token=stranger.id_token)
        assert (reply.status, reply.error_code) == (404, "file_not_found"), path
    assert_conforms("GET", "/files/{file_id}", 404, reply.body)
    for path in ("/uploads/{}/parts", "/uploads/{}/complete"):
        method = "GET" if path.endswith("parts") else "POST"
        body = None if method == "GET" else {"parts": [{"part_number": 1, "etag": "x"}]}
        reply = api.call(method, path.format(file_id), json_body=body, token=stranger.id_token)
        assert (reply.status, reply.error_code) == (404, "file_not_found"), path
    listed = api.call("GET", "/files", token=stranger.id_token).body["files"]
    assert file_id not in {record["file_id"] for record in listed}
    assert download(api, owner, file_id) == b"secret,1\n"


def test_unknown_file_ids_answer_404(api: Api) -> None:
    account = sign_up(api)
    for file_id in ("01HZZZZZZZZZZZZZZZZZZZZZZZ", *NOT_IDS):
        for method, path in (
            ("GET", f"/files/{file_id}"),
            ("GET", f"/files/{file_id}/content"),
            ("DELETE", f"/files/{file_id}"),
            ("GET", f"/uploads/{file_id}/parts"),
            ("POST", f"/uploads/{file_id}/complete"),
        ):
            body = {"parts": [{"part_number": 1, "etag": "x"}]} if method == "POST" else None
            reply = api.call(method, path, json_body=body, token=account.id_token)
            assert (reply.status, reply.error_code) == (404, "file_not_found"), (method, path[:60])


def test_ids_not_shaped_like_a_file_id_are_never_looked_up(platform_services: Any, client: Any) -> None:
    api = ChaliceApi(client)
    account = sign_up(api)
    with dynamodb_requests(platform_services, account.tenant_id) as sent:
        for file_id in NOT_IDS:
            assert api.call("GET", f"/files/{file_id}", token=account.id_token).status == 404
            assert api.call("DELETE", f"/files/{file_id}", token=account.id_token).status == 404
    assert sent  # the caller's membership is read on every request
    assert not [request for request in sent if "FILE#" in request]


def test_deleting_an_upload_that_never_arrived_looks_for_no_tables_and_a_table_is_taken_down(
    platform_services: Any, client: Any, app: Any
) -> None:
    api = ChaliceApi(client)
    api.run_ingest = lambda: drain_ingest_queue(platform_services, app)
    account = sign_up(api)
    started = api.call("POST", "/uploads", json_body={"name": "a.csv", "size": 10}, token=account.id_token)
    table = ingested_table(api, account, "b.csv", CSV)
    with dynamodb_requests(platform_services, account.tenant_id) as never_arrived:
        assert api.call("DELETE", f"/files/{started.body['file_id']}", token=account.id_token).status == 204
    with dynamodb_requests(platform_services, account.tenant_id) as ingested:
        assert api.call("DELETE", f"/files/{table['file_id']}", token=account.id_token).status == 204
    assert not [request for request in never_arrived if "TABLE#" in request]
    assert [request for request in ingested if "TABLE#" in request]  # its name found and released
    assert api.call("GET", "/tables", token=account.id_token).body == {"tables": [], "next_token": None}
    assert api.call("GET", "/files", token=account.id_token).body["files"] == []


def test_completing_an_upload_that_is_not_multipart_is_409(api: Api) -> None:
    account = sign_up(api)
    file_id = upload_presigned(api, account, "a.csv", CSV)
    reply = api.call(
        "POST",
        f"/uploads/{file_id}/complete",
        json_body={"parts": [{"part_number": 1, "etag": "x"}]},
        token=account.id_token,
    )
    assert (reply.status, reply.error_code) == (409, "not_multipart")


def test_a_tenant_without_files_has_no_tables(api: Api) -> None:
    account = sign_up(api)
    reply = api.call("GET", "/tables", token=account.id_token)
    assert reply.status == 200
    assert_conforms("GET", "/tables", 200, reply.body)
    assert reply.body == {"tables": [], "next_token": None}


def _table_pages(api: Api, account: Any, limit: int) -> list[list[str]]:
    """Every page of GET /tables?limit=…, as the names each lists."""
    pages: list[list[str]] = []
    token = None
    while True:
        reply = api.call(
            "GET", f"/tables?limit={limit}" + (f"&next_token={token}" if token else ""), token=account.id_token
        )
        assert reply.status == 200, reply
        assert_conforms("GET", "/tables", 200, reply.body)
        assert len(reply.body["tables"]) <= limit
        pages.append([table["table"] for table in reply.body["tables"]])
        token = reply.body["next_token"]
        if token is None:
            return pages
        assert len(pages) < 10, pages


def test_tables_list_in_name_order_in_pages_each_once_and_never_another_tenants(api: Api) -> None:
    owner, stranger = sign_up(api, label="owner"), sign_up(api, label="stranger")
    for name in ("orders", "customers", "sales", "returns", "items"):
        ingested_table(api, owner, f"{name}.csv", CSV)
    ingested_table(api, stranger, "secret.csv", CSV)

    pages = _table_pages(api, owner, limit=2)
    assert pages[:3] == [["customers", "items"], ["orders", "returns"], ["sales"]]
    assert [name for page in pages for name in page] == ["customers", "items", "orders", "returns", "sales"]
    first = api.call("GET", "/tables", token=owner.id_token).body  # no parameters: the first 100
    assert ([t["table"] for t in first["tables"]], first["next_token"]) == (
        ["customers", "items", "orders", "returns", "sales"],
        None,
    )
    assert [t["table"] for t in api.call("GET", "/tables", token=stranger.id_token).body["tables"]] == ["secret"]

    token = api.call("GET", "/tables?limit=1", token=owner.id_token).body["next_token"]
    files_token = api.call("GET", "/files?limit=1", token=owner.id_token).body["next_token"]
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "garbage", files_token):
        reply = api.call("GET", f"/tables?next_token={bad}", token=owner.id_token)
        assert (reply.status, reply.error_code) == (400, "invalid_token"), bad
    foreign = api.call("GET", f"/tables?next_token={token}", token=stranger.id_token)
    assert (foreign.status, foreign.error_code) == (400, "invalid_token")
    for limit in ("0", "1001", "x"):
        reply = api.call("GET", f"/tables?limit={limit}", token=owner.id_token)
        assert (reply.status, reply.error_code) == (400, "invalid_request"), limit


def test_files_of_one_name_are_named_with_suffixes_never_handed_out_twice(api: Api) -> None:
    account = sign_up(api)
    ingested_table(api, account, "data_3.csv", CSV)
    records = [ingested_table(api, account, "data.csv", CSV) for _ in range(4)]
    assert [record["table"] for record in records] == ["data", "data_2", "data_4", "data_5"]
    assert api.call("DELETE", f"/files/{records[1]['file_id']}", token=account.id_token).status == 204
    assert ingested_table(api, account, "data.csv", CSV)["table"] == "data_6"  # data_2 is not taken again
    assert api.call("DELETE", f"/files/{records[0]['file_id']}", token=account.id_token).status == 204
    assert ingested_table(api, account, "data.csv", CSV)["table"] == "data"  # the name itself is


# --- Forms: HTML forms and `curl -F` ------------------------------------------------------------


def _form(*fields: tuple[str, Any]) -> tuple[bytes, str]:
    """A multipart/form-data body as curl -F and browsers send it (urllib3 writes the same envelope)."""
    from urllib3 import encode_multipart_formdata

    return encode_multipart_formdata(list(fields))


def _post_form(api: Api, account: Any, body: bytes, content_type: str, name: str | None = None) -> Any:
    path = "/files" + (f"?name={name}" if name else "")
    return api.call("POST", path, token=account.id_token, raw=body, headers={"Content-Type": content_type})


def _jsonl() -> bytes:
    return b'{"region": "north", "amount": 3}\n{"region": "south", "amount": 2}\n'


def _parquet() -> bytes:
    import pyarrow as pa

    from tests.parquet_files import parquet

    return parquet(pa.table({"region": ["north", "south"], "amount": [3, 2]}))


@pytest.mark.parametrize(
    ("filename", "data", "content_type"),
    [
        ("sales.csv", CSV, "text/csv"),
        ("sales.jsonl", _jsonl(), "application/x-ndjson"),
        ("sales.parquet", _parquet(), "application/vnd.apache.parquet"),
    ],
    ids=["csv", "jsonl", "parquet"],
)
def test_a_form_upload_stores_the_file_part_alone_and_ends_ready(
    api: Api, filename: str, data: bytes, content_type: str
) -> None:
    account = sign_up(api)
    body, form_type = _form(("file", (filename, data, content_type)))
    reply = _post_form(api, account, body, form_type)
    assert reply.status == 201, reply
    assert (reply.body["name"], reply.body["size"], reply.body["content_type"]) == (filename, len(data), content_type)
    record = wait_settled(api, account, reply.body["file_id"])
    assert (record["status"], record["row_count"]) == ("READY", 2), record
    assert download(api, account, reply.body["file_id"]) == data  # the part's bytes, not the envelope
    assert record["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_form_upload_takes_its_name_from_the_query_before_the_file_part(api: Api) -> None:
    account = sign_up(api)
    body, form_type = _form(("file", ("export (3).csv", CSV, "text/csv")))
    reply = _post_form(api, account, body, form_type, name="sales.csv")
    assert (reply.status, reply.body["name"]) == (201, "sales.csv")
    empty = api.call("POST", "/files?name=", token=account.id_token, raw=body, headers={"Content-Type": form_type})
    assert (empty.status, empty.error_code) == (400, "invalid_name")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ([("file", ("sales.csv", CSV, "text/csv")), ("note", "hello")], "unexpected_form_field"),
        ([("note", "hello")], "unexpected_form_field"),
        ([("file", ("a.csv", CSV, "text/csv")), ("other", ("b.csv", CSV, "text/csv"))], "unexpected_form_field"),
        ([("file", ("sales.csv", b"", "text/csv"))], "empty_file"),
    ],
    ids=["extra-field", "no-file", "two-files", "empty-file"],
)
def test_a_form_with_anything_but_one_file_is_refused_and_nothing_is_stored(
    api: Api, fields: list[tuple[str, Any]], code: str
) -> None:
    account = sign_up(api)
    body, form_type = _form(*fields)
    reply = _post_form(api, account, body, form_type)
    assert (reply.status, reply.error_code) == (400, code), reply
    assert api.call("GET", "/files", token=account.id_token).body["files"] == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'--abc\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\na,b\n1,2', "abc"),
        (b"not a form at all", "abc"),
        (b"--abc--\r\n", "abc"),
        (b"a,b\n1,2\n", None),
    ],
    ids=["cut-short", "garbage", "no-parts", "no-boundary"],
)
def test_a_form_that_cannot_be_read_is_400_invalid_request(api: Api, body: bytes, content_type: str | None) -> None:
    account = sign_up(api)
    form_type = "multipart/form-data" + (f"; boundary={content_type}" if content_type else "")
    reply = _post_form(api, account, body, form_type)
    assert (reply.status, reply.error_code) == (400, "invalid_request"), reply
    assert api.call("GET", "/files", token=account.id_token).body["files"] == []


def _raw_form(disposition: str, data: bytes) -> bytes:
    """One part, its Content-Disposition in UTF-8 as browsers send it."""
    return b"--abc\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n" + data + b"\r\n--abc--\r\n"


def test_a_form_part_named_beyond_latin_1_is_read_as_utf_8(api: Api) -> None:
    account = sign_up(api)
    form_type = "multipart/form-data; boundary=abc"
    named = _raw_form('form-data; name="file"; filename="продажи 📈.csv"', CSV)
    reply = _post_form(api, account, named, form_type)
    assert (reply.status, reply.body["name"]) == (201, "продажи 📈.csv")
    odd_type = _raw_form('form-data; name="file"; filename="t.csv"', CSV).replace(
        b"\r\n\r\n", b"\r\nContent-Type: text/\xffcsv\r\n\r\n", 1
    )
    typed = _post_form(api, account, odd_type, form_type)
    assert (typed.status, typed.body["content_type"]) == (201, "application/octet-stream")  # no header S3 takes
    other = _raw_form('form-data; name="򛣛"', b"{}")
    refused = _post_form(api, account, other, form_type)
    assert (refused.status, refused.error_code) == (400, "unexpected_form_field"), refused
    assert len(api.call("GET", "/files", token=account.id_token).body["files"]) == 2


def test_a_form_whose_file_is_over_the_direct_upload_limit_is_413(api: Api) -> None:
    account = sign_up(api)
    body, form_type = _form(("file", ("big.csv", b"a\n" + b"1\n" * (3 * 1024 * 1024), "text/csv")))
    reply = _post_form(api, account, body, form_type)
    assert (reply.status, reply.error_code) == (413, "payload_too_large"), reply
