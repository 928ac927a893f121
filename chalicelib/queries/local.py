"""The local engine: DuckDB, since moto does not execute Athena SQL.

Each tenant has a DuckDB database of its own that can read only that tenant's warehouse folder
(`allowed_directories`, `enable_external_access=false`), loads no extension, spills to the
tenant's folder, stops a query at its time limit, holds the tenant's queries to its memory limit,
and cannot change any of that (`lock_configuration`). Those settings belong to a database, not to
a connection, which is why tenants never share one. The databases live in a process of their own
(host.py), whose memory the kernel caps at the memory limit plus a margin: what DuckDB builds
outside its own limit (long strings, lists) cannot take the platform down. Each query is run by a
background thread here that waits for that process's answer; each tenant has its own few threads,
so that one tenant's slow queries never hold up another's, and a query's time limit runs from
when it starts.

The guarded query is translated to DuckDB's dialect (dialect.py), each table read straight from its
curated Parquet files. Results are written as Parquet, for pages; the first rows are also kept
with the query's state, so that the first page, all of most results, is answered without DuckDB.
A query's end is written to its job (`record_end`) by the thread that ran it, as it ends: the
tenant's slot is given back whether or not anyone asks, and a request waiting for the end answers
without writing it.
A result's CSV is written and uploaded to the tenant's result prefix in S3, where Athena writes its
own, when it is first asked for.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from chalicelib.catalog import SEQ_COLUMN, local_table_folder
from chalicelib.column_bytes import ColumnBytes, column_bytes_by_file
from chalicelib.files.objects import ObjectStore
from chalicelib.keys import result_prefix
from chalicelib.observability import logger
from chalicelib.queries.dialect import LocalLimitation, to_duckdb
from chalicelib.queries.engine import (
    SCAN_LIMIT_EXCEEDED,
    Execution,
    Page,
    QueryRejected,
    TableInfo,
    error,
    timed_out,
)
from chalicelib.queries.guard import ForbiddenSql, Guarded
from chalicelib.queries.host import HostFailure, HostLimits, QueryHost
from chalicelib.queries.result_cache import Kept, ResultCache
from chalicelib.queries.store import QueryRecord, QueryState, Stats
from chalicelib.times import epoch_of

STATE_FILE = "state.json"
RESULT_PARQUET = "result.parquet"
RESULT_CSV = "results.csv"
# The job is stored (with this engine's id) just before `submit` saves the query's first state: a
# request reading the job in between must see it QUEUED, not lost.
SUBMITTING_SECONDS = 60
FOOTERS_KEPT = 100_000  # partition files whose bytes per column are kept read
_CANCELLED = "cancelled"  # why a query was told to stop
_TIMED_OUT = "timed out"


@dataclass(frozen=True)
class QueryLimits:
    memory: str = "1GB"  # each tenant's database's; the process they run in is capped at it plus a margin
    threads: int = 2
    timeout_seconds: int = 600
    scan_cutoff_bytes: int = 10 * 1024**3
    workers_per_tenant: int = 4  # a tenant's queries beyond this wait for one of its own to end

    @property
    def host(self) -> HostLimits:
        return HostLimits(memory=self.memory, threads=self.threads, timeout_seconds=self.timeout_seconds)


class _Stopped(Exception):
    """The query was told to stop (cancelled, timed out, the engine closing) before it was run."""


class LocalEngine:
    def __init__(
        self,
        warehouse: Path,
        results: Callable[[str], ObjectStore],
        results_bucket: str,
        limits: QueryLimits,
        *,
        record_end: Callable[[QueryRecord, Execution], object],
        cache: ResultCache | None = None,
        host: QueryHost | None = None,
    ) -> None:
        """`results`: a tenant id's results bucket, as that tenant's session reaches it.
        `record_end`: writes a query's end to its job, called as the query ends. `cache`: results
        kept for reuse (None: none are)."""
        self._warehouse = warehouse
        self._cache = cache or ResultCache(warehouse, max_bytes=0, max_age_seconds=0)
        self._results = results
        self._record_end = record_end
        self._results_bucket = results_bucket
        self._limits = limits
        self._host = host or QueryHost(limits.host)  # its process starts with the first query
        self._pools: dict[str, ThreadPoolExecutor] = {}  # tenant id → its own query threads
        self._lock = threading.Lock()
        self._sent: set[str] = set()  # queries the host has been asked to run, until it answers
        self._stopping: dict[str, str] = {}  # query id → why it must stop
        self._ended: dict[str, threading.Event] = {}  # query id → set when it ends; only while it has not
        self._publishing: dict[str, threading.Lock] = {}  # query id → held while its CSV is uploaded
        self._published: set[str] = set()
        self._closing = False  # set by close(): every query is cancelled from then on
        # A partition file's path → its size and time, and its bytes per column (the oldest go first).
        self._file_bytes: OrderedDict[str, tuple[tuple[int, int], ColumnBytes]] = OrderedDict()

    @property
    def host(self) -> QueryHost:
        """Where the queries run (its process is measured by tests)."""
        return self._host

    def known_id(self, query_id: str) -> str | None:
        return query_id

    def statement(self, tenant_id: str, guarded: Guarded, tables: dict[str, TableInfo]) -> str:
        files = {name: str(self._files(tenant_id, table)) for name, table in tables.items()}
        try:
            return to_duckdb(guarded, tables, files)
        except (ForbiddenSql, QueryRejected):
            raise
        except Exception as failure:  # a translation bug of ours: this query fails, the platform goes on
            logger.exception("a query could not be translated for the local engine")
            raise LocalLimitation(f"The local engine could not translate the query: {failure}.") from None

    def reused(self, record: QueryRecord) -> Execution | None:
        """A result kept under the query's reuse key, put in place as the query's own, and the
        query ended with it: it scans nothing, and nothing runs."""
        kept = None if record.reuse_key is None else self._cache.find(record.tenant_id, record.reuse_key)
        if kept is None:
            return None
        folder = self._folder(record)
        folder.mkdir(parents=True, exist_ok=True)
        self._cache.reuse(kept, folder / RESULT_PARQUET)
        at = time.time()
        stats = Stats(runtime_ms=0, bytes_scanned=0, rows=kept.rows)
        execution = Execution(QueryState.SUCCEEDED, stats, None, kept.columns, at, at, reused=True)
        self._save(folder, execution, kept.head)
        return execution

    def submit(self, record: QueryRecord, statement: str, tables: dict[str, TableInfo]) -> str:
        folder = self._folder(record)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._ended[record.query_id] = threading.Event()
            pool = self._pools.get(record.tenant_id)
            if pool is None:
                pool = ThreadPoolExecutor(self._limits.workers_per_tenant, thread_name_prefix="query")
                self._pools[record.tenant_id] = pool
        self._save(folder, Execution(QueryState.QUEUED))
        pool.submit(self._run, record, statement, tables, folder)
        return record.query_id

    def status(self, record: QueryRecord) -> Execution:
        saved = self._saved(record)
        if saved is None:
            if time.time() - epoch_of(record.submitted_at) < SUBMITTING_SECONDS:
                return Execution(QueryState.QUEUED)
            return Execution(QueryState.FAILED, error=error("query_failed", "The query's state was lost."))
        stats = Stats(**saved["stats"]) if saved.get("stats") else None
        return Execution(
            QueryState(saved["state"]),
            stats,
            saved.get("error"),
            saved.get("columns", []),
            saved.get("started"),
            saved.get("ended"),
            saved.get("recorded_by_engine", False),
            saved.get("reused", False),
        )

    def wait(self, record: QueryRecord, seconds: float) -> None:
        with self._lock:
            ended = self._ended.get(record.query_id)
        if ended is not None:
            ended.wait(seconds)  # woken the moment the query's end is saved

    def page(self, record: QueryRecord, position: str | None, max_rows: int) -> Page:
        saved = self._saved(record) or {}
        total = (saved.get("stats") or {}).get("rows", 0)
        offset = int(position or 0)
        end = min(offset + max_rows, total)
        head = saved.get("head", [])
        if end <= len(head):
            rows = head[offset:end]
        else:
            rows = self._host.page(self._tenant_folder(record), self._folder(record) / RESULT_PARQUET, offset, max_rows)
        return Page(saved.get("columns", []), rows, str(end) if end < total else None)

    def cancel(self, record: QueryRecord) -> None:
        self._stop(record.query_id, _CANCELLED)

    def close(self) -> None:
        """Cancel what still runs or waits and wait for the background work, result uploads
        included, to end: nothing of this engine may outlive the AWS it writes to."""
        with self._lock:
            self._closing = True
            waiting = list(self._ended)
            pools = list(self._pools.values())
        for query_id in waiting:
            self._stop(query_id, _CANCELLED)
        for pool in pools:
            pool.shutdown(wait=True)  # a query still waiting starts, sees the engine closing, ends CANCELLED
        self._host.close()

    def result_object(self, record: QueryRecord) -> tuple[str, str]:
        self._publish(record)
        return self._results_bucket, self._result_key(record)

    def _result_key(self, record: QueryRecord) -> str:
        prefix = result_prefix(self._results_bucket, record.tenant_id, record.query_id)
        return prefix.removeprefix(f"s3://{self._results_bucket}/") + RESULT_CSV

    def _publish(self, record: QueryRecord) -> None:
        """Write a SUCCEEDED query's result as CSV and upload it to its result prefix, once: when it
        is first asked for, so that a query's end (and every query nobody downloads) pays for
        neither. Whoever asks meanwhile waits for that one upload."""
        with self._lock:
            publishing = self._publishing.setdefault(record.query_id, threading.Lock())
        with publishing:
            if record.query_id in self._published:
                return
            folder = self._folder(record)
            csv = folder / RESULT_CSV
            if not csv.exists():
                staging = folder / f".{RESULT_CSV}.{threading.get_ident()}"
                self._host.export_csv(self._tenant_folder(record), folder / RESULT_PARQUET, staging)
                staging.replace(csv)  # whole or not at all
            self._results(record.tenant_id).upload(csv, self._result_key(record), "text/csv")
            with self._lock:
                self._published.add(record.query_id)
                self._publishing.pop(record.query_id, None)

    # In the background -------------------------------------------------------------------------

    def _run(self, record: QueryRecord, statement: str, tables: dict[str, TableInfo], folder: Path) -> None:
        if self._stop_reason(record) is not None:  # cancelled while it waited
            self._end(record, folder, Execution(QueryState.CANCELLED), [])
            return
        started = time.time()  # the time limit runs from here, not from submission
        self._save(folder, Execution(QueryState.RUNNING, started=started))
        timer = threading.Timer(self._limits.timeout_seconds, self._stop, (record.query_id, _TIMED_OUT))
        timer.daemon = True
        timer.start()
        head: list[list[Any]] = []
        try:
            execution, head = self._execute(record, statement, tables, folder, started)
        except _Stopped as stopped:
            execution = self._interrupted(record, str(stopped))
        except HostFailure as failure:
            execution = self._failed(record, failure)
        except Exception as failure:  # a bug of ours: the query fails, the platform goes on
            execution = Execution(QueryState.FAILED, error=error("query_failed", f"The query failed: {failure}."))
        finally:
            timer.cancel()
        self._end(record, folder, replace(execution, started=started), head)

    def _execute(
        self, record: QueryRecord, sql: str, tables: dict[str, TableInfo], folder: Path, started: float
    ) -> tuple[Execution, list[list[Any]]]:
        """Have the host run the query (or reuse an earlier identical result); its outcome and its
        first rows."""
        scanned = sum(self._read_bytes(record.tenant_id, table) for table in tables.values())
        if scanned > self._limits.scan_cutoff_bytes:  # Athena's workgroup cutoff, before reading
            return Execution(QueryState.FAILED, Stats(bytes_scanned=scanned), SCAN_LIMIT_EXCEEDED), []
        # From now on a stop goes to the host; one that came before stops the query here. The run
        # is sent under the same lock, so that a stop can never reach the host before its run does
        # (the host would take it for a query that has ended, and the query would run on).
        with self._lock:
            if self._stop_reason_locked(record) is not None:
                raise _Stopped("The query was stopped.")
            self._sent.add(record.query_id)
            try:
                running = self._host.start_run(
                    record.query_id, self._tenant_folder(record), sql, folder / RESULT_PARQUET
                )
            except BaseException:
                self._sent.discard(record.query_id)
                raise
        try:
            outcome = running.result()
        finally:
            with self._lock:
                self._sent.discard(record.query_id)
        columns = [{"name": name, "type": kind} for name, kind in outcome["columns"]]
        runtime = int((time.time() - started) * 1000)
        stats = Stats(runtime_ms=runtime, bytes_scanned=scanned, rows=outcome["rows"])
        if record.reuse_key is not None:
            kept = Kept(folder / RESULT_PARQUET, columns, outcome["rows"], outcome["head"])
            self._cache.keep(record.tenant_id, record.reuse_key, kept)
        return Execution(QueryState.SUCCEEDED, stats, None, columns), outcome["head"]

    def _end(self, record: QueryRecord, folder: Path, execution: Execution, head: list[list[Any]]) -> None:
        """Save how the query ended, wake whoever waits for it, then write it to the job. Should
        that write fail, the saved state says so, and the next reader of the job writes it."""
        ended = replace(execution, ended=time.time(), recorded_by_engine=True)
        self._save(folder, ended, head)
        self._wake(record)
        try:
            self._record_end(record, ended)
        except Exception:
            logger.exception("a query's end could not be written to its job")
            self._save(folder, replace(ended, recorded_by_engine=False), head)

    def _failed(self, record: QueryRecord, failure: HostFailure) -> Execution:
        """How a query ended that the host did not finish."""
        if failure.kind == "stopped":
            return self._interrupted(record, str(failure))
        if failure.kind == "refused":
            return Execution(QueryState.FAILED, error=error("forbidden_sql", str(failure)))
        if failure.kind == "memory":
            message = (
                f"The query needs more memory than the local engine allows ({self._limits.memory}); "
                f"Athena's limits are larger. {failure}"
            )
            return Execution(QueryState.FAILED, error=error("query_failed", message))
        if failure.kind == "query" and "execution time" in str(failure):  # DuckDB's own per-statement limit
            return Execution(QueryState.FAILED, error=timed_out(self._limits.timeout_seconds))
        return Execution(QueryState.FAILED, error=error("query_failed", str(failure) or "The query failed."))

    def _interrupted(self, record: QueryRecord, message: str) -> Execution:
        """How a query that was stopped mid-way ended."""
        reason = self._stop_reason(record)
        if reason == _CANCELLED:
            return Execution(QueryState.CANCELLED)
        if reason == _TIMED_OUT or "execution time" in message:  # ours, or DuckDB's own per-statement limit
            return Execution(QueryState.FAILED, error=timed_out(self._limits.timeout_seconds))
        return Execution(QueryState.FAILED, error=error("query_failed", message or "The query was stopped."))

    def _stop(self, query_id: str, reason: str) -> None:
        """Tell a query that has not ended to stop: here if the host has not been asked to run it
        yet (it checks before asking), else in the host."""
        with self._lock:
            if query_id not in self._ended:
                return
            self._stopping.setdefault(query_id, reason)
            sent = query_id in self._sent
        if sent:
            self._host.stop(query_id)

    def _stop_reason(self, record: QueryRecord) -> str | None:
        with self._lock:
            return self._stop_reason_locked(record)

    def _stop_reason_locked(self, record: QueryRecord) -> str | None:
        return self._stopping.get(record.query_id) or (_CANCELLED if self._closing else None)

    def _wake(self, record: QueryRecord) -> None:
        with self._lock:
            ended = self._ended.pop(record.query_id, None)
            self._stopping.pop(record.query_id, None)
        if ended is not None:
            ended.set()

    # Plumbing ----------------------------------------------------------------------------------

    def _files(self, tenant_id: str, table: TableInfo) -> Path:
        """The glob of a table's curated Parquet files in the warehouse, every partition's."""
        return local_table_folder(self._warehouse, tenant_id, table.table_id) / "*" / "*.parquet"

    def _read_bytes(self, tenant_id: str, table: TableInfo) -> int:
        """What the query scans of the table, as Athena counts it: the compressed bytes of the
        column chunks it reads (column_bytes.py), in the partitions it reads."""
        files = []
        for path in local_table_folder(self._warehouse, tenant_id, table.table_id).glob(f"{SEQ_COLUMN}=*/*.parquet"):
            seq = int(path.parent.name.partition("=")[2])
            if table.next_seq is None or (seq < table.next_seq and seq not in table.hidden):
                files.append(path)
        return table.scanned(self._column_bytes(files))

    def _column_bytes(self, files: list[Path]) -> ColumnBytes:
        """The files' bytes per column, each file's footer read once: a partition's file is
        written once and never changed (its size and time are checked all the same)."""
        each: list[ColumnBytes] = []
        unread: dict[str, tuple[int, int]] = {}
        for path in files:
            stat = path.stat()
            written = (stat.st_mtime_ns, stat.st_size)
            with self._lock:
                known = self._file_bytes.get(str(path))
            if known is not None and known[0] == written:
                each.append(known[1])
            else:
                unread[str(path)] = written
        for name, sizes in column_bytes_by_file([Path(name) for name in unread]).items():
            each.append(sizes)
            with self._lock:
                self._file_bytes[name] = (unread[name], sizes)
                while len(self._file_bytes) > FOOTERS_KEPT:
                    self._file_bytes.popitem(last=False)
        totals: ColumnBytes = {}
        for sizes in each:
            for column, size in sizes.items():
                totals[column] = totals.get(column, 0) + size
        return totals

    def _tenant_folder(self, record: QueryRecord) -> Path:
        """The one folder the tenant's database may read (and spill into)."""
        return self._warehouse / record.tenant_id

    def _folder(self, record: QueryRecord) -> Path:
        return query_folder(self._warehouse, record.tenant_id, record.query_id)

    def _saved(self, record: QueryRecord) -> dict[str, Any] | None:
        path = self._folder(record) / STATE_FILE
        return json.loads(path.read_text()) if path.exists() else None

    def _save(self, folder: Path, execution: Execution, head: list[list[Any]] | None = None) -> None:
        state = {
            "state": execution.state.value,
            "stats": asdict(execution.stats) if execution.stats else None,
            "error": execution.error,
            "columns": execution.columns,
            "started": execution.started,
            "ended": execution.ended,
            "recorded_by_engine": execution.recorded_by_engine,
            "reused": execution.reused,
            "head": head or [],
        }
        staging = folder / f".{STATE_FILE}.{threading.get_ident()}"
        staging.write_text(json.dumps(state))
        staging.replace(folder / STATE_FILE)  # whole or not at all


def query_folder(warehouse: Path, tenant_id: str, query_id: str) -> Path:
    """Where one query's spill and results live: inside its tenant's folder, the only one it can read."""
    return warehouse / tenant_id / ".queries" / query_id
