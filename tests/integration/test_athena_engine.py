"""The Athena engine through the API, its exact calls pinned with botocore's Stubber (moto runs no
SQL): start, status, pages with the header row and types, cancel, failures, Athena's own errors,
the scan cutoff, the platform's time limit, the backoff while waiting."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from chalice.test import Client

from chalicelib import keys
from chalicelib.aws.clients import AwsClients
from chalicelib.aws.dynamo import to_item
from chalicelib.keys import glue_table
from chalicelib.queries.athena import AthenaEngine, QueryEngineBusy, ReuseMarks
from chalicelib.queries.store import QueryRecord, QueryState
from chalicelib.services import Services, install
from tests.api import Account, ChaliceApi, add_member, sign_up
from tests.ingestor import Ingestor

KEY = "arn:aws:kms:us-east-1:123456789012:key/0000-1111"


@pytest.fixture
def athena(platform_services: Services, client: Client, app: Any, aws: Any) -> Iterator[tuple[Ingestor, Stubber]]:
    """The platform as deployed (Glue catalog, Athena engine) with a stubbed Athena client."""
    stubbed = boto3.session.Session(region_name="us-east-1").client("athena")
    settings = platform_services.settings.model_copy(
        update={"stage": "dev", "warehouse_dir": None, "athena_workgroup": "sdp-dev", "data_key_arn": KEY}
    )
    services = Services(settings, AwsClients(aws, prepared={"athena": stubbed}))
    install(services)
    assert isinstance(services.for_tenant("T").engine, AthenaEngine)
    ingestor = Ingestor(services, client, app)
    ingestor.upload("sales.csv", b"region,amount\nnorth,1.5\nsouth,2\n")
    with Stubber(stubbed) as stubber:
        yield ingestor, stubber
        stubber.assert_no_pending_responses()


def _execution(
    state: str,
    reason: str = "",
    scanned: int = 0,
    runtime: int = 0,
    submitted: datetime | None = None,
    queued_ms: int = 0,
) -> dict[str, Any]:
    status: dict[str, Any] = {"State": state, "SubmissionDateTime": submitted or datetime.now(UTC)}
    if reason:
        status["StateChangeReason"] = reason
    return {
        "QueryExecution": {
            "QueryExecutionId": "exec-1",
            "Status": status,
            "Statistics": {
                "DataScannedInBytes": scanned,
                "TotalExecutionTimeInMillis": runtime,
                "QueryQueueTimeInMillis": queued_ms,
            },
            "ResultConfiguration": {"OutputLocation": "s3://results-bucket/tenants/t/queries/q/exec-1.csv"},
        }
    }


class Pinned:
    """Equal to a string of one exact shape, which it keeps: the call's value is then checked
    against what is known only after the call (the query id the API answers with)."""

    def __init__(self, pattern: str) -> None:
        self._pattern = re.compile(pattern)
        self.seen: list[str] = []

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str) and self._pattern.fullmatch(other):
            self.seen.append(other)
            return True
        return False

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"Pinned({self._pattern.pattern!r})"


def _output_rows(stubber: Stubber, rows: int) -> None:
    stubber.add_response(
        "get_query_runtime_statistics",
        {"QueryRuntimeStatistics": {"Rows": {"InputRows": 10, "OutputRows": rows}}},
        {"QueryExecutionId": "exec-1"},
    )


def _rows(*rows: list[str | None]) -> list[dict[str, Any]]:
    return [{"Data": [{"VarCharValue": v} if v is not None else {} for v in row]} for row in rows]


METADATA = {
    "ColumnInfo": [
        {"Name": "region", "Type": "varchar"},
        {"Name": "total", "Type": "double"},
        {"Name": "n", "Type": "bigint"},
        {"Name": "ok", "Type": "boolean"},
        {"Name": "d", "Type": "decimal"},
    ]
}


SQL = "SELECT region, sum(amount) AS total FROM sales GROUP BY region"


def _start_parameters(ingestor: Ingestor, *, reuse: bool = False) -> tuple[dict[str, Any], Pinned, Pinned]:
    """StartQueryExecution's exact parameters; the token and the output location are pinned to
    their shapes here and to the query's id once it is known."""
    tenant = ingestor.account.tenant_id
    database = f"sdp_dev_{tenant.lower()}"
    bucket = ingestor.services.settings.results_bucket
    token = Pinned(r"[0-9a-f]{64}")
    location = Pinned(rf"s3://{re.escape(bucket)}/tenants/{re.escape(tenant)}/queries/[0-9A-Z]{{26}}/")
    table = ingestor.tenant.tables.get(tenant, "sales")
    assert table is not None
    # The table read as the partitions its item shows (here its one file's), under its catalog name.
    source = f'"{database}"."{glue_table("sales", table.table_id)}"'
    rows = f'SELECT "region", "amount" FROM {source} WHERE "_seq" < {table.next_seq}'
    parameters = {
        "QueryString": f"SELECT region, SUM(amount) AS total FROM ({rows}) AS sales GROUP BY region",
        "ClientRequestToken": token,
        "QueryExecutionContext": {"Catalog": "AwsDataCatalog", "Database": database},
        "ResultConfiguration": {
            "OutputLocation": location,
            "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": KEY},
        },
        "WorkGroup": "sdp-dev",
        "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": reuse, "MaxAgeInMinutes": 60}},
    }
    return parameters, token, location


def _assert_pinned(ingestor: Ingestor, query_id: str, token: Pinned, location: Pinned) -> None:
    tenant = ingestor.account.tenant_id
    bucket = ingestor.services.settings.results_bucket
    assert location.seen == [f"s3://{bucket}/tenants/{tenant}/queries/{query_id}/"]
    assert token.seen == [hashlib.sha256(f"sdp-dev:{tenant}:{query_id}".encode()).hexdigest()]


def _submit(
    ingestor: Ingestor, stubber: Stubber, sql: str = SQL, *, reuse: bool = False, who: Account | None = None
) -> str:
    parameters, token, location = _start_parameters(ingestor, reuse=reuse)
    stubber.add_response("start_query_execution", {"QueryExecutionId": "exec-1"}, parameters)
    reply = ingestor.api.call("POST", "/queries", json_body={"sql": sql}, token=(who or ingestor.account).id_token)
    assert reply.status == 202, reply
    if who is None:
        _assert_pinned(ingestor, reply.body["query_id"], token, location)
    return reply.body["query_id"]


def test_athena_reuses_a_result_only_for_the_same_member_over_unchanged_tables(
    athena: tuple[Ingestor, Stubber],
) -> None:
    ingestor, stubber = athena
    _submit(ingestor, stubber, reuse=False)  # the first run of the text: nothing to reuse
    again = _submit(ingestor, stubber, reuse=True)  # the same text over the same versions
    reused = _execution("SUCCEEDED", scanned=0, runtime=40)
    reused["QueryExecution"]["Statistics"]["ResultReuseInformation"] = {"ReusedPreviousResult": True}
    stubber.add_response("get_query_execution", reused, {"QueryExecutionId": "exec-1"})
    _output_rows(stubber, 2)
    header = {
        "ResultSet": {
            "Rows": _rows(["region", "total"]),
            "ResultSetMetadata": {"ColumnInfo": METADATA["ColumnInfo"][:2]},
        }
    }
    stubber.add_response("get_query_results", header, {"QueryExecutionId": "exec-1", "MaxResults": 2})
    record = ingestor.api.call("GET", f"/queries/{again}?max_rows=1", token=ingestor.account.id_token)
    assert record.status == 200, record
    assert record.body["reused"] is True
    assert record.body["stats"]["bytes_scanned"] == 0

    colleague = add_member(ingestor.api, ingestor.account, "analyst")
    _submit(ingestor, stubber, reuse=False, who=colleague)  # never another member's result

    more = ingestor.upload("sales_more.csv", b"region,amount\neast,4\n", table="sales")
    _submit(ingestor, stubber, reuse=False)  # a file was added: the table's version moved
    _submit(ingestor, stubber, reuse=True)
    deleted = ingestor.api.call("DELETE", f"/files/{more['file_id']}", token=ingestor.account.id_token)
    assert deleted.status == 204, deleted
    _submit(ingestor, stubber, reuse=False)  # and moved again as the file went


def test_a_query_runs_in_the_tenants_database_and_pages_come_back_typed(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, stubber = athena
    query_id = _submit(ingestor, stubber, "SELECT region, sum(amount) AS total FROM sales GROUP BY region")
    stubber.add_response("get_query_execution", _execution("RUNNING"), {"QueryExecutionId": "exec-1"})
    running = ingestor.api.call("GET", f"/queries/{query_id}", token=ingestor.account.id_token)
    assert running.body["status"] == "RUNNING"

    stubber.add_response(
        "get_query_execution", _execution("SUCCEEDED", scanned=2048, runtime=321), {"QueryExecutionId": "exec-1"}
    )
    _output_rows(stubber, 2)
    stubber.add_response(
        "get_query_results",
        {
            "ResultSet": {
                "Rows": _rows(["region", "total", "n", "ok", "d"], ["north", "1.5", "7", "true", "2.50"]),
                "ResultSetMetadata": METADATA,
            },
            "NextToken": "athena-next-1",
        },
        {"QueryExecutionId": "exec-1", "MaxResults": 2},
    )
    first = ingestor.api.call("GET", f"/queries/{query_id}?max_rows=1", token=ingestor.account.id_token).body
    assert first["status"] == "SUCCEEDED"
    assert first["stats"] == {"runtime_ms": 321, "bytes_scanned": 2048, "rows": 2}
    assert first["columns"][:2] == [{"name": "region", "type": "varchar"}, {"name": "total", "type": "double"}]
    assert first["rows"] == [["north", 1.5, 7, True, 2.5]]
    assert first["next_token"]
    assert "athena-next-1" not in first["next_token"]  # ours, signed

    stubber.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": _rows(["south", None, None, "false", "3"]), "ResultSetMetadata": METADATA}},
        {"QueryExecutionId": "exec-1", "MaxResults": 1, "NextToken": "athena-next-1"},
    )
    second = ingestor.api.call(
        "GET", f"/queries/{query_id}?max_rows=1&next_token={first['next_token']}", token=ingestor.account.id_token
    ).body
    assert second["rows"] == [["south", None, None, False, 3]]
    assert second["next_token"] is None


def test_the_request_token_is_stable_and_namespaced(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, _ = athena
    engine = ingestor.tenant.engine
    assert isinstance(engine, AthenaEngine)
    record = QueryRecord("T1", "U1", "Q1", "SELECT 1", QueryState.QUEUED, "2026-01-01T00:00:00.000Z")
    token = engine.request_token(record)
    assert len(token) == 64
    assert token == engine.request_token(replace(record))  # a retried start is the same request
    assert token != engine.request_token(replace(record, tenant_id="T2"))  # another tenant's never collides


def test_results_csv_is_the_output_location_athena_reports(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, stubber = athena
    query_id = _submit(ingestor, stubber, "SELECT region, sum(amount) AS total FROM sales GROUP BY region")
    stubber.add_response("get_query_execution", _execution("SUCCEEDED"), {"QueryExecutionId": "exec-1"})
    _output_rows(stubber, 2)
    stubber.add_response("get_query_execution", _execution("SUCCEEDED"), {"QueryExecutionId": "exec-1"})
    reply = ingestor.api.call("GET", f"/queries/{query_id}/results.csv", token=ingestor.account.id_token)
    assert reply.status == 200
    assert "tenants/t/queries/q/exec-1.csv" in reply.body["url"]


@pytest.mark.parametrize(
    ("state", "reason", "code"),
    [
        ("FAILED", "SYNTAX_ERROR: line 1:8: Column 'x' cannot be resolved", "query_failed"),
        ("CANCELLED", "Query cancelled! : Bytes scanned limit was exceeded", "scan_limit_exceeded"),
    ],
)
def test_failures_carry_a_reason(athena: tuple[Ingestor, Stubber], state: str, reason: str, code: str) -> None:
    ingestor, stubber = athena
    query_id = _submit(ingestor, stubber, "SELECT region, sum(amount) AS total FROM sales GROUP BY region")
    stubber.add_response("get_query_execution", _execution(state, reason), {"QueryExecutionId": "exec-1"})
    record = ingestor.api.call("GET", f"/queries/{query_id}", token=ingestor.account.id_token).body
    assert record["status"] == "FAILED"
    assert record["error"]["code"] == code
    assert "SYNTAX_ERROR" not in record["error"]["message"]


def test_cancelling_stops_the_execution_once(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, stubber = athena
    query_id = _submit(ingestor, stubber, "SELECT region, sum(amount) AS total FROM sales GROUP BY region")
    stubber.add_response("get_query_execution", _execution("RUNNING"), {"QueryExecutionId": "exec-1"})
    stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": "exec-1"})
    cancelled = ingestor.api.call("DELETE", f"/queries/{query_id}", token=ingestor.account.id_token)
    assert (cancelled.status, cancelled.body["status"]) == (202, "CANCELLED")
    again = ingestor.api.call("DELETE", f"/queries/{query_id}", token=ingestor.account.id_token)
    assert (again.status, again.body["status"]) == (202, "CANCELLED")  # no second stop call


def _submitted_an_hour_ago(ingestor: Ingestor, query_id: str) -> datetime:
    services = ingestor.services
    key = to_item(keys.query(ingestor.account.tenant_id, ingestor.account.user_id, query_id))
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    services.clients.dynamodb.update_item(
        TableName=services.settings.table_name,
        Key=key,
        UpdateExpression="SET submitted_at = :then",
        ExpressionAttributeValues={":then": {"S": an_hour_ago.isoformat(timespec="milliseconds")}},
    )
    return an_hour_ago


def test_a_query_past_the_platforms_time_limit_is_stopped(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, stubber = athena
    query_id = _submit(ingestor, stubber)
    an_hour_ago = _submitted_an_hour_ago(ingestor, query_id)
    running = _execution("RUNNING", scanned=5, submitted=an_hour_ago, queued_ms=1_000)
    stubber.add_response("get_query_execution", running, {"QueryExecutionId": "exec-1"})
    stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": "exec-1"})
    record = ingestor.api.call("GET", f"/queries/{query_id}", token=ingestor.account.id_token).body
    assert record["status"] == "FAILED"
    assert record["error"] == {"code": "query_timeout", "message": "The query ran past its time limit of 600 s."}
    listed = ingestor.api.call("GET", "/queries", token=ingestor.account.id_token).body["queries"]
    assert [query["status"] for query in listed] == ["FAILED"]  # settled once: no further Athena call


def test_the_time_limit_counts_from_when_the_query_began_to_run(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, stubber = athena
    query_id = _submit(ingestor, stubber)
    an_hour_ago = _submitted_an_hour_ago(ingestor, query_id)
    # An hour in Athena's queue and the platform's own wait is not run time.
    queued = _execution("QUEUED", submitted=an_hour_ago)
    stubber.add_response("get_query_execution", queued, {"QueryExecutionId": "exec-1"})
    record = ingestor.api.call("GET", f"/queries/{query_id}", token=ingestor.account.id_token).body
    assert record["status"] == "QUEUED"
    # Out of the queue 59 minutes after it was submitted: it has run one minute of its ten.
    running = _execution("RUNNING", submitted=an_hour_ago, queued_ms=59 * 60_000)
    stubber.add_response("get_query_execution", running, {"QueryExecutionId": "exec-1"})
    record = ingestor.api.call("GET", f"/queries/{query_id}", token=ingestor.account.id_token).body
    assert (record["status"], record["error"]) == ("RUNNING", None)


def test_refused_sql_never_reaches_athena(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, _ = athena
    for sql, code in (("SELECT * FROM secrets", "forbidden_sql"), ("SELECT FROM WHERE", "invalid_sql")):
        reply = ingestor.api.call("POST", "/queries", json_body={"sql": sql}, token=ingestor.account.id_token)
        assert (reply.status, reply.error_code) == (400, code)


def test_another_user_cannot_see_the_query(athena: tuple[Ingestor, Stubber], client: Client) -> None:
    ingestor, stubber = athena
    query_id = _submit(ingestor, stubber, "SELECT region, sum(amount) AS total FROM sales GROUP BY region")
    stranger = sign_up(ChaliceApi(client))
    for method, path in (
        ("GET", f"/queries/{query_id}"),
        ("DELETE", f"/queries/{query_id}"),
        ("GET", f"/queries/{query_id}/results.csv"),
    ):
        reply = ingestor.api.call(method, path, token=stranger.id_token)
        assert (reply.status, reply.error_code) == (404, "query_not_found")


def _query_record(ingestor: Ingestor, query_id: str) -> dict[str, Any]:
    services = ingestor.services
    key = to_item(keys.query(ingestor.account.tenant_id, ingestor.account.user_id, query_id))
    item = services.clients.dynamodb.get_item(TableName=services.settings.table_name, Key=key)["Item"]
    return {"status": item["status"]["S"], "holds_slot": item["holds_slot"]["BOOL"]}


@pytest.mark.parametrize("code", ["ThrottlingException", "TooManyRequestsException", "InternalServerException"])
def test_athena_busy_at_the_start_is_a_503_to_retry_and_gives_the_slot_back(
    athena: tuple[Ingestor, Stubber], code: str
) -> None:
    ingestor, stubber = athena
    parameters, _, _ = _start_parameters(ingestor)
    stubber.add_client_error("start_query_execution", code, "Rate exceeded", 400, expected_params=parameters)
    reply = ingestor.api.call("POST", "/queries", json_body={"sql": SQL}, token=ingestor.account.id_token)
    assert (reply.status, reply.error_code) == (503, "query_engine_busy")
    assert "try again" in reply.body["error"]["message"]
    (listed,) = ingestor.api.call("GET", "/queries", token=ingestor.account.id_token).body["queries"]
    assert _query_record(ingestor, listed["query_id"]) == {"status": "FAILED", "holds_slot": False}
    _submit(ingestor, stubber)  # the retry starts


def test_a_query_athena_refuses_to_start_ends_failed_saying_why(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, stubber = athena
    parameters, _, _ = _start_parameters(ingestor)
    stubber.add_client_error(
        "start_query_execution",
        "InvalidRequestException",
        "Queries of this type are not supported",
        400,
        expected_params=parameters,
    )
    reply = ingestor.api.call("POST", "/queries", json_body={"sql": SQL}, token=ingestor.account.id_token)
    assert reply.status == 202
    assert reply.body["status"] == "FAILED"
    assert reply.body["error"] == {
        "code": "query_failed",
        "message": "Athena did not start the query: Queries of this type are not supported",
    }
    assert _query_record(ingestor, reply.body["query_id"]) == {"status": "FAILED", "holds_slot": False}


def test_athena_refusing_for_another_reason_does_not_tell_its_details(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, stubber = athena
    parameters, _, _ = _start_parameters(ingestor)
    denied = "User: arn:aws:sts::123456789012:assumed-role/sdp-tenant-data is not authorized"
    stubber.add_client_error("start_query_execution", "AccessDeniedException", denied, 400, expected_params=parameters)
    reply = ingestor.api.call("POST", "/queries", json_body={"sql": SQL}, token=ingestor.account.id_token)
    assert (reply.status, reply.body["status"]) == (202, "FAILED")
    assert reply.body["error"]["message"] == "Athena did not start the query (AccessDeniedException)."


def test_athena_throttling_a_status_call_is_a_503_and_the_query_goes_on(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, stubber = athena
    query_id = _submit(ingestor, stubber)
    stubber.add_client_error("get_query_execution", "ThrottlingException", "Rate exceeded", 400)
    reply = ingestor.api.call("GET", f"/queries/{query_id}", token=ingestor.account.id_token)
    assert (reply.status, reply.error_code) == (503, "query_engine_busy")
    stubber.add_response("get_query_execution", _execution("RUNNING"), {"QueryExecutionId": "exec-1"})
    again = ingestor.api.call("GET", f"/queries/{query_id}", token=ingestor.account.id_token)
    assert (again.status, again.body["status"]) == (200, "RUNNING")


def test_a_query_athena_no_longer_knows_ends_failed(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, stubber = athena
    query_id = _submit(ingestor, stubber)
    stubber.add_client_error(
        "get_query_execution", "InvalidRequestException", "QueryExecution exec-1 was not found", 400
    )
    record = ingestor.api.call("GET", f"/queries/{query_id}", token=ingestor.account.id_token).body
    assert record["status"] == "FAILED"
    assert record["error"] == {
        "code": "query_failed",
        "message": "Athena lost the query: QueryExecution exec-1 was not found",
    }


def test_a_query_cancelled_outside_the_platform_is_cancelled_here(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, stubber = athena
    query_id = _submit(ingestor, stubber)
    cancelled = _execution("CANCELLED", reason="Query cancelled by user")
    stubber.add_response("get_query_execution", cancelled, {"QueryExecutionId": "exec-1"})
    record = ingestor.api.call("GET", f"/queries/{query_id}", token=ingestor.account.id_token).body
    assert (record["status"], record["error"]) == ("CANCELLED", None)
    assert _query_record(ingestor, query_id) == {"status": "CANCELLED", "holds_slot": False}
    results = ingestor.api.call("GET", f"/queries/{query_id}/results.csv", token=ingestor.account.id_token)
    assert (results.status, results.error_code) == (409, "query_not_succeeded")
    # and nothing more is asked of Athena: the Stubber has no further response queued


def test_a_first_page_of_a_thousand_rows_holds_a_thousand_rows(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, stubber = athena
    query_id = _submit(ingestor, stubber)
    stubber.add_response("get_query_execution", _execution("SUCCEEDED"), {"QueryExecutionId": "exec-1"})
    _output_rows(stubber, 2500)
    row = ["north", "1.5", "7", "true", "2.5"]
    # Athena's first page is at most 1,000 rows, the header row among them: 999 of the result.
    stubber.add_response(
        "get_query_results",
        {
            "ResultSet": {
                "Rows": _rows(["region", "total", "n", "ok", "d"], *[row] * 999),
                "ResultSetMetadata": METADATA,
            },
            "NextToken": "athena-1",
        },
        {"QueryExecutionId": "exec-1", "MaxResults": 1000},
    )
    stubber.add_response(
        "get_query_results",
        {
            "ResultSet": {"Rows": _rows(["south", "2", "8", "false", "3"]), "ResultSetMetadata": METADATA},
            "NextToken": "athena-2",
        },
        {"QueryExecutionId": "exec-1", "MaxResults": 1, "NextToken": "athena-1"},
    )
    first = ingestor.api.call("GET", f"/queries/{query_id}?max_rows=1000", token=ingestor.account.id_token).body
    assert len(first["rows"]) == 1000
    assert first["rows"][-1] == ["south", 2.0, 8, False, 3]
    stubber.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": _rows(row), "ResultSetMetadata": METADATA}},
        {"QueryExecutionId": "exec-1", "MaxResults": 1000, "NextToken": "athena-2"},
    )
    second = ingestor.api.call(
        "GET", f"/queries/{query_id}?next_token={first['next_token']}", token=ingestor.account.id_token
    ).body
    assert (second["rows"], second["next_token"]) == ([["north", 1.5, 7, True, 2.5]], None)


class FakeClock:
    """Time that passes only when the engine sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(round(seconds, 3))
        self.now += seconds

    def time(self) -> float:
        return self.now


def _engine(stubbed: Any, clock: FakeClock) -> AthenaEngine:
    return AthenaEngine(
        stubbed,
        workgroup="sdp-dev",
        results_bucket="results",
        database_prefix="sdp_dev_",
        kms_key_arn=None,
        namespace="sdp-dev",
        reuse=ReuseMarks(None, "unused"),  # only waits and asks here: nothing starts
        reuse_minutes=60,
        sleep=clock.sleep,
        clock=clock.time,
    )


RECORD = QueryRecord("T1", "U1", "Q1", SQL, QueryState.RUNNING, "2026-01-01T00:00:00.000Z", engine_id="exec-1")


@pytest.mark.parametrize(
    ("states", "pauses"),
    [
        (["SUCCEEDED"], []),
        (["QUEUED", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "FAILED"], [0.1, 0.2, 0.4, 0.8, 1.6, 2.0]),
        (["RUNNING"] * 9, [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0, 0.9]),  # never past the 10 s asked for
    ],
)
def test_waiting_polls_with_a_doubling_pause(states: list[str], pauses: list[float]) -> None:
    stubbed = boto3.session.Session(region_name="us-east-1").client("athena")
    clock = FakeClock()
    with Stubber(stubbed) as stubber:
        for state in states:
            stubber.add_response("get_query_execution", _execution(state), {"QueryExecutionId": "exec-1"})
        _engine(stubbed, clock).wait(RECORD, 10)
        stubber.assert_no_pending_responses()
    assert clock.pauses == pauses


def test_waiting_ends_early_when_athena_throttles_the_polls() -> None:
    stubbed = boto3.session.Session(region_name="us-east-1").client("athena")
    clock = FakeClock()
    with Stubber(stubbed) as stubber:
        stubber.add_response("get_query_execution", _execution("RUNNING"), {"QueryExecutionId": "exec-1"})
        stubber.add_client_error("get_query_execution", "ThrottlingException", "Rate exceeded", 400)
        _engine(stubbed, clock).wait(RECORD, 10)
        stubber.assert_no_pending_responses()
    assert clock.pauses == [0.1]


def test_athena_out_of_reach_is_a_503_too() -> None:
    from botocore.config import Config

    unreachable = boto3.session.Session(region_name="us-east-1").client(
        "athena",
        endpoint_url="http://127.0.0.1:9",  # nothing listens there
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(QueryEngineBusy):
        _engine(unreachable, FakeClock()).status(RECORD)
