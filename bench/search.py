"""How fast is a search of a tenant's files and tables, against the plain listing?

The local platform runs from this process, as bench/scale.py runs it. One tenant signs up through
the API; its files are then stored as ingest leaves READY files, each its own table (bench/data.py's
names: CSV, TSV, JSON Lines, Parquet in turn), with the platform's own writes (the record and its
search entry in one transaction, the table and its search entry in another): ingesting 10,000 files
is bench/scale.py's subject, and takes a quarter of an hour. At each size (default 1,000 and
10,000 files) each search below is asked for a first page of 10, one request at a time, in turns
with the plain listing of the same collection (`GET /files?limit=10`, `GET /tables?limit=10`), and
its p50 and p99 printed in milliseconds and as a ratio to the listing's.

A search reads the tenant's whole search index (64 items; files/search.py) and then the records
of the page it shows: one that finds few entries costs what one that finds many does.

Usage: python bench/search.py [sizes, default 1000,10000] [samples, default 30]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import small_file
from bench.scale import Tenant, percentile

GOAL_MS = 300
SEARCHES = {
    # what it finds: (the listing it is compared with, the request)
    "files, one name": ("/files", "/files?q=items1037.jsonl&limit=10"),
    "files, a common name": ("/files", "/files?q=sales&limit=10"),
    "files, a column name": ("/files", "/files?q=amount&limit=10"),
    "files, status FAILED (none)": ("/files", "/files?status=FAILED&limit=10"),
    "files, format and column type": ("/files", "/files?format=tsv&column_type=date&limit=10"),
    "tables, one name": ("/tables", "/tables?q=items1037&limit=10"),
    "tables, a column type": ("/tables", "/tables?column_type=double&limit=10"),
}
COLUMNS = {
    "csv": [("id", "bigint"), ("region", "varchar"), ("amount", "double")],
    "tsv": [("id", "bigint"), ("region", "varchar"), ("day", "date")],
    "jsonl": [("id", "bigint"), ("name", "varchar"), ("price", "double")],
    "parquet": [("id", "bigint"), ("label", "varchar")],
}


def seed(services: Any, tenant_id: str, number: int) -> None:
    """Store the `number`th file as a READY file of a table of its own, as ingest writes it."""
    from chalicelib import keys
    from chalicelib.aws.dynamo import to_item, transact
    from chalicelib.columns import ColumnType
    from chalicelib.files.records import FileRecord, IngestClaim, Status, Upload, UploadMethod
    from chalicelib.files.search import SearchIndex, entry
    from chalicelib.files.tables import Table, TableColumn, TableFile, seq_entry
    from chalicelib.ids import new_id
    from chalicelib.ingest.naming import table_base_name
    from chalicelib.times import now

    name, _ = small_file(number)
    format_ = name.rsplit(".", 1)[1]
    columns = [{"name": column, "type": kind} for column, kind in COLUMNS[format_]]
    table_name, file_id, created = table_base_name(name), new_id(), now()
    table = Table(
        name=table_name,
        table_id=new_id(),
        created_at=created,
        columns=tuple(
            TableColumn(c["name"], None, ColumnType(c["type"].upper(), c["type"], c["type"]), file_id, created)
            for c in columns
        ),
        schema_version=1,
        version=1,
        next_seq=2,
        file_count=1,
        row_count=10,
        last_file_id=file_id,
        created_by=file_id,
    )
    record = FileRecord(
        tenant_id=tenant_id,
        file_id=file_id,
        name=name,
        owner_id="bench",
        size=1000,
        content_type="text/csv",
        status=Status.READY,
        created_at=created,
        updated_at=created,
        upload=Upload(UploadMethod.DIRECT),
        format=format_,
        sha256=uuid.uuid4().hex * 2,
        row_count=10,
        columns=columns,
        table=table_name,
        ingest=IngestClaim("etag", uuid.uuid4().hex, 0, final=False),
        claims=1,
        table_seqs=(seq_entry(table_name, table.table_id, 1),),
        drift={"added_columns": [c["name"] for c in columns], "missing_columns": []},
    )
    dynamodb, table_items = services.clients.dynamodb, services.settings.table_name
    files = SearchIndex(dynamodb, table_items, keys.SEARCH_PREFIX)
    tables = SearchIndex(dynamodb, table_items, keys.TABLE_SEARCH_PREFIX)
    listed = TableFile(file_id, name, 1, 10, created, record.sha256 or "")

    def put(item: dict[str, Any]) -> dict[str, Any]:
        return {"Put": {"TableName": table_items, "Item": to_item(item)}}

    transact(
        dynamodb,
        [
            put({**keys.file(tenant_id, file_id), **record.to_fields()}),
            files.put(tenant_id, file_id, record.search_entry()),
        ],
    )
    transact(
        dynamodb,
        [
            put({**keys.table(tenant_id, table_name), **table.to_fields()}),
            put({**keys.table_file(tenant_id, table.table_id, file_id), **listed.to_fields()}),
            tables.put(tenant_id, table_name, entry([table_name], columns)),
        ],
    )


def timed(tenant: Tenant, path: str) -> float:
    started = time.perf_counter()
    tenant.call("GET", path)
    return time.perf_counter() - started


def main() -> None:
    sizes = [int(size) for size in (sys.argv[1] if len(sys.argv) > 1 else "1000,10000").split(",")]
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

    from chalicelib.services import services as platform_services
    from localplatform.runner import LocalPlatform

    with LocalPlatform(api_port=0, aws_port=0) as platform:
        services = platform_services()  # the platform's own, as its API uses them
        tenant = Tenant(platform.api_url)
        tenant_id = tenant.call("GET", "/me")["tenant_id"]
        stored = 0
        for size in sizes:
            started = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda n: seed(services, tenant_id, n), range(stored, size)))
            rate = (size - stored) / (time.perf_counter() - started)
            stored = size
            seconds: dict[str, list[float]] = {path: [] for path in ("/files", "/tables")}
            seconds |= {name: [] for name in SEARCHES}
            for _ in range(samples):  # in turns: the machine's speed drifts alike for all
                for listing in ("/files", "/tables"):
                    seconds[listing].append(timed(tenant, f"{listing}?limit=10"))
                for name, (_, path) in SEARCHES.items():
                    seconds[name].append(timed(tenant, path))
            print(f"\n{size} files (stored at {rate:.0f} files/s); goal: a search answers in {GOAL_MS} ms")
            print(f"  {'request':32} {'p50 ms':>8} {'p99 ms':>8} {'p50 / listing':>14}")
            for name in ("/files", "/tables", *SEARCHES):
                p50, p99 = statistics.median(seconds[name]), percentile(seconds[name], 0.99)
                listing = SEARCHES[name][0] if name in SEARCHES else name
                ratio = p50 / statistics.median(seconds[listing])
                print(f"  {name:32} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {ratio:14.2f}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
