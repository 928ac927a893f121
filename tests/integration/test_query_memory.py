"""SQL that builds values outside DuckDB's memory limit (long text, lists on every row, lists of
lists) cannot take the platform's memory: several such queries at once leave the local engine's
process under its memory limit plus 256 MiB, each failing with a clear message, and the platform's
own process holds none of it. Measured as resident memory, in the processes themselves."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest

from chalicelib.queries.dialect import MAX_PADDED_CHARS, LocalLimitation
from chalicelib.queries.engine import TableInfo
from chalicelib.queries.guard import guard
from chalicelib.queries.host import MEMORY_MARGIN, memory_bytes
from chalicelib.queries.local import LocalEngine, QueryLimits
from chalicelib.queries.store import QueryRecord, QueryState

TENANT = "01AAAAAAAAAAAAAAAAAAAAAAAA"
LIMIT = "100MB"  # the engine's memory limit, scaled down: the margin is what is measured
MIB = 1024**2

# Each builds its values outside DuckDB's own accounting, gigabytes of them without the cap.
BUILDERS = [
    "SELECT flatten(transform(sequence(1, 9999), x -> sequence(1, 9999)))",  # 10^8 elements in one value
    "SELECT repeat(rpad('z', 100000, 'z'), 9999)",  # a billion characters in one list
    "SELECT sequence(1, 9999) FROM big",  # a list of Athena's largest on each of 200,000 rows
    "SELECT transform(sequence(1, 9999), x -> rpad(s, 50000, 'y')) FROM big",
]


def _status(pid: int, field: str) -> int:
    """A field of /proc/<pid>/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    folder = tmp_path / TENANT / "tables" / "F1" / "_seq=1"
    folder.mkdir(parents=True)
    duckdb.sql("SELECT range AS id, 'x' || range AS s FROM range(200000)").write_parquet(str(folder / "part-0.parquet"))
    engine = LocalEngine(tmp_path, lambda _: None, "results", QueryLimits(memory=LIMIT), record_end=lambda *_: None)  # type: ignore[arg-type,return-value]
    yield engine
    engine.close()


def _submit(engine: LocalEngine, sql: str, query_id: str) -> QueryRecord:
    table = TableInfo("big", "F1", [{"name": "id", "type": "bigint"}, {"name": "s", "type": "varchar"}], 1, next_seq=2)
    guarded = guard(sql, ["big"], "db")
    reads = {"big": table} if guarded.tables else {}
    record = QueryRecord(TENANT, "U1", query_id, sql, QueryState.QUEUED, "2026-01-01T00:00:00.000Z")
    engine.submit(record, engine.statement(TENANT, guarded, reads), reads)
    return record


def _ended(engine: LocalEngine, record: QueryRecord) -> Any:
    engine.wait(record, 120)
    execution = engine.status(record)
    assert execution.state.finished, f"{record.sql} still {execution.state}"
    return execution


def test_queries_that_build_values_outside_duckdbs_limit_stay_within_the_engines_memory(engine: LocalEngine) -> None:
    first = _ended(engine, _submit(engine, "SELECT count(*) FROM big", "Q0"))
    assert first.state is QueryState.SUCCEEDED
    host = engine.host.pid
    assert host is not None
    resident_before = _status(host, "VmRSS")
    platform_before = _status(os.getpid(), "VmRSS")

    with _PeakWatch(engine) as watch:
        records = [_submit(engine, sql, f"B{n}") for n, sql in enumerate(BUILDERS)]  # all at once
        outcomes = [_ended(engine, record) for record in records]

    assert watch.peak - resident_before <= memory_bytes(LIMIT) + MEMORY_MARGIN, f"grew {watch.peak // MIB} MiB"
    assert _status(os.getpid(), "VmRSS") - platform_before < 64 * MIB  # the data is never here
    for sql, outcome in zip(BUILDERS, outcomes, strict=True):
        assert outcome.state is QueryState.FAILED, sql
        message = outcome.error["message"]
        # DuckDB ends the query out of memory; where it cannot recover, the process ends and says so
        assert "needs more memory than the local engine allows (100MB)" in message or "ran out of memory" in message
    after = _ended(engine, _submit(engine, "SELECT max(id) FROM big", "Q1"))
    assert after.state is QueryState.SUCCEEDED  # the engine goes on
    # in a new process: the allocator keeps what it mapped for the failed queries, so one that ran
    # out of memory is replaced the next time nothing waits for it
    assert engine.host.pid not in (None, host)
    assert engine.page(_record("Q1", "SELECT max(id) FROM big"), None, 10).rows == [[199999]]


class _PeakWatch:
    """The highest resident memory the engine's process reaches while watched (the process of the
    moment: should one end, the next one started is watched)."""

    def __init__(self, engine: LocalEngine) -> None:
        self._engine = engine
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self.peak = 0

    def __enter__(self) -> _PeakWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._done.wait(0.005):
            pid = self._engine.host.pid
            with contextlib.suppress(OSError, AssertionError):  # it may end between two looks
                self.peak = max(self.peak, _status(pid, "VmHWM")) if pid else self.peak


def test_padding_beyond_the_cap_is_refused_before_it_runs_or_as_it_runs(engine: LocalEngine) -> None:
    with pytest.raises(LocalLimitation, match=f"rpad\\(\\) would make text longer than {MAX_PADDED_CHARS}"):
        engine.statement(TENANT, guard("SELECT rpad('x', 300000000, 'y')", [], "db"), {})
    computed = _ended(engine, _submit(engine, "SELECT lpad(s, CAST(id AS integer) * 100, '0') FROM big", "P1"))
    assert computed.state is QueryState.FAILED
    assert f"lpad() would make text longer than {MAX_PADDED_CHARS} characters" in computed.error["message"]
    within = _ended(engine, _submit(engine, "SELECT lpad(s, 6, '0') FROM big WHERE id = 7", "P2"))
    assert within.state is QueryState.SUCCEEDED
    assert engine.page(_record("P2", ""), None, 10).rows == [["0000x7"]]


def _record(query_id: str, sql: str) -> QueryRecord:
    return QueryRecord(TENANT, "U1", query_id, sql, QueryState.SUCCEEDED, "2026-01-01T00:00:00.000Z")
