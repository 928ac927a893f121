"""Tables found by name: a query looks up only the tables its SQL names, and GET /tables pages
through the names in order, whatever else the tenant holds; what a file took it gives back."""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Any, ClassVar

import pytest
from chalice.test import Client

from chalicelib import keys
from chalicelib.aws.dynamo import to_item, value
from chalicelib.files.records import Status
from chalicelib.files.tables import TableNames
from chalicelib.keys import raw_key
from chalicelib.services import Services, TenantServices, install
from tests.api import run_query, sign_up, upload_direct
from tests.ingestor import Ingestor
from tests.tenant_items import dynamodb_asked, seed_file, seed_tables

BUCKET = "sdp-local-data"
SALES = b"region,amount\nnorth,1.5\nsouth,2\n"


def _submit(ingestor: Ingestor, sql: str) -> Any:
    return ingestor.api.call("POST", "/queries", json_body={"sql": sql}, token=ingestor.account.id_token)


def _tables(ingestor: Ingestor, query: str = "") -> Any:
    return ingestor.api.call("GET", f"/tables{query}", token=ingestor.account.id_token)


def _table_items(ingestor: Ingestor) -> list[tuple[str, str]]:
    """The tenant's `TABLE#` items: (name, file id)."""
    items = ingestor.services.clients.dynamodb.query(
        TableName=ingestor.services.settings.table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
        ExpressionAttributeValues={
            ":pk": value(keys.tenant_partition(ingestor.account.tenant_id)),
            ":sk": value(keys.TABLE_PREFIX),
        },
        ConsistentRead=True,
    )["Items"]
    return sorted((item["name"]["S"], item["file_id"]["S"]) for item in items)


def test_a_query_looks_up_the_tables_its_sql_names_and_nothing_else(ingestor: Ingestor) -> None:
    sales = ingestor.upload("sales.csv", SALES)
    ingestor.upload("orders.csv", b"id\n1\n")
    seed_tables(ingestor.services, ingestor.account.tenant_id, 30)
    sql = "WITH orders AS (SELECT 5 AS id) SELECT count(*) AS n, max(orders.id) AS id FROM sales, orders"
    with dynamodb_asked(ingestor.services, ingestor.account.tenant_id) as asked:
        submitted = _submit(ingestor, sql)
    assert submitted.status == 202, submitted
    assert asked.ranges_read() == []  # no listing of any kind
    looked_up = asked.keys_asked("BatchGetItem")
    assert looked_up == ["TABLE#sales", f"FILE#{sales['file_id']}"]  # the CTE `orders` is no table
    assert run_query(ingestor.api, ingestor.account, sql)["rows"] == [[2, 5]]

    # A name no table can have is refused as any unknown one, without being asked for.
    long_name = "x" * 2000
    with dynamodb_asked(ingestor.services, ingestor.account.tenant_id) as asked:
        refused = _submit(ingestor, f'SELECT * FROM sales, "{long_name}"')
    assert (refused.status, refused.error_code) == (400, "forbidden_sql")
    assert refused.body["error"]["message"].startswith("Table '\"xxx")
    assert long_name not in str(asked.requests)

    # A name taken by a file not READY (being ingested, or whose ingest failed midway) is no table.
    seed_file(ingestor.services, ingestor.account.tenant_id, "pending", Status.PROCESSING)
    refused = _submit(ingestor, "SELECT * FROM sales, pending")
    assert (refused.status, refused.error_code) == (400, "forbidden_sql")
    assert "Table 'pending' does not exist" in refused.body["error"]["message"]


def test_a_table_published_again_between_its_lookup_and_the_job_is_looked_up_again(
    platform_services: Services, client: Client, app: Any
) -> None:
    _LookedUpEarlier.lookups = []
    install(_with_table_names(platform_services, _LookedUpEarlier))
    ingestor = Ingestor(platform_services, client, app)
    ingestor.upload("sales.csv", SALES)
    answer = run_query(ingestor.api, ingestor.account, "SELECT sum(amount) FROM sales")
    assert (answer["status"], answer["rows"]) == ("SUCCEEDED", [[3.5]])
    # The job's checks found the first lookup out of date; the second is what ran.
    assert _LookedUpEarlier.lookups == [["sales"], ["sales"]]


class _LookedUpEarlier(TableNames):
    """The tenant's table names, but the first lookup finds each table as an earlier ingest attempt
    published it (as if the file was published again just after)."""

    lookups: ClassVar[list[list[str]]] = []

    def published(self, tenant_id: str, names: Any) -> dict[str, Any]:
        found = super().published(tenant_id, names)
        self.lookups.append(sorted(found))
        if len(self.lookups) == 1:
            return {name: replace(table, version="an earlier attempt") for name, table in found.items()}
        return found


def _with_table_names(services: Services, names: type[TableNames]) -> Services:
    class OtherNames(TenantServices):
        @cached_property
        def table_names(self) -> TableNames:
            return names(self.clients.dynamodb, self.settings.table_name)

    class WithNames(Services):
        tenant_services = OtherNames

    return WithNames(services.settings, services.clients)


def test_a_deleted_table_is_unknown_not_read(ingestor: Ingestor) -> None:
    sales = ingestor.upload("sales.csv", SALES)
    ingestor.upload("other.csv", SALES)
    assert run_query(ingestor.api, ingestor.account, "SELECT count(*) FROM sales")["rows"] == [[2]]
    deleted = ingestor.api.call("DELETE", f"/files/{sales['file_id']}", token=ingestor.account.id_token)
    assert deleted.status == 204
    refused = _submit(ingestor, "SELECT count(*) FROM other, sales")
    assert (refused.status, refused.error_code) == (400, "forbidden_sql")
    assert "Table 'sales' does not exist" in refused.body["error"]["message"]
    assert run_query(ingestor.api, ingestor.account, "SELECT count(*) FROM other")["rows"] == [[2]]


def test_a_table_published_again_with_other_columns_is_queried_as_it_is_now(ingestor: Ingestor) -> None:
    sales = ingestor.upload("sales.csv", SALES)
    assert run_query(ingestor.api, ingestor.account, "SELECT max(amount) FROM sales")["rows"] == [[2.0]]
    ingestor.services.clients.s3.put_object(
        Bucket=BUCKET,
        Key=raw_key(ingestor.account.tenant_id, sales["file_id"]),
        Body=b"region,amount,units\nnorth,7,3\nsouth,8,4\n",
    )
    ingestor.drain()
    assert ingestor.record(sales["file_id"])["status"] == "READY"
    # Integer division as Athena does it is typed by the columns: with the earlier (double) amount,
    # 7/3 + 8/4 would come out 4.33…, and `units` would be unknown.
    answer = run_query(ingestor.api, ingestor.account, "SELECT sum(amount / units) AS per_unit FROM sales")
    assert (answer["status"], answer["rows"]) == ("SUCCEEDED", [[4]])


def test_another_tenants_table_is_unknown(ingestor: Ingestor) -> None:
    ingestor.upload("sales.csv", SALES)
    stranger = sign_up(ingestor.api)
    refused = ingestor.api.call(
        "POST", "/queries", json_body={"sql": "SELECT count(*) FROM sales"}, token=stranger.id_token
    )
    assert (refused.status, refused.error_code) == (400, "forbidden_sql")
    assert "Table 'sales' does not exist" in refused.body["error"]["message"]
    assert ingestor.api.call("GET", "/tables", token=stranger.id_token).body == {"tables": [], "next_token": None}


def test_a_query_over_more_tables_than_one_transaction_can_check_runs(ingestor: Ingestor) -> None:
    names = [f"t{n}" for n in range(99)]  # with the job and its slot, one more than a transaction holds
    for name in names:
        reply = upload_direct(ingestor.api, ingestor.account, f"{name}.csv", b"n\n1\n", "text/csv")
        assert reply.status == 201
    ingestor.drain()
    union = " UNION ALL ".join(f"SELECT n FROM {name}" for name in names)
    assert run_query(ingestor.api, ingestor.account, f"SELECT sum(n) FROM ({union})")["rows"] == [[99]]


def test_a_page_of_tables_passes_over_names_that_are_no_table_and_reads_on_to_fill_itself(
    ingestor: Ingestor,
) -> None:
    tenant_id = ingestor.account.tenant_id
    ready = [seed_file(ingestor.services, tenant_id, name) for name in ("a", "c", "e", "g", "i")]
    for name in ("b", "d", "f"):  # names taken by files still being ingested, or whose ingest failed
        seed_file(ingestor.services, tenant_id, name, Status.PROCESSING)
    deleting = seed_file(ingestor.services, tenant_id, "h")
    ingestor.services.clients.dynamodb.update_item(
        TableName=ingestor.services.settings.table_name,
        Key=to_item(keys.file(tenant_id, deleting.file_id)),
        UpdateExpression="SET deleting = :true",
        ExpressionAttributeValues={":true": value(True)},
    )
    pages, token = [], None
    while True:
        reply = _tables(ingestor, "?limit=2" + (f"&next_token={token}" if token else ""))
        assert reply.status == 200, reply
        pages.append([table["table"] for table in reply.body["tables"]])
        token = reply.body["next_token"]
        if token is None:
            break
    assert pages[:3] == [["a", "c"], ["e", "g"], ["i"]]  # full pages, in name order
    assert [name for page in pages for name in page] == ["a", "c", "e", "g", "i"]
    first = _tables(ingestor).body["tables"][0]
    assert first == {"table": "a", "file_id": ready[0].file_id, "columns": ready[0].columns, "row_count": 1}


def test_deleting_a_file_gives_back_exactly_the_names_it_holds(ingestor: Ingestor) -> None:
    sales = ingestor.upload("sales.csv", SALES)
    orders = ingestor.upload("orders.csv", SALES)
    _holds_another_name(ingestor, sales["file_id"], "sales_9")  # as an attempt that died would leave it
    assert _table_items(ingestor) == [
        ("orders", orders["file_id"]),
        ("sales", sales["file_id"]),
        ("sales_9", sales["file_id"]),
    ]
    with dynamodb_asked(ingestor.services, ingestor.account.tenant_id) as asked:
        deleted = ingestor.api.call("DELETE", f"/files/{sales['file_id']}", token=ingestor.account.id_token)
    assert deleted.status == 204
    assert _table_items(ingestor) == [("orders", orders["file_id"])]
    assert asked.ranges_read() == []  # the names come from the file's own record


def test_a_file_that_fails_gives_back_exactly_the_names_it_holds(ingestor: Ingestor) -> None:
    sales = ingestor.upload("sales.csv", SALES)
    orders = ingestor.upload("orders.csv", SALES)
    _holds_another_name(ingestor, sales["file_id"], "sales_9")
    ingestor.services.clients.s3.put_object(
        Bucket=BUCKET, Key=raw_key(ingestor.account.tenant_id, sales["file_id"]), Body=b"a,b\n1\n"
    )
    with dynamodb_asked(ingestor.services, ingestor.account.tenant_id) as asked:
        ingestor.drain()
    assert ingestor.record(sales["file_id"])["status"] == "FAILED"
    assert _table_items(ingestor) == [("orders", orders["file_id"])]
    assert [prefix for prefix in asked.ranges_read() if "TABLE#" in prefix] == []
    assert [table["table"] for table in _tables(ingestor).body["tables"]] == ["orders"]


def _holds_another_name(ingestor: Ingestor, file_id: str, name: str) -> None:
    """Give the file one more name, as an ingest attempt takes one: its entry and its record's list."""
    dynamodb, table = ingestor.services.clients.dynamodb, ingestor.services.settings.table_name
    tenant_id = ingestor.account.tenant_id
    dynamodb.put_item(TableName=table, Item=to_item({**keys.table(tenant_id, name), "name": name, "file_id": file_id}))
    dynamodb.update_item(
        TableName=table,
        Key=to_item(keys.file(tenant_id, file_id)),
        UpdateExpression="ADD table_names :name",
        ExpressionAttributeValues={":name": value({name})},
    )


def test_a_record_stored_before_it_listed_its_names_is_read_queried_and_deleted_whole(ingestor: Ingestor) -> None:
    sales = ingestor.upload("sales.csv", SALES)
    orders = ingestor.upload("orders.csv", SALES)
    dynamodb, table = ingestor.services.clients.dynamodb, ingestor.services.settings.table_name
    key = to_item(keys.file(ingestor.account.tenant_id, sales["file_id"]))
    dynamodb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE table_names")  # as it was stored
    assert "table_names" not in dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]

    assert [table["table"] for table in _tables(ingestor).body["tables"]] == ["orders", "sales"]
    assert ingestor.record(sales["file_id"]) == sales
    assert run_query(ingestor.api, ingestor.account, "SELECT count(*) FROM sales")["rows"] == [[2]]
    with dynamodb_asked(ingestor.services, ingestor.account.tenant_id) as asked:
        deleted = ingestor.api.call("DELETE", f"/files/{sales['file_id']}", token=ingestor.account.id_token)
    assert deleted.status == 204
    assert _table_items(ingestor) == [("orders", orders["file_id"])]
    assert asked.ranges_read() == []
    # Its name is free again.
    assert ingestor.upload("sales.csv", SALES)["table"] == "sales"


@pytest.mark.parametrize("kept", [True, False])
def test_a_new_version_keeps_its_name_and_the_record_knows_it(ingestor: Ingestor, kept: bool) -> None:
    sales = ingestor.upload("sales.csv", SALES)
    dynamodb, table = ingestor.services.clients.dynamodb, ingestor.services.settings.table_name
    key = to_item(keys.file(ingestor.account.tenant_id, sales["file_id"]))
    if not kept:  # stored before records listed their names
        dynamodb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE table_names")
    ingestor.services.clients.s3.put_object(
        Bucket=BUCKET, Key=raw_key(ingestor.account.tenant_id, sales["file_id"]), Body=b"region,amount\neast,4\n"
    )
    ingestor.drain()
    assert ingestor.record(sales["file_id"])["table"] == "sales"
    item = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert item["table_names"] == {"SS": ["sales"]}
