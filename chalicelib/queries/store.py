"""Query jobs in the platform's DynamoDB table, and each tenant's running-query slots.

A query holds one of its tenant's slots from submission until it is seen to have ended; taking a
slot is a conditional increment (so the limit holds under concurrency), and giving it back is
written together with the query's final state, once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from chalicelib import keys
from chalicelib.aws.dynamo import (
    TransactionCancelled,
    batch_get,
    get_item,
    query_page,
    query_prefix,
    to_item,
    transact,
    value,
)
from chalicelib.errors import TooManyRequests
from chalicelib.files.tables import table_still
from chalicelib.queries.usage import counted

# GET /queries/{id}?wait=N holds the request up to N seconds for the query to end.
MAX_WAIT_SECONDS = 20


class QueryState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in (QueryState.SUCCEEDED, QueryState.FAILED, QueryState.CANCELLED)


@dataclass(frozen=True)
class Stats:
    runtime_ms: int = 0
    bytes_scanned: int = 0
    rows: int = 0


@dataclass(frozen=True)
class QueryRecord:
    tenant_id: str
    user_id: str
    query_id: str
    sql: str  # as the user wrote it
    status: QueryState
    submitted_at: str
    tables: list[str] = field(default_factory=list)
    engine_id: str | None = None  # the engine's own id (Athena's QueryExecutionId)
    completed_at: str | None = None
    stats: Stats | None = None
    error: dict[str, str] | None = None
    holds_slot: bool = True
    columns: list[dict[str, str]] = field(default_factory=list)
    expires_at: int | None = None  # epoch seconds, set when it ends: DynamoDB's TTL removes it then
    usage_month: str | None = None  # the month (UTC) the query counts in, as it was submitted
    reuse_key: str | None = None  # what its result may be reused under (engine.reuse_key)
    reused: bool = False  # answered with an earlier identical result, scanning nothing

    @property
    def expired(self) -> bool:
        """Past its retention (its results are gone), though DynamoDB may not have removed it yet."""
        return self.expires_at is not None and self.expires_at <= time.time()

    def to_fields(self) -> dict[str, Any]:
        fields = asdict(self)
        fields["status"] = self.status.value
        return fields

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> QueryRecord:
        known = {name: fields[name] for name in cls.__dataclass_fields__ if name in fields}
        stats = known.pop("stats", None)
        return cls(**known | {"status": QueryState(known["status"]), "stats": Stats(**stats) if stats else None})

    def view(self, page: Any = None, next_token: str | None = None) -> dict[str, Any]:
        """API.md's query record; for a SUCCEEDED query, with its columns and a page of rows."""
        shown = {
            "query_id": self.query_id,
            "status": self.status.value,
            "sql": self.sql,
            "submitted_at": self.submitted_at,
            "completed_at": self.completed_at,
            "stats": asdict(self.stats) if self.stats else None,
            "error": self.error,
            "reused": self.reused,
        }
        if page is not None:
            shown |= {"columns": page.columns, "rows": page.rows, "next_token": next_token}
        return shown


class TooManyQueries(TooManyRequests):
    code = "too_many_queries"
    message = "Your tenant runs as many queries as it may at once: wait for one to finish."


class TablesChanged(Exception):
    """A table the query reads is no longer as the job's checks expected."""


class QueryStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def create(self, record: QueryRecord, max_running: int, unchanged: Sequence[tuple[str, str, int]] = ()) -> None:
        """Store a new job and take one of the tenant's slots, or neither: TooManyQueries when
        the tenant has none left, TablesChanged when a table of `unchanged` has changed. A job
        stored ended already (a reused result) takes no slot."""
        slot = {
            "Update": {
                "TableName": self._table,
                "Key": to_item(keys.tenant(record.tenant_id)),
                "UpdateExpression": "ADD running_queries :one, running_jobs :job",
                "ConditionExpression": "attribute_exists(PK) AND "
                "(attribute_not_exists(running_queries) OR running_queries < :max)",
                "ExpressionAttributeValues": {
                    ":one": value(1),
                    ":max": value(max_running),
                    ":job": value({_job(record)}),
                },
            }
        }
        put = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(
                    {**keys.query(record.tenant_id, record.user_id, record.query_id), **record.to_fields()}
                ),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
        checks = [
            table_still(self._table, record.tenant_id, name, table_id, version) for name, table_id, version in unchanged
        ]
        items = [put, *checks, *([slot] if record.holds_slot else [])]
        if record.usage_month is not None:
            items.append(counted(self._table, record.tenant_id, record.usage_month, "query_count", 1))
        try:
            transact(self._dynamodb, items)
        except TransactionCancelled as cancelled:
            if any(cancelled.failed(n) for n in range(1, 1 + len(checks))):
                raise TablesChanged() from cancelled.error
            if record.holds_slot and cancelled.failed(1 + len(checks)):
                raise TooManyQueries() from cancelled.error
            raise

    def get(self, tenant_id: str, user_id: str, query_id: str) -> QueryRecord | None:
        item = get_item(self._dynamodb, self._table, keys.query(tenant_id, user_id, query_id))
        return QueryRecord.from_fields(item) if item else None

    def started(self, record: QueryRecord, engine_id: str) -> QueryRecord:
        started = replace(record, engine_id=engine_id)
        self._dynamodb.update_item(
            TableName=self._table,
            Key=to_item(keys.query(record.tenant_id, record.user_id, record.query_id)),
            UpdateExpression="SET engine_id = :id",
            ExpressionAttributeValues={":id": value(engine_id)},
        )
        return started

    def running(self, record: QueryRecord) -> None:
        """QUEUED → RUNNING (no other change is allowed here)."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=to_item(keys.query(record.tenant_id, record.user_id, record.query_id)),
                UpdateExpression="SET #status = :running",
                ConditionExpression="#status = :queued",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":running": value("RUNNING"), ":queued": value("QUEUED")},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return

    def finish(self, record: QueryRecord) -> bool:
        """Write the job's final state and give its slot back, once; False if it ended already."""
        assert record.status.finished
        update = {
            "Update": {
                "TableName": self._table,
                "Key": to_item(keys.query(record.tenant_id, record.user_id, record.query_id)),
                "UpdateExpression": "SET #status = :status, completed_at = :at, stats = :stats, "
                "#error = :error, #columns = :columns, holds_slot = :false, expires_at = :expires, reused = :reused",
                "ConditionExpression": "holds_slot = :true",
                "ExpressionAttributeNames": {"#status": "status", "#error": "error", "#columns": "columns"},
                "ExpressionAttributeValues": {
                    ":status": value(record.status.value),
                    ":at": value(record.completed_at),
                    ":stats": value(asdict(record.stats) if record.stats else None),
                    ":error": value(record.error),
                    ":columns": value(record.columns),
                    ":expires": value(record.expires_at),
                    ":reused": value(record.reused),
                    ":true": value(True),
                    ":false": value(False),
                },
            }
        }
        release = {
            "Update": {
                "TableName": self._table,
                "Key": to_item(keys.tenant(record.tenant_id)),
                "UpdateExpression": "ADD running_queries :minus_one DELETE running_jobs :job",
                "ExpressionAttributeValues": {":minus_one": value(-1), ":job": value({_job(record)})},
            }
        }
        items = [update, release]
        scanned = record.stats.bytes_scanned if record.stats else 0
        # What it scanned is counted, as Athena bills it: a failed query is not billed.
        if record.usage_month is not None and scanned and record.status is not QueryState.FAILED:
            items.append(counted(self._table, record.tenant_id, record.usage_month, "bytes_scanned", scanned))
        try:
            transact(self._dynamodb, items)
        except TransactionCancelled as cancelled:
            if cancelled.failed(0):
                return False
            raise
        return True

    def page(self, tenant_id: str, user_id: str, limit: int, after: str | None) -> tuple[list[QueryRecord], str | None]:
        """Up to `limit` of the user's queries, newest first, after the query id `after`."""
        partition, mine = keys.tenant_partition(tenant_id), keys.queries_of(user_id)
        items, last = query_page(self._dynamodb, self._table, partition, mine, limit, after, newest_first=True)
        return [QueryRecord.from_fields(item) for item in items], last

    def holding_slots(self, tenant_id: str) -> list[QueryRecord]:
        """The tenant's jobs (of every user) that still hold a slot: those its tenant item lists
        (`running_jobs`, written with the slot's count in the same transactions), so that this
        costs the running jobs, not every job kept.

        A slot taken before jobs were listed there is counted but unlisted: while the count says
        there is one, the tenant's jobs are read the old way, every one."""
        projection = "running_queries, running_jobs"
        fields = get_item(self._dynamodb, self._table, keys.tenant(tenant_id), projection=projection) or {}
        listed = fields.get("running_jobs", set())
        if fields.get("running_queries", 0) > len(listed):
            items = query_prefix(
                self._dynamodb,
                self._table,
                keys.tenant_partition(tenant_id),
                keys.QUERY_PREFIX,
                where="holds_slot = :true",
                values={":true": True},
            )
        else:
            jobs = [job.rpartition("#") for job in listed]
            items = batch_get(
                self._dynamodb, self._table, [keys.query(tenant_id, user_id, query_id) for user_id, _, query_id in jobs]
            )
        return [record for record in map(QueryRecord.from_fields, items) if record.holds_slot]


def _job(record: QueryRecord) -> str:
    """How the tenant item lists a job holding a slot: its user and id."""
    return f"{record.user_id}#{record.query_id}"
