"""A query past its limits ends FAILED with a message that says which limit; an ended one is kept
for the retention period; a query's end gives its slot back as it ends."""

from __future__ import annotations

import threading
import time
from typing import Any

from chalice.test import Client

from chalicelib import keys
from chalicelib.aws.dynamo import to_item
from chalicelib.ids import new_id
from chalicelib.queries.store import QueryRecord, QueryState, QueryStore
from chalicelib.services import Services, install
from chalicelib.times import now
from tests.api import ChaliceApi, ingested_table, run_query, sign_up
from tests.ingestor import drain_ingest_queue


def _limited_api(platform_services: Services, client: Client, app: Any, **limits: Any) -> ChaliceApi:
    install(Services(platform_services.settings.model_copy(update=limits), platform_services.clients))
    api = ChaliceApi(client)
    api.run_ingest = lambda: drain_ingest_queue(platform_services, app)
    return api


def test_a_query_over_its_time_limit_fails_and_says_so(platform_services: Services, client: Client, app: Any) -> None:
    api = _limited_api(platform_services, client, app, query_timeout_seconds=1)
    account = sign_up(api)
    ingested_table(api, account, "t.csv", ("n\n" + "".join(f"{n}\n" for n in range(300))).encode())
    result = run_query(api, account, "SELECT count(*) FROM t a, t b, t c, t d, t e")
    assert result["status"] == "FAILED"
    assert result["error"] == {"code": "query_timeout", "message": "The query ran past its time limit of 1 s."}


def test_an_array_over_athenas_limit_fails_before_it_is_built(
    platform_services: Services, client: Client, app: Any
) -> None:
    # Twenty million elements: small enough to be safe here even if the limit were not kept, big
    # enough to be refused. Three billion took the whole local platform down (DuckDB's memory
    # limit does not bound one array).
    api = _limited_api(platform_services, client, app)
    account = sign_up(api)
    ingested_table(api, account, "t.csv", b"n\n20000000\n")
    for sql, name in (
        ("SELECT count(*) FROM UNNEST(sequence(1, 20000000))", "sequence"),
        ("SELECT count(*) FROM t CROSS JOIN UNNEST(sequence(1, n))", "sequence"),
        ("SELECT cardinality(repeat('x', n)) FROM t", "repeat"),
    ):
        result = run_query(api, account, sql)
        assert result["status"] == "FAILED", sql
        assert result["error"]["code"] == "query_failed"
        assert f"{name}() would return more than 10000 elements" in result["error"]["message"]
    assert run_query(api, account, "SELECT cardinality(sequence(1, n / 2000)) FROM t")["rows"] == [[10000]]


def test_a_query_over_the_scan_cutoff_fails_unread(platform_services: Services, client: Client, app: Any) -> None:
    api = _limited_api(platform_services, client, app, query_scan_cutoff_bytes=1000)
    account = sign_up(api)
    ingested_table(api, account, "small.csv", b"n\n1\n")
    ingested_table(api, account, "big.csv", ("n\n" + "".join(f"{n}\n" for n in range(5000))).encode())
    assert run_query(api, account, "SELECT n FROM small")["rows"] == [[1]]
    result = run_query(api, account, "SELECT sum(n) FROM big")  # its column n: count(*) reads none
    assert result["status"] == "FAILED"
    assert result["error"]["code"] == "scan_limit_exceeded"
    assert result["stats"]["bytes_scanned"] > 1000


def test_an_ended_query_is_kept_for_the_retention_period_then_gone(platform_services: Services, client: Client) -> None:
    api = ChaliceApi(client)
    account = sign_up(api)
    query_id = run_query(api, account, "SELECT 1 AS one")["query_id"]
    key = to_item(keys.query(account.tenant_id, account.user_id, query_id))
    table = platform_services.settings.table_name
    dynamodb = platform_services.clients.dynamodb
    _until_slots_are_free(platform_services, account.tenant_id)  # the end is written by then
    expires_at = int(dynamodb.get_item(TableName=table, Key=key)["Item"]["expires_at"]["N"])
    assert abs(expires_at - (time.time() + 7 * 86_400)) < 60  # DynamoDB's TTL removes it then

    # Past it, before DynamoDB gets round to removing it, the query is gone all the same.
    dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}},
    )
    for path in (f"/queries/{query_id}", f"/queries/{query_id}/results.csv"):
        reply = api.call("GET", path, token=account.id_token)
        assert (reply.status, reply.error_code) == (404, "query_not_found")
    assert api.call("GET", "/queries", token=account.id_token).body["queries"] == []


def test_a_job_stored_before_its_query_is_handed_to_the_engine_is_queued_not_lost(
    platform_services: Services, client: Client
) -> None:
    """The job (with the local engine's id) is stored a moment before the engine saves the query's
    first state; another request reading it then sees it QUEUED, holding its slot. A job whose
    state never came is lost once that moment is long past."""
    api = ChaliceApi(client)
    account = sign_up(api)
    query_id = new_id()
    record = QueryRecord(
        tenant_id=account.tenant_id,
        user_id=account.user_id,
        query_id=query_id,
        sql="SELECT 1",
        status=QueryState.QUEUED,
        submitted_at=now(),
        engine_id=query_id,
    )
    table = platform_services.settings.table_name
    QueryStore(platform_services.clients.dynamodb, table).create(record, max_running=10)

    reply = api.call("GET", f"/queries/{query_id}", token=account.id_token)
    assert (reply.status, reply.body["status"]) == (200, "QUEUED")
    assert _running(platform_services, account.tenant_id) == 1

    platform_services.clients.dynamodb.update_item(
        TableName=table,
        Key=to_item(keys.query(account.tenant_id, account.user_id, query_id)),
        UpdateExpression="SET submitted_at = :then",
        ExpressionAttributeValues={":then": {"S": "2026-01-01T00:00:00.000Z"}},
    )
    reply = api.call("GET", f"/queries/{query_id}", token=account.id_token)
    assert (reply.body["status"], reply.body["error"]["message"]) == ("FAILED", "The query's state was lost.")
    assert _running(platform_services, account.tenant_id) == 0


def _running(services: Services, tenant_id: str) -> int:
    """The tenant's slots taken."""
    item = services.clients.dynamodb.get_item(
        TableName=services.settings.table_name, Key=to_item(keys.tenant(tenant_id)), ConsistentRead=True
    )["Item"]
    return int(item["running_queries"]["N"])


def test_a_querys_end_is_written_as_it_ends_and_a_request_waiting_for_it_writes_nothing(
    platform_services: Services, client: Client
) -> None:
    api = ChaliceApi(client)
    account = sign_up(api)
    dynamodb = platform_services.for_tenant(account.tenant_id).clients.dynamodb  # the one requests use
    writers: list[str] = []

    def note(**_: Any) -> None:
        writers.append(threading.current_thread().name)

    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", note)
    try:
        slow = (
            "SELECT count(*) AS n FROM UNNEST(sequence(1, 3000)) AS a(x) CROSS JOIN UNNEST(sequence(1, 3000)) AS b(y)"
        )
        submitted = api.call("POST", "/queries", json_body={"sql": slow}, token=account.id_token).body
        writers.clear()  # the job and its slot, taken by the request
        ended = api.call("GET", f"/queries/{submitted['query_id']}?wait=20", token=account.id_token).body
        assert (ended["status"], ended["rows"]) == ("SUCCEEDED", [[9_000_000]])
        _until_slots_are_free(platform_services, account.tenant_id)
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", note)
    assert [name.startswith("query") for name in writers] == [True]  # by the query's own thread alone
    stored = QueryStore(platform_services.clients.dynamodb, platform_services.settings.table_name).get(
        account.tenant_id, account.user_id, submitted["query_id"]
    )
    assert stored is not None
    assert (stored.status, stored.holds_slot, stored.completed_at) == (
        QueryState.SUCCEEDED,
        False,
        ended["completed_at"],
    )


def test_an_end_nobody_asks_about_gives_its_slot_back(platform_services: Services, client: Client) -> None:
    api = _limited_api(platform_services, client, None, max_running_queries=1)
    account = sign_up(api)
    for n in range(3):  # each after the last has ended, unseen
        submitted = api.call("POST", "/queries", json_body={"sql": f"SELECT {n}"}, token=account.id_token)
        assert submitted.status == 202
        _until_slots_are_free(platform_services, account.tenant_id)


def _until_slots_are_free(services: Services, tenant_id: str) -> None:
    deadline = time.monotonic() + 20
    while _running(services, tenant_id) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _running(services, tenant_id) == 0
