"""The local engine on its own: result downloads, uploads that fail, stopping it, each tenant's
own threads, when a query's time starts, and DuckDB's own statement split."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from chalicelib.queries.guard import ForbiddenSql, Guarded, guard
from chalicelib.queries.host import QueryHost, memory_bytes
from chalicelib.queries.local import LocalEngine, QueryLimits
from chalicelib.queries.store import QueryRecord, QueryState
from tests.api import ENDLESS_QUERY


def _engine(
    tmp_path: Path, results: Any, limits: QueryLimits | None = None, ends: list[Any] | None = None
) -> LocalEngine:
    """An engine whose results bucket is `results` for every tenant, noting each end it records in `ends`."""
    noted = [] if ends is None else ends
    return LocalEngine(
        tmp_path,
        lambda _tenant_id: results,
        "results-bucket",
        limits or QueryLimits(),
        record_end=lambda record, execution: noted.append((record.query_id, execution)),
    )


class SlowResults:
    """A results bucket that takes its time to store anything."""

    def __init__(self) -> None:
        self.stored: list[str] = []

    def upload(self, path: Path, key: str, content_type: str) -> None:
        time.sleep(0.5)
        self.stored.append(key)


class FlakyResults:
    """A results bucket whose first upload fails, as S3 sometimes does."""

    def __init__(self) -> None:
        self.attempts = 0
        self.stored: dict[str, str] = {}

    def upload(self, path: Path, key: str, content_type: str) -> None:
        self.attempts += 1
        if self.attempts == 1:
            raise ConnectionError("S3 is unreachable")
        self.stored[key] = path.read_text()


def test_the_csv_is_written_and_uploaded_when_first_asked_for_and_a_failed_upload_made_again(tmp_path: Path) -> None:
    results = FlakyResults()
    engine = _engine(tmp_path, results)
    record = _submitted(engine, "SELECT 1 AS one")
    engine.wait(record, 20)
    assert engine.status(record).state is QueryState.SUCCEEDED
    assert engine.page(record, None, 10).rows == [[1]]
    assert results.attempts == 0  # a query's end uploads nothing

    with pytest.raises(ConnectionError):
        engine.result_object(record)
    bucket, key = engine.result_object(record)
    assert (bucket, key) == ("results-bucket", "tenants/T1/queries/Q1/results.csv")
    assert results.stored == {key: "one\n1\n"}
    assert results.attempts == 2
    engine.result_object(record)
    assert results.attempts == 2  # uploaded once


def test_downloads_asked_for_at_once_upload_once(tmp_path: Path) -> None:
    results = SlowResults()
    engine = _engine(tmp_path, results)
    record = _submitted(engine, "SELECT 1 AS one")
    engine.wait(record, 20)
    with ThreadPoolExecutor(4) as pool:
        keys = list(pool.map(lambda _: engine.result_object(record)[1], range(4)))
    assert keys == ["tenants/T1/queries/Q1/results.csv"] * 4
    assert results.stored == ["tenants/T1/queries/Q1/results.csv"]
    engine.close()


def _submitted(engine: LocalEngine, sql: str, tenant: str = "T1", query_id: str = "Q1") -> QueryRecord:
    record = QueryRecord(tenant, "U1", query_id, sql, QueryState.QUEUED, "2026-01-01T00:00:00.000Z")
    engine.submit(record, engine.statement(tenant, guard(sql, {}, "db"), {}), {})
    return record


def _until(engine: LocalEngine, record: QueryRecord, state: QueryState, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while engine.status(record).state is not state:
        assert time.monotonic() < deadline, f"{record.query_id} is {engine.status(record).state}, not {state}"
        time.sleep(0.01)


def test_closing_cancels_a_running_query(tmp_path: Path) -> None:
    engine = _engine(tmp_path, SlowResults())
    record = _submitted(engine, ENDLESS_QUERY)
    _until(engine, record, QueryState.RUNNING)
    engine.close()
    assert engine.status(record).state is QueryState.CANCELLED


def test_a_cancel_at_any_moment_of_a_query_stops_it(tmp_path: Path) -> None:
    # DuckDB forgets an interrupt that comes between two of a query's statements: whenever the
    # cancel comes, the query must still stop, never run on to its end.
    engine = _engine(tmp_path, SlowResults())
    records = []
    for n, delay in enumerate((0, 0.001, 0.005, 0.02, 0.05, 0.1, 0.3)):
        record = _submitted(engine, ENDLESS_QUERY, query_id=f"Q{n}")
        time.sleep(delay)
        engine.cancel(record)
        records.append(record)
    for record in records:
        _until(engine, record, QueryState.CANCELLED)
    engine.close()


class _SlowToSendRuns(QueryHost):
    """The query process, reached by a thread that is slow to send each run (as a busy machine's
    scheduler may leave it between deciding to send and sending)."""

    def start_run(self, query_id: str, readable: Path, sql: str, result: Path) -> Any:
        time.sleep(0.3)
        return super().start_run(query_id, readable, sql, result)


def test_a_cancel_while_the_run_is_being_sent_still_stops_the_query(tmp_path: Path) -> None:
    """The stop must never reach the query process before the run it stops: the process would
    take it for a query that has ended, and the query would run on for ever."""
    limits = QueryLimits()
    engine = LocalEngine(
        tmp_path,
        lambda _tenant_id: SlowResults(),
        "results-bucket",
        limits,
        record_end=lambda *_: None,
        host=_SlowToSendRuns(limits.host),
    )
    record = _submitted(engine, ENDLESS_QUERY)
    time.sleep(0.1)  # the run is on its way to the process
    engine.cancel(record)
    _until(engine, record, QueryState.CANCELLED)
    engine.close()


def test_one_tenants_slow_queries_do_not_hold_up_another_tenants(tmp_path: Path) -> None:
    limits = QueryLimits(workers_per_tenant=2)
    engine = _engine(tmp_path, SlowResults(), limits)
    busy = [_submitted(engine, ENDLESS_QUERY, tenant="BUSY", query_id=f"Q{n}") for n in range(3)]
    _until(engine, busy[0], QueryState.RUNNING)
    _until(engine, busy[1], QueryState.RUNNING)
    assert engine.status(busy[2]).state is QueryState.QUEUED  # waits for one of its own tenant's
    assert engine.status(busy[2]).started is None

    other = _submitted(engine, "SELECT 42 AS answer", tenant="OTHER", query_id="Q9")
    engine.wait(other, 20)
    assert engine.status(other).state is QueryState.SUCCEEDED
    assert engine.page(other, None, 10).rows == [[42]]

    engine.cancel(busy[0])
    _until(engine, busy[2], QueryState.RUNNING)  # its tenant's thread is free again
    engine.close()
    assert [engine.status(record).state for record in busy] == [QueryState.CANCELLED] * 3


def test_a_querys_time_runs_from_when_it_starts_not_while_it_waits(tmp_path: Path) -> None:
    limits = QueryLimits(workers_per_tenant=1, timeout_seconds=1)
    engine = _engine(tmp_path, SlowResults(), limits)
    submitted = time.time()
    slow = _submitted(engine, ENDLESS_QUERY, query_id="Q1")
    waiting = _submitted(engine, "SELECT 1 AS one", query_id="Q2")
    engine.wait(slow, 20)
    engine.wait(waiting, 20)

    timed_out = engine.status(slow)
    assert (timed_out.state, timed_out.error) == (
        QueryState.FAILED,
        {"code": "query_timeout", "message": "The query ran past its time limit of 1 s."},
    )
    ran = engine.status(waiting)
    assert ran.state is QueryState.SUCCEEDED  # over a second after submission, yet within its own second
    assert timed_out.started is not None
    assert ran.started is not None
    assert ran.started >= timed_out.started + 1 > submitted + 1
    engine.close()


def test_duckdbs_own_split_refuses_what_is_not_one_select(tmp_path: Path) -> None:
    # Should a text that is not one SELECT ever reach the engine, DuckDB's own split stops it. A
    # function name with statements inside, written out as it is, is what such a bug could look like.
    engine = _engine(tmp_path, SlowResults())
    for n, smuggled in enumerate(
        ("abs(1); SELECT abs", "abs(1); CHECKPOINT; SELECT abs", "abs(1); SET threads = 1; SELECT abs")
    ):
        record = QueryRecord("T1", "U1", f"S{n}", "SELECT x", QueryState.QUEUED, "2026-01-01T00:00:00.000Z")
        engine.submit(record, f"SELECT {smuggled}(1) AS one", {})
        engine.wait(record, 20)
        outcome = engine.status(record)
        assert (outcome.state, outcome.error) == (
            QueryState.FAILED,
            {"code": "forbidden_sql", "message": "Only one read-only query is allowed."},
        ), smuggled
    engine.close()


def test_the_engine_judges_its_own_text_and_refuses_what_was_not_judged(tmp_path: Path) -> None:
    # The same smuggled name in a tree that skipped the guard: the text DuckDB would be given is
    # parsed again as DuckDB reads it, and its second statement (or unknown function) is refused
    # before anything runs.
    engine = _engine(tmp_path, SlowResults())
    for smuggled in ("abs(1); SELECT abs", "abs(1), current_setting('memory_limit'), abs", "read_text"):
        call = sqlglot.exp.Anonymous(this=smuggled, expressions=[sqlglot.exp.Literal.number(1)])
        tree = sqlglot.exp.select(sqlglot.exp.alias_(call, "one"))
        with pytest.raises(ForbiddenSql):
            engine.statement("T1", Guarded(tree, frozenset()), {})
    engine.close()


def test_each_end_is_recorded_by_the_thread_that_ran_it_and_a_failed_write_left_to_readers(tmp_path: Path) -> None:
    ends: list[Any] = []
    engine = _engine(tmp_path, SlowResults(), QueryLimits(workers_per_tenant=1), ends)
    done = _submitted(engine, "SELECT 1 AS one", query_id="Q1")
    engine.wait(done, 20)
    running = _submitted(engine, ENDLESS_QUERY, query_id="Q2")
    waiting = _submitted(engine, "SELECT 2 AS two", query_id="Q3")  # behind Q2 on the tenant's one thread
    _until(engine, running, QueryState.RUNNING)
    engine.close()  # cancels the one running and the one still waiting
    assert [(query_id, e.state, e.recorded_by_engine) for query_id, e in ends] == [
        ("Q1", QueryState.SUCCEEDED, True),
        ("Q2", QueryState.CANCELLED, True),
        ("Q3", QueryState.CANCELLED, True),
    ]
    assert [engine.status(r) for r in (done, running, waiting)] == [e for _, e in ends]
    started, ended = ends[0][1].started, ends[0][1].ended
    assert started is not None
    assert ended is not None
    assert ended >= started

    def unreachable(record: QueryRecord, execution: Any) -> None:
        raise ConnectionError("DynamoDB is unreachable")

    failing = LocalEngine(tmp_path / "f", lambda _: None, "unused", QueryLimits(), record_end=unreachable)
    record = _submitted(failing, "SELECT 1 AS one", query_id="Q4")
    failing.wait(record, 20)
    failing.close()  # once its thread is done
    left = failing.status(record)
    assert (left.state, left.recorded_by_engine) == (QueryState.SUCCEEDED, False)  # the next reader writes it


def test_a_query_whose_engine_process_is_killed_fails_saying_so_and_the_next_one_runs(tmp_path: Path) -> None:
    engine = _engine(tmp_path, SlowResults())
    record = _submitted(engine, ENDLESS_QUERY)
    _until(engine, record, QueryState.RUNNING)
    deadline = time.monotonic() + 30
    while not engine.status(record).state.finished:  # killed until the process that runs it is gone
        assert time.monotonic() < deadline
        pid = engine.host.pid
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    outcome = engine.status(record)
    assert (outcome.state, outcome.error) == (
        QueryState.FAILED,
        {
            "code": "query_failed",
            "message": "The local query engine stopped before the query ended: its process was stopped by signal 9.",
        },
    )
    following = _submitted(engine, "SELECT 7 AS seven", query_id="Q2")
    engine.wait(following, 20)
    assert engine.page(following, None, 10).rows == [[7]]
    engine.close()


@pytest.mark.parametrize(
    ("limit", "size"), [("1GB", 10**9), ("100MB", 10**8), ("512MiB", 512 * 1024**2), ("1.5GB", 15 * 10**8)]
)
def test_memory_limits_are_read_as_duckdb_reads_them(limit: str, size: int) -> None:
    assert memory_bytes(limit) == size
