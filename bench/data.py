"""The benchmarks' dataset: a generated CSV of events, the same for every benchmark; and what the
benchmarks of the local platform share (an account, where its tables are)."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Correct-Horse-9!"  # noqa: S105 - a throwaway local account
MIB = 1024 * 1024
ROW_BYTES = 75  # about, as generated below

GENERATE = """
import duckdb, sys
rows = int(sys.argv[2])
duckdb.sql("SET enable_progress_bar = false")
duckdb.sql(f'''
COPY (
  SELECT i AS id,
         TIMESTAMP '2024-01-01' + INTERVAL (i % 86400000) SECOND AS event_time,
         DATE '2020-01-01' + (i % 2000)::INTEGER AS day,
         round((i * 7919 % 1000003) / 100.0, 2) AS amount,
         i % 97 AS quantity,
         ['north', 'south', 'east', 'west'][1 + i % 4] AS region,
         CASE WHEN i % 5 = 0 THEN 'with, a comma' ELSE 'plain note ' || (i % 1000)::VARCHAR END AS note,
         i % 2 = 0 AS flag
  FROM range({rows}) t(i)
) TO '{sys.argv[1]}' (HEADER, DELIMITER ',')''')
"""


def generate_events_csv(path: Path, size_mib: int) -> int:
    """Write about `size_mib` MiB of events CSV at `path` (in a child process); the row count."""
    rows = size_mib * MIB // ROW_BYTES
    subprocess.run([sys.executable, "-c", GENERATE, str(path), str(rows)], check=True)
    return rows


def small_file(number: int, *, refused_every: int = 0) -> tuple[str, bytes]:
    """A small file, the `number`th: CSV, TSV, JSON Lines or Parquet in turn, 2 to 41 rows. With
    `refused_every` n, every nth is bytes no format reads (the ingest refuses it)."""
    rows = number % 40 + 2
    if refused_every and number % refused_every == refused_every - 1:
        return f"broken{number}.csv", b"\x00\x01binary\xff" * 20
    match number % 4:
        case 0:
            body = "".join(f'{{"id": {n}, "name": "n{n}", "price": {n * 1.25}}}\n' for n in range(rows))
            return f"items{number}.jsonl", body.encode()
        case 1:
            return f"items{number}.parquet", _parquet_of(rows)
        case 2:
            body = "".join(f"{n}\tr{n % 5}\t2024-01-{1 + n % 28:02d}\n" for n in range(rows))
            return f"sales{number}.tsv", b"id\tregion\tday\n" + body.encode()
        case _:
            body = "".join(f"{n},r{n % 5},{n * 0.5}\n" for n in range(rows))
            return f"sales{number}.csv", b"id,region,amount\n" + body.encode()


@functools.lru_cache(maxsize=64)
def _parquet_of(rows: int) -> bytes:
    """A small Parquet file of `rows` rows; made once per row count (making one takes a DuckDB
    connection, in the same process as the platform a benchmark measures)."""
    import tempfile

    import duckdb

    with tempfile.TemporaryDirectory() as folder, duckdb.connect() as connection:  # one per caller's thread
        path = Path(folder) / "small.parquet"
        query = "SELECT range AS id, 'v' || range AS label FROM range($rows)"
        connection.sql(query, params={"rows": rows}).write_parquet(str(path))
        return path.read_bytes()


def resident_mib(process: int | str = "self") -> float:
    """A process's resident memory (VmRSS), in MiB; this process's by default."""
    with open(f"/proc/{process}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{process}/status")


def resident_with_children_mib() -> float:
    """This process's resident memory and its children's (the local platform's: the local AWS's
    process, the local query engine's), in MiB."""
    children: set[str] = set()
    for listed in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            children.update(listed.read_text().split())
    total = resident_mib()
    for child in children:
        with contextlib.suppress(FileNotFoundError):  # a child that ended meanwhile
            total += resident_mib(child)
    return total


class Run(NamedTuple):
    """One child process, measured."""

    seconds: float  # wall time
    cpu: float  # user + system seconds: steadier than wall time on a machine others use too
    rss_mib: float  # peak (wait4); note that a child's peak starts at its parent's
    output: str  # what it wrote to stdout


def measure(argv: list[str], environment: dict[str, str] | None = None, cwd: Path = ROOT) -> Run:
    """Run `argv` to its end and measure it; its standard error is left to the terminal."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, text=True, env=environment)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{argv[:3]} failed with status {status}")
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output)


def signed_in(api: str) -> tuple[str, str]:
    """A new account (bench@example.com) on the local platform at `api`, logged in: its ID token and
    its tenant's id."""
    import requests

    account = {"email": "bench@example.com", "password": PASSWORD}
    requests.post(f"{api}/auth/signup", json=account, timeout=60).raise_for_status()
    token = requests.post(f"{api}/auth/login", json=account, timeout=60).json()["id_token"]
    me = requests.get(f"{api}/me", headers={"Authorization": f"Bearer {token}"}, timeout=60).json()
    return token, me["tenant_id"]


def table_ids(warehouse: Path, tenant_id: str) -> set[str]:
    """The ids of the tenant's tables in the local catalog (chalicelib/catalog.py)."""
    from chalicelib.catalog import local_table_folder

    tables = local_table_folder(warehouse, tenant_id, "any").parent
    return {folder.name for folder in tables.iterdir()} if tables.is_dir() else set()
