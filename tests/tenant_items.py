"""A tenant's history written straight into the table (many files, tables, jobs, fast), and what
DynamoDB is asked meanwhile: requests, and the items they read."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib import keys
from chalicelib.aws.dynamo import to_item
from chalicelib.columns import ColumnType
from chalicelib.files.records import FileRecord, IngestClaim, Status, Upload, UploadMethod
from chalicelib.files.tables import Table, TableColumn, TableFile, seq_entry
from chalicelib.ids import new_id
from chalicelib.queries.store import QueryRecord, QueryState
from chalicelib.services import Services
from chalicelib.times import now


@dataclass
class Asked:
    """The DynamoDB requests this thread sent, and how many items they read."""

    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    items_read: int = 0

    @property
    def calls(self) -> Counter[str]:
        return Counter(operation for operation, _ in self.requests)

    def keys_asked(self, operation: str) -> list[str]:
        """The sort keys `operation` named (GetItem's key, BatchGetItem's keys)."""
        asked: list[str] = []
        for name, params in self.requests:
            if name != operation:
                continue
            if "Key" in params:
                asked.append(params["Key"]["SK"]["S"])
            for request in params.get("RequestItems", {}).values():
                asked += [key["SK"]["S"] for key in request["Keys"]]
        return asked

    def ranges_read(self) -> list[str]:
        """The sort-key prefixes of the Query requests."""
        return [str(params["ExpressionAttributeValues"]) for name, params in self.requests if name == "Query"]


@contextmanager
def dynamodb_asked(services: Services, tenant_id: str) -> Iterator[Asked]:
    """What this thread asks of DynamoDB meanwhile, on the function's and the tenant's clients (a
    query's own thread, which writes its end whenever it ends, is left out)."""
    with asked_of(services, tenant_id, "dynamodb") as asked:
        yield asked


@contextmanager
def asked_of(services: Services, tenant_id: str, service: str) -> Iterator[Asked]:
    """What this thread asks of `service` (dynamodb or s3) meanwhile, on the function's and the
    tenant's clients; items read are the items and object keys the answers hold."""
    asked = Asked()
    me = threading.get_ident()

    def before(model: Any, params: dict[str, Any], **_: Any) -> None:
        if threading.get_ident() == me:
            asked.requests.append((model.name, params))

    def after(model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if threading.get_ident() != me:
            return
        if model.name in ("Query", "Scan"):
            asked.items_read += parsed.get("ScannedCount", 0)
        elif model.name == "BatchGetItem":
            asked.items_read += sum(len(items) for items in parsed.get("Responses", {}).values())
        elif model.name == "GetItem":
            asked.items_read += "Item" in parsed
        elif model.name in ("ListObjectsV2", "ListObjectVersions"):
            asked.items_read += sum(len(parsed.get(part, [])) for part in ("Contents", "Versions", "DeleteMarkers"))

    clients = [services.clients.client(service), services.for_tenant(tenant_id).clients.client(service)]
    for client in clients:
        client.meta.events.register(f"before-parameter-build.{service}", before)
        client.meta.events.register(f"after-call.{service}", after)
    try:
        yield asked
    finally:
        for client in clients:
            client.meta.events.unregister(f"before-parameter-build.{service}", before)
            client.meta.events.unregister(f"after-call.{service}", after)


def _put(services: Services, item: dict[str, Any]) -> None:
    services.clients.dynamodb.put_item(TableName=services.settings.table_name, Item=to_item(item))


def seed_file(services: Services, tenant_id: str, name: str, status: Status = Status.READY) -> FileRecord:
    """A file record as ingest leaves it (READY: the only file of its table `name`), with no object
    behind it: listing and looking it up read only the table."""
    created = now()
    record = FileRecord(
        tenant_id=tenant_id,
        file_id=new_id(),
        name=f"{name}.csv",
        owner_id="seeded",
        size=10,
        content_type="text/csv",
        status=status,
        created_at=created,
        updated_at=created,
        upload=Upload(UploadMethod.DIRECT),
        format="csv" if status is Status.READY else None,
        row_count=1 if status is Status.READY else None,
        columns=[{"name": "n", "type": "bigint"}] if status is Status.READY else [],
        table=name if status is Status.READY else None,
        ingest=None if status is Status.UPLOADING else IngestClaim("etag", uuid.uuid4().hex, 0, final=False),
    )
    if status is Status.READY:  # the file is its table's partition 1, as a first file's is
        table = Table(
            name=name,
            table_id=new_id(),
            created_at=created,
            columns=(TableColumn("n", None, ColumnType("BIGINT", "bigint", "bigint"), record.file_id, created),),
            schema_version=1,
            version=1,
            next_seq=2,
            file_count=1,
            row_count=1,
            last_file_id=record.file_id,
            created_by=record.file_id,
        )
        listed = TableFile(record.file_id, record.name, 1, 1, created, uuid.uuid4().hex * 2)
        _put(services, {**keys.table(tenant_id, name), **table.to_fields()})
        _put(services, {**keys.table_file(tenant_id, table.table_id, record.file_id), **listed.to_fields()})
        record = replace(record, table_seqs=(seq_entry(name, table.table_id, 1),))
    _put(services, {**keys.file(tenant_id, record.file_id), **record.to_fields()})
    return record


def seed_tables(services: Services, tenant_id: str, count: int, prefix: str = "seeded_") -> list[FileRecord]:
    return [seed_file(services, tenant_id, f"{prefix}{n:04d}") for n in range(count)]


def seed_ended_jobs(services: Services, tenant_id: str, user_id: str, count: int) -> None:
    """Queries that ended long ago, kept for their retention period."""
    for _ in range(count):
        query_id = new_id()
        record = QueryRecord(
            tenant_id=tenant_id,
            user_id=user_id,
            query_id=query_id,
            sql="SELECT 1",
            status=QueryState.SUCCEEDED,
            submitted_at=now(),
            completed_at=now(),
            holds_slot=False,
        )
        _put(services, {**keys.query(tenant_id, user_id, query_id), **record.to_fields()})
