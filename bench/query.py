"""An aggregate over a 1 GiB dataset through the API, against raw DuckDB over the same curated
Parquet, in the same run.

The local platform runs in this process (moto, the app, the ingest pump). The dataset is uploaded
through the API with the `sdp` client (presigned multipart) and ingested as a user's would be. Then, ROUNDS times each,
interleaved:
  raw DuckDB   a fresh connection, the same aggregate over the table's curated Parquet files
  through API  POST /queries, then GET /queries/{id}?wait=20 until the first page of rows is back

Each round's API query has a LIMIT of its own (larger than the four rows it returns), so that its
text is new and the engine runs it rather than reusing an earlier identical result; the record
must say `reused: false`.

It prints each variant's median, its ratio to raw DuckDB's, and the median of what the API added
in each round (the two runs of a round are next to each other in time).

Then a dashboard's query, one fixed text, ten times through the API: the first run reads the
table, the nine repeats reuse its result (`reused: true`, the same rows). It prints the first
run's time, the repeats' median and their ratio (goal: a repeat in at most 10% of the first run's
time).

Usage: python bench/query.py [size in MiB, default 1024] [rounds, default 5]
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
import requests

import sdp
from bench.data import MIB, generate_events_csv, signed_in, table_ids
from chalicelib.catalog import local_table_folder
from localplatform.runner import LocalPlatform

AGGREGATE = (
    "SELECT region, count(*) AS n, sum(amount) AS total, avg(quantity) AS mean_quantity, max(day) AS last_day "
    "FROM {table} GROUP BY region ORDER BY region"
)


DASHBOARD = AGGREGATE  # as is, with no LIMIT: a text no round of the comparison sends
REPEATS = 9


def through_api(session: requests.Session, api: str, sql: str) -> dict[str, object]:
    """The query's record, once it has SUCCEEDED, with its first page of rows."""
    submitted = session.post(f"{api}/queries", json={"sql": sql}, timeout=60)
    submitted.raise_for_status()
    record = submitted.json()
    if record["status"] == "SUCCEEDED":  # answered with an earlier result as it was submitted
        return record
    query_id = record["query_id"]
    while True:
        record = session.get(f"{api}/queries/{query_id}?wait=20", timeout=60).json()
        if record["status"] == "SUCCEEDED":
            return record
        if record["status"] != "RUNNING" and record["status"] != "QUEUED":
            raise SystemExit(f"query ended {record['status']}: {record['error']}")


def raw_duckdb(curated: Path) -> list[tuple[object, ...]]:
    """The aggregate over every Parquet file of the table's curated folder (each partition's
    `_seq=N` folder), on a fresh connection."""
    with duckdb.connect() as con:
        return con.execute(AGGREGATE.format(table=f"read_parquet('{curated}/*/*.parquet')")).fetchall()


def same(rows: list[list[object]], expected: list[list[object]]) -> bool:
    """Equal, floats within a relative 1e-9: parallel sums add in no fixed order."""

    def close(a: object, b: object) -> bool:
        return math.isclose(a, b, rel_tol=1e-9) if isinstance(a, float) and isinstance(b, float) else a == b

    return len(rows) == len(expected) and all(
        len(r) == len(e) and all(close(a, b) for a, b in zip(r, e, strict=True))
        for r, e in zip(rows, expected, strict=True)
    )


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory(prefix="sdp-bench-") as folder, LocalPlatform(api_port=0, aws_port=0) as platform:
        source = Path(folder) / "events.csv"
        rows = generate_events_csv(source, size_mib)
        api = platform.api_url
        token, tenant_id = signed_in(api)

        started = time.perf_counter()
        record = sdp.Client(api, token=token).upload(source, "events.csv")  # returns READY, or raises
        print(
            f"dataset: {source.stat().st_size / MIB:.0f} MiB CSV, {rows:,} rows, uploaded and READY in "
            f"{time.perf_counter() - started:.1f} s; {os.cpu_count()} cores"
        )
        # The table's id is no part of the API: its folder is the one the tenant's catalog holds.
        warehouse = Path(os.environ["SDP_WAREHOUSE_DIR"])
        [table_id] = table_ids(warehouse, tenant_id)
        curated = local_table_folder(warehouse, tenant_id, table_id)
        parts = sorted(curated.glob("*/*.parquet"))
        print(f"curated Parquet: {sum(part.stat().st_size for part in parts) / MIB:.0f} MiB in {len(parts)} files")

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        timings: dict[str, list[float]] = {"raw DuckDB": [], "through API": []}
        answers: dict[str, object] = {}
        for number in range(rounds):
            # A LIMIT of the round's own, above the four rows there are: a new text, never a reuse.
            sql = AGGREGATE.format(table=record.table) + f" LIMIT {1000 + number}"
            for name, run in (
                ("raw DuckDB", lambda: raw_duckdb(curated)),
                ("through API", lambda sql=sql: through_api(session, api, sql)),
            ):
                began = time.perf_counter()
                answers[name] = run()
                timings[name].append(time.perf_counter() - began)
            assert answers["through API"]["reused"] is False, answers["through API"]
        expected = [[v.isoformat() if hasattr(v, "isoformat") else v for v in row] for row in answers["raw DuckDB"]]
        assert same(answers["through API"]["rows"], expected), (answers["through API"]["rows"], expected)

        baseline = statistics.median(timings["raw DuckDB"])
        print(f"{'variant':12} {'median s':>9} {'x raw':>6}   runs")
        for name, values in timings.items():
            median = statistics.median(values)
            print(f"{name:12} {median:9.3f} {median / baseline:6.2f}   " + " ".join(f"{v:.3f}" for v in values))
        # What the API adds, round by round: less sensitive than the ratio to other work on the machine
        # slowing DuckDB down.
        added = [api - raw for api, raw in zip(timings["through API"], timings["raw DuckDB"], strict=True)]
        print(f"added by the API, median of the rounds: {statistics.median(added) * 1000:.0f} ms")

        reuse_round(session, api, DASHBOARD.format(table=record.table), expected)


def reuse_round(session: requests.Session, api: str, sql: str, expected: list[list[object]]) -> None:
    """One fixed query run 1 + REPEATS times: the first reads the table, the repeats reuse its result."""
    runs: list[tuple[float, dict[str, object]]] = []
    for _ in range(1 + REPEATS):
        began = time.perf_counter()
        answer = through_api(session, api, sql)
        runs.append((time.perf_counter() - began, answer))
    (first, answer), repeats = runs[0], runs[1:]
    assert answer["reused"] is False, answer
    assert same(answer["rows"], expected), (answer["rows"], expected)
    for _, repeat in repeats:
        assert repeat["reused"] is True, repeat
        assert repeat["rows"] == answer["rows"], (repeat["rows"], answer["rows"])
        assert repeat["stats"]["bytes_scanned"] == 0, repeat["stats"]
    median = statistics.median(seconds for seconds, _ in repeats)
    print(
        f"dashboard query, reused: first run {first:.3f} s (scanned {answer['stats']['bytes_scanned'] / MIB:.1f} MiB), "
        f"median of {REPEATS} repeats {median:.3f} s, ratio {median / first:.1%} (goal <= 10%)   repeats: "
        + " ".join(f"{seconds:.3f}" for seconds, _ in repeats)
    )


if __name__ == "__main__":
    main()
