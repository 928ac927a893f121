"""What a request asks of DynamoDB does not grow with what the tenant already holds: a tenant with
many files, tables and queries is answered with the same requests, reading as many items, as one
with few. Each pair of tenants differs only in the history written straight into the table."""

from __future__ import annotations

import time
from typing import Any

from chalice.test import Client

from chalicelib import keys
from chalicelib.aws.dynamo import to_item, value
from chalicelib.files.records import Status
from chalicelib.ids import new_id
from chalicelib.keys import attempt_prefix
from chalicelib.queries.store import QueryRecord, QueryState, QueryStore
from chalicelib.services import Services, install
from chalicelib.times import now
from tests.api import ChaliceApi, run_query, sign_up, upload_direct
from tests.ingestor import Ingestor
from tests.tenant_items import Asked, asked_of, dynamodb_asked, seed_ended_jobs, seed_file, seed_tables

SALES = b"region,amount\nnorth,1.5\nsouth,2\n"
FEW, MANY = 10, 200


def _cost(asked: Asked) -> tuple[dict[str, int], int]:
    """The requests by kind, and the items they read."""
    assert asked.requests  # the request was seen
    assert asked.items_read
    return dict(asked.calls), asked.items_read


def test_submitting_a_query_costs_the_same_with_200_tables_as_with_10(
    platform_services: Services, client: Client, app: Any
) -> None:
    costs = []
    for count in (FEW, MANY):
        ingestor = Ingestor(platform_services, client, app)
        ingestor.upload("sales.csv", SALES)
        seed_tables(platform_services, ingestor.account.tenant_id, count)
        with dynamodb_asked(platform_services, ingestor.account.tenant_id) as asked:
            submitted = ingestor.api.call(
                "POST", "/queries", json_body={"sql": "SELECT count(*) FROM sales"}, token=ingestor.account.id_token
            )
        assert submitted.status == 202, submitted
        costs.append(_cost(asked))
        assert run_query(ingestor.api, ingestor.account, "SELECT count(*) FROM sales")["rows"] == [[2]]
    assert costs[0] == costs[1]


def test_ingesting_a_file_and_reading_files_cost_the_same_with_200_files_as_with_10(
    platform_services: Services, client: Client, app: Any
) -> None:
    """One upload through to READY, a first page of files and one file, with DynamoDB and S3: the
    same requests, reading as many items and listing as many objects, beside 10 files or 200."""
    costs = []
    for count in (FEW, MANY):
        ingestor = Ingestor(platform_services, client, app)
        tenant_id = ingestor.account.tenant_id
        tenant = platform_services.for_tenant(tenant_id)
        for record in seed_tables(platform_services, tenant_id, count):  # with their curated objects
            prefix = attempt_prefix(tenant_id, record.file_id, record.ingest.token if record.ingest else "")
            tenant.clients.s3.put_object(Bucket=platform_services.settings.data_bucket, Key=f"{prefix}part-0.parquet")
        ingestor.drain()  # the seeded objects' notifications
        with (
            asked_of(platform_services, tenant_id, "dynamodb") as dynamodb,
            asked_of(platform_services, tenant_id, "s3") as s3,
        ):
            ready = ingestor.upload("sales.csv", SALES)
            page = ingestor.api.call("GET", "/files?limit=10", token=ingestor.account.id_token)
            one = ingestor.api.call("GET", f"/files/{ready['file_id']}", token=ingestor.account.id_token)
        assert ready["status"] == "READY", ready
        assert (page.status, len(page.body["files"]), one.status) == (200, 10, 200)
        assert s3.requests  # the objects' requests were seen; none lists objects
        costs.append((_cost(dynamodb), dict(s3.calls), s3.items_read))
    assert costs[0] == costs[1]


def test_a_page_of_tables_costs_the_same_with_200_tables_as_with_10(
    platform_services: Services, client: Client
) -> None:
    api = ChaliceApi(client)
    costs = []
    for count in (FEW, MANY):
        account = sign_up(api)
        seeded = seed_tables(platform_services, account.tenant_id, count)
        with dynamodb_asked(platform_services, account.tenant_id) as asked:
            page = api.call("GET", "/tables?limit=10", token=account.id_token)
        assert page.status == 200, page
        assert [table["table"] for table in page.body["tables"]] == [record.table for record in seeded[:10]]
        costs.append(_cost(asked))
    assert costs[0] == costs[1]


def test_an_upload_over_quota_costs_the_same_with_200_files_as_with_10(
    platform_services: Services, client: Client
) -> None:
    api = ChaliceApi(client)
    costs = []
    for count in (FEW, MANY):
        account = sign_up(api)
        seed_tables(platform_services, account.tenant_id, count)
        for _ in range(3):
            seed_file(platform_services, account.tenant_id, "waiting", Status.UPLOADING)
        _set_tenant(platform_services, account.tenant_id, "quota_files", 0)
        first = upload_direct(api, account, "over.csv", SALES)  # the first time, every record is read once
        assert (first.status, first.error_code) == (413, "quota_exceeded")
        with dynamodb_asked(platform_services, account.tenant_id) as asked:
            over = upload_direct(api, account, "over.csv", SALES)
        assert (over.status, over.error_code) == (413, "quota_exceeded")
        costs.append(_cost(asked))
    assert costs[0] == costs[1]


def test_a_query_over_the_running_limit_costs_the_same_with_200_queries_kept_as_with_10(
    platform_services: Services, client: Client
) -> None:
    api, limited = _limited(platform_services, client, max_running_queries=1)
    costs = []
    for count in (FEW, MANY):
        account = sign_up(api)
        seed_ended_jobs(platform_services, account.tenant_id, account.user_id, count)
        _waiting_job(platform_services, account.tenant_id, account.user_id)  # holds the only slot
        with dynamodb_asked(limited, account.tenant_id) as asked:
            over = api.call("POST", "/queries", json_body={"sql": "SELECT 1"}, token=account.id_token)
        assert (over.status, over.error_code) == (429, "too_many_queries")
        costs.append(_cost(asked))
    assert costs[0] == costs[1]


def test_an_upload_left_waiting_before_waits_were_listed_is_still_given_up_to_make_room(
    platform_services: Services, client: Client
) -> None:
    api = ChaliceApi(client)
    account = sign_up(api)
    tenant_id = account.tenant_id
    started = api.call("POST", "/uploads", json_body={"name": "late.csv", "size": 50}, token=account.id_token)
    assert started.status == 201
    late = started.body["file_id"]
    _delete(platform_services, keys.uploading(tenant_id, late))  # stored as before: no entry lists it
    _expire(platform_services, tenant_id, late)
    _set_tenant(platform_services, tenant_id, "quota_files", 1)

    made_room = upload_direct(api, account, "now.csv", SALES)
    assert made_room.status == 201, made_room
    assert api.call("GET", f"/files/{late}", token=account.id_token).status == 404

    # From then on, waiting uploads are found by their entries alone.
    second = api.call("POST", "/uploads", json_body={"name": "later.csv", "size": 50}, token=account.id_token)
    assert second.status == 413  # the quota of one file is taken by now.csv
    assert api.call("DELETE", f"/files/{made_room.body['file_id']}", token=account.id_token).status == 204
    waiting = api.call("POST", "/uploads", json_body={"name": "later.csv", "size": 50}, token=account.id_token)
    _expire(platform_services, tenant_id, waiting.body["file_id"])
    with dynamodb_asked(platform_services, tenant_id) as asked:
        again = upload_direct(api, account, "again.csv", SALES)
    assert again.status == 201, again
    assert [prefix for prefix in asked.ranges_read() if "FILE#" in prefix] == []
    assert api.call("GET", f"/files/{waiting.body['file_id']}", token=account.id_token).status == 404


def test_a_slot_taken_before_running_jobs_were_listed_is_still_given_back(
    platform_services: Services, client: Client
) -> None:
    api, limited = _limited(platform_services, client, max_running_queries=1)
    account = sign_up(api)
    tenant_id = account.tenant_id
    ended = run_query(api, account, "SELECT 1 AS one")
    assert ended["status"] == "SUCCEEDED"
    _until_slots_are_free(platform_services, tenant_id)
    # As a job stored before: holding its slot, counted on the tenant but not listed there.
    table = platform_services.settings.table_name
    platform_services.clients.dynamodb.update_item(
        TableName=table,
        Key=to_item(keys.query(tenant_id, account.user_id, ended["query_id"])),
        UpdateExpression="SET holds_slot = :true, #status = :running REMOVE completed_at",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":true": value(True), ":running": value("RUNNING")},
    )
    _set_tenant(platform_services, tenant_id, "running_queries", 1)

    submitted = api.call("POST", "/queries", json_body={"sql": "SELECT 2 AS two"}, token=account.id_token)
    assert submitted.status == 202, submitted  # the slot it held was found and given back
    answer = api.call("GET", f"/queries/{submitted.body['query_id']}?wait=20", token=account.id_token).body
    assert (answer["status"], answer["rows"]) == ("SUCCEEDED", [[2]])
    _until_slots_are_free(platform_services, tenant_id)
    # Every slot is listed again: the next submission over the limit reads no job it does not list.
    _waiting_job(platform_services, tenant_id, account.user_id)
    with dynamodb_asked(limited, tenant_id) as asked:
        over = api.call("POST", "/queries", json_body={"sql": "SELECT 3"}, token=account.id_token)
    assert (over.status, over.error_code) == (429, "too_many_queries")
    assert [prefix for prefix in asked.ranges_read() if "QUERY#" in prefix] == []


def _limited(services: Services, client: Client, **limits: Any) -> tuple[ChaliceApi, Services]:
    """The API on services with other limits; and those services (whose tenant clients its requests use)."""
    limited = Services(services.settings.model_copy(update=limits), services.clients)
    install(limited)
    return ChaliceApi(client), limited


def _waiting_job(services: Services, tenant_id: str, user_id: str) -> None:
    """A job that holds a slot and has not reached its engine yet (it stays so)."""
    record = QueryRecord(
        tenant_id=tenant_id,
        user_id=user_id,
        query_id=new_id(),
        sql="SELECT 1",
        status=QueryState.QUEUED,
        submitted_at=now(),
    )
    QueryStore(services.clients.dynamodb, services.settings.table_name).create(record, max_running=10)


def _set_tenant(services: Services, tenant_id: str, attribute: str, number: int) -> None:
    services.clients.dynamodb.update_item(
        TableName=services.settings.table_name,
        Key=to_item(keys.tenant(tenant_id)),
        UpdateExpression="SET #a = :n",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":n": value(number)},
    )


def _expire(services: Services, tenant_id: str, file_id: str) -> None:
    services.clients.dynamodb.update_item(
        TableName=services.settings.table_name,
        Key=to_item(keys.file(tenant_id, file_id)),
        UpdateExpression="SET upload.expires_at = :past",
        ExpressionAttributeValues={":past": value(1)},
    )


def _delete(services: Services, key: dict[str, str]) -> None:
    services.clients.dynamodb.delete_item(TableName=services.settings.table_name, Key=to_item(key))


def _until_slots_are_free(services: Services, tenant_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        item = services.clients.dynamodb.get_item(
            TableName=services.settings.table_name, Key=to_item(keys.tenant(tenant_id)), ConsistentRead=True
        )["Item"]
        if int(item.get("running_queries", {"N": "0"})["N"]) == 0:
            return
        time.sleep(0.01)
    raise AssertionError("the tenant's slots were not given back within 20 s")
