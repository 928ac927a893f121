"""Taking down what ingest published for a file: its tables and its curated copy."""

from __future__ import annotations

from chalicelib.catalog import Catalog
from chalicelib.files.objects import ObjectStore
from chalicelib.files.tables import TableNames
from chalicelib.keys import curated_prefix


def withdraw(names: TableNames, objects: ObjectStore, catalog: Catalog, tenant_id: str, file_id: str) -> None:
    """Drop every table name the file holds (its catalog entry first) and delete its curated copy.

    Not only the table its record names: an ingest that failed midway may have taken a name,
    registered it or stored Parquet that no record mentions.
    """
    for name in names.held_by(tenant_id, file_id):
        catalog.drop(tenant_id, name, file_id)
        names.release(tenant_id, name, file_id)
    objects.delete_all_versions(curated_prefix(tenant_id, file_id))
