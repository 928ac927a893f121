"""Ingest under real delivery: duplicates, both multipart events, late and dead attempts, the
queue's last delivery, deletes racing ingest, objects uploaded around the API, table names."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.awsrequest import AWSResponse
from chalice.test import Client

from chalicelib import keys
from chalicelib.catalog import Catalog, CatalogTable, LocalCatalog, Publication
from chalicelib.columns import Column
from chalicelib.files.objects import ObjectStore, StoredObject
from chalicelib.files.records import FileRecord, IngestClaim
from chalicelib.files.store import FileStore, Quota
from chalicelib.files.tables import Table, seq_entry
from chalicelib.ids import new_id
from chalicelib.ingest.convert import ConversionDatabase
from chalicelib.ingest.events import object_created_records, raw_upload
from chalicelib.ingest.limits import Budget, Limits
from chalicelib.ingest.pipeline import Ingest
from chalicelib.ingest.stream import Seen, read_object
from chalicelib.keys import attempt_prefix, curated_prefix, raw_key
from chalicelib.services import Services, TenantServices, install
from chalicelib.settings import MIB, load_settings
from localplatform.pump import Invocation
from tests.api import run_query, upload_direct
from tests.ingestor import Ingestor

CSV = b"region,amount\nnorth,1.5\nsouth,2\n"
BUCKET = "sdp-local-data"
TABLE = "sdp-local"


def _messages(ingestor: Ingestor) -> list[dict[str, Any]]:
    """Take every message off the ingest queue without handling it (to deliver by hand)."""
    sqs = ingestor.services.clients.client("sqs")
    url = sqs.get_queue_url(QueueName=ingestor.services.settings.ingest_queue_name)["QueueUrl"]
    taken: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages"):
        taken += batch
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)]
        )
    return [m for m in taken if object_created_records(m["Body"])]


def _deliver(app: Any, messages: list[dict[str, Any]], receive_count: int = 1) -> dict[str, Any]:
    """Invoke the ingest handler with these messages, as Lambda's event source would."""
    records = [
        {
            "messageId": f"{m['MessageId']}-{receive_count}",
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {"ApproximateReceiveCount": str(receive_count)},
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sdp-local-ingest",
            "awsRegion": "us-east-1",
        }
        for m in messages
    ]
    return app.handler_map["ingest"]({"Records": records}, Invocation("ingest", 3008, 900_000, None))


def _file_items(ingestor: Ingestor, prefix: str) -> list[dict[str, Any]]:
    return ingestor.services.clients.dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
        ExpressionAttributeValues={":pk": {"S": f"TENANT#{ingestor.account.tenant_id}"}, ":sk": {"S": prefix}},
        ConsistentRead=True,
    )["Items"]


def _table_items(ingestor: Ingestor) -> list[dict[str, Any]]:
    """The items of the tenant's tables: each table, its READY files, the contents it holds."""
    prefixes = (keys.TABLE_PREFIX, keys.TABLE_FILE_PREFIX, keys.TABLE_SHA_PREFIX)
    return [item for prefix in prefixes for item in _file_items(ingestor, prefix)]


def _visible(folder: Path) -> list[Path]:
    """What a query's glob may see in the folder (staged and dropped folders start with '.')."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def _warehouse(ingestor: Ingestor) -> list[str]:
    """The tenant's folder in the local engine's warehouse: each table's partitions as
    `<table id>/_seq=<n>` (`_seq=0` holds its schema), an empty table folder as its id alone, and
    anything else beside `tables/` by its name."""
    folder = Path(ingestor.services.settings.warehouse_dir or "") / ingestor.account.tenant_id
    found = [entry.name for entry in _visible(folder) if entry.name != "tables"]
    for table in _visible(folder / "tables"):
        found += [f"{table.name}/{partition.name}" for partition in _visible(table)] or [table.name]
    return sorted(found)


def _partitions(table: Table, *seqs: int) -> list[str]:
    """`_warehouse` of a tenant with only this table, holding these partitions (and its schema)."""
    return [f"{table.table_id}/_seq={seq}" for seq in sorted({0, *seqs})]


def _table(ingestor: Ingestor, name: str) -> Table:
    """The tenant's table item of that name, as it is now."""
    table = ingestor.tenant.tables.get(ingestor.account.tenant_id, name)
    assert table is not None, name
    return table


def _tables_listed(ingestor: Ingestor) -> Any:
    return ingestor.api.call("GET", "/tables", token=ingestor.account.id_token).body


def _ingest_with(
    ingestor: Ingestor,
    message: dict[str, Any],
    *,
    records: FileStore | None = None,
    objects: ObjectStore | None = None,
    catalog: Catalog | None = None,
) -> None:
    """Ingest the message's upload as the handler would, on the tenant's own records, objects and
    catalog but for the one the test arranged."""
    tenant, settings = ingestor.tenant, ingestor.services.settings
    ingest = Ingest(
        records or tenant.records,
        tenant.tables,
        objects or tenant.objects,
        catalog or tenant.catalog,
        settings,
        ingestor.services.conversion_databases,
    )
    [created] = object_created_records(message["Body"])
    upload = raw_upload(created, settings.data_bucket)
    assert upload is not None
    ingest.object_created(upload, receive_count=1, budget=Budget.unlimited())


class _TenantObjects(ObjectStore):
    """The data bucket as the tenant's ingest sees it, for a test to change one call of."""

    def __init__(self, ingestor: Ingestor) -> None:
        super().__init__(ingestor.services.clients.s3, ingestor.services.settings.data_bucket)


def _claimed_folder(ingestor: Ingestor, file_id: str) -> str:
    """The curated folder of the attempt that holds the file's record."""
    record = ingestor.tenant.records.get(ingestor.account.tenant_id, file_id)
    assert record is not None
    assert record.ingest is not None
    return attempt_prefix(ingestor.account.tenant_id, file_id, record.ingest.token)


def _usage(ingestor: Ingestor) -> tuple[str, str]:
    """The tenant's bytes and files in use, as its item holds them."""
    item = ingestor.services.clients.dynamodb.get_item(
        TableName=TABLE, Key={"PK": {"S": f"TENANT#{ingestor.account.tenant_id}"}, "SK": {"S": "TENANT"}}
    )["Item"]
    return item["bytes_used"]["N"], item["file_count"]["N"]


def _start(ingestor: Ingestor, name: str, data: bytes) -> str:
    reply = upload_direct(ingestor.api, ingestor.account, name, data, "text/csv")
    assert reply.status == 201
    return reply.body["file_id"]


def test_the_same_event_twice_gives_one_record_and_one_table(ingestor: Ingestor, app: Any) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    [message] = _messages(ingestor)
    assert _deliver(app, [message]) == {"batchItemFailures": []}
    first = ingestor.record(file_id)
    assert _deliver(app, [message, message]) == {"batchItemFailures": []}

    assert ingestor.record(file_id) == first
    assert first["status"] == "READY"
    assert len(_file_items(ingestor, "FILE#")) == 1
    assert [item["name"]["S"] for item in _file_items(ingestor, "TABLE#")] == ["sales"]
    # The deliveries after the first took no partition: the table holds the file once.
    table = _table(ingestor, "sales")
    assert (table.next_seq, table.pending, table.gone, table.file_count, table.row_count) == (2, set(), set(), 1, 2)
    assert _warehouse(ingestor) == _partitions(table, 1)


def test_both_events_of_a_multipart_upload_give_one_record_and_one_table(
    platform_services: Services, client: Client, app: Any
) -> None:
    settings = platform_services.settings.model_copy(
        update={"multipart_threshold_bytes": MIB, "multipart_part_bytes": 5 * MIB}
    )
    install(Services(settings, platform_services.clients))
    ingestor = Ingestor(platform_services, client, app)
    data = b"id,text\n" + b"".join(b"%d,%s\n" % (n, b"x" * 90) for n in range(70_000))
    started = ingestor.api.call(
        "POST", "/uploads", json_body={"name": "big.csv", "size": len(data)}, token=ingestor.account.id_token
    ).body
    upload = started["upload"]
    parts = []
    for part in upload["parts"]:
        offset = (part["part_number"] - 1) * upload["part_size"]
        response = requests.put(part["url"], data=data[offset : offset + upload["part_size"]], timeout=60)
        parts.append({"part_number": part["part_number"], "etag": response.headers["ETag"]})
    completed = ingestor.api.call(
        "POST", f"/uploads/{started['file_id']}/complete", json_body={"parts": parts}, token=ingestor.account.id_token
    )
    assert completed.status == 200

    messages = _messages(ingestor)
    assert len(messages) == 2  # S3 (moto too) notifies a completed multipart upload twice
    _deliver(app, messages)
    record = ingestor.record(started["file_id"])
    assert (record["status"], record["row_count"], record["size"]) == ("READY", 70_000, len(data))
    assert len(_file_items(ingestor, "FILE#")) == 1
    assert len(_file_items(ingestor, "TABLE#")) == 1


def test_a_late_duplicate_of_an_older_version_changes_nothing(ingestor: Ingestor, app: Any) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    [old] = _messages(ingestor)
    s3 = ingestor.services.clients.s3
    s3.put_object(Bucket=BUCKET, Key=raw_key(ingestor.account.tenant_id, file_id), Body=b"region,amount,extra\na,1,x\n")
    [new] = _messages(ingestor)
    _deliver(app, [new])
    after_new = ingestor.record(file_id)
    _deliver(app, [old])  # the notification of the first version arrives last

    assert ingestor.record(file_id) == after_new
    assert (after_new["row_count"], [c["name"] for c in after_new["columns"]]) == (1, ["region", "amount", "extra"])


def test_an_attempt_that_died_mid_file_is_taken_over_once_its_lease_ran_out(ingestor: Ingestor, app: Any) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    [message] = _messages(ingestor)
    records = ingestor.tenant.records
    record = records.get(ingestor.account.tenant_id, file_id)
    assert record is not None
    etag = ingestor.tenant.objects.head(raw_key(ingestor.account.tenant_id, file_id)).etag  # type: ignore[union-attr]

    live = IngestClaim(etag=etag, token="other-attempt", lease_until=int(time.time()) + 600, final=False)
    assert records.claim(record, live, record.size) is not None
    _deliver(app, [message], receive_count=2)
    assert ingestor.record(file_id)["status"] == "PROCESSING"  # someone holds it: left alone

    held = records.get(ingestor.account.tenant_id, file_id)
    assert held is not None
    assert records.claim(replace(held, ingest=None), replace(live, token="x"), held.size) is None
    dead = replace(live, token="dead-attempt", lease_until=int(time.time()) - 1)
    ingestor.services.clients.dynamodb.update_item(
        TableName=TABLE,
        Key={"PK": {"S": f"TENANT#{ingestor.account.tenant_id}"}, "SK": {"S": f"FILE#{file_id}"}},
        UpdateExpression="SET ingest.lease_until = :past",
        ExpressionAttributeValues={":past": {"N": str(dead.lease_until)}},
    )
    _deliver(app, [message], receive_count=3)
    assert ingestor.record(file_id)["status"] == "READY"


def test_the_last_delivery_of_a_failing_file_ends_failed_and_dead_lettered(
    platform_services: Services, client: Client, app: Any, logs: list[dict[str, Any]]
) -> None:
    broken = platform_services.settings.model_copy(update={"scratch_dir": "/nonexistent/scratch"})
    install(Services(broken, platform_services.clients))
    ingestor = Ingestor(platform_services, client, app)
    file_id = _start(ingestor, "sales.csv", CSV)
    ingestor.drain()  # five deliveries, each failing; SQS then moves the message on

    record = ingestor.record(file_id)
    assert record["status"] == "FAILED"
    assert record["error"]["code"] == "ingest_failed"
    assert [e["receive_count"] for e in logs if e["message"] == "message failed"] == [1, 2, 3, 4, 5]
    sqs = platform_services.clients.client("sqs")
    dlq = sqs.get_queue_url(QueueName=platform_services.settings.ingest_dlq_name)["QueueUrl"]
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert any(file_id in message["Body"] for message in dead)


def test_a_last_delivery_that_died_shows_failed_once_its_lease_ran_out(ingestor: Ingestor) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    _messages(ingestor)  # never handled
    records = ingestor.tenant.records
    record = records.get(ingestor.account.tenant_id, file_id)
    assert record is not None
    final = IngestClaim(etag="e", token="t", lease_until=int(time.time()) - 1, final=True)
    assert records.claim(record, final, record.size) is not None
    shown = ingestor.record(file_id)
    assert (shown["status"], shown["error"]["code"]) == ("FAILED", "ingest_failed")


def test_a_file_deleted_before_its_ingest_is_not_resurrected(ingestor: Ingestor, app: Any) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    [message] = _messages(ingestor)
    assert ingestor.api.call("DELETE", f"/files/{file_id}", token=ingestor.account.id_token).status == 204
    assert _deliver(app, [message]) == {"batchItemFailures": []}
    assert _file_items(ingestor, "FILE#") == []
    assert _file_items(ingestor, "TABLE#") == []
    assert _warehouse(ingestor) == []


class _DeletedRightAfterItsHead(_TenantObjects):
    """The tenant's objects, but the file is deleted through the API just after the ingest first
    looks at its object: the record is gone by the time the ingest reads it."""

    def __init__(self, ingestor: Ingestor, file_id: str) -> None:
        super().__init__(ingestor)
        self._delete = lambda: ingestor.api.call("DELETE", f"/files/{file_id}", token=ingestor.account.id_token)
        self.deleted: list[int] = []

    def head(self, key: str) -> StoredObject | None:
        stored = super().head(key)
        if not self.deleted:
            self.deleted.append(self._delete().status)
        return stored


def test_a_file_deleted_between_the_ingests_look_at_its_object_and_at_its_record_is_not_recorded_again(
    platform_services: Services, ingestor: Ingestor
) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    [message] = _messages(ingestor)
    objects = _DeletedRightAfterItsHead(ingestor, file_id)
    _ingest_with(ingestor, message, objects=objects)

    assert objects.deleted == [204]
    assert _file_items(ingestor, "FILE#") == []
    assert ingestor.api.call("GET", "/files", token=ingestor.account.id_token).body["files"] == []
    assert _usage(ingestor) == ("0", "0")


class _DeletedWhilePublishing(LocalCatalog):
    """The local catalog, but the file is flagged deleting the moment its partition is published."""

    def __init__(self, tenant: TenantServices) -> None:
        super().__init__(Path(tenant.settings.warehouse_dir or ""))
        self._records = tenant.records
        self.published: list[int] = []

    def publish(
        self, tenant_id: str, table: CatalogTable, columns: Sequence[Column], seq: int, publication: Publication
    ) -> None:
        super().publish(tenant_id, table, columns, seq, publication)
        self.published.append(seq)
        self._records.mark_deleting(tenant_id, publication.file_id)


def test_a_file_deleted_while_being_ingested_is_cleaned_up_by_the_ingest(
    platform_services: Services, ingestor: Ingestor, app: Any
) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    [message] = _messages(ingestor)
    tenant = ingestor.tenant
    catalog = _DeletedWhilePublishing(tenant)
    _ingest_with(ingestor, message, catalog=catalog)

    assert catalog.published == [1]
    # Its partition, the table it made, and every item of that table are gone.
    assert _table_items(ingestor) == []
    assert _warehouse(ingestor) == []
    assert tenant.tables.entries_of(ingestor.account.tenant_id, file_id) == []
    assert ingestor.stored_keys(curated_prefix(ingestor.account.tenant_id, file_id)) == []
    assert tenant.records.get(ingestor.account.tenant_id, file_id).status.value == "PROCESSING"  # type: ignore[union-attr]


def _with_catalog(services: Services, catalog_of: Callable[[TenantServices], Catalog]) -> Services:
    """The platform's services, with another catalog in place of the local one."""

    class OtherCatalog(TenantServices):
        @cached_property
        def catalog(self) -> Catalog:
            return catalog_of(self)

    class WithCatalog(Services):
        tenant_services = OtherCatalog

    return WithCatalog(services.settings, services.clients)


def _publishes_then_fails(tenant: TenantServices) -> Catalog:
    return _PublishesThenFails(Path(tenant.settings.warehouse_dir or ""))


class _PublishesThenFails(LocalCatalog):
    """The local catalog, but publishing fails once the partition is in place (say, Glue times out)."""

    def publish(
        self, tenant_id: str, table: CatalogTable, columns: Sequence[Column], seq: int, publication: Publication
    ) -> None:
        super().publish(tenant_id, table, columns, seq, publication)
        raise RuntimeError("the catalog did not answer")


def test_a_delivery_that_fails_for_the_platform_counts_against_the_function_version(
    platform_services: Services,
    client: Client,
    app: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What rolls a release of the ingest function back: its own version's failed deliveries (a
    failed message is also the invocation's error, its only message: Lambda counts it too)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "12")
    install(_with_catalog(platform_services, _publishes_then_fails))
    ingestor = Ingestor(platform_services, client, app)
    _start(ingestor, "sales.csv", CSV)
    [message] = _messages(ingestor)
    capsys.readouterr()
    with pytest.raises(BatchProcessingError):
        _deliver(app, [message])
    [emf] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"IngestFailures"' in line]
    [directive] = emf["_aws"]["CloudWatchMetrics"]
    assert [sorted(dimensions) for dimensions in directive["Dimensions"]] == [
        ["service"],
        ["function_version", "service"],
    ]
    assert (emf["function_version"], emf["IngestFailures"]) == ("12", [1.0])


def _curated_versions(ingestor: Ingestor, file_id: str) -> list[str]:
    listed = ingestor.services.clients.s3.list_object_versions(
        Bucket=BUCKET, Prefix=curated_prefix(ingestor.account.tenant_id, file_id)
    )
    return [v["Key"] for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]


def test_a_last_delivery_that_fails_while_publishing_leaves_no_partition_table_or_curated_copy(
    platform_services: Services, client: Client, app: Any
) -> None:
    install(_with_catalog(platform_services, _publishes_then_fails))
    ingestor = Ingestor(platform_services, client, app)
    file_id = _start(ingestor, "sales.csv", CSV)
    ingestor.drain()  # every delivery fails in the catalog, each in a partition of its own; the last ends FAILED

    record = ingestor.record(file_id)
    assert (record["status"], record["error"]["code"], record["table"]) == ("FAILED", "ingest_failed", None)
    assert _tables_listed(ingestor) == {"tables": [], "next_token": None}
    assert _table_items(ingestor) == []
    assert ingestor.tenant.tables.entries_of(ingestor.account.tenant_id, file_id) == []
    assert _curated_versions(ingestor, file_id) == []
    assert _warehouse(ingestor) == []
    # The name is free again: a file of the same name gets it, not sales_2.
    install(platform_services)
    other = _start(ingestor, "sales.csv", CSV)
    ingestor.drain()
    assert ingestor.record(other)["table"] == "sales"


def test_a_delete_removes_what_an_ingest_that_failed_midway_left_behind(
    platform_services: Services, ingestor: Ingestor
) -> None:
    install(_with_catalog(platform_services, _publishes_then_fails))
    ingestor.drain()  # the s3:TestEvent: the next message is the file's
    file_id = _start(ingestor, "sales.csv", CSV)
    assert ingestor.pump.poll_once()  # the first delivery fails after publishing; SQS will deliver it again
    table = _table(ingestor, "sales")
    assert (table.next_seq, table.pending, table.file_count) == (2, {1}, 0)  # its partition, hidden
    assert ingestor.tenant.tables.entries_of(ingestor.account.tenant_id, file_id) == [
        seq_entry("sales", table.table_id, 1)
    ]
    [left] = _curated_versions(ingestor, file_id)
    assert re.fullmatch(rf"{curated_prefix(ingestor.account.tenant_id, file_id)}[0-9a-f]{{32}}/part-0\.parquet", left)
    assert _warehouse(ingestor) == _partitions(table, 1)
    assert _tables_listed(ingestor) == {"tables": [], "next_token": None}

    assert ingestor.api.call("DELETE", f"/files/{file_id}", token=ingestor.account.id_token).status == 204
    assert (_file_items(ingestor, "FILE#"), _table_items(ingestor)) == ([], [])
    assert _curated_versions(ingestor, file_id) == []
    assert _warehouse(ingestor) == []


class _PartitionWithdrawnWhilePublishing(LocalCatalog):
    """The local catalog, but the first partition it publishes is hidden the moment it is in
    place, as a withdrawal of the file's partitions begins with (`Tables.hide`)."""

    withdrawn: ClassVar[list[str]] = []

    def __init__(self, tenant: TenantServices) -> None:
        super().__init__(Path(tenant.settings.warehouse_dir or ""))
        self._tables = tenant.tables

    def publish(
        self, tenant_id: str, table: CatalogTable, columns: Sequence[Column], seq: int, publication: Publication
    ) -> None:
        super().publish(tenant_id, table, columns, seq, publication)
        if not self.withdrawn:
            entry = seq_entry(table.name, table.table_id, seq)
            assert self._tables.hide(tenant_id, publication.file_id, entry) is not None
            self.withdrawn.append(entry)


def test_an_attempt_whose_partition_was_withdrawn_under_it_reads_the_file_again_into_another(
    platform_services: Services, client: Client, app: Any, monkeypatch: pytest.MonkeyPatch, logs: list[dict[str, Any]]
) -> None:
    monkeypatch.setattr(_PartitionWithdrawnWhilePublishing, "withdrawn", [])
    install(_with_catalog(platform_services, _PartitionWithdrawnWhilePublishing))
    ingestor = Ingestor(platform_services, client, app)
    file_id = _start(ingestor, "sales.csv", CSV)
    ingestor.drain()

    table = _table(ingestor, "sales")
    assert _PartitionWithdrawnWhilePublishing.withdrawn == [seq_entry("sales", table.table_id, 1)]
    assert [entry for entry in logs if entry["message"] == "message failed"] == []  # in the same delivery
    record = ingestor.record(file_id)
    assert (record["status"], record["table"], record["row_count"]) == ("READY", "sales", 2)
    tables = _tables_listed(ingestor)["tables"]
    assert [(t["table"], t["file_id"], t["row_count"], t["file_count"]) for t in tables] == [("sales", file_id, 2, 1)]
    assert [item["name"]["S"] for item in _file_items(ingestor, "TABLE#")] == ["sales"]
    # READY in partition 2; the withdrawn one is dropped and struck off everywhere.
    listed = ingestor.tenant.tables.file_of(ingestor.account.tenant_id, table.table_id, file_id)
    assert listed is not None
    assert listed.seq == 2
    assert (table.next_seq, table.pending, table.gone, table.file_count, table.row_count) == (3, set(), set(), 1, 2)
    assert ingestor.tenant.tables.entries_of(ingestor.account.tenant_id, file_id) == [
        seq_entry("sales", table.table_id, 2)
    ]
    assert _warehouse(ingestor) == _partitions(table, 2)
    query = run_query(ingestor.api, ingestor.account, "SELECT sum(amount) AS total, count(*) AS n FROM sales")
    assert (query["status"], query["rows"]) == ("SUCCEEDED", [[3.5, 2]])


class _LooksAtTablesWhilePublishing(LocalCatalog):
    """The local catalog, which looks at the tenant's tables just after each partition is in place,
    before its file is READY."""

    def __init__(self, tenant: TenantServices) -> None:
        super().__init__(Path(tenant.settings.warehouse_dir or ""))
        self.look: Callable[[], Any] = list
        self.seen: list[Any] = []

    def publish(
        self, tenant_id: str, table: CatalogTable, columns: Sequence[Column], seq: int, publication: Publication
    ) -> None:
        super().publish(tenant_id, table, columns, seq, publication)
        self.seen.append(self.look())


def test_a_table_is_listed_only_while_it_has_a_ready_file(
    platform_services: Services, client: Client, app: Any
) -> None:
    looking: list[_LooksAtTablesWhilePublishing] = []

    def catalog_of(tenant: TenantServices) -> _LooksAtTablesWhilePublishing:
        if not looking:  # one catalog, for it remembers what it saw
            looking.append(_LooksAtTablesWhilePublishing(tenant))
        return looking[0]

    install(_with_catalog(platform_services, catalog_of))
    ingestor = Ingestor(platform_services, client, app)
    catalog = catalog_of(ingestor.tenant)

    def look() -> tuple[list[tuple[str, int]], list[int]]:
        """The tables listed (name, rows), and the partitions of `sales` not READY yet."""
        listed = [(t["table"], t["row_count"]) for t in _tables_listed(ingestor)["tables"]]
        return listed, sorted(_table(ingestor, "sales").pending)

    catalog.look = look
    file_id = _start(ingestor, "sales.csv", CSV)
    ingestor.drain()
    assert look() == ([("sales", 2)], [])

    ingestor.services.clients.s3.put_object(
        Bucket=BUCKET, Key=raw_key(ingestor.account.tenant_id, file_id), Body=CSV + b"east,3\n"
    )
    ingestor.drain()
    assert look() == ([("sales", 3)], [])
    # With the first file's partition in place but the file not READY, no table was listed; while a
    # new version's partition waited, the table was its earlier version, READY.
    assert catalog.seen == [([], [1]), ([("sales", 2)], [2])]

    assert ingestor.api.call("DELETE", f"/files/{file_id}", token=ingestor.account.id_token).status == 204
    assert _tables_listed(ingestor) == {"tables": [], "next_token": None}


class _WaitsForAListingAfterTakingAPartition(LocalCatalog):
    """The local catalog, but publishing waits until the tenant's tables have been listed."""

    def __init__(self, tenant: TenantServices) -> None:
        super().__init__(Path(tenant.settings.warehouse_dir or ""))
        self.partition_taken = threading.Event()
        self.listed = threading.Event()

    def publish(
        self, tenant_id: str, table: CatalogTable, columns: Sequence[Column], seq: int, publication: Publication
    ) -> None:
        self.partition_taken.set()
        assert self.listed.wait(30)
        super().publish(tenant_id, table, columns, seq, publication)


def test_a_table_made_by_a_file_not_yet_ready_is_no_table_until_it_is(
    platform_services: Services, client: Client, app: Any
) -> None:
    """Ingest makes the table and takes its partition before it publishes; a listing in between
    must not offer the table (nor fail on a table item with no column yet)."""
    waiting: list[_WaitsForAListingAfterTakingAPartition] = []

    def catalog_of(tenant: TenantServices) -> _WaitsForAListingAfterTakingAPartition:
        if not waiting:
            waiting.append(_WaitsForAListingAfterTakingAPartition(tenant))
        return waiting[0]

    services = _with_catalog(platform_services, catalog_of)
    install(services)
    ingestor = Ingestor(platform_services, client, app)
    catalog = catalog_of(ingestor.tenant)
    file_id = _start(ingestor, "sales.csv", CSV)
    ingesting = threading.Thread(target=ingestor.drain)
    ingesting.start()
    try:
        assert catalog.partition_taken.wait(30)
        while_ingesting = ingestor.api.call("GET", "/tables", token=ingestor.account.id_token)
        made = _table(ingestor, "sales")
    finally:
        catalog.listed.set()
        ingesting.join()
    assert (made.columns, made.pending, made.file_count) == ((), {1}, 0)
    assert (while_ingesting.status, while_ingesting.body) == (200, {"tables": [], "next_token": None})
    reply = ingestor.api.call("GET", "/tables", token=ingestor.account.id_token)
    assert [(t["table"], t["file_id"], t["row_count"]) for t in reply.body["tables"]] == [("sales", file_id, 2)]
    assert [c["name"] for c in reply.body["tables"][0]["columns"]] == ["region", "amount"]


def test_an_object_uploaded_around_the_api_is_recorded_and_ingested(ingestor: Ingestor) -> None:
    file_id = new_id()
    key = raw_key(ingestor.account.tenant_id, file_id)
    ingestor.services.clients.s3.put_object(Bucket=BUCKET, Key=key, Body=CSV, ContentType="text/csv")
    ingestor.drain()
    record = ingestor.record(file_id)
    assert (record["status"], record["name"], record["owner_id"], record["size"]) == ("READY", file_id, "", len(CSV))
    assert _usage(ingestor) == (str(len(CSV)), "1")


def test_an_empty_object_uploaded_around_the_api_is_deleted_and_never_recorded(ingestor: Ingestor) -> None:
    file_id = new_id()
    key = raw_key(ingestor.account.tenant_id, file_id)
    ingestor.services.clients.s3.put_object(Bucket=BUCKET, Key=key, Body=b"")
    ingestor.drain()
    assert _file_items(ingestor, "FILE#") == []
    assert ingestor.services.clients.s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", []) == []
    assert _usage(ingestor) == ("0", "0")


@pytest.mark.parametrize("stored", [CSV, b""], ids=["other-bytes", "empty"])
def test_an_object_of_another_size_than_reserved_ends_failed_size_mismatch_at_its_first_delivery(
    ingestor: Ingestor, app: Any, stored: bytes
) -> None:
    reserved = 2 * MIB
    file_id = ingestor.reserve_multipart(reserved)
    key = raw_key(ingestor.account.tenant_id, file_id)
    _messages(ingestor)  # nothing but the bucket's test event so far
    ingestor.services.clients.s3.put_object(Bucket=BUCKET, Key=key, Body=stored)  # around the API, mid-upload
    [message] = _messages(ingestor)
    assert _deliver(app, [message]) == {"batchItemFailures": []}  # no retry: the next try finds the same

    record = ingestor.record(file_id)
    assert (record["status"], record["size"], record["error"]) == (
        "FAILED",
        reserved,
        {
            "code": "size_mismatch",
            "message": f"The stored object holds {len(stored)} bytes; the upload reserved {reserved}.",
        },
    )
    # The bytes nobody reserved are gone; the quota counts the reservation until the file is deleted.
    assert ingestor.services.clients.s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", []) == []
    assert _usage(ingestor) == (str(reserved), "1")
    assert ingestor.api.call("DELETE", f"/files/{file_id}", token=ingestor.account.id_token).status == 204
    assert _usage(ingestor) == ("0", "0")


def test_an_empty_version_written_over_a_ready_file_is_deleted_and_the_file_stays(ingestor: Ingestor) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    ingestor.drain()
    ready = ingestor.record(file_id)
    key = raw_key(ingestor.account.tenant_id, file_id)
    ingestor.services.clients.s3.put_object(Bucket=BUCKET, Key=key, Body=b"")
    ingestor.drain()
    assert ingestor.record(file_id) == ready
    [kept] = ingestor.services.clients.s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]
    assert (kept["Size"], kept["IsLatest"]) == (len(CSV), True)


def test_an_empty_version_landing_before_the_first_is_claimed_leaves_the_first_to_be_ingested(
    ingestor: Ingestor, app: Any
) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    _messages(ingestor)  # the upload's own notification is lost: the empty version's must do
    ingestor.services.clients.s3.put_object(Bucket=BUCKET, Key=raw_key(ingestor.account.tenant_id, file_id), Body=b"")
    [empty] = _messages(ingestor)
    _deliver(app, [empty])
    record = ingestor.record(file_id)
    assert (record["status"], record["size"], record["row_count"]) == ("READY", len(CSV), 2)


def test_a_mismatched_object_sent_again_after_its_file_failed_is_deleted_again(ingestor: Ingestor) -> None:
    file_id = ingestor.reserve_multipart(2 * MIB)
    key = raw_key(ingestor.account.tenant_id, file_id)
    s3 = ingestor.services.clients.s3
    s3.put_object(Bucket=BUCKET, Key=key, Body=CSV)
    ingestor.drain()
    failed = ingestor.record(file_id)
    assert failed["error"]["code"] == "size_mismatch"
    s3.put_object(Bucket=BUCKET, Key=key, Body=CSV)  # the same bytes, as a retry of a dead attempt finds them
    ingestor.drain()
    assert ingestor.record(file_id) == failed
    assert s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", []) == []


def test_objects_of_no_tenant_and_other_keys_are_skipped(ingestor: Ingestor, logs: list[dict[str, Any]]) -> None:
    s3 = ingestor.services.clients.s3
    tenant = ingestor.account.tenant_id
    s3.put_object(Bucket=BUCKET, Key=f"tenants/NOSUCHTENANT/raw/{new_id()}", Body=CSV)
    s3.put_object(Bucket=BUCKET, Key=f"tenants/{tenant}/curated/x/part-0.parquet", Body=b"PAR1")
    s3.put_object(Bucket=BUCKET, Key=f"tenants/{tenant}/raw/../../escape", Body=CSV)
    # Ids no route could name again (GET, DELETE /files/{id}) would make records nobody can delete.
    s3.put_object(Bucket=BUCKET, Key=f"tenants/{tenant}/raw/not-a-file-id", Body=CSV)
    s3.put_object(Bucket=BUCKET, Key=f"tenants/{tenant}/raw/{new_id().lower()}", Body=CSV)
    ingestor.drain()
    assert _file_items(ingestor, "FILE#") == []
    skipped = [e["message"] for e in logs if "skipped" in e["message"]]
    assert skipped.count("not a raw upload: skipped") == 4
    assert "object of no known tenant: skipped" in skipped


def test_a_new_version_of_a_ready_file_replaces_its_rows_in_its_table(ingestor: Ingestor) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    ingestor.drain()
    assert ingestor.record(file_id)["table"] == "sales"
    first = _table(ingestor, "sales")
    ingestor.services.clients.s3.put_object(
        Bucket=BUCKET,
        Key=raw_key(ingestor.account.tenant_id, file_id),
        Body=b"region,amount,year\na,1,2024\nb,2,2025\nc,3,2026\n",
    )
    ingestor.drain()
    record = ingestor.record(file_id)
    assert (record["table"], record["row_count"], len(record["columns"])) == ("sales", 3, 3)
    tables = _tables_listed(ingestor)["tables"]
    assert [(t["table"], t["row_count"], t["file_count"]) for t in tables] == [("sales", 3, 1)]
    # The same table, its rows now the new version's partition alone; the first one dropped.
    table = _table(ingestor, "sales")
    assert (table.table_id, table.next_seq, table.pending, table.gone) == (first.table_id, 3, set(), set())
    assert ingestor.tenant.tables.entries_of(ingestor.account.tenant_id, file_id) == [
        seq_entry("sales", table.table_id, 2)
    ]
    assert _warehouse(ingestor) == _partitions(table, 2)
    assert sorted(ingestor.rows(record)) == [("a", 1, 2024), ("b", 2, 2025), ("c", 3, 2026)]
    query = run_query(ingestor.api, ingestor.account, "SELECT sum(amount) AS total, count(*) AS n FROM sales")
    assert (query["status"], query["rows"]) == ("SUCCEEDED", [[6, 3]])
    # The first version's curated copy went once the second was READY.
    assert _curated_versions(ingestor, file_id) == [f"{_claimed_folder(ingestor, file_id)}part-0.parquet"]

    ingestor.services.clients.s3.put_object(
        Bucket=BUCKET, Key=raw_key(ingestor.account.tenant_id, file_id), Body=b"a,b\n1\n"
    )
    ingestor.drain()
    record = ingestor.record(file_id)
    assert (record["status"], record["table"]) == ("FAILED", None)
    # Its rows left the table, and the table went with its last file.
    assert _tables_listed(ingestor) == {"tables": [], "next_token": None}
    assert _table_items(ingestor) == []
    assert _warehouse(ingestor) == []


class _NewVersionIngestedMeanwhile(FileStore):
    """The tenant's records, but once an attempt has checked that it still holds its claim, and
    before it writes anything, a new version of the file is uploaded and ingested whole."""

    def __init__(self, ingestor: Ingestor, new_version: bytes) -> None:
        tenant = ingestor.tenant
        quota = Quota(bytes=tenant.settings.quota_bytes, files=tenant.settings.quota_files)
        super().__init__(tenant.clients.dynamodb, tenant.settings.table_name, quota)
        self._land = _NewVersion(ingestor, new_version)

    def still_held(self, claimed: FileRecord) -> FileRecord | None:
        held = super().still_held(claimed)
        self._land(claimed.file_id)
        return held


class _NewVersion:
    """Uploads a new version of a file and ingests it whole, the first time it is called."""

    def __init__(self, ingestor: Ingestor, body: bytes) -> None:
        self._ingestor = ingestor
        self._body: bytes | None = body

    def __call__(self, file_id: str) -> None:
        if self._body is None:
            return
        key = raw_key(self._ingestor.account.tenant_id, file_id)
        self._ingestor.services.clients.s3.put_object(Bucket=BUCKET, Key=key, Body=self._body)
        self._body = None
        self._ingestor.drain()


def test_an_older_versions_attempt_publishing_after_a_newer_one_leaves_the_newer_table_whole(
    platform_services: Services, ingestor: Ingestor
) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    [message] = _messages(ingestor)
    newer = b"region,amount,year\na,1,2024\nb,2,2025\nc,3,2026\n"
    # The older version's attempt publishes last.
    _ingest_with(ingestor, message, records=_NewVersionIngestedMeanwhile(ingestor, newer))

    record = ingestor.record(file_id)
    assert (record["status"], record["table"], record["row_count"]) == ("READY", "sales", 3)
    assert [c["name"] for c in record["columns"]] == ["region", "amount", "year"]
    assert sorted(ingestor.rows(record)) == [("a", 1, 2024), ("b", 2, 2025), ("c", 3, 2026)]
    query = run_query(ingestor.api, ingestor.account, "SELECT sum(amount) AS total, count(*) AS n FROM sales")
    assert (query["status"], query["rows"]) == ("SUCCEEDED", [[6, 3]])
    # The older attempt took no partition, nor made a table: the table is the newer version's alone.
    assert [item["name"]["S"] for item in _file_items(ingestor, "TABLE#")] == ["sales"]
    table = _table(ingestor, "sales")
    assert (table.next_seq, table.pending, table.gone, table.file_count, table.row_count) == (2, set(), set(), 1, 3)
    assert _warehouse(ingestor) == _partitions(table, 1)
    # Only the newer attempt's curated copy is left.
    assert _curated_versions(ingestor, file_id) == [f"{_claimed_folder(ingestor, file_id)}part-0.parquet"]


@contextmanager
def _dynamodb_one_request_at_a_time(dynamodb: Any) -> Iterator[None]:
    """moto in-process does not isolate DynamoDB requests from each other (a transaction copies
    tables other threads are writing); DynamoDB does. The local platform serializes them too."""
    lock = threading.Lock()

    def take(**_: Any) -> None:
        lock.acquire()

    def give_back(**_: Any) -> None:
        lock.release()

    events = dynamodb.meta.events
    handlers = [
        ("before-call.dynamodb", take),
        ("after-call.dynamodb", give_back),
        ("after-call-error.dynamodb", give_back),
    ]
    for event, handler in handlers:
        events.register(event, handler)
    try:
        yield
    finally:
        for event, handler in handlers:
            events.unregister(event, handler)


def test_table_names_stay_unique_when_files_of_one_name_are_ingested_at_once(ingestor: Ingestor, app: Any) -> None:
    for _ in range(6):
        _start(ingestor, "Sales 2024.csv", CSV)
    messages = _messages(ingestor)
    threads = [threading.Thread(target=_deliver, args=(app, [message])) for message in messages]
    with _dynamodb_one_request_at_a_time(ingestor.tenant.clients.dynamodb):  # the client ingest uses
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    tables = ingestor.api.call("GET", "/tables", token=ingestor.account.id_token).body["tables"]
    assert sorted(t["table"] for t in tables) == sorted(["sales_2024", *(f"sales_2024_{n}" for n in range(2, 7))])
    records = ingestor.api.call("GET", "/files", token=ingestor.account.id_token).body["files"]
    assert sorted(r["table"] for r in records) == sorted(t["table"] for t in tables)


def test_deleting_a_ready_file_leaves_no_table_behind(ingestor: Ingestor) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    ingestor.drain()
    assert _warehouse(ingestor) == _partitions(_table(ingestor, "sales"), 1)
    assert len(_table_items(ingestor)) == 3  # the table, its file and its content
    assert ingestor.api.call("DELETE", f"/files/{file_id}", token=ingestor.account.id_token).status == 204
    assert _table_items(ingestor) == []
    assert _warehouse(ingestor) == []
    assert ingestor.stored_keys(f"tenants/{ingestor.account.tenant_id}/") == []
    assert ingestor.api.call("GET", "/tables", token=ingestor.account.id_token).body == {
        "tables": [],
        "next_token": None,
    }


def test_ingest_is_measured_by_format(
    ingestor: Ingestor, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    _start(ingestor, "sales.csv", CSV)
    ingestor.drain()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"FilesIngested"' in line]
    [emf] = documents
    assert emf["format"] == "csv"
    names = {metric["Name"] for metric in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names == {"FilesIngested", "IngestDuration", "IngestBytes", "IngestRows", "UploadToReady"}
    assert [sorted(d) for d in emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"]] == [["format", "service"]]


def test_failed_files_are_measured_by_format_and_error_code(
    ingestor: Ingestor, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    _start(ingestor, "ragged.csv", b"a,b,c\n1,2,3\n4,5\n")
    _start(ingestor, "picture.csv", b"\x89PNG\r\n\x1a\n" + bytes(200))
    ingestor.drain()
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"FilesFailed"' in line]
    assert sorted((emf["format"], emf["error_code"], emf["FilesFailed"]) for emf in documents) == [
        ("csv", "malformed_file", [1.0]),
        ("unknown", "unsupported_format", [1.0]),
    ]
    for emf in documents:
        [directive] = emf["_aws"]["CloudWatchMetrics"]
        assert [sorted(d) for d in directive["Dimensions"]] == [
            ["format", "service"],
            ["error_code", "format", "service"],
        ]
        assert {metric["Name"] for metric in directive["Metrics"]} == {"FilesFailed", "IngestDuration"}


def test_a_read_that_breaks_midway_stops_the_conversion_beside_it(tmp_path: Path) -> None:
    data = b"id,note,day\n" + b"".join(b"%d,note %d,2024-01-01\n" % (n, n) for n in range(100_000))
    size = len(data)

    def chunks() -> Iterator[bytes]:
        yield from (data[at : at + 256 * 1024] for at in range(0, 2 * 1024 * 1024, 256 * 1024))
        raise ConnectionError("the stream broke")

    limits = Limits.from_settings(load_settings())
    with ConversionDatabase(tmp_path, limits) as database, pytest.raises(ConnectionError):
        read_object(chunks(), tmp_path, size, limits, Budget.unlimited(), Seen(), database, piece_bytes=64 * 1024)
    # Pieces were being converted when it broke: that thread stopped too, as did the hashing one.
    assert len(list(tmp_path.glob("source.*"))) > 3
    assert [t.name for t in threading.enumerate() if t.name in ("pieces", "sha256")] == []


def test_a_table_listing_dynamodb_keeps_throttling_is_a_503_after_retries(ingestor: Ingestor) -> None:
    _start(ingestor, "sales.csv", CSV)
    ingestor.drain()
    dynamodb = ingestor.tenant.clients.dynamodb
    attempts: list[str] = []

    def throttled(request: Any, **_: Any) -> AWSResponse:
        attempts.append(request.url)
        error = "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"
        body = json.dumps({"__type": error, "message": "slow down"}).encode()
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, _Raw(body))

    dynamodb.meta.events.register("before-send.dynamodb.Query", throttled)
    try:
        reply = ingestor.api.call("GET", "/tables", token=ingestor.account.id_token)
    finally:
        dynamodb.meta.events.unregister("before-send.dynamodb.Query", throttled)
    assert (reply.status, reply.error_code) == (503, "service_unavailable")
    assert len(attempts) == 5  # the call and botocore's four retries, with backoff, first
    assert [
        t["table"] for t in ingestor.api.call("GET", "/tables", token=ingestor.account.id_token).body["tables"]
    ] == ["sales"]


class _Raw:
    """An HTTP body botocore can read, for an answer made up in a test."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def test_an_older_versions_attempt_publishing_after_a_newer_one_failed_leaves_nothing_behind(
    platform_services: Services, ingestor: Ingestor
) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    [message] = _messages(ingestor)
    # The newer version is blank, so FAILED; the older attempt goes on to add the file to a table.
    _ingest_with(ingestor, message, records=_NewVersionIngestedMeanwhile(ingestor, b" \n"))

    record = ingestor.record(file_id)
    assert (record["status"], record["error"]["code"], record["table"]) == ("FAILED", "empty_file", None)
    assert _tables_listed(ingestor) == {"tables": [], "next_token": None}
    assert _table_items(ingestor) == []
    assert _curated_versions(ingestor, file_id) == []
    assert _warehouse(ingestor) == []
    # The name is free: the next file of that name gets it, not sales_2.
    assert ingestor.upload("sales.csv", CSV)["table"] == "sales"


class _NewVersionLandsAfterTheFirstHead(_TenantObjects):
    """The tenant's objects, but just after the ingest first looks at the object, a new version
    of it is uploaded and ingested whole, before this ingest claims the version it saw."""

    def __init__(self, ingestor: Ingestor, new_version: bytes) -> None:
        super().__init__(ingestor)
        self._land = _NewVersion(ingestor, new_version)

    def head(self, key: str) -> StoredObject | None:
        stored = super().head(key)
        self._land(key.rsplit("/", 1)[-1])
        return stored


def test_an_attempt_that_claims_a_version_no_longer_current_ingests_the_current_one(
    platform_services: Services, ingestor: Ingestor
) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    [message] = _messages(ingestor)
    newer = b"region,amount,year\na,1,2024\nb,2,2025\nc,3,2026\n"
    # Its claim of the old version beats the newer one's READY.
    _ingest_with(ingestor, message, objects=_NewVersionLandsAfterTheFirstHead(ingestor, newer))

    record = ingestor.record(file_id)
    assert (record["status"], record["row_count"], record["size"]) == ("READY", 3, len(newer))
    assert sorted(ingestor.rows(record)) == [("a", 1, 2024), ("b", 2, 2025), ("c", 3, 2026)]


class _LosesTheObjectOnTheSecondHead(_TenantObjects):
    """The tenant's objects, but the second look at an object finds it deleted and then fails (as
    if the function died there)."""

    def __init__(self, ingestor: Ingestor) -> None:
        super().__init__(ingestor)
        self.heads = 0

    def head(self, key: str) -> StoredObject | None:
        self.heads += 1
        if self.heads == 2:
            self.delete_all_versions(key, exact=True)
            raise RuntimeError("S3 did not answer")
        return super().head(key)


def test_an_object_around_the_api_deleted_before_its_ingest_claims_it_is_given_up_on_the_next_read(
    platform_services: Services, ingestor: Ingestor
) -> None:
    file_id = new_id()
    s3 = ingestor.services.clients.s3
    s3.put_object(Bucket=BUCKET, Key=raw_key(ingestor.account.tenant_id, file_id), Body=CSV, ContentType="text/csv")
    [message] = _messages(ingestor)
    with pytest.raises(RuntimeError, match="S3 did not answer"):
        _ingest_with(ingestor, message, objects=_LosesTheObjectOnTheSecondHead(ingestor))
    assert len(_file_items(ingestor, "FILE#")) == 1  # recorded, then the ingest stopped

    assert ingestor.api.call("GET", "/files", token=ingestor.account.id_token).body["files"] == []
    assert _file_items(ingestor, "FILE#") == []
    assert _usage(ingestor) == ("0", "0")


class _CannotDeleteVersions(_TenantObjects):
    def delete_versions(self, versions: list[dict[str, str]]) -> None:
        raise RuntimeError("S3 refused the delete")


class _CannotDropPartitions(LocalCatalog):
    def drop_partition(self, tenant_id: str, table: CatalogTable, seq: int) -> None:
        raise RuntimeError("the catalog did not answer")


@pytest.mark.parametrize("refused", ["curated copies", "catalog partitions"])
def test_a_ready_file_stays_ready_when_its_earlier_copies_cannot_be_deleted(
    platform_services: Services, ingestor: Ingestor, logs: list[dict[str, Any]], refused: str
) -> None:
    file_id = _start(ingestor, "sales.csv", CSV)
    ingestor.drain()
    ingestor.services.clients.s3.put_object(
        Bucket=BUCKET, Key=raw_key(ingestor.account.tenant_id, file_id), Body=b"region,amount\nwest,4\n"
    )
    [message] = _messages(ingestor)
    # The message succeeds: nothing to deliver again.
    if refused == "curated copies":
        _ingest_with(ingestor, message, objects=_CannotDeleteVersions(ingestor))
    else:
        warehouse = Path(ingestor.services.settings.warehouse_dir or "")
        _ingest_with(ingestor, message, catalog=_CannotDropPartitions(warehouse))

    record = ingestor.record(file_id)
    assert (record["status"], record["row_count"]) == ("READY", 1)
    assert "earlier partitions or curated copies left in place" in [entry["message"] for entry in logs]
    table = _table(ingestor, "sales")
    entries = ingestor.tenant.tables.entries_of(ingestor.account.tenant_id, file_id)
    if refused == "curated copies":
        assert len(_curated_versions(ingestor, file_id)) == 2  # the first version's copy waits for the next
        assert (table.gone, entries) == (set(), [seq_entry("sales", table.table_id, 2)])
        assert _warehouse(ingestor) == _partitions(table, 2)
    else:
        # The first version's partition stays in the catalog, hidden, and listed for the next withdrawal.
        assert (table.gone, entries) == ({1}, [seq_entry("sales", table.table_id, n) for n in (1, 2)])
        assert _warehouse(ingestor) == _partitions(table, 1, 2)
    assert (table.file_count, table.row_count) == (1, 1)
    query = run_query(ingestor.api, ingestor.account, "SELECT region, count(*) AS n FROM sales GROUP BY region")
    assert (query["status"], query["rows"]) == ("SUCCEEDED", [["west", 1]])

    # Deleting the file takes down whatever was left.
    assert ingestor.api.call("DELETE", f"/files/{file_id}", token=ingestor.account.id_token).status == 204
    assert (_table_items(ingestor), _curated_versions(ingestor, file_id), _warehouse(ingestor)) == ([], [], [])


class _StreamBreaksOnce(_TenantObjects):
    """The tenant's objects, but the first read of an object's bytes breaks off."""

    def __init__(self, ingestor: Ingestor) -> None:
        super().__init__(ingestor)
        self.broken = False

    def chunks(self, key: str, version_id: str | None, chunk_bytes: int = 1024 * 1024) -> Iterator[bytes]:
        if not self.broken:
            self.broken = True
            raise ConnectionError("the stream broke")
        yield from super().chunks(key, version_id, chunk_bytes)


def test_files_ingested_one_after_another_share_a_database_until_an_ingest_fails_for_the_platform(
    ingestor: Ingestor,
) -> None:
    databases = ingestor.services.conversion_databases
    first = _start(ingestor, "sales.csv", CSV)
    ingestor.drain()
    kept = databases.current()
    second = _start(ingestor, "more.csv", CSV)
    ingestor.drain()
    assert databases.current() is kept
    assert kept.connections == 2  # each file converted in it, on a connection of its own

    third = _start(ingestor, "third.csv", CSV)
    [message] = _messages(ingestor)
    with pytest.raises(ConnectionError):
        _ingest_with(ingestor, message, objects=_StreamBreaksOnce(ingestor))
    assert databases.current() is not kept  # it may be unusable after that: the next file opens another
    assert not kept.root.exists()
    _ingest_with(ingestor, message)
    assert [ingestor.record(file_id)["status"] for file_id in (first, second, third)] == ["READY"] * 3
