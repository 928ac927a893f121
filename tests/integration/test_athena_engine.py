"""The Athena engine through the API, its exact calls pinned with botocore's Stubber (moto runs no
SQL): start, status, pages with the header row and types, cancel, failures, the scan cutoff, the
platform's time limit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from chalice.test import Client

from chalicelib import keys
from chalicelib.aws.clients import AwsClients
from chalicelib.aws.dynamo import to_item
from chalicelib.queries.athena import AthenaEngine
from chalicelib.queries.store import QueryRecord, QueryState
from chalicelib.services import Services, install
from tests.api import ChaliceApi, sign_up
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
    assert isinstance(services.engine, AthenaEngine)
    ingestor = Ingestor(services, client, app)
    ingestor.upload("sales.csv", b"region,amount\nnorth,1.5\nsouth,2\n")
    with Stubber(stubbed) as stubber:
        yield ingestor, stubber
        stubber.assert_no_pending_responses()


def _execution(state: str, reason: str = "", scanned: int = 0, runtime: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {"State": state}
    if reason:
        status["StateChangeReason"] = reason
    return {
        "QueryExecution": {
            "QueryExecutionId": "exec-1",
            "Status": status,
            "Statistics": {"DataScannedInBytes": scanned, "TotalExecutionTimeInMillis": runtime},
            "ResultConfiguration": {"OutputLocation": "s3://results-bucket/tenants/t/queries/q/exec-1.csv"},
        }
    }


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


def _submit(ingestor: Ingestor, stubber: Stubber, sql: str) -> str:
    database = f"sdp_dev_{ingestor.account.tenant_id.lower()}"
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": "exec-1"},
        {
            "QueryString": f'SELECT region, SUM(amount) AS total FROM "{database}"."sales" AS sales GROUP BY region',
            "ClientRequestToken": ANY,
            "QueryExecutionContext": {"Catalog": "AwsDataCatalog", "Database": database},
            "ResultConfiguration": {
                "OutputLocation": ANY,
                "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": KEY},
            },
            "WorkGroup": "sdp-dev",
        },
    )
    reply = ingestor.api.call("POST", "/queries", json_body={"sql": sql}, token=ingestor.account.id_token)
    assert reply.status == 202, reply
    return reply.body["query_id"]


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
    engine = ingestor.services.engine
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


def test_a_query_past_the_platforms_time_limit_is_stopped(athena: tuple[Ingestor, Stubber]) -> None:
    ingestor, stubber = athena
    query_id = _submit(ingestor, stubber, "SELECT region, sum(amount) AS total FROM sales GROUP BY region")
    services = ingestor.services
    key = to_item(keys.query(ingestor.account.tenant_id, ingestor.account.user_id, query_id))
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    services.clients.dynamodb.update_item(
        TableName=services.settings.table_name,
        Key=key,
        UpdateExpression="SET submitted_at = :then",
        ExpressionAttributeValues={":then": {"S": an_hour_ago.isoformat(timespec="milliseconds")}},
    )
    stubber.add_response("get_query_execution", _execution("RUNNING", scanned=5), {"QueryExecutionId": "exec-1"})
    stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": "exec-1"})
    record = ingestor.api.call("GET", f"/queries/{query_id}", token=ingestor.account.id_token).body
    assert record["status"] == "FAILED"
    assert record["error"] == {"code": "query_timeout", "message": "The query ran past its time limit of 600 s."}
    listed = ingestor.api.call("GET", "/queries", token=ingestor.account.id_token).body["queries"]
    assert [query["status"] for query in listed] == ["FAILED"]  # settled once: no further Athena call


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
