"""A presigned POST sent again while it is valid: each time a new version of the object and a new
notification. The file is the first version of the declared size an ingest claims; the others go."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import requests

from chalicelib.files.objects import ObjectStore, StoredObject
from chalicelib.files.records import IngestClaim
from chalicelib.ingest.events import RawUpload, object_created_records, raw_upload
from chalicelib.ingest.limits import Budget
from chalicelib.ingest.pipeline import Ingest
from chalicelib.keys import raw_key
from tests.api import download
from tests.ingestor import Ingestor

BUCKET = "sdp-local-data"
TABLE = "sdp-local"
CSV = b"region,amount\nnorth,1.5\nsouth,2\n"
SAME_SIZE = b"region,amount\nwest_,9.5\neast_,7\n"


def _start(ingestor: Ingestor, size: int) -> tuple[str, dict[str, Any]]:
    started = ingestor.api.call(
        "POST", "/uploads", json_body={"name": "sales.csv", "size": size}, token=ingestor.account.id_token
    )
    assert started.status == 201, started
    return started.body["file_id"], started.body["upload"]


def _post(upload: dict[str, Any], data: bytes) -> None:
    response = requests.post(upload["url"], data=upload["fields"], files={"file": ("f.csv", data)}, timeout=60)
    assert response.status_code in (200, 201, 204), response.text


def _take_notification(ingestor: Ingestor) -> RawUpload:
    """The one upload notification waiting on the ingest queue, taken off it."""
    sqs = ingestor.services.clients.client("sqs")
    queue = sqs.get_queue_url(QueueName=ingestor.services.settings.ingest_queue_name)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    [created] = [record for message in messages for record in object_created_records(message["Body"])]
    upload = raw_upload(created, ingestor.services.settings.data_bucket)
    assert upload is not None
    return upload


def _versions(ingestor: Ingestor, file_id: str) -> list[dict[str, Any]]:
    key = raw_key(ingestor.account.tenant_id, file_id)
    listed = ingestor.services.clients.s3.list_object_versions(Bucket=BUCKET, Prefix=key)
    return [v for v in listed.get("Versions", []) + listed.get("DeleteMarkers", []) if v["Key"] == key]


def _claims(ingestor: Ingestor, file_id: str) -> int:
    item = ingestor.services.clients.dynamodb.get_item(
        TableName=TABLE,
        Key={"PK": {"S": f"TENANT#{ingestor.account.tenant_id}"}, "SK": {"S": f"FILE#{file_id}"}},
        ConsistentRead=True,
    )["Item"]
    return int(item["claims"]["N"])


def _bytes_used(ingestor: Ingestor) -> int:
    item = ingestor.services.clients.dynamodb.get_item(
        TableName=TABLE, Key={"PK": {"S": f"TENANT#{ingestor.account.tenant_id}"}, "SK": {"S": "TENANT"}}
    )["Item"]
    return int(item["bytes_used"]["N"])


class _PostedAgainAfterTheFirstHead(ObjectStore):
    """The tenant's objects, but just after the ingest first looks at the object, the POST is sent
    again and that version is ingested whole, before this ingest claims the version it saw."""

    def __init__(self, ingestor: Ingestor, upload: dict[str, Any], data: bytes) -> None:
        super().__init__(ingestor.tenant.clients.s3, ingestor.services.settings.data_bucket)
        self._ingestor = ingestor
        self._upload = upload
        self._data: bytes | None = data

    def head(self, key: str) -> StoredObject | None:
        stored = super().head(key)
        if self._data is not None:
            _post(self._upload, self._data)
            self._data = None
            self._ingestor.drain()
        return stored


def test_the_version_claimed_first_is_the_file_and_the_one_an_attempt_saw_before_it_goes(ingestor: Ingestor) -> None:
    file_id, upload = _start(ingestor, len(CSV))
    _post(upload, CSV)
    notified = _take_notification(ingestor)
    tenant = ingestor.tenant
    objects = _PostedAgainAfterTheFirstHead(ingestor, upload, SAME_SIZE)
    services = ingestor.services
    databases = services.conversion_databases
    ingest = Ingest(tenant.records, tenant.tables, objects, tenant.catalog, services.settings, databases)
    ingest.object_created(notified, 1, Budget.unlimited())

    record = ingestor.record(file_id)
    assert (record["status"], record["sha256"]) == ("READY", hashlib.sha256(SAME_SIZE).hexdigest())
    assert download(ingestor.api, ingestor.account, file_id) == SAME_SIZE
    assert [v["Size"] for v in _versions(ingestor, file_id)] == [len(SAME_SIZE)]
    assert _claims(ingestor, file_id) == 1
    assert _bytes_used(ingestor) == len(CSV)


def test_an_attempt_at_the_files_version_that_died_is_taken_over_and_a_later_post_still_goes(
    ingestor: Ingestor,
) -> None:
    file_id, upload = _start(ingestor, len(CSV))
    _post(upload, CSV)
    records, objects = ingestor.tenant.records, ingestor.tenant.objects
    record = records.get(ingestor.account.tenant_id, file_id)
    first = objects.head(raw_key(ingestor.account.tenant_id, file_id))
    assert record is not None
    assert first is not None
    # An attempt claimed the first version, then died: its lease has run out.
    died = IngestClaim(first.etag, "died", int(time.time()) - 1, final=False, version_id=first.version_id)
    assert records.claim(record, died, first.size) is not None

    _post(upload, SAME_SIZE)  # now the current version, of the declared size
    ingestor.drain()

    shown = ingestor.record(file_id)
    assert (shown["status"], shown["sha256"]) == ("READY", hashlib.sha256(CSV).hexdigest())
    assert download(ingestor.api, ingestor.account, file_id) == CSV
    assert [v["VersionId"] for v in _versions(ingestor, file_id)] == [first.version_id]
    assert _claims(ingestor, file_id) == 2  # the attempt that died, and the one that took over
    assert _bytes_used(ingestor) == len(CSV)
