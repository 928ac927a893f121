"""In AWS the catalog is Glue: a database per tenant, an external Parquet table per table, a
partition per file added to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from botocore.stub import ANY, Stubber
from chalice.test import Client

from chalicelib.catalog import CatalogTable, GlueCatalog, Publication
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


def _database(ingestor: Ingestor) -> str:
    return f"sdp_dev_{ingestor.account.tenant_id.lower()}"


def _glue_table(ingestor: Ingestor, name: str) -> dict[str, Any]:
    """The tenant's table of that name, as Glue holds it (named by its name and its id)."""
    glue = ingestor.services.clients.glue
    tables = glue.get_tables(DatabaseName=_database(ingestor))["TableList"]
    (table,) = [table for table in tables if table["Parameters"]["sdp_table"] == name]
    return table


def _partitions(ingestor: Ingestor, name: str) -> list[tuple[str, str]]:
    """The table's partitions: each its `_seq` and its folder."""
    glue = ingestor.services.clients.glue
    table = _glue_table(ingestor, name)
    partitions = glue.get_partitions(DatabaseName=_database(ingestor), TableName=table["Name"])["Partitions"]
    return sorted((p["Values"][0], p["StorageDescriptor"]["Location"]) for p in partitions)


def _attempt(ingestor: Ingestor, file_id: str) -> str:
    stored = ingestor.tenant.records.get(ingestor.account.tenant_id, file_id)
    assert stored is not None
    assert stored.ingest is not None
    return f"s3://sdp-local-data/tenants/{ingestor.account.tenant_id}/curated/{file_id}/{stored.ingest.token}/"


def test_a_ready_file_is_a_partition_of_an_external_parquet_table_in_its_tenants_database(
    glue_ingestor: Ingestor,
) -> None:
    record = glue_ingestor.upload(
        "Sales 2024.csv", b"region,amount,day,tags\nnorth,1.5,2024-01-01,a\nsouth,2,2024-01-02,b\n"
    )
    assert record["status"] == "READY", record["error"]
    table = _glue_table(glue_ingestor, "sales_2024")
    assert table["Name"].startswith("sales_2024__")
    descriptor = table["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in descriptor["Columns"]] == [
        ("region", "string"),
        ("amount", "double"),
        ("day", "date"),
        ("tags", "string"),
    ]
    assert table["PartitionKeys"] == [{"Name": "_seq", "Type": "int"}]
    assert descriptor["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert (table["TableType"], table["Parameters"]["classification"]) == ("EXTERNAL_TABLE", "parquet")
    assert _partitions(glue_ingestor, "sales_2024") == [("1", _attempt(glue_ingestor, record["file_id"]))]


def test_files_of_one_table_are_its_partitions_and_deleting_drops_them_then_the_table(
    glue_ingestor: Ingestor, client: Client, app: Any
) -> None:
    first = glue_ingestor.upload("a.csv", b"x\n1\n", table="t")
    second = glue_ingestor.upload("b.csv", b"x,y\n2,3\n", table="t")
    other = Ingestor(glue_ingestor.services, client, app)
    other.upload("c.csv", b"z\n2\n", table="t")
    glue = glue_ingestor.services.clients.glue
    assert [(c["Name"], c["Type"]) for c in _glue_table(glue_ingestor, "t")["StorageDescriptor"]["Columns"]] == [
        ("x", "bigint"),
        ("y", "bigint"),
    ]
    assert _partitions(glue_ingestor, "t") == [
        ("1", _attempt(glue_ingestor, first["file_id"])),
        ("2", _attempt(glue_ingestor, second["file_id"])),
    ]
    assert [c["Name"] for c in _glue_table(other, "t")["StorageDescriptor"]["Columns"]] == ["z"]

    delete = glue_ingestor.api.call
    token = glue_ingestor.account.id_token
    assert delete("DELETE", f"/files/{first['file_id']}", token=token).status == 204
    assert _partitions(glue_ingestor, "t") == [("2", _attempt(glue_ingestor, second["file_id"]))]
    assert delete("DELETE", f"/files/{second['file_id']}", token=token).status == 204
    assert glue.get_tables(DatabaseName=_database(glue_ingestor))["TableList"] == []
    assert len(_partitions(other, "t")) == 1  # the other tenant's table of the same name stays


def test_nested_types_are_declared_in_hive_terms(glue_ingestor: Ingestor) -> None:
    record = glue_ingestor.upload(
        "events.jsonl", b'{"id": 1, "user": {"name": "ann", "tags": ["a"]}, "at": "2024-01-01T10:00:00"}\n'
    )
    table = _glue_table(glue_ingestor, record["table"])
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        ("id", "bigint"),
        ("user", "struct<name:string,tags:array<string>>"),
        ("at", "timestamp"),
    ]


def test_nested_field_names_are_declared_as_safe_names(glue_ingestor: Ingestor, tmp_path: Path) -> None:
    record = glue_ingestor.upload("nested_names.jsonl", (CORPUS / "nested_names.jsonl").read_bytes())
    assert record["status"] == "READY", record["error"]
    table = _glue_table(glue_ingestor, record["table"])
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
        _partitions(glue_ingestor, record["table"])[0][1].removeprefix("s3://sdp-local-data/") + "part-0.parquet",
        str(curated),
    )
    [(kind,)] = duckdb.sql(f"SELECT typeof(customer) FROM read_parquet('{curated}') LIMIT 1").fetchall()
    assert kind == (
        "STRUCT(first_name VARCHAR, c_2nd BIGINT, orders STRUCT(order_id BIGINT, line_items STRUCT(sku VARCHAR))[])"
    )


def test_a_new_version_of_a_file_is_a_new_partition_and_the_old_one_goes(glue_ingestor: Ingestor) -> None:
    record = glue_ingestor.upload("s.csv", b"a\n1\n")
    glue_ingestor.services.clients.s3.put_object(
        Bucket="sdp-local-data",
        Key=f"tenants/{glue_ingestor.account.tenant_id}/raw/{record['file_id']}",
        Body=b"a,b\n1,2\n",
    )
    glue_ingestor.drain()
    assert [c["Name"] for c in _glue_table(glue_ingestor, "s")["StorageDescriptor"]["Columns"]] == ["a", "b"]
    assert _partitions(glue_ingestor, "s") == [("2", _attempt(glue_ingestor, record["file_id"]))]


def _column(name: str) -> Column:
    return Column(name, None, ColumnType("BIGINT", "bigint", "bigint"))


def test_columns_are_added_only_to_the_table_version_read(glue_ingestor: Ingestor) -> None:
    """Glue's optimistic locking (UpdateTable's VersionId): an update that lost the race to another
    reads the table again and adds only what it still lacks, keeping what the other added."""
    glue = boto3.client("glue", region_name="us-east-1")
    catalog = GlueCatalog(glue, "sdp-local-data", glue_ingestor.services.settings.glue_database_prefix)
    tenant, table_id = glue_ingestor.account.tenant_id, new_id()
    database = f"sdp_dev_{tenant.lower()}"
    name = f"t__{table_id.lower()}"

    def held(version: str, *columns: str) -> dict[str, Any]:
        descriptor = {"Columns": [{"Name": column, "Type": "bigint"} for column in columns]}
        return {
            "Table": {"Name": name, "DatabaseName": database, "StorageDescriptor": descriptor, "VersionId": version}
        }

    def columns_then(*columns: str) -> Any:
        return {
            "DatabaseName": database,
            "TableInput": {**_table_input_shape(), "Name": name, "StorageDescriptor": _descriptor(tenant, columns)},
            "VersionId": ANY,
        }

    partition = {
        "DatabaseName": database,
        "TableName": name,
        "PartitionInput": {
            "Values": ["4"],
            "StorageDescriptor": ANY,
        },
    }
    with Stubber(glue) as stubber:
        stubber.add_client_error("create_database", "AlreadyExistsException")
        stubber.add_response("get_table", held("7", "a"), {"DatabaseName": database, "Name": name})
        stubber.add_client_error(
            "update_table",
            "ConcurrentModificationException",
            expected_params={"DatabaseName": database, "TableInput": ANY, "VersionId": "7"},
        )
        stubber.add_response("get_table", held("8", "a", "c"), {"DatabaseName": database, "Name": name})
        stubber.add_response("update_table", {}, columns_then("a", "c", "b"))
        stubber.add_response("create_partition", {}, partition)
        catalog.publish(
            tenant, CatalogTable("t", table_id), [_column("a"), _column("b")], 4, Publication("F", "token", ())
        )
        stubber.assert_no_pending_responses()


def test_a_partition_or_table_already_gone_is_dropped_without_error(glue_ingestor: Ingestor) -> None:
    glue = boto3.client("glue", region_name="us-east-1")
    catalog = GlueCatalog(glue, "sdp-local-data", glue_ingestor.services.settings.glue_database_prefix)
    tenant, table_id = glue_ingestor.account.tenant_id, new_id()
    database, name = f"sdp_dev_{tenant.lower()}", f"t__{table_id.lower()}"
    with Stubber(glue) as stubber:
        stubber.add_client_error(
            "delete_partition",
            "EntityNotFoundException",
            expected_params={"DatabaseName": database, "TableName": name, "PartitionValues": ["3"]},
        )
        stubber.add_client_error(
            "delete_table", "EntityNotFoundException", expected_params={"DatabaseName": database, "Name": name}
        )
        catalog.drop_partition(tenant, CatalogTable("t", table_id), 3)
        catalog.drop_table(tenant, CatalogTable("t", table_id))
        stubber.assert_no_pending_responses()


def _table_input_shape() -> dict[str, Any]:
    return {
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "sdp_table": "t"},
        "PartitionKeys": [{"Name": "_seq", "Type": "int"}],
    }


def _descriptor(tenant: str, columns: tuple[str, ...]) -> dict[str, Any]:
    return {
        "Columns": [{"Name": column, "Type": "bigint"} for column in columns],
        "Location": f"s3://sdp-local-data/tenants/{tenant}/curated/",
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
    }
