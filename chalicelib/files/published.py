"""Taking down what ingest published for a file: its partitions and its curated copy."""

from __future__ import annotations

from chalicelib.catalog import Catalog
from chalicelib.files.objects import ObjectStore
from chalicelib.files.tables import Tables, parse_entry
from chalicelib.keys import curated_prefix


def withdraw(tables: Tables, objects: ObjectStore, catalog: Catalog, tenant_id: str, file_id: str) -> None:
    """Take every partition the file's attempts took out of its table, and delete its curated copies."""
    withdraw_entries(tables, catalog, tenant_id, file_id, tables.entries_of(tenant_id, file_id))
    objects.delete_all_versions(curated_prefix(tenant_id, file_id))


def withdraw_entries(tables: Tables, catalog: Catalog, tenant_id: str, file_id: str, entries: list[str]) -> None:
    """Take these partitions of the file (`seq_entry`) out of their tables, drop them from the
    catalog, and remove a table left with no file.

    Each partition is hidden from queries first (its rows and the table's counts go in one
    write), dropped second, struck off last: a failure midway leaves it hidden, and the file's
    record still lists it for the next try.
    """
    for entry in entries:
        _, _, seq = parse_entry(entry)
        table = tables.hide(tenant_id, file_id, entry)
        if table is not None:
            catalog.drop_partition(tenant_id, table.in_catalog, seq)
        removed = tables.forget(tenant_id, file_id, entry)
        if removed is not None:
            catalog.drop_table(tenant_id, removed.in_catalog)
