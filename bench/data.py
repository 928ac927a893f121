"""The benchmarks' dataset: a generated CSV of events, the same for every benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
