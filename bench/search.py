"""How fast is a search of a tenant's files and tables, against the plain listing?

The local platform runs from this process, as bench/scale.py runs it, and one tenant is filled
through the API with small generated files (CSV, TSV, JSON Lines, Parquet in turn: bench/data.py),
each its own table. At each size (default 1,000 and 10,000 files) each search below is asked for
a first page of 10, one request at a time, and its p50 and p99 printed in milliseconds and as a
ratio to the plain listing of the same collection (`GET /files?limit=10`, `GET /tables?limit=10`),
measured in turns with it in the same run.

A search reads the tenant's items in pages of up to 1 MB and keeps those that match until the
page is full: one that matches few items reads them all (the worst case), one that matches many
stops early. The searches cover both.

Usage: python bench/search.py [sizes, default 1000,10000] [samples, default 30] [clients, default 4]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scale import Tenant, fill, percentile

GOAL_MS = 300
SEARCHES = {
    # (what it finds, the listing it is compared with): path
    "files, one name (reads every item)": ("/files", "/files?q=items1037.jsonl&limit=10"),
    "files, a common name": ("/files", "/files?q=sales&limit=10"),
    "files, a column name": ("/files", "/files?q=amount&limit=10"),
    "files, status FAILED (none)": ("/files", "/files?status=FAILED&limit=10"),
    "files, format and column type": ("/files", "/files?format=tsv&column_type=date&limit=10"),
    "tables, one name (reads every item)": ("/tables", "/tables?q=items1037&limit=10"),
    "tables, a column type": ("/tables", "/tables?column_type=double&limit=10"),
}


def timed(tenant: Tenant, path: str) -> float:
    started = time.perf_counter()
    tenant.call("GET", path)
    return time.perf_counter() - started


def main() -> None:
    sizes = [int(size) for size in (sys.argv[1] if len(sys.argv) > 1 else "1000,10000").split(",")]
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("SDP_QUOTA_FILES", str(max(sizes) + 100))

    from localplatform.runner import LocalPlatform

    with LocalPlatform(api_port=0, aws_port=0) as platform:
        tenant = Tenant(platform.api_url)
        for size in sizes:
            rate = fill(tenant, size, clients)
            seconds: dict[str, list[float]] = {path: [] for path in ("/files", "/tables")}
            seconds |= {name: [] for name in SEARCHES}
            for _ in range(samples):  # in turns: the machine's speed drifts alike for all
                for listing in ("/files", "/tables"):
                    seconds[listing].append(timed(tenant, f"{listing}?limit=10"))
                for name, (_, path) in SEARCHES.items():
                    seconds[name].append(timed(tenant, path))
            print(f"\n{len(tenant.files)} files (filled at {rate:.1f} files/s); goal: a search answers in {GOAL_MS} ms")
            print(f"  {'request':40} {'p50 ms':>8} {'p99 ms':>8} {'p50 / listing':>14}")
            for name in ("/files", "/tables", *SEARCHES):
                p50, p99 = statistics.median(seconds[name]), percentile(seconds[name], 0.99)
                listing = SEARCHES[name][0] if name in SEARCHES else name
                ratio = p50 / statistics.median(seconds[listing])
                print(f"  {name:40} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {ratio:14.2f}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
