"""In AWS the catalog is Glue: a database per tenant, an external Parquet table per READY file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from botocore.stub import ANY, Stubber
from chalice.test import Client

from chalicelib.catalog import GlueCatalog, Publication
from chalicelib.columns import Column, ColumnType
from chalicelib.ids import new_id
from chalicelib.services import Services, install
from tests.ingestor import Ingestor

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture
def glue_ingestor(platform_services: Services, client: Client, app: Any) -> Ingestor:
    """The platform as deployed: no local warehouse, so tables go to Glue (moto's)."""
    deployed = platform_services.settings.model_copy(
        update={"stage": "dev", "warehouse_dir": None, "auto_confirm_signup": True}
    )
    services = Services(deployed, platform_services.clients)
    install(services)
    assert isinstance(services.for_tenant("T").catalog, GlueCatalog)
    return Ingestor(services, client, app)


def test_a_ready_file_is_an_external_parquet_table_in_its_tenants_database(glue_ingestor: Ingestor) -> None:
    record = glue_ingestor.upload(
        "Sales 2024.csv", b"region,amount,day,tags\nnorth,1.5,2024-01-01,a\nsouth,2,2024-01-02,b\n"
    )
    assert record["status"] == "READY", record["error"]
    glue = glue_ingestor.services.clients.glue
    database = f"sdp_dev_{glue_ingestor.account.tenant_id.lower()}"
    table = glue.get_table(DatabaseName=database, Name="sales_2024")["Table"]

    descriptor = table["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == [
        ("region", "string"),
        ("amount", "double"),
        ("day", "date"),
        ("tags", "string"),
    ]
    stored = glue_ingestor.tenant.records.get(glue_ingestor.account.tenant_id, record["file_id"])
    assert stored is not None
    assert stored.ingest is not None
    assert descriptor["Location"] == (
        f"s3://sdp-local-data/tenants/{glue_ingestor.account.tenant_id}/curated/{record['file_id']}/"
        f"{stored.ingest.token}/"
    )
    assert descriptor["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Parameters"]["classification"] == "parquet"
    assert (table["Parameters"]["sdp_file_id"], table["Parameters"]["sdp_claim"]) == (record["file_id"], "1")


def test_each_tenant_has_its_own_database_and_deleting_drops_the_table(
    glue_ingestor: Ingestor, platform_services: Services, client: Client, app: Any
) -> None:
    first = glue_ingestor.upload("a.csv", b"x\n1\n")
    other = Ingestor(glue_ingestor.services, client, app)
    other.upload("b.csv", b"y\n2\n")
    glue = glue_ingestor.services.clients.glue
    databases = {d["Name"] for d in glue.get_databases()["DatabaseList"]}
    assert {
        f"sdp_dev_{glue_ingestor.account.tenant_id.lower()}",
        f"sdp_dev_{other.account.tenant_id.lower()}",
    } <= databases

    own = f"sdp_dev_{glue_ingestor.account.tenant_id.lower()}"
    assert [t["Name"] for t in glue.get_tables(DatabaseName=own)["TableList"]] == ["a"]
    assert (
        glue_ingestor.api.call("DELETE", f"/files/{first['file_id']}", token=glue_ingestor.account.id_token).status
        == 204
    )
    assert glue.get_tables(DatabaseName=own)["TableList"] == []
    assert [
        t["Name"] for t in glue.get_tables(DatabaseName=f"sdp_dev_{other.account.tenant_id.lower()}")["TableList"]
    ] == ["b"]


def test_nested_types_are_declared_in_hive_terms(glue_ingestor: Ingestor) -> None:
    record = glue_ingestor.upload(
        "events.jsonl", b'{"id": 1, "user": {"name": "ann", "tags": ["a"]}, "at": "2024-01-01T10:00:00"}\n'
    )
    glue = glue_ingestor.services.clients.glue
    table = glue.get_table(DatabaseName=f"sdp_dev_{glue_ingestor.account.tenant_id.lower()}", Name=record["table"])[
        "Table"
    ]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        ("id", "bigint"),
        ("user", "struct<name:string,tags:array<string>>"),
        ("at", "timestamp"),
    ]


def test_nested_field_names_are_declared_as_safe_names(glue_ingestor: Ingestor, tmp_path: Path) -> None:
    record = glue_ingestor.upload("nested_names.jsonl", (CORPUS / "nested_names.jsonl").read_bytes())
    assert record["status"] == "READY", record["error"]
    glue = glue_ingestor.services.clients.glue
    table = glue.get_table(DatabaseName=f"sdp_dev_{glue_ingestor.account.tenant_id.lower()}", Name=record["table"])[
        "Table"
    ]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        ("id", "bigint"),
        (
            "customer",
            "struct<first_name:string,c_2nd:bigint,orders:array<struct<order_id:bigint,line_items:struct<sku:string>>>>",
        ),
    ]
    # What Glue declares is what the curated Parquet holds.
    curated = tmp_path / "part-0.parquet"
    glue_ingestor.services.clients.s3.download_file(
        "sdp-local-data",
        table["StorageDescriptor"]["Location"].removeprefix("s3://sdp-local-data/") + "part-0.parquet",
        str(curated),
    )
    [(kind,)] = duckdb.sql(f"SELECT typeof(customer) FROM read_parquet('{curated}') LIMIT 1").fetchall()
    assert kind == (
        "STRUCT(first_name VARCHAR, c_2nd BIGINT, orders STRUCT(order_id BIGINT, line_items STRUCT(sku VARCHAR))[])"
    )


def test_registering_again_updates_the_table(glue_ingestor: Ingestor) -> None:
    record = glue_ingestor.upload("s.csv", b"a\n1\n")
    glue_ingestor.services.clients.s3.put_object(
        Bucket="sdp-local-data",
        Key=f"tenants/{glue_ingestor.account.tenant_id}/raw/{record['file_id']}",
        Body=b"a,b\n1,2\n",
    )
    glue_ingestor.drain()
    glue = glue_ingestor.services.clients.glue
    table = glue.get_table(DatabaseName=f"sdp_dev_{glue_ingestor.account.tenant_id.lower()}", Name="s")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == ["a", "b"]
    assert table["Parameters"]["sdp_claim"] == "2"  # the file's second claim


def _column(name: str) -> Column:
    return Column(name, None, ColumnType("BIGINT", "bigint", "bigint"))


def _registered(glue: Any, tenant_id: str, name: str) -> tuple[str, list[str], str]:
    """Where the table's data is, its columns, and which claim registered it."""
    table = glue.get_table(DatabaseName=f"sdp_dev_{tenant_id.lower()}", Name=name)["Table"]
    descriptor = table["StorageDescriptor"]
    return (
        descriptor["Location"].rsplit("/", 2)[-2],
        [c["Name"] for c in descriptor["Columns"]],
        table["Parameters"]["sdp_claim"],
    )


def test_an_earlier_claims_registration_never_replaces_a_later_ones(glue_ingestor: Ingestor) -> None:
    glue = glue_ingestor.services.clients.glue
    catalog = GlueCatalog(glue, "sdp-local-data", glue_ingestor.services.settings.glue_database_prefix)
    tenant, file_id = glue_ingestor.account.tenant_id, new_id()

    catalog.register(tenant, "t", file_id, [_column("newer")], Publication("second", 2, ()))
    catalog.register(tenant, "t", file_id, [_column("older")], Publication("first", 1, ()))  # the older attempt, late
    assert _registered(glue, tenant, "t") == ("second", ["newer"], "2")
    catalog.register(tenant, "t", file_id, [_column("again")], Publication("second", 2, ()))  # the same attempt
    assert _registered(glue, tenant, "t") == ("second", ["again"], "2")
    catalog.register(tenant, "t", file_id, [_column("newest")], Publication("third", 3, ()))
    assert _registered(glue, tenant, "t") == ("third", ["newest"], "3")
    # A name another file held before is the new holder's, whatever the claim counts.
    catalog.register(tenant, "t", new_id(), [_column("other")], Publication("other", 1, ()))
    assert _registered(glue, tenant, "t") == ("other", ["other"], "1")


def test_a_registration_updates_only_the_table_version_it_read(glue_ingestor: Ingestor) -> None:
    """Glue's optimistic locking (UpdateTable's VersionId): a registration that lost the race to
    another reads the table again, and leaves it alone if a later claim registered it meanwhile."""
    glue = boto3.client("glue", region_name="us-east-1")
    catalog = GlueCatalog(glue, "sdp-local-data", glue_ingestor.services.settings.glue_database_prefix)
    tenant, file_id = glue_ingestor.account.tenant_id, new_id()
    database = f"sdp_dev_{tenant.lower()}"

    def table(claim: int, version: str) -> dict[str, Any]:
        parameters = {"sdp_file_id": file_id, "sdp_claim": str(claim)}
        return {"Table": {"Name": "t", "DatabaseName": database, "Parameters": parameters, "VersionId": version}}

    with Stubber(glue) as stubber:
        stubber.add_client_error("create_database", "AlreadyExistsException")
        stubber.add_client_error("create_table", "AlreadyExistsException")
        stubber.add_response("get_table", table(1, "7"), {"DatabaseName": database, "Name": "t"})
        stubber.add_client_error(
            "update_table",
            "ConcurrentModificationException",
            expected_params={"DatabaseName": database, "TableInput": ANY, "VersionId": "7"},
        )
        stubber.add_client_error("create_table", "AlreadyExistsException")
        stubber.add_response("get_table", table(3, "8"), {"DatabaseName": database, "Name": "t"})
        catalog.register(tenant, "t", file_id, [_column("a")], Publication("second", 2, ()))
        stubber.assert_no_pending_responses()
