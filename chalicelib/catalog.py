"""Where query engines find a tenant's tables: Glue in AWS, a local warehouse folder on a laptop.

A table is one READY file's curated Parquet (`tenants/{t}/curated/{file_id}/`). Its name is
unique in the tenant (the table item in DynamoDB guards that); the catalog only mirrors it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.files.objects import ObjectStore, curated_prefix
from chalicelib.keys import tenant_database

if TYPE_CHECKING:  # only ingest registers tables; the API function need not load it
    from chalicelib.ingest.convert import Column


class Catalog(Protocol):
    def register(self, tenant_id: str, name: str, file_id: str, columns: list[Column]) -> None:
        """Make the table queryable (again, with these columns, if it exists)."""

    def drop(self, tenant_id: str, name: str, file_id: str) -> None:
        """Make the table unknown; nothing happens if it is."""


class GlueCatalog:
    """One Glue database per tenant, created on first use; one external Parquet table per file."""

    def __init__(self, glue: Any, bucket: str, database_prefix: str) -> None:
        self._glue = glue
        self._bucket = bucket
        self._prefix = database_prefix

    def database(self, tenant_id: str) -> str:
        return tenant_database(self._prefix, tenant_id)

    def register(self, tenant_id: str, name: str, file_id: str, columns: list[Column]) -> None:
        database = self.database(tenant_id)
        self._ensure_database(database, tenant_id)
        table = {
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "sdp_file_id": file_id},
            "StorageDescriptor": {
                "Columns": [{"Name": column.name, "Type": column.type.glue} for column in columns],
                "Location": f"s3://{self._bucket}/{curated_prefix(tenant_id, file_id)}",
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
            },
        }
        try:
            self._glue.create_table(DatabaseName=database, TableInput=table)
        except ClientError as error:
            if error.response["Error"]["Code"] != "AlreadyExistsException":
                raise
            self._glue.update_table(DatabaseName=database, TableInput=table)

    def drop(self, tenant_id: str, name: str, file_id: str) -> None:
        try:
            self._glue.delete_table(DatabaseName=self.database(tenant_id), Name=name)
        except ClientError as error:
            if error.response["Error"]["Code"] != "EntityNotFoundException":
                raise

    def _ensure_database(self, database: str, tenant_id: str) -> None:
        try:
            self._glue.create_database(DatabaseInput={"Name": database, "Description": f"Tables of tenant {tenant_id}"})
        except ClientError as error:
            if error.response["Error"]["Code"] != "AlreadyExistsException":
                raise


class LocalCatalog:
    """The local query engine's registry: `<warehouse>/<tenant>/<file_id>/` holds a table's Parquet.

    One folder per tenant, so a query's engine can be allowed that folder and nothing else.
    """

    def __init__(self, objects: ObjectStore, warehouse: Path) -> None:
        self._objects = objects
        self._warehouse = warehouse

    def tenant_folder(self, tenant_id: str) -> Path:
        return self._warehouse / tenant_id

    def table_folder(self, tenant_id: str, file_id: str) -> Path:
        return self.tenant_folder(tenant_id) / file_id

    def register(self, tenant_id: str, name: str, file_id: str, columns: list[Column]) -> None:
        tenant = self.tenant_folder(tenant_id)
        tenant.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{file_id}-", dir=tenant))
        for key in self._objects.keys(curated_prefix(tenant_id, file_id)):
            self._objects.download(key, staging / key.rsplit("/", 1)[-1])
        # Swapped in whole: a query never sees half a table.
        self.drop(tenant_id, name, file_id)
        staging.rename(self.table_folder(tenant_id, file_id))

    def drop(self, tenant_id: str, name: str, file_id: str) -> None:
        shutil.rmtree(self.table_folder(tenant_id, file_id), ignore_errors=True)
