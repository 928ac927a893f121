"""What a dry run estimates a query will scan, against what the local engine counts as scanned when
it runs the query, over the benchmark dataset.

The local platform runs in this process (moto, the app, the ingest pump). The events CSV of the
other benchmarks (bench/data.py) and a four-row table of regions are uploaded through the API with
the `sdp` client and ingested as a user's would be. Then, for each of 20 queries (single columns,
several, `*`, `count(*)`, filters, GROUP BY, ORDER BY, joins, a self-join, CTEs, subqueries,
window functions):
  estimate  POST /queries {"sql", "dry_run": true}: bytes_to_scan, from the column sizes summed
            at ingest
  scanned   POST /queries, then GET /queries/{id}?wait=20 until it has SUCCEEDED: stats.bytes_scanned,
            from the footers of the partitions the engine reads

Each text is run once and differs from every other, so no result is reused (the record must say
`reused: false`). It prints a table of the two figures, each also as a share of the compressed size
of all the tables' curated Parquet files (the sum of the files' sizes, measured here), and the
worst deviation, and exits non-zero if any scanned figure is more than 10% away from its estimate.

Usage: python bench/estimate.py [size in MiB, default 256]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
import requests

import sdp
from bench.data import MIB, generate_events_csv
from chalicelib.catalog import local_table_folder
from localplatform.runner import LocalPlatform

PASSWORD = "Correct-Horse-9!"  # noqa: S105 - a throwaway local account
TOLERANCE = 0.10
REGIONS = "region,manager,target\nnorth,Ann,120\nsouth,Bo,80\neast,Cy,150\nwest,Di,95\n"

# {e}: the events table, {r}: the regions table. Athena's SQL (Trino), as a user writes it.
QUERIES = [
    ("one column", "SELECT amount FROM {e} LIMIT 10"),
    ("one timestamp column, min/max", "SELECT min(event_time), max(event_time) FROM {e}"),
    ("several columns, filter", "SELECT id, region, amount FROM {e} WHERE quantity > 95 LIMIT 100"),
    ("star", "SELECT * FROM {e} LIMIT 5"),
    ("count(*)", "SELECT count(*) FROM {e}"),
    ("count(*), filter", "SELECT count(*) FROM {e} WHERE flag"),
    ("group by", "SELECT region, sum(amount) AS total FROM {e} GROUP BY region ORDER BY region"),
    ("group by, order by count", "SELECT day, count(*) AS n FROM {e} GROUP BY day ORDER BY n DESC, day LIMIT 10"),
    ("order by, top 20", "SELECT id, amount FROM {e} ORDER BY amount DESC, id LIMIT 20"),
    ("LIKE filter, group by", "SELECT note, count(*) AS n FROM {e} WHERE note LIKE 'with%' GROUP BY note"),
    (
        "join on",
        "SELECT e.region, r.manager, sum(e.amount) AS total FROM {e} e JOIN {r} r ON e.region = r.region "
        "GROUP BY e.region, r.manager ORDER BY e.region",
    ),
    ("join using", "SELECT region, count(*) AS n FROM {e} JOIN {r} USING (region) GROUP BY region ORDER BY region"),
    (
        "star of one side of a join",
        "SELECT e.*, r.manager FROM {e} e JOIN {r} r ON e.region = r.region WHERE e.id < 10 ORDER BY e.id",
    ),
    (
        "self-join",
        "SELECT a.region, count(*) AS n FROM {e} a JOIN {e} b ON a.id = b.id + 1 "
        "WHERE a.quantity = 0 AND b.quantity = 96 GROUP BY a.region ORDER BY a.region",
    ),
    (
        "CTE",
        "WITH daily AS (SELECT day, sum(amount) AS total FROM {e} GROUP BY day) "
        "SELECT min(total) AS low, max(total) AS high FROM daily",
    ),
    ("IN subquery", "SELECT count(*) AS n FROM {e} WHERE region IN (SELECT region FROM {r} WHERE target > 100)"),
    (
        "scalar subquery",
        "SELECT id, amount FROM {e} WHERE amount > (SELECT avg(amount) FROM {e}) * 1.99 ORDER BY id LIMIT 10",
    ),
    (
        "window over a subquery",
        "SELECT region, day, total, rank() OVER (PARTITION BY region ORDER BY total DESC) AS place "
        "FROM (SELECT region, day, sum(amount) AS total FROM {e} GROUP BY region, day) t "
        "ORDER BY place, region LIMIT 12",
    ),
    (
        "window lag, filter",
        "SELECT id, amount - lag(amount) OVER (ORDER BY id) AS delta FROM {e} WHERE id < 1000 ORDER BY id LIMIT 5",
    ),
    ("small table, star", "SELECT * FROM {r} ORDER BY region"),
]
# Queries that read one table twice: Athena scans it once per reference, the estimate (and the
# local engine's count) once per table, with the columns of both. Each reference's own reads, as
# dry runs of their own, give what Athena would count; printed, not judged.
PER_REFERENCE = {
    "self-join": ["SELECT id, quantity, region FROM {e}", "SELECT id, quantity FROM {e}"],
    "scalar subquery": ["SELECT id, amount FROM {e}", "SELECT amount FROM {e}"],
}


def run_query(session: requests.Session, api: str, sql: str) -> dict[str, object]:
    """The query's record once it has SUCCEEDED."""
    submitted = session.post(f"{api}/queries", json={"sql": sql}, timeout=60)
    submitted.raise_for_status()
    query_id = submitted.json()["query_id"]
    while True:
        record = session.get(f"{api}/queries/{query_id}?wait=20&max_rows=1", timeout=60).json()
        if record["status"] == "SUCCEEDED":
            return record
        if record["status"] not in ("RUNNING", "QUEUED"):
            raise SystemExit(f"query ended {record['status']}: {record['error']}\n{sql}")


def dry_run(session: requests.Session, api: str, sql: str) -> dict[str, object]:
    answer = session.post(f"{api}/queries", json={"sql": sql, "dry_run": True}, timeout=60)
    if answer.status_code != 200:
        raise SystemExit(f"dry run answered {answer.status_code}: {answer.text}\n{sql}")
    return answer.json()


def table_ids(warehouse: Path, tenant_id: str) -> set[str]:
    """The ids of the tenant's tables in the local catalog (chalicelib/catalog.py)."""
    tables = local_table_folder(warehouse, tenant_id, "any").parent
    return {folder.name for folder in tables.iterdir()} if tables.is_dir() else set()


def deviation(estimate: int, scanned: int) -> float:
    """How far what was scanned is from the estimate, as a share of the estimate (0 when both are 0)."""
    if estimate == scanned:
        return 0.0
    return abs(scanned - estimate) / estimate if estimate else float("inf")


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    with tempfile.TemporaryDirectory(prefix="sdp-bench-") as folder, LocalPlatform(api_port=0, aws_port=0) as platform:
        events_csv = Path(folder) / "events.csv"
        rows = generate_events_csv(events_csv, size_mib)
        regions_csv = Path(folder) / "regions.csv"
        regions_csv.write_text(REGIONS)
        api = platform.api_url
        requests.post(f"{api}/auth/signup", json={"email": "bench@example.com", "password": PASSWORD}, timeout=60)
        login = requests.post(
            f"{api}/auth/login", json={"email": "bench@example.com", "password": PASSWORD}, timeout=60
        )
        token = login.json()["id_token"]
        me = requests.get(f"{api}/me", headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
        warehouse = Path(os.environ["SDP_WAREHOUSE_DIR"])
        client = sdp.Client(api, token=token)

        # Each upload makes a table of its own; its id (no part of the API) is the folder it adds.
        curated: dict[str, Path] = {}
        started = time.perf_counter()
        for path in (events_csv, regions_csv):
            before = table_ids(warehouse, me["tenant_id"])
            record = client.upload(path, path.name)  # returns READY, or raises
            [table_id] = table_ids(warehouse, me["tenant_id"]) - before
            curated[record.table] = local_table_folder(warehouse, me["tenant_id"], table_id)
        events, regions = curated
        print(
            f"dataset: {events_csv.stat().st_size / MIB:.0f} MiB CSV, {rows:,} rows, and {regions} (4 rows), "
            f"uploaded and READY in {time.perf_counter() - started:.1f} s; {os.cpu_count()} cores"
        )
        # The baseline: every curated Parquet file of each table (every partition's), whole.
        whole = {name: sum(part.stat().st_size for part in path.glob("*/*.parquet")) for name, path in curated.items()}
        for name, path in curated.items():
            parts = sorted(str(part) for part in path.glob("*/*.parquet"))
            with duckdb.connect() as con:
                [(groups,)] = con.execute(
                    "SELECT count(*) FROM parquet_metadata(?) WHERE column_id = 0", [parts]
                ).fetchall()
            print(
                f"curated Parquet of {name}: {whole[name]:,} bytes ({whole[name] / MIB:.1f} MiB) "
                f"in {len(parts)} files, {groups} row groups"
            )
        total = sum(whole.values())

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        texts = [sql.format(e=events, r=regions) for _, sql in QUERIES]
        assert len(set(texts)) == len(texts), "each text once: a repeated one would be reused"
        results = []
        for (label, _), sql in zip(QUERIES, texts, strict=True):
            estimate = dry_run(session, api, sql)
            record = run_query(session, api, sql)
            assert record["reused"] is False, record
            scanned = record["stats"]["bytes_scanned"]
            results.append((label, estimate, scanned, deviation(estimate["bytes_to_scan"], scanned)))

        print(f"\nshare: of all curated Parquet files of the tables ({total:,} bytes, {total / MIB:.1f} MiB)")
        heading = f"{'#':>2} {'query':32} {'estimate':>13} {'scanned':>13} {'ratio':>7} {'share':>7} {'billed MiB':>10}"
        print(heading + "  columns")
        for number, (label, estimate, scanned, _) in enumerate(results, 1):
            to_scan = estimate["bytes_to_scan"]
            ratio = f"{scanned / to_scan:.3f}" if to_scan else ("=" if scanned == 0 else "inf")
            columns = "; ".join(f"{table}: {','.join(cols) or '-'}" for table, cols in estimate["columns"].items())
            print(
                f"{number:2} {label:32} {to_scan:13,} {scanned:13,} {ratio:>7} {to_scan / total:7.1%} "
                f"{estimate['billed_bytes'] / MIB:10.0f}  {columns}"
            )
        worst = max(results, key=lambda result: result[3])
        print("\nread once per reference, as Athena scans a table a query names twice:")
        for label, parts in PER_REFERENCE.items():
            [estimate] = [result[1]["bytes_to_scan"] for result in results if result[0] == label]
            each = [dry_run(session, api, sql.format(e=events, r=regions))["bytes_to_scan"] for sql in parts]
            print(
                f"   {label:32} estimate {estimate:,}; per reference {' + '.join(f'{b:,}' for b in each)} = "
                f"{sum(each):,} ({sum(each) / estimate:.2f}x)"
            )
        print(
            f"\nworst deviation: {worst[3]:.2%} ({worst[0]}: estimate {worst[1]['bytes_to_scan']:,}, "
            f"scanned {worst[2]:,})"
        )
        over = [result for result in results if result[3] > TOLERANCE]
        if over:
            raise SystemExit(f"{len(over)} of {len(results)} queries deviate by more than {TOLERANCE:.0%}")
        print(f"all {len(results)} within {TOLERANCE:.0%}")


if __name__ == "__main__":
    main()
