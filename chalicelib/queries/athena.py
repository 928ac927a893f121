"""The Athena engine: the query runs in the stage's workgroup over the tenant's Glue database.

Athena reuses an earlier result of the same query text in the workgroup (ResultReuseConfiguration)
without asking whether the data changed. So reuse is asked for only when the member ran the same
query over the same version of every table before (a `REUSE#` mark of its reuse key, written at
each start): versions only grow, so every run of the text since then read those versions too, and
the result Athena finds (its latest of the text) is one of them. The text names the tenant's own
database, so no result is reused across tenants.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as AwsConnectionError

from chalicelib import keys
from chalicelib.aws.dynamo import get_item, to_item
from chalicelib.errors import Conflict, ServiceUnavailable
from chalicelib.keys import glue_table, result_prefix, tenant_database
from chalicelib.observability import logger
from chalicelib.queries.engine import SCAN_LIMIT_EXCEEDED, Execution, Page, QueryRejected, TableInfo, error
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
# Athena's answers that mean "not now": throttled, over the account's concurrent queries, or its
# own trouble. The query (or the request for it) can simply be tried again.
_BUSY = {"ThrottlingException", "TooManyRequestsException", "InternalServerException", "ServiceUnavailable"}
_INVALID = "InvalidRequestException"  # about the query or its execution, in words a user can read
MAX_REUSE_MINUTES = 10080  # the oldest result Athena reuses: a week


class QueryEngineBusy(ServiceUnavailable):
    code = "query_engine_busy"
    message = "The query engine is busy: try again in a few seconds."


class ResultsUnavailable(Conflict):
    code = "query_results_unavailable"
    message = "The query's results cannot be read any more."


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
        reuse: ReuseMarks,
        reuse_minutes: int,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._athena = athena
        self._sleep = sleep
        self._clock = clock
        self._workgroup = workgroup
        self._results_bucket = results_bucket
        self._database_prefix = database_prefix
        self._kms_key_arn = kms_key_arn
        self._namespace = namespace
        self._reuse = reuse
        self._reuse_minutes = reuse_minutes

    def known_id(self, query_id: str) -> str | None:
        return None  # Athena names the execution when it starts it

    def statement(self, tenant_id: str, guarded: Guarded, tables: dict[str, TableInfo]) -> str:
        sources = {name: (glue_table(name, table.table_id), table.rows) for name, table in tables.items()}
        return guarded.athena_statement(tenant_database(self._database_prefix, tenant_id), sources)

    def submit(self, record: QueryRecord, statement: str, tables: dict[str, TableInfo]) -> str:
        database = tenant_database(self._database_prefix, record.tenant_id)
        encryption: dict[str, str] = {"EncryptionOption": "SSE_KMS" if self._kms_key_arn else "SSE_S3"}
        if self._kms_key_arn:
            encryption["KmsKey"] = self._kms_key_arn
        reusable = self._reuse_minutes > 0 and self._reuse.ran_before(record)
        try:
            response = self._call(
                "start_query_execution",
                QueryString=statement,
                ClientRequestToken=self.request_token(record),
                QueryExecutionContext={"Catalog": "AwsDataCatalog", "Database": database},
                ResultConfiguration={
                    "OutputLocation": result_prefix(self._results_bucket, record.tenant_id, record.query_id),
                    "EncryptionConfiguration": encryption,
                },
                WorkGroup=self._workgroup,
                ResultReuseConfiguration={
                    "ResultReuseByAgeConfiguration": {"Enabled": reusable, "MaxAgeInMinutes": self._reuse_minutes}
                },
            )
        except ClientError as refused:
            raise QueryRejected(_refusal(refused, "Athena did not start the query")) from refused
        self._reuse.ran(record)
        return response["QueryExecutionId"]

    def reused(self, record: QueryRecord) -> Execution | None:
        return None  # Athena reuses a result as it starts the query, where submit asks it to

    def request_token(self, record: QueryRecord) -> str:
        """Athena's idempotency token: a retried start never runs a query twice. Namespaced by
        stage and tenant, so no two of ours can collide."""
        seed = f"{self._namespace}:{record.tenant_id}:{record.query_id}"
        return hashlib.sha256(seed.encode()).hexdigest()

    def status(self, record: QueryRecord) -> Execution:
        try:
            execution = self._execution(record)
        except ClientError as failure:
            if _code(failure) != _INVALID:
                raise
            return Execution(QueryState.FAILED, error=error("query_failed", _refusal(failure, "Athena lost the query")))
        status = execution["Status"]
        state = _STATES[status["State"]]
        statistics = execution.get("Statistics", {})
        started = None  # the platform's time limit counts from here: Athena's queue is not the query's time
        if state is not QueryState.QUEUED and status.get("SubmissionDateTime") is not None:
            started = status["SubmissionDateTime"].timestamp() + statistics.get("QueryQueueTimeInMillis", 0) / 1000
        stats = Stats(
            runtime_ms=int(
                statistics.get("TotalExecutionTimeInMillis", statistics.get("EngineExecutionTimeInMillis", 0))
            ),
            bytes_scanned=int(statistics.get("DataScannedInBytes", 0)),
        )
        reused = bool(statistics.get("ResultReuseInformation", {}).get("ReusedPreviousResult", False))
        reason = status.get("StateChangeReason", "")
        if "Bytes scanned limit" in reason:
            return Execution(QueryState.FAILED, stats, SCAN_LIMIT_EXCEEDED, started=started)
        if state is QueryState.FAILED:
            return Execution(state, stats, error("query_failed", _plain_reason(reason)), started=started)
        if state is QueryState.SUCCEEDED:  # asked once: a query is settled when first seen ended
            stats = replace(stats, rows=self._output_rows(record))
        return Execution(state, stats, started=started, reused=reused)

    def _call(self, operation: str, **parameters: Any) -> dict[str, Any]:
        """One Athena call (botocore has retried it already); Athena being busy or out of reach is
        QueryEngineBusy (503: try again)."""
        try:
            return getattr(self._athena, operation)(**parameters)
        except ClientError as failure:
            if _code(failure) in _BUSY:
                logger.warning("athena busy", extra={"operation": operation, "athena_error": _code(failure)})
                raise QueryEngineBusy() from failure
            raise
        except (AwsConnectionError, HTTPClientError) as failure:
            logger.warning("athena out of reach", extra={"operation": operation, "athena_error": str(failure)})
            raise QueryEngineBusy() from failure

    def _execution(self, record: QueryRecord) -> dict[str, Any]:
        return self._call("get_query_execution", QueryExecutionId=record.engine_id)["QueryExecution"]

    def _output_rows(self, record: QueryRecord) -> int:
        """The result's row count, which GetQueryExecution does not give (0 where Athena has none)."""
        try:
            statistics = self._call("get_query_runtime_statistics", QueryExecutionId=record.engine_id)
        except ClientError as failure:
            if _code(failure) != _INVALID:
                raise
            _refusal(failure, "no runtime statistics")  # logged; the query has still ended
            return 0
        return int(statistics["QueryRuntimeStatistics"].get("Rows", {}).get("OutputRows", 0))

    def wait(self, record: QueryRecord, seconds: float) -> None:
        """Poll GetQueryExecution with backoff: a quick query answers quickly, a slow one costs few
        calls. Athena refusing a poll (throttled, say) ends the wait early: the caller then asks
        once more, and answers with what that says."""
        deadline = self._clock() + seconds
        pause = 0.1
        while self._clock() < deadline:
            try:
                if _STATES[self._execution(record)["Status"]["State"]].finished:
                    return
            except (QueryEngineBusy, ClientError):
                return
            self._sleep(min(pause, max(deadline - self._clock(), 0)))
            pause = min(pause * 2, 2.0)

    def page(self, record: QueryRecord, position: str | None, max_rows: int) -> Page:
        first = position is None
        response = self._results(record, position, min(max_rows + 1 if first else max_rows, MAX_RESULTS))
        info = response["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
        columns = [{"name": column["Name"], "type": column["Type"].lower()} for column in info]
        rows = response["ResultSet"]["Rows"]
        token = response.get("NextToken")
        if first and rows and [d.get("VarCharValue") for d in rows[0]["Data"]] == [c["name"] for c in columns]:
            rows = rows[1:]  # the header row Athena puts first
            if len(rows) < max_rows and token is not None:  # it took a row's place in a full page
                more = self._results(record, token, max_rows - len(rows))
                rows, token = rows + more["ResultSet"]["Rows"], more.get("NextToken")
        kinds = [column["type"] for column in columns]
        values = [
            [_value(datum.get("VarCharValue"), kind) for datum, kind in zip(row["Data"], kinds, strict=False)]
            for row in rows
        ]
        return Page(columns, values, token)

    def _results(self, record: QueryRecord, token: str | None, max_results: int) -> dict[str, Any]:
        request: dict[str, Any] = {"QueryExecutionId": record.engine_id, "MaxResults": max_results}
        if token is not None:
            request["NextToken"] = token
        try:
            return self._call("get_query_results", **request)
        except ClientError as failure:
            if _code(failure) != _INVALID:
                raise
            raise ResultsUnavailable(message=_refusal(failure, "Athena cannot return the results")) from failure

    def cancel(self, record: QueryRecord) -> None:
        if not record.engine_id:
            return
        try:
            self._call("stop_query_execution", QueryExecutionId=record.engine_id)
        except ClientError as failure:
            if _code(failure) != _INVALID:  # one that has ended already cannot be stopped: nothing to do
                raise

    def result_object(self, record: QueryRecord) -> tuple[str, str]:
        location = self._execution(record)["ResultConfiguration"]["OutputLocation"]
        bucket, _, key = location.removeprefix("s3://").partition("/")
        return bucket, key


class ReuseMarks:
    """Which reuse keys (engine.reuse_key: the member, the query, its tables' versions) have run."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def ran_before(self, record: QueryRecord) -> bool:
        """Whether the member ran this query over these versions of its tables before."""
        return record.reuse_key is not None and get_item(self._dynamodb, self._table, self._key(record)) is not None

    def ran(self, record: QueryRecord) -> None:
        """Say that the query has started (DynamoDB's TTL removes the mark once no result is that young)."""
        if record.reuse_key is not None:
            expires = int(time.time()) + MAX_REUSE_MINUTES * 60
            self._dynamodb.put_item(TableName=self._table, Item=to_item(self._key(record) | {"expires_at": expires}))

    def _key(self, record: QueryRecord) -> dict[str, str]:
        return keys.reuse_mark(record.tenant_id, record.user_id, record.reuse_key or "")


def _code(failure: ClientError) -> str:
    return str(failure.response.get("Error", {}).get("Code", ""))


def _refusal(failure: ClientError, what: str) -> str:
    """Why Athena refused, for the user: its own words when they are about the query (an invalid
    request), otherwise only the error's name; the details, which may name the platform's own
    resources, go to the log."""
    logger.warning("athena refused", extra={"athena_error": _code(failure), "detail": str(failure)})
    if _code(failure) == _INVALID:
        return f"{what}: {failure.response['Error'].get('Message', 'an invalid request')}"
    return f"{what} ({_code(failure) or 'an error'})."


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
