"""Ingest of a generated CSV (1 GiB by default) against two baselines, in the same run.

Each variant runs in its own process, so its peak memory is its own (read with wait4):
  sha256sum        reading and hashing the file: the least any ingest must do
  duckdb COPY      DuckDB alone: COPY (FROM read_csv(file)) TO parquet, types from its sample
  platform ingest  the pipeline's own code on the same file: one streaming read (copy to scratch
                   and SHA-256), detection by content, the strict typed read, zstd Parquet

The file is read once before the variants run (it is in the page cache for all of them), and
pending disk writes are flushed before each, so that no variant pays for another's.

Every variant runs ROUNDS times, interleaved (this machine's disk and page cache are noisy); the
figures are medians, peak memory the largest seen.

Usage: python bench/ingest.py [size in MiB, default 1024] [rounds, default 3]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import MIB, ROOT, generate_events_csv

SHA256SUM = ["sha256sum", "{source}"]

DUCKDB_COPY = """
import duckdb, sys
duckdb.sql("SET enable_progress_bar = false")
out = sys.argv[2] + "/baseline.parquet"
duckdb.sql(f"COPY (FROM read_csv('{sys.argv[1]}')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
"""

PLATFORM_INGEST = """
import time
started = time.perf_counter()
import json, shutil, sys
from pathlib import Path
from chalicelib.ingest.convert import Limits
from chalicelib.ingest.detect import detect
from chalicelib.ingest.pipeline import READ_CHUNK_BYTES, convert, fetch
from chalicelib.settings import Settings

source, scratch = Path(sys.argv[1]), Path(sys.argv[2])
def chunks():
    with source.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK_BYTES):
            yield chunk
marks = [time.perf_counter()]
fetched = fetch(chunks(), scratch, source.stat().st_size)
marks.append(time.perf_counter())
detected = detect(fetched.head, fetched.tail, fetched.compression)
marks.append(time.perf_counter())
limits = Limits(memory=Settings.model_fields["ingest_memory_limit"].default)
converted = convert(fetched, detected, scratch, limits)
marks.append(time.perf_counter())
shutil.rmtree(scratch)  # as the pipeline does after every file
marks.append(time.perf_counter())
phases = {"imports": marks[0] - started, "read + SHA-256": marks[1] - marks[0], "detect": marks[2] - marks[1],
          "typed read to Parquet": marks[3] - marks[2], "clean up": marks[4] - marks[3]}
print(json.dumps({"rows": converted.row_count, "types": [c.type.athena for c in converted.columns], "phases": phases}))
"""


def run(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB and stdout of one child process."""
    started = time.perf_counter()
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=environment)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{argv[:3]} failed with status {status}")
    return elapsed, usage.ru_maxrss / 1024, output


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    with tempfile.TemporaryDirectory(prefix="sdp-bench-") as folder:
        source = Path(folder) / "events.csv"
        rows = generate_events_csv(source, size_mib)
        actual = source.stat().st_size
        # Into the page cache, as it is for every variant after. Output discarded: a child's peak
        # RSS starts at its parent's (Linux), so the parent must stay small.
        subprocess.run(["cat", str(source)], stdout=subprocess.DEVNULL, check=True)
        print(f"file: {actual / MIB:.0f} MiB, {rows:,} rows, {os.cpu_count()} cores")

        variants = {
            "sha256sum": lambda: [arg.format(source=source) for arg in SHA256SUM],
            "duckdb COPY": lambda: [sys.executable, "-c", DUCKDB_COPY, str(source), tempfile.mkdtemp(dir=folder)],
            "platform ingest": lambda: [
                sys.executable,
                "-c",
                PLATFORM_INGEST,
                str(source),
                tempfile.mkdtemp(dir=folder),
            ],
        }
        runs: dict[str, list[tuple[float, float, str]]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, argv in variants.items():
                command = argv()
                os.sync()  # each variant starts with no writes of the one before still pending
                runs[name].append(run(command))
                for leftover in Path(folder).iterdir():  # outputs of the run, not the source
                    if leftover.is_dir():
                        shutil.rmtree(leftover)
        seconds = {name: statistics.median(r[0] for r in results) for name, results in runs.items()}
        baseline = seconds["duckdb COPY"]
        print(f"{'variant':18} {'median s':>9} {'x COPY':>7} {'peak RSS MiB':>13}   runs")
        for name, results in runs.items():
            rss = max(r[1] for r in results)
            each = " ".join(f"{r[0]:.2f}" for r in results)
            print(f"{name:18} {seconds[name]:9.2f} {seconds[name] / baseline:7.2f} {rss:13.0f}   {each}")
        reports = [json.loads(r[2]) for r in runs["platform ingest"]]
        assert all(report["rows"] == rows for report in reports), reports
        print(f"ingest: {reports[0]['rows']:,} rows, types {reports[0]['types']}")
        phases = {
            name: statistics.median(report["phases"][name] for report in reports) for name in reports[0]["phases"]
        }
        print("ingest phases (median): " + ", ".join(f"{name} {value:.2f}s" for name, value in phases.items()))


if __name__ == "__main__":
    main()
