"""What the ingest queue gives up on: the dead-letter function (`ingest_dead_letters`, fed by the
dead-letter queue as in AWS) ends each such file FAILED, so that none waits for ever."""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

from chalicelib.files.objects import ObjectStore, StoredObject
from chalicelib.files.records import IngestClaim
from chalicelib.ids import new_id
from chalicelib.keys import raw_key
from chalicelib.services import Services, TenantServices, install
from tests.api import sign_up, upload_direct
from tests.ingestor import Ingestor, dead_letter_pump

CSV = b"region,amount\nnorth,1.5\nsouth,2\n"


class _S3NotAnswering(ObjectStore):
    def head(self, key: str) -> StoredObject | None:
        raise RuntimeError("S3 did not answer")


class _S3DownTenant(TenantServices):
    @cached_property
    def objects(self) -> ObjectStore:
        return _S3NotAnswering(self.clients.s3, self.settings.data_bucket)


class _S3Down(Services):
    """The platform while S3 does not answer the ingest: every delivery fails before it claims the file."""

    tenant_services = _S3DownTenant


def _queue(ingestor: Ingestor, name: str) -> str:
    sqs = ingestor.services.clients.client("sqs")
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def _take_message(ingestor: Ingestor, file_id: str) -> str:
    """The body of the file's notification, taken off the ingest queue unhandled."""
    sqs = ingestor.services.clients.client("sqs")
    queue = _queue(ingestor, ingestor.services.settings.ingest_queue_name)
    bodies = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            bodies += [message["Body"]] if file_id in message["Body"] else []
    [body] = bodies
    return body


def _dead_letter(ingestor: Ingestor, app: Any, body: str) -> None:
    """Put a message on the dead-letter queue, as SQS moves one there, and let the function settle it."""
    sqs = ingestor.services.clients.client("sqs")
    dlq = _queue(ingestor, ingestor.services.settings.ingest_dlq_name)
    sqs.send_message(QueueUrl=dlq, MessageBody=body)
    pump = dead_letter_pump(ingestor.services, app)
    assert pump.poll_once() == 1
    left = sqs.get_queue_attributes(
        QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert left == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


def _start(ingestor: Ingestor, data: bytes = CSV) -> str:
    reply = upload_direct(ingestor.api, ingestor.account, "sales.csv", data)
    assert reply.status == 201
    return str(reply.body["file_id"])


def test_a_file_whose_every_delivery_failed_before_claiming_it_ends_failed(
    platform_services: Services, ingestor: Ingestor, logs: list[dict[str, Any]], app: Any
) -> None:
    """The case that left records UPLOADING for ever: no delivery got as far as the record."""
    ingestor.drain()  # the s3:TestEvent
    file_id = _start(ingestor)
    install(_S3Down(platform_services.settings, platform_services.clients))
    ingestor.drain()  # every delivery fails; SQS moves the message to the dead-letter queue
    install(platform_services)
    assert ingestor.record(file_id)["status"] == "UPLOADING"
    assert [e["receive_count"] for e in logs if e["message"] == "message failed"] == [1, 2, 3, 4, 5]

    pump = dead_letter_pump(platform_services, app)
    assert pump.poll_once() == 1
    record = ingestor.record(file_id)
    assert (record["status"], record["error"]) == (
        "FAILED",
        {"code": "ingest_failed", "message": "The file could not be ingested after several tries."},
    )
    assert [e["status"] for e in logs if e["message"] == "file given up after every delivery failed"] == ["UPLOADING"]
    assert ingestor.api.call("GET", "/tables", token=ingestor.account.id_token).body == {
        "tables": [],
        "next_token": None,
    }


def _claimed_by_another_delivery(ingestor: Ingestor, file_id: str, *, lease_seconds: int) -> None:
    """The file claimed as PROCESSING by a delivery whose lease ends `lease_seconds` from now (one
    that has ended: a delivery that died)."""
    records = ingestor.tenant.records
    record = records.get(ingestor.account.tenant_id, file_id)
    assert record is not None
    etag = ingestor.tenant.objects.head(raw_key(ingestor.account.tenant_id, file_id)).etag  # type: ignore[union-attr]
    claim = IngestClaim(etag=etag, token="another", lease_until=int(time.time()) + lease_seconds, final=False)
    assert records.claim(record, claim, record.size) is not None


def test_a_file_left_processing_by_a_delivery_that_died_ends_failed(ingestor: Ingestor, app: Any) -> None:
    """A delivery that claimed the file and died (its lease has run out) left it PROCESSING."""
    file_id = _start(ingestor)
    body = _take_message(ingestor, file_id)
    _claimed_by_another_delivery(ingestor, file_id, lease_seconds=-1)

    _dead_letter(ingestor, app, body)
    assert (ingestor.record(file_id)["status"], ingestor.record(file_id)["error"]["code"]) == (
        "FAILED",
        "ingest_failed",
    )


def test_a_dead_letter_of_a_file_being_ingested_by_another_delivery_changes_nothing(
    ingestor: Ingestor, app: Any
) -> None:
    file_id = _start(ingestor)
    body = _take_message(ingestor, file_id)
    _claimed_by_another_delivery(ingestor, file_id, lease_seconds=600)

    _dead_letter(ingestor, app, body)
    held = ingestor.tenant.records.get(ingestor.account.tenant_id, file_id)
    assert held is not None
    assert (held.status.value, held.held_by("another")) == ("PROCESSING", True)


def test_a_dead_letter_of_a_ready_file_changes_nothing(ingestor: Ingestor, app: Any) -> None:
    file_id = _start(ingestor)
    body = _take_message(ingestor, file_id)
    sqs = ingestor.services.clients.client("sqs")
    sqs.send_message(QueueUrl=_queue(ingestor, ingestor.services.settings.ingest_queue_name), MessageBody=body)
    ingestor.drain()
    ready = ingestor.record(file_id)
    assert ready["status"] == "READY"

    _dead_letter(ingestor, app, body)  # say, a duplicate notification whose deliveries all failed
    assert ingestor.record(file_id) == ready


def test_a_dead_letter_of_an_older_version_leaves_the_new_one_to_its_own_message(
    ingestor: Ingestor, logs: list[dict[str, Any]], app: Any
) -> None:
    file_id = _start(ingestor)
    old = _take_message(ingestor, file_id)
    ingestor.services.clients.s3.put_object(
        Bucket=ingestor.services.settings.data_bucket,
        Key=raw_key(ingestor.account.tenant_id, file_id),
        Body=b"region,amount,extra\na,1,x\n",
    )

    _dead_letter(ingestor, app, old)
    assert ingestor.record(file_id)["status"] == "UPLOADING"
    assert any(e["message"] == "dead letter of a version no longer current: nothing to settle" for e in logs)
    ingestor.drain()  # the new version's own notification
    record = ingestor.record(file_id)
    assert (record["status"], record["row_count"]) == ("READY", 1)


def test_a_dead_letter_naming_another_tenants_file_id_touches_neither_tenant(ingestor: Ingestor, app: Any) -> None:
    """Only the key's own tenant is ever looked at: another tenant's file id under this tenant's
    prefix finds no object there, and the other tenant's file is left as it was."""
    file_id = _start(ingestor)
    body = _take_message(ingestor, file_id)
    other = sign_up(ingestor.api)
    # Keys arrive URL-encoded, '/' as %2F.
    forged = body.replace(f"tenants%2F{ingestor.account.tenant_id}%2F", f"tenants%2F{other.tenant_id}%2F")
    assert forged != body

    _dead_letter(ingestor, app, forged)
    assert ingestor.record(file_id)["status"] == "UPLOADING"
    assert ingestor.api.call("GET", "/files", token=other.id_token).body["files"] == []
    reply = ingestor.api.call("GET", f"/files/{file_id}", token=other.id_token)
    assert (reply.status, reply.body["error"]["code"]) == (404, "file_not_found")


def test_a_dead_letter_of_an_object_of_another_size_than_reserved_ends_failed_size_mismatch(
    ingestor: Ingestor, app: Any
) -> None:
    file_id = ingestor.reserve_multipart(2 * 1024 * 1024)
    key = raw_key(ingestor.account.tenant_id, file_id)
    ingestor.services.clients.s3.put_object(Bucket="sdp-local-data", Key=key, Body=CSV)
    _dead_letter(ingestor, app, _take_message(ingestor, file_id))
    record = ingestor.record(file_id)
    assert (record["status"], record["size"], record["error"]["code"]) == ("FAILED", 2 * 1024 * 1024, "size_mismatch")
    assert ingestor.tenant.objects.head(key) is None


def test_a_dead_letter_of_an_empty_version_written_over_a_ready_file_deletes_it(ingestor: Ingestor, app: Any) -> None:
    file_id = _start(ingestor)
    ingestor.drain()
    ready = ingestor.record(file_id)
    key = raw_key(ingestor.account.tenant_id, file_id)
    ingestor.services.clients.s3.put_object(Bucket="sdp-local-data", Key=key, Body=b"")
    _dead_letter(ingestor, app, _take_message(ingestor, file_id))
    assert ingestor.record(file_id) == ready
    assert ingestor.tenant.objects.head(key).size == len(CSV)  # type: ignore[union-attr]


def test_a_dead_letter_of_an_object_uploaded_around_the_api_is_recorded_failed(ingestor: Ingestor, app: Any) -> None:
    file_id = new_id()
    key = raw_key(ingestor.account.tenant_id, file_id)
    ingestor.services.clients.s3.put_object(Bucket=ingestor.services.settings.data_bucket, Key=key, Body=CSV)
    body = _take_message(ingestor, file_id)

    _dead_letter(ingestor, app, body)
    record = ingestor.record(file_id)
    assert (record["status"], record["error"]["code"], record["size"]) == ("FAILED", "ingest_failed", len(CSV))


def test_a_dead_letter_that_is_no_s3_notification_is_logged_and_not_retried(
    ingestor: Ingestor, logs: list[dict[str, Any]], app: Any
) -> None:
    _dead_letter(ingestor, app, "not an S3 notification")  # the pump finds the queue empty after it
    [logged] = [e for e in logs if e["message"] == "dead letter is not an S3 notification"]
    assert logged["body"] == "not an S3 notification"
    assert [e for e in logs if e["message"] == "dead letter not settled"] == []
