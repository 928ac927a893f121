"""Where query engines find a tenant's tables: Glue in AWS, a local warehouse folder on a laptop.

A table is partitioned by `_seq`: each ingest attempt that adds a file to it writes its curated
Parquet as partition `_seq = N`, N the number the table's item handed it (files/tables.py). The
catalog only holds the partitions; which of them a query reads is the item's to say (every
engine's SQL passes over the hidden ones), so a partition may be written before its file is READY
and dropped after it is withdrawn. Columns are only ever added to a catalog's table: a file read
with the table's columns has their types.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.columns import Column
from chalicelib.keys import attempt_prefix, glue_table, tenant_database, tenant_prefix
from chalicelib.quoting import identifier, literal

SEQ_COLUMN = "_seq"  # the partition column: no column of a file starts with '_' (ingest/naming.py)
# Tries at a Glue read-then-update that another attempt's update keeps interrupting.
UPDATE_TRIES = 5
SCHEMA_PARTITION = 0  # the local table's empty file that carries every column (no file has seq 0)
SCHEMA_FILE = "schema.parquet"
_GLUE_PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}


@dataclass(frozen=True)
class CatalogTable:
    """A table as the catalog names it: by its name and its id (a table made again under the same
    name is another table)."""

    name: str
    table_id: str


@dataclass(frozen=True)
class Publication:
    """One ingest attempt's curated copy of a file."""

    file_id: str
    token: str  # the attempt's claim token, naming its curated folder
    # The copy's Parquet files as the attempt wrote them, before storing the same bytes under its
    # folder: the local catalog copies these rather than reading back what was just stored.
    parts: tuple[Path, ...]


class Catalog(Protocol):
    def publish(
        self, tenant_id: str, table: CatalogTable, columns: Sequence[Column], seq: int, publication: Publication
    ) -> None:
        """Give the table `columns` (of these types; the catalog's keeps any it has besides) and
        make partition `seq` the attempt's copy."""

    def drop_partition(self, tenant_id: str, table: CatalogTable, seq: int) -> None:
        """Remove partition `seq`; nothing happens if there is none."""

    def drop_table(self, tenant_id: str, table: CatalogTable) -> None:
        """Remove the table; nothing happens if there is none."""


class GlueCatalog:
    """One Glue database per tenant, created on first use; one external Parquet table per table,
    partitioned by `_seq`, each partition at the attempt's curated folder."""

    def __init__(self, glue: Any, bucket: str, database_prefix: str) -> None:
        self._glue = glue
        self._bucket = bucket
        self._prefix = database_prefix

    def database(self, tenant_id: str) -> str:
        return tenant_database(self._prefix, tenant_id)

    def table_name(self, table: CatalogTable) -> str:
        return glue_table(table.name, table.table_id)

    def publish(
        self, tenant_id: str, table: CatalogTable, columns: Sequence[Column], seq: int, publication: Publication
    ) -> None:
        database = self.database(tenant_id)
        self._ensure_database(database, tenant_id)
        glue_columns = [{"Name": column.name, "Type": column.type.glue} for column in columns]
        self._ensure_columns(database, tenant_id, table, glue_columns)
        location = attempt_prefix(tenant_id, publication.file_id, publication.token)
        partition = {
            "Values": [str(seq)],
            "StorageDescriptor": {
                "Columns": glue_columns,
                "Location": f"s3://{self._bucket}/{location}",
                **_GLUE_PARQUET,
            },
        }
        try:
            self._glue.create_partition(
                DatabaseName=database, TableName=self.table_name(table), PartitionInput=partition
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "AlreadyExistsException":
                raise
            # A retried publish of the same attempt: the partition is its own.
            self._glue.update_partition(
                DatabaseName=database,
                TableName=self.table_name(table),
                PartitionValueList=[str(seq)],
                PartitionInput=partition,
            )

    def drop_partition(self, tenant_id: str, table: CatalogTable, seq: int) -> None:
        try:
            self._glue.delete_partition(
                DatabaseName=self.database(tenant_id), TableName=self.table_name(table), PartitionValues=[str(seq)]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "EntityNotFoundException":
                raise

    def drop_table(self, tenant_id: str, table: CatalogTable) -> None:
        try:
            self._glue.delete_table(DatabaseName=self.database(tenant_id), Name=self.table_name(table))
        except ClientError as error:
            if error.response["Error"]["Code"] != "EntityNotFoundException":
                raise

    def _ensure_columns(
        self, database: str, tenant_id: str, table: CatalogTable, columns: list[dict[str, str]]
    ) -> None:
        """Create the table with these columns, or add those it lacks (an update Glue refuses if
        the table changed since it was read, and then tried again)."""
        name = self.table_name(table)
        for _ in range(UPDATE_TRIES):
            try:
                current = self._glue.get_table(DatabaseName=database, Name=name)["Table"]
            except ClientError as error:
                if error.response["Error"]["Code"] != "EntityNotFoundException":
                    raise
                try:
                    self._glue.create_table(
                        DatabaseName=database, TableInput=self._table_input(tenant_id, table, columns)
                    )
                    return
                except ClientError as error:
                    if error.response["Error"]["Code"] != "AlreadyExistsException":
                        raise
                    continue
            held = current["StorageDescriptor"].get("Columns", [])
            given = {column["Name"]: column for column in columns}
            # A column keeps its place; its type is the table's now (the only file of a table,
            # read again, may change it); those it lacks are added.
            kept = [given.get(column["Name"], column) for column in held]
            known = {column["Name"] for column in held}
            merged = kept + [column for column in columns if column["Name"] not in known]
            if merged == held:
                return
            try:
                self._glue.update_table(
                    DatabaseName=database,
                    TableInput=self._table_input(tenant_id, table, merged),
                    VersionId=current["VersionId"],
                )
                return
            except ClientError as error:
                if error.response["Error"]["Code"] not in (
                    "ConcurrentModificationException",
                    "EntityNotFoundException",
                ):
                    raise
        raise RuntimeError(f"table {name} kept changing while its columns were added")

    def _table_input(self, tenant_id: str, table: CatalogTable, columns: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "Name": self.table_name(table),
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "sdp_table": table.name},
            "PartitionKeys": [{"Name": SEQ_COLUMN, "Type": "int"}],
            "StorageDescriptor": {
                "Columns": columns,
                # Nominal: every partition names its own folder.
                "Location": f"s3://{self._bucket}/{tenant_prefix(tenant_id)}curated/",
                **_GLUE_PARQUET,
            },
        }

    def _ensure_database(self, database: str, tenant_id: str) -> None:
        try:
            self._glue.create_database(DatabaseInput={"Name": database, "Description": f"Tables of tenant {tenant_id}"})
        except ClientError as error:
            if error.response["Error"]["Code"] != "AlreadyExistsException":
                raise


class LocalCatalog:
    """The local query engine's registry: `<warehouse>/<tenant>/tables/<table id>/_seq=<n>/` holds
    a partition's Parquet, and `_seq=0/` an empty file with every column of the table, so that a
    read of all partitions by name has each column, even one whose files are all gone.

    One folder per tenant, so a query's engine can be allowed that folder and nothing else.
    """

    def __init__(self, warehouse: Path) -> None:
        self._warehouse = warehouse

    def tenant_folder(self, tenant_id: str) -> Path:
        return self._warehouse / tenant_id

    def table_folder(self, tenant_id: str, table_id: str) -> Path:
        return local_table_folder(self._warehouse, tenant_id, table_id)

    def partition_folder(self, tenant_id: str, table_id: str, seq: int) -> Path:
        return self.table_folder(tenant_id, table_id) / f"{SEQ_COLUMN}={seq}"

    def publish(
        self, tenant_id: str, table: CatalogTable, columns: Sequence[Column], seq: int, publication: Publication
    ) -> None:
        folder = self.table_folder(tenant_id, table.table_id)
        folder.mkdir(parents=True, exist_ok=True)
        self._write_schema(tenant_id, table.table_id, columns)
        staging = Path(tempfile.mkdtemp(prefix=f".{seq}-", dir=folder))
        for part in publication.parts:
            shutil.copyfile(part, staging / part.name)
        target = self.partition_folder(tenant_id, table.table_id, seq)
        if target.exists():  # a retried publish of the same attempt
            self._remove(target)
        staging.rename(target)  # whole: a query's glob never sees half a partition

    def drop_partition(self, tenant_id: str, table: CatalogTable, seq: int) -> None:
        self._remove(self.partition_folder(tenant_id, table.table_id, seq))

    def drop_table(self, tenant_id: str, table: CatalogTable) -> None:
        self._remove(self.table_folder(tenant_id, table.table_id))

    def _write_schema(self, tenant_id: str, table_id: str, columns: Sequence[Column]) -> None:
        """Write the table's empty file of every column, renamed into place whole."""
        import duckdb  # only the local platform's ingest writes one

        folder = self.partition_folder(tenant_id, table_id, SCHEMA_PARTITION)
        folder.mkdir(parents=True, exist_ok=True)
        select = ", ".join(f"CAST(NULL AS {column.type.storage}) AS {identifier(column.name)}" for column in columns)
        staging = folder / f".{SCHEMA_FILE}.{uuid.uuid4().hex}"
        with duckdb.connect() as database:
            database.execute(f"COPY (SELECT {select} LIMIT 0) TO {literal(str(staging))} (FORMAT parquet)")
        staging.replace(folder / SCHEMA_FILE)

    def _remove(self, folder: Path) -> None:
        """Out of every query's glob at once (renamed), then deleted."""
        if not folder.exists():
            return
        doomed = folder.with_name(f".gone-{uuid.uuid4().hex}")
        try:
            folder.rename(doomed)
        except FileNotFoundError:
            return  # removed meanwhile
        shutil.rmtree(doomed, ignore_errors=True)


def local_table_folder(warehouse: Path, tenant_id: str, table_id: str) -> Path:
    """Where the local catalog keeps a table's partitions, each a folder `_seq=N`."""
    return warehouse / tenant_id / "tables" / table_id
