"""Where query engines find a tenant's tables: Glue in AWS, a local warehouse folder on a laptop.

A table is one READY file's curated Parquet (`tenants/{t}/curated/{file_id}/{attempt}/`). Its name
is unique in the tenant (the table item in DynamoDB guards that); the catalog only mirrors it.
Two ingest attempts at one file (an older version's, still running, and a newer one's) may both
register its table: the entry keeps the later claim's, whichever registers last.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from chalicelib.columns import Column
from chalicelib.keys import attempt_prefix, tenant_database

# Tries at a Glue read-then-update that another attempt's registration keeps interrupting.
REGISTER_TRIES = 5
CLAIM_MARKER = ".claim"  # in a local table's folder: the claim count of the attempt that put it there
# The local platform runs every ingest attempt in its one process: a lock orders their swaps and
# drops (re-entered: a swap drops the copy it replaces).
_SWAPPING = threading.RLock()


@dataclass(frozen=True)
class Publication:
    """Which ingest attempt's curated copy a table is."""

    token: str  # the attempt's claim token, naming its curated folder
    claim: int  # the record's claim count while that attempt held it: later claims count higher
    # The copy's Parquet files as the attempt wrote them, before storing the same bytes under its
    # folder: the local catalog copies these rather than reading back what was just stored.
    parts: tuple[Path, ...]


class Catalog(Protocol):
    def register(
        self, tenant_id: str, name: str, file_id: str, columns: list[Column], publication: Publication
    ) -> None:
        """Make the table queryable (again, with these columns, if it exists), unless a later
        claim's attempt at the same file has registered it already."""

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

    def register(
        self, tenant_id: str, name: str, file_id: str, columns: list[Column], publication: Publication
    ) -> None:
        database = self.database(tenant_id)
        self._ensure_database(database, tenant_id)
        table = {
            "Name": name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {
                "classification": "parquet",
                "EXTERNAL": "TRUE",
                "sdp_file_id": file_id,
                "sdp_claim": str(publication.claim),
            },
            "StorageDescriptor": {
                "Columns": [{"Name": column.name, "Type": column.type.glue} for column in columns],
                "Location": f"s3://{self._bucket}/{attempt_prefix(tenant_id, file_id, publication.token)}",
                "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
            },
        }
        for _ in range(REGISTER_TRIES):
            try:
                self._glue.create_table(DatabaseName=database, TableInput=table)
                return
            except ClientError as error:
                if error.response["Error"]["Code"] != "AlreadyExistsException":
                    raise
            try:
                current = self._glue.get_table(DatabaseName=database, Name=name)["Table"]
                if _registered_later(current.get("Parameters", {}), file_id, publication.claim):
                    return
                # Glue refuses the update if the table changed since it was read.
                self._glue.update_table(DatabaseName=database, TableInput=table, VersionId=current["VersionId"])
                return
            except ClientError as error:
                if error.response["Error"]["Code"] not in (
                    "EntityNotFoundException",
                    "ConcurrentModificationException",
                ):
                    raise
        raise RuntimeError(f"table {name} kept changing while it was being registered")

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


def _registered_later(parameters: dict[str, str], file_id: str, claim: int) -> bool:
    """Whether the entry (its Glue parameters) is the file's, registered by a later claim's attempt."""
    return parameters.get("sdp_file_id") == file_id and int(parameters.get("sdp_claim", "0")) > claim


class LocalCatalog:
    """The local query engine's registry: `<warehouse>/<tenant>/<file_id>/` holds a table's Parquet.

    One folder per tenant, so a query's engine can be allowed that folder and nothing else.
    """

    def __init__(self, warehouse: Path) -> None:
        self._warehouse = warehouse

    def tenant_folder(self, tenant_id: str) -> Path:
        return self._warehouse / tenant_id

    def table_folder(self, tenant_id: str, file_id: str) -> Path:
        return self.tenant_folder(tenant_id) / file_id

    def register(
        self, tenant_id: str, name: str, file_id: str, columns: list[Column], publication: Publication
    ) -> None:
        tenant = self.tenant_folder(tenant_id)
        tenant.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{file_id}-", dir=tenant))
        for part in publication.parts:
            shutil.copyfile(part, staging / part.name)
        (staging / CLAIM_MARKER).write_text(str(publication.claim))
        with _SWAPPING:
            if self._registered_claim(tenant_id, file_id) > publication.claim:
                shutil.rmtree(staging, ignore_errors=True)
                return
            # Swapped in whole: a query never sees half a table.
            self.drop(tenant_id, name, file_id)
            staging.rename(self.table_folder(tenant_id, file_id))

    def _registered_claim(self, tenant_id: str, file_id: str) -> int:
        """The claim count of the attempt whose copy is in place; 0 if none is."""
        marker = self.table_folder(tenant_id, file_id) / CLAIM_MARKER
        return int(marker.read_text()) if marker.exists() else 0

    def drop(self, tenant_id: str, name: str, file_id: str) -> None:
        with _SWAPPING:
            shutil.rmtree(self.table_folder(tenant_id, file_id), ignore_errors=True)
