"""The Athena engine: the query runs in the stage's workgroup over the tenant's Glue database."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlglot import exp

from chalicelib.queries.engine import SCAN_LIMIT_EXCEEDED, Execution, Page, TableInfo, error
from chalicelib.queries.guard import Guarded
from chalicelib.queries.store import QueryRecord, QueryState, Stats

_STATES = {
    "QUEUED": QueryState.QUEUED,
    "RUNNING": QueryState.RUNNING,
    "SUCCEEDED": QueryState.SUCCEEDED,
    "FAILED": QueryState.FAILED,
    "CANCELLED": QueryState.CANCELLED,
}
_INTEGERS = {"tinyint", "smallint", "integer", "int", "bigint"}
_FLOATS = {"double", "real", "float"}
# Athena's page size limit; the first page also carries the header row.
MAX_RESULTS = 1000


def result_prefix(bucket: str, tenant_id: str, query_id: str) -> str:
    """Where a query's results go: under the tenant's own prefix, which its IAM role is limited to."""
    return f"s3://{bucket}/tenants/{tenant_id}/queries/{query_id}/"


class AthenaEngine:
    def __init__(
        self,
        athena: Any,
        *,
        workgroup: str,
        results_bucket: str,
        database_prefix: str,
        kms_key_arn: str | None,
        namespace: str,
    ) -> None:
        self._athena = athena
        self._workgroup = workgroup
        self._results_bucket = results_bucket
        self._database_prefix = database_prefix
        self._kms_key_arn = kms_key_arn
        self._namespace = namespace

    def submit(self, record: QueryRecord, guarded: Guarded, tables: dict[str, TableInfo]) -> str:
        database = f"{self._database_prefix}{record.tenant_id.lower()}"
        sql = guarded.with_tables(lambda name: exp.table_(name, db=database, quoted=True)).sql(dialect="athena")
        encryption: dict[str, str] = {"EncryptionOption": "SSE_KMS" if self._kms_key_arn else "SSE_S3"}
        if self._kms_key_arn:
            encryption["KmsKey"] = self._kms_key_arn
        response = self._athena.start_query_execution(
            QueryString=sql,
            ClientRequestToken=self.request_token(record),
            QueryExecutionContext={"Catalog": "AwsDataCatalog", "Database": database},
            ResultConfiguration={
                "OutputLocation": result_prefix(self._results_bucket, record.tenant_id, record.query_id),
                "EncryptionConfiguration": encryption,
            },
            WorkGroup=self._workgroup,
        )
        return response["QueryExecutionId"]

    def request_token(self, record: QueryRecord) -> str:
        """Athena's idempotency token: a retried start never runs a query twice. Namespaced by
        stage and tenant, so no two of ours can collide."""
        seed = f"{self._namespace}:{record.tenant_id}:{record.query_id}"
        return hashlib.sha256(seed.encode()).hexdigest()

    def status(self, record: QueryRecord) -> Execution:
        execution = self._execution(record)
        status = execution["Status"]
        state = _STATES[status["State"]]
        statistics = execution.get("Statistics", {})
        stats = Stats(
            runtime_ms=int(
                statistics.get("TotalExecutionTimeInMillis", statistics.get("EngineExecutionTimeInMillis", 0))
            ),
            bytes_scanned=int(statistics.get("DataScannedInBytes", 0)),
        )
        reason = status.get("StateChangeReason", "")
        if "Bytes scanned limit" in reason:
            return Execution(QueryState.FAILED, stats, SCAN_LIMIT_EXCEEDED)
        if state is QueryState.FAILED:
            return Execution(state, stats, error("query_failed", _plain_reason(reason)))
        if state is QueryState.SUCCEEDED:  # asked once: a query is settled when first seen ended
            stats = replace(stats, rows=self._output_rows(record))
        return Execution(state, stats)

    def _execution(self, record: QueryRecord) -> dict[str, Any]:
        return self._athena.get_query_execution(QueryExecutionId=record.engine_id)["QueryExecution"]

    def _output_rows(self, record: QueryRecord) -> int:
        """The result's row count, which GetQueryExecution does not give."""
        statistics = self._athena.get_query_runtime_statistics(QueryExecutionId=record.engine_id)
        return int(statistics["QueryRuntimeStatistics"].get("Rows", {}).get("OutputRows", 0))

    def wait(self, record: QueryRecord, seconds: float) -> None:
        """Poll GetQueryExecution with backoff: a quick query answers quickly, a slow one costs few calls."""
        deadline = time.monotonic() + seconds
        pause = 0.1
        while time.monotonic() < deadline:
            if _STATES[self._execution(record)["Status"]["State"]].finished:
                return
            time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
            pause = min(pause * 2, 2.0)

    def page(self, record: QueryRecord, position: str | None, max_rows: int) -> Page:
        first = position is None
        request: dict[str, Any] = {
            "QueryExecutionId": record.engine_id,
            "MaxResults": min(max_rows + 1 if first else max_rows, MAX_RESULTS),
        }
        if position is not None:
            request["NextToken"] = position
        response = self._athena.get_query_results(**request)
        info = response["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
        columns = [{"name": column["Name"], "type": column["Type"].lower()} for column in info]
        rows = response["ResultSet"]["Rows"]
        if first and rows and [d.get("VarCharValue") for d in rows[0]["Data"]] == [c["name"] for c in columns]:
            rows = rows[1:]  # the header row Athena puts first
        kinds = [column["type"] for column in columns]
        values = [
            [_value(datum.get("VarCharValue"), kind) for datum, kind in zip(row["Data"], kinds, strict=False)]
            for row in rows
        ]
        return Page(columns, values, response.get("NextToken"))

    def cancel(self, record: QueryRecord) -> None:
        if record.engine_id:
            self._athena.stop_query_execution(QueryExecutionId=record.engine_id)

    def result_object(self, record: QueryRecord) -> tuple[str, str]:
        location = self._execution(record)["ResultConfiguration"]["OutputLocation"]
        bucket, _, key = location.removeprefix("s3://").partition("/")
        return bucket, key


def _value(text: str | None, kind: str) -> Any:
    """Athena's text value as a JSON value of its type: numbers as numbers, null as null."""
    if text is None:
        return None
    base = kind.split("(", 1)[0]
    try:
        if base in _INTEGERS:
            return int(text)
        if base in _FLOATS:
            number = float(text)
            return number if number == number and abs(number) != float("inf") else text
        if base == "decimal":
            number = Decimal(text)
            return int(number) if number == number.to_integral_value() and "." not in text else float(number)
    except ValueError:
        return text
    if base == "boolean":
        return text == "true"
    return text


def _plain_reason(reason: str) -> str:
    """Athena's reason without its internal prefixes (`line 1:8: ` stays: it says where)."""
    return re.sub(r"^(FAILED|NOT_SUPPORTED|GENERIC_INTERNAL_ERROR|SYNTAX_ERROR|COLUMN_NOT_FOUND): ", "", reason) or (
        "The query failed."
    )
