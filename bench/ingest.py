"""Ingest of a generated CSV (1 GiB by default) against two baselines, in the same run.

Each variant runs in its own process, so its peak memory is its own (read with wait4):
  sha256sum        reading and hashing the file: the least any ingest must do
  duckdb COPY      DuckDB alone: COPY (FROM read_csv(file)) TO parquet, types from its sample
  platform ingest  the pipeline's own code on the same file: one streaming read (copy to scratch
                   and SHA-256), detection by content, the strict typed read to zstd Parquet,
                   piece by piece while the rest is still being read

The file is read once before the variants run (it is in the page cache for all of them), and
pending disk writes are flushed before each, so that no variant pays for another's.

Every variant runs ROUNDS times, interleaved (this machine's disk and page cache are noisy, and
other processes may share its cores); the figures are medians, peak memory the largest seen, and
CPU seconds (user + system) are given beside wall time, as they depend less on what else runs.

A fourth variant runs the platform ingest with the file arriving at a fixed rate (100 MiB/s by
default), as S3 streams an object to one Lambda function: the conversion overlaps the read there,
and the figure to watch is how long ingest takes after the last byte has arrived.

Usage: python bench/ingest.py [size in MiB, default 1024] [rounds, default 3] [MiB/s, default 100]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import MIB, ROOT, Run, generate_events_csv, measure

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
from chalicelib.ingest.convert import ConversionDatabase
from chalicelib.ingest.limits import Budget, Limits
from chalicelib.ingest.stream import READ_CHUNK_BYTES, Seen, read_object
from chalicelib.settings import Settings

source, scratch, rate = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
marks = {}
def chunks():
    begun, sent = time.perf_counter(), 0
    with source.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK_BYTES):
            sent += len(chunk)
            if rate and (ahead := sent / rate - (time.perf_counter() - begun)) > 0:
                time.sleep(ahead)  # bytes arrive no faster than a network would bring them
            yield chunk
    marks["read"] = time.perf_counter()
marks["imports"] = time.perf_counter()
limits = Limits.from_settings(Settings.model_construct())  # the defaults
seen = Seen()
with ConversionDatabase(scratch, limits) as database:  # opened cold, as a container's first file opens it
    size = source.stat().st_size
    detected, converted = read_object(chunks(), scratch, size, limits, Budget.unlimited(), seen, database)
marks["converted"] = time.perf_counter()
shutil.rmtree(scratch)  # as the pipeline does after every file
marks["clean up"] = time.perf_counter()
phases = {
    "imports": marks["imports"] - started,
    "read + SHA-256 (pieces converted meanwhile)": marks["read"] - marks["imports"],
    "typed read after the last byte": marks["converted"] - marks["read"],
    "clean up": marks["clean up"] - marks["converted"],
}
print(json.dumps({"rows": converted.row_count, "types": [c.type.athena for c in converted.columns], "phases": phases,
                  "pieces": len(seen.fetched.pieces)}))
"""


def run(argv: list[str]) -> Run:
    """One child process, measured, with the repository on its path."""
    return measure(argv, {**os.environ, "PYTHONPATH": str(ROOT)})


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rate_mib = float(sys.argv[3]) if len(sys.argv) > 3 else 100.0
    streamed = f"ingest at {rate_mib:g} MiB/s"
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
                "0",
            ],
            streamed: lambda: [
                sys.executable,
                "-c",
                PLATFORM_INGEST,
                str(source),
                tempfile.mkdtemp(dir=folder),
                str(rate_mib * MIB),
            ],
        }
        runs: dict[str, list[Run]] = {name: [] for name in variants}
        for _ in range(rounds):
            for name, argv in variants.items():
                command = argv()
                os.sync()  # each variant starts with no writes of the one before still pending
                runs[name].append(run(command))
                for leftover in Path(folder).iterdir():  # outputs of the run, not the source
                    if leftover.is_dir():
                        shutil.rmtree(leftover)
        seconds = {name: statistics.median(r.seconds for r in results) for name, results in runs.items()}
        # Each round's ratio too: rounds next to each other share the machine's load of the moment.
        ratios = [i.seconds / c.seconds for i, c in zip(runs["platform ingest"], runs["duckdb COPY"], strict=True)]
        baseline = seconds["duckdb COPY"]
        print(f"{'variant':18} {'median s':>9} {'x COPY':>7} {'CPU s':>6} {'peak RSS MiB':>13}   runs")
        for name, results in runs.items():
            rss = max(r.rss_mib for r in results)
            cpu = statistics.median(r.cpu for r in results)
            each = " ".join(f"{r.seconds:.2f}" for r in results)
            print(f"{name:18} {seconds[name]:9.2f} {seconds[name] / baseline:7.2f} {cpu:6.2f} {rss:13.0f}   {each}")
        print("ingest / COPY, round by round: " + " ".join(f"{ratio:.2f}" for ratio in ratios))
        print(f"median of the rounds' ratios: {statistics.median(ratios):.2f}")
        for variant in ("platform ingest", streamed):
            reports = [json.loads(r.output) for r in runs[variant]]
            assert all(report["rows"] == rows for report in reports), reports
            phases = {
                name: statistics.median(report["phases"][name] for report in reports) for name in reports[0]["phases"]
            }
            print(f"{variant}: {reports[0]['rows']:,} rows in {reports[0]['pieces']} pieces; phases (median):")
            print("  " + ", ".join(f"{name} {value:.2f}s" for name, value in phases.items()))
        print(f"types: {reports[0]['types']}; reading alone at {rate_mib:g} MiB/s takes {actual / MIB / rate_mib:.2f}s")


if __name__ == "__main__":
    main()
