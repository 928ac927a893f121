"""Tables found by name: a query looks up only the tables its SQL names, and GET /tables pages
through the names in order, whatever else the tenant holds; the partitions a file took, it gives back."""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from chalice.test import Client

from chalicelib import keys
from chalicelib.aws.dynamo import to_item, value
from chalicelib.catalog import Publication
from chalicelib.files.tables import Table, Tables, seq_entry
from chalicelib.ids import new_id
from chalicelib.keys import raw_key
from chalicelib.services import Services, TenantServices, install
from chalicelib.times import now
from tests.api import run_query, sign_up, upload_direct
from tests.ingestor import Ingestor
from tests.tenant_items import dynamodb_asked, seed_file, seed_tables

BUCKET = "sdp-local-data"
SALES = b"region,amount\nnorth,1.5\nsouth,2\n"


def _submit(ingestor: Ingestor, sql: str) -> Any:
    return ingestor.api.call("POST", "/queries", json_body={"sql": sql}, token=ingestor.account.id_token)


def _tables(ingestor: Ingestor, query: str = "") -> Any:
    return ingestor.api.call("GET", f"/tables{query}", token=ingestor.account.id_token)


def _table_items(ingestor: Ingestor) -> list[str]:
    """The names of the tenant's `TABLE#` items, shown or not."""
    items = ingestor.services.clients.dynamodb.query(
        TableName=ingestor.services.settings.table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
        ExpressionAttributeValues={
            ":pk": value(keys.tenant_partition(ingestor.account.tenant_id)),
            ":sk": value(keys.TABLE_PREFIX),
        },
        ConsistentRead=True,
    )["Items"]
    return sorted(item["name"]["S"] for item in items)


def _warehouse_tables(ingestor: Ingestor) -> list[str]:
    """The ids of the tables in the tenant's folder of the local engine's warehouse."""
    folder = Path(ingestor.services.settings.warehouse_dir or "") / ingestor.account.tenant_id / "tables"
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []


def _table_ids(ingestor: Ingestor, *names: str) -> list[str]:
    tables = [ingestor.tenant.tables.get(ingestor.account.tenant_id, name) for name in names]
    return sorted(table.table_id for table in tables if table is not None)


def _no_file_ready(ingestor: Ingestor, name: str, held_as: str) -> None:
    """A table item with no READY file, its one partition `pending` (its first file being
    ingested, or an attempt that failed midway) or `gone` (its last file being withdrawn)."""
    table = Table(name=name, table_id=new_id(), created_at=now(), created_by=new_id(), next_seq=2)
    item = {**keys.table(ingestor.account.tenant_id, name), **table.to_fields(), held_as: {1}}
    ingestor.services.clients.dynamodb.put_item(TableName=ingestor.services.settings.table_name, Item=to_item(item))


def test_a_query_looks_up_the_tables_its_sql_names_and_nothing_else(ingestor: Ingestor) -> None:
    sales = ingestor.upload("sales.csv", SALES)
    ingestor.upload("orders.csv", b"id\n1\n")
    seed_tables(ingestor.services, ingestor.account.tenant_id, 30)
    sql = "WITH orders AS (SELECT 5 AS id) SELECT count(*) AS n, max(orders.id) AS id FROM sales, orders"
    with dynamodb_asked(ingestor.services, ingestor.account.tenant_id) as asked:
        submitted = _submit(ingestor, sql)
    assert submitted.status == 202, submitted
    assert asked.ranges_read() == []  # no listing of any kind
    looked_up = [key for key in asked.keys_asked("BatchGetItem") if key.startswith(("TABLE", "FILE#"))]
    assert looked_up == ["TABLE#sales"]  # the CTE `orders` is no table (the rest: the tenant's budget and usage)
    assert [key for key in asked.keys_asked("GetItem") if key.startswith(("TABLE", "FILE#"))] == []
    assert sales["table"] == "sales"
    assert run_query(ingestor.api, ingestor.account, sql)["rows"] == [[2, 5]]

    # A name no table can have is refused as any unknown one, without being asked for.
    long_name = "x" * 2000
    with dynamodb_asked(ingestor.services, ingestor.account.tenant_id) as asked:
        refused = _submit(ingestor, f'SELECT * FROM sales, "{long_name}"')
    assert (refused.status, refused.error_code) == (400, "forbidden_sql")
    assert refused.body["error"]["message"].startswith("Table '\"xxx")
    assert long_name not in str(asked.requests)

    # A table with no READY file (its first being ingested, or its last withdrawn) is no table.
    _no_file_ready(ingestor, "pending", "pending")
    _no_file_ready(ingestor, "withdrawn", "gone")
    for name in ("pending", "withdrawn"):
        refused = _submit(ingestor, f"SELECT * FROM sales, {name}")
        assert (refused.status, refused.error_code) == (400, "forbidden_sql")
        assert f"Table '{name}' does not exist" in refused.body["error"]["message"]


def test_a_table_changed_between_its_lookup_and_the_job_is_looked_up_again(
    platform_services: Services, client: Client, app: Any
) -> None:
    _LookedUpEarlier.lookups = []
    install(_with_tables(platform_services, _LookedUpEarlier))
    ingestor = Ingestor(platform_services, client, app)
    ingestor.upload("sales.csv", SALES)
    answer = run_query(ingestor.api, ingestor.account, "SELECT sum(amount) FROM sales")
    assert (answer["status"], answer["rows"]) == ("SUCCEEDED", [[3.5]])
    # The job's checks found the first lookup out of date; the second is what ran.
    assert _LookedUpEarlier.lookups == [["sales"], ["sales"]]


class _LookedUpEarlier(Tables):
    """The tenant's tables, but the first lookup finds each table as it stood a moment before its
    last file was added (that file's partition still pending: read, it would give no rows)."""

    lookups: ClassVar[list[list[str]]] = []

    def published(self, tenant_id: str, names: Any) -> dict[str, Table]:
        found = super().published(tenant_id, names)
        self.lookups.append(sorted(found))
        if len(self.lookups) == 1:
            return {
                name: replace(table, version=table.version - 1, pending=table.pending | {table.next_seq - 1})
                for name, table in found.items()
            }
        return found


def _with_tables(services: Services, tables: type[Tables]) -> Services:
    class OtherTables(TenantServices):
        @cached_property
        def tables(self) -> Tables:
            return tables(self.clients.dynamodb, self.settings.table_name)

    class WithTables(Services):
        tenant_services = OtherTables

    return WithTables(services.settings, services.clients)


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
    for record in ready:  # the file each table last added, which `seed_file`'s items leave out
        ingestor.services.clients.dynamodb.update_item(
            TableName=ingestor.services.settings.table_name,
            Key=to_item(keys.table(tenant_id, record.table or "")),
            UpdateExpression="SET last_file_id = :file",
            ExpressionAttributeValues={":file": value(record.file_id)},
        )
    for name in ("b", "d", "f"):  # tables whose first file is still being ingested, or failed midway
        _no_file_ready(ingestor, name, "pending")
    _no_file_ready(ingestor, "h", "gone")  # its last file being withdrawn
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
    assert first == {
        "table": "a",
        "file_id": ready[0].file_id,
        "columns": ready[0].columns,
        "row_count": 1,
        "file_count": 1,
    }


def test_deleting_a_file_withdraws_exactly_the_partitions_it_took(ingestor: Ingestor) -> None:
    sales = ingestor.upload("sales.csv", SALES)
    orders = ingestor.upload("orders.csv", SALES)
    _took_another_partition(ingestor, sales, "sales_9")  # as an attempt that died would leave it
    assert _table_items(ingestor) == ["orders", "sales", "sales_9"]
    assert _warehouse_tables(ingestor) == _table_ids(ingestor, "orders", "sales", "sales_9")
    with dynamodb_asked(ingestor.services, ingestor.account.tenant_id) as asked:
        deleted = ingestor.api.call("DELETE", f"/files/{sales['file_id']}", token=ingestor.account.id_token)
    assert deleted.status == 204
    assert _table_items(ingestor) == ["orders"]
    assert _warehouse_tables(ingestor) == _table_ids(ingestor, "orders")
    assert asked.ranges_read() == []  # the partitions come from the file's own record
    assert run_query(ingestor.api, ingestor.account, "SELECT count(*) FROM orders")["rows"] == [[2]]
    assert orders["table"] == "orders"


def test_a_file_that_fails_withdraws_exactly_the_partitions_it_took(ingestor: Ingestor) -> None:
    sales = ingestor.upload("sales.csv", SALES)
    ingestor.upload("orders.csv", SALES)
    _took_another_partition(ingestor, sales, "sales_9")
    ingestor.services.clients.s3.put_object(
        Bucket=BUCKET, Key=raw_key(ingestor.account.tenant_id, sales["file_id"]), Body=b"a,b\n1\n"
    )
    with dynamodb_asked(ingestor.services, ingestor.account.tenant_id) as asked:
        ingestor.drain()
    assert ingestor.record(sales["file_id"])["status"] == "FAILED"
    assert _table_items(ingestor) == ["orders"]
    assert _warehouse_tables(ingestor) == _table_ids(ingestor, "orders")
    assert [prefix for prefix in asked.ranges_read() if "TABLE#" in prefix] == []
    assert [table["table"] for table in _tables(ingestor).body["tables"]] == ["orders"]


def _took_another_partition(ingestor: Ingestor, record: dict[str, Any], name: str) -> None:
    """Give the READY file one more partition, of table `name` (made for it), as an ingest attempt
    takes one and publishes it: listed pending on the table and on the record, then cataloged."""
    tenant = ingestor.tenant
    claimed = tenant.records.get(ingestor.account.tenant_id, record["file_id"])
    assert claimed is not None
    assert claimed.ingest is not None
    joined = tenant.tables.join(claimed, name, named=True)
    assert joined is not None
    own = tenant.tables.get(ingestor.account.tenant_id, record["table"])
    assert own is not None
    parts = tuple(sorted(ingestor.partition(record).glob("*.parquet")))
    columns = [column.column for column in own.columns]
    publication = Publication(record["file_id"], claimed.ingest.token, parts)
    tenant.catalog.publish(ingestor.account.tenant_id, joined.table.in_catalog, columns, joined.seq, publication)


def test_a_new_version_stays_in_its_table_and_the_record_lists_its_partition(ingestor: Ingestor) -> None:
    sales = ingestor.upload("sales.csv", SALES)
    tenant_id = ingestor.account.tenant_id
    first = ingestor.tenant.tables.get(tenant_id, "sales")
    assert first is not None
    assert ingestor.tenant.tables.entries_of(tenant_id, sales["file_id"]) == [seq_entry("sales", first.table_id, 1)]
    ingestor.services.clients.s3.put_object(
        Bucket=BUCKET, Key=raw_key(tenant_id, sales["file_id"]), Body=b"region,amount\neast,4\n"
    )
    ingestor.drain()
    assert ingestor.record(sales["file_id"])["table"] == "sales"
    table = ingestor.tenant.tables.get(tenant_id, "sales")
    assert table is not None
    assert (table.table_id, table.file_count, table.row_count) == (first.table_id, 1, 1)
    dynamodb, name = ingestor.services.clients.dynamodb, ingestor.services.settings.table_name
    item = dynamodb.get_item(TableName=name, Key=to_item(keys.file(tenant_id, sales["file_id"])), ConsistentRead=True)
    assert item["Item"]["table_seqs"] == {"SS": [seq_entry("sales", first.table_id, 2)]}
