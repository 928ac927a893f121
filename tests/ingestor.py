"""Ingest as Lambda runs it, in-process: upload through the API, then S3's notifications from
the ingest queue through the real ingest handler, until the queue is empty."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from chalice.test import Client

from chalicelib.catalog import local_table_folder
from chalicelib.services import Services, TenantServices, install
from chalicelib.settings import MIB
from localplatform.pump import QueuePump, function_pump
from tests.api import Account, ChaliceApi, sign_up, upload_direct


def ingest_pump(services: Services, app: Any) -> QueuePump:
    """A pump on the ingest queue calling the ingest handler, with no waiting between polls."""
    return _pump(services, app, "ingest", services.settings.ingest_queue_name)


def dead_letter_pump(services: Services, app: Any) -> QueuePump:
    """A pump on the dead-letter queue calling the function that settles dead letters."""
    return _pump(services, app, "ingest_dead_letters", services.settings.ingest_dlq_name)


def _pump(services: Services, app: Any, function: str, queue_name: str) -> QueuePump:
    sqs = services.clients.client("sqs")
    queue = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return function_pump(app, function, sqs, queue, arn, region="us-east-1", wait_seconds=0, retry_delay_seconds=0)


def drain_ingest_queue(services: Services, app: Any) -> None:
    """Ingest everything waiting in the queue."""
    pump = ingest_pump(services, app)
    while pump.poll_once():
        pass


class Ingestor:
    """Upload through the API, run the queue dry through the ingest handler, read the record."""

    def __init__(self, services: Services, client: Client, app: Any) -> None:
        self.services = services
        self.api = ChaliceApi(client)
        self.account: Account = sign_up(self.api)
        self.pump = ingest_pump(services, app)

    @property
    def tenant(self) -> TenantServices:
        """The services of this ingestor's tenant, as the app builds them for its requests."""
        return self.services.for_tenant(self.account.tenant_id)

    def drain(self) -> None:
        while self.pump.poll_once():
            pass

    def reserve_multipart(self, size: int) -> str:
        """Start a multipart upload through the API (1 MiB and up go by parts), sending no part:
        its record reserves `size` bytes."""
        settings = self.services.settings.model_copy(
            update={"multipart_threshold_bytes": MIB, "multipart_part_bytes": 5 * MIB}
        )
        install(Services(settings, self.services.clients))
        try:
            reply = self.api.call(
                "POST", "/uploads", json_body={"name": "big.csv", "size": size}, token=self.account.id_token
            )
        finally:
            install(self.services)
        assert reply.status == 201, reply.body
        assert reply.body["upload"]["method"] == "MULTIPART"
        return str(reply.body["file_id"])

    def upload(self, name: str, data: bytes, table: str | None = None) -> dict[str, Any]:
        reply = upload_direct(self.api, self.account, name, data, "application/octet-stream", table)
        assert reply.status == 201, reply
        self.drain()
        return self.record(reply.body["file_id"])

    def record(self, file_id: str) -> dict[str, Any]:
        reply = self.api.call("GET", f"/files/{file_id}", token=self.account.id_token)
        assert reply.status == 200, reply
        return reply.body

    def stored_keys(self, prefix: str) -> list[str]:
        """The keys of the objects under `prefix` in the data bucket, as they are now."""
        s3, bucket = self.services.clients.s3, self.services.settings.data_bucket
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [entry["Key"] for page in pages for entry in page.get("Contents", [])]

    def rows(self, record: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The file's rows in its table, read from the local engine's copy of its partition."""
        return duckdb.read_parquet(f"{self.partition(record)}/*.parquet").fetchall()

    def partition(self, record: dict[str, Any]) -> Path:
        """The local engine's folder of a READY file's partition of its table."""
        tenant_id = self.account.tenant_id
        table = self.tenant.tables.get(tenant_id, record["table"])
        assert table is not None
        added = self.tenant.tables.file_of(tenant_id, table.table_id, record["file_id"])
        assert added is not None
        warehouse = Path(self.services.settings.warehouse_dir or "")
        return local_table_folder(warehouse, tenant_id, table.table_id) / f"_seq={added.seq}"


def refused_at_once(ingestor: Ingestor, name: str, data: bytes, logs: list[dict[str, Any]]) -> dict[str, Any]:
    """Upload and ingest; the record, which must be FAILED at the first delivery, which succeeded
    (the queue does not deliver it again), with no table."""
    record = ingestor.upload(name, data)
    assert record["status"] == "FAILED", record
    deliveries = [e for e in logs if e["message"] == "object received" and e["key"].endswith(record["file_id"])]
    assert len(deliveries) == 1
    assert [entry for entry in logs if entry["message"] == "message failed"] == []  # never retried
    assert (record["table"], record["columns"]) == (None, [])
    tables = ingestor.api.call("GET", "/tables", token=ingestor.account.id_token).body["tables"]
    assert record["file_id"] not in [table["file_id"] for table in tables]
    return record
