"""Where the local engine's DuckDB runs: a process of its own, whose memory the kernel caps.

DuckDB holds a query to its memory limit only for what it allocates through its buffer manager.
Values built as a query runs (long strings, lists) are allocated outside it: rpad to 300 MB, a
sequence on each row of a large table or a transform of sequences take gigabytes under a limit of
100 MB. So DuckDB runs in a process of its own whose data segment (RLIMIT_DATA) is capped at its
size when it starts, plus the memory limit, plus a margin. An allocation past that fails inside
DuckDB, which ends that query with an out-of-memory error; the process and every other query go on.

One process serves every tenant of a local engine, each tenant with a database of its own, locked
down as before (see local.py); the platform's own process holds none of the data. Requests go over
a socket pair: run a query, read a page of its result, write it as CSV, stop it. Should the process
end (DuckDB aborts where it cannot recover from a failed allocation; or it is killed), whatever it
was doing fails, and the next request starts another.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from chalicelib.ingest.types import column_type
from chalicelib.quoting import identifier, literal

HEAD_ROWS = 1000  # the API's largest page: kept with the query's state, for the first page
MEMORY_MARGIN = 256 * 1024**2  # over the memory limit: the interpreter's own allocations, thread stacks
MAX_OPEN_DATABASES = 8  # tenants' databases kept open in the process; the least recently used idle one goes
_UNITS = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}


@dataclass(frozen=True)
class HostLimits:
    memory: str = "1GB"  # DuckDB's memory_limit for each tenant's database; also the process's cap, plus a margin
    threads: int = 2
    timeout_seconds: int = 600


class HostFailure(Exception):
    """A request the process could not carry out. `kind` says why: refused (not one read-only
    statement), stopped (told to stop), memory (out of memory), query (DuckDB's own error),
    ended (the process ended), failed (anything else)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def memory_bytes(limit: str) -> int:
    """DuckDB's reading of a memory limit such as '1GB' (10^9 bytes) or '512MiB' (2^29)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B\s*", limit)
    if found is None:
        raise ValueError(f"not a memory size: {limit!r}")
    number, unit, binary = found.groups()
    scale = 1024 ** "_KMGT".index(unit) if binary else _UNITS[unit]
    return int(float(number) * scale)


def locked_database(spill: Path, readable: Path, limits: HostLimits) -> Any:
    """A new DuckDB database that can touch `readable` (a tenant's folder) and nothing else,
    spills into `spill`, stops a statement at the time limit, and cannot change any of that."""
    import duckdb

    con = duckdb.connect(
        config={
            "memory_limit": limits.memory,
            "threads": limits.threads,
            "temp_directory": str(spill),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    # GLOBAL: every cursor of the database inherits these
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    con.execute(f"SET GLOBAL max_execution_time = {limits.timeout_seconds * 1000}")
    con.execute(f"SET allowed_directories = [{literal(str(readable) + '/')}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


class QueryHost:
    """The platform's side of the process: each request waits for its answer; many at once."""

    def __init__(self, limits: HostLimits) -> None:
        self._limits = limits
        self._lock = threading.Lock()  # guards the pipe's sending end and the fields below
        self._process: Any = None
        self._pipe: Any = None
        self._waiting: dict[int, tuple[Any, Future[Any]]] = {}  # request id → the process asked, the answer
        self._next_id = 0
        self._closed = False
        # Set when a request ran out of memory: the allocator keeps much of what it mapped then, so
        # the process is replaced by a new one the next time nothing is waiting for it.
        self._worn = False

    @property
    def pid(self) -> int | None:
        """The process's id while it runs (memory is measured there)."""
        with self._lock:
            return self._process.pid if self._process is not None and self._process.poll() is None else None

    def start_run(self, query_id: str, readable: Path, sql: str, result: Path) -> Future[dict[str, Any]]:
        """Have the process run `sql` (one SELECT) over the tenant's folder `readable`, its result
        written to `result` as Parquet; the answer, when it comes: {"columns": [[name, Athena
        type]…], "rows": n, "head": first rows}, or HostFailure. The request is sent before this
        returns: a `stop` sent after it reaches the process after it."""
        return self.request("run", query_id, str(readable), sql, str(result))

    def request(self, operation: str, *arguments: Any) -> Future[Any]:
        """Send a request; its answer, when it comes."""
        answer: Future[Any] = Future()
        with self._lock:
            if self._closed:
                raise HostFailure("ended", "The local query engine is closing.")
            if self._worn and not self._waiting:
                self._retire()
            self._start()
            self._next_id += 1
            try:
                self._pipe.send((self._next_id, operation, arguments))
            except OSError:  # the process has just ended: the next request starts another
                raise HostFailure("ended", "The local query engine stopped; try again.") from None
            self._waiting[self._next_id] = (self._process, answer)
        return answer

    def page(self, readable: Path, result: Path, offset: int, rows: int) -> list[list[Any]]:
        return self.request("page", str(readable), str(result), offset, rows).result()

    def export_csv(self, readable: Path, result: Path, target: Path) -> None:
        """Write the Parquet result as CSV with a header row, to `target`."""
        self.request("export_csv", str(readable), str(result), str(target)).result()

    def stop(self, query_id: str) -> None:
        """Tell a query the process has been asked to run to stop (one it has not: nothing)."""
        with self._lock:
            if self._process is not None and not self._closed:
                with contextlib.suppress(OSError):  # the process has ended: so has the query
                    self._pipe.send((None, "stop", (query_id,)))

    def close(self) -> None:
        """End the process, after what it runs has ended (its callers are told to stop first)."""
        with self._lock:
            self._closed = True
            process, pipe = self._process, self._pipe
            if process is not None:
                with contextlib.suppress(OSError):
                    pipe.send((None, "close", ()))
        if process is not None:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _retire(self) -> None:
        """Let the process end (under the lock, with nothing waiting for it): the next one starts afresh."""
        with contextlib.suppress(OSError):
            self._pipe.send((None, "close", ()))
        self._process, self._pipe, self._worn = None, None, False

    def _start(self) -> None:
        """Start the process if it does not run (first use, or it has ended); under the lock."""
        if self._process is not None and self._process.poll() is None:
            return
        # A new interpreter, never a fork of this process full of threads; it ends when the socket
        # does, should this process end first.
        ours, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen(  # noqa: S603 - this interpreter, running this module
                [sys.executable, "-m", __name__, str(theirs.fileno()), *_limit_arguments(self._limits)],
                pass_fds=[theirs.fileno()],
                env=os.environ | {"PYTHONPATH": _PROJECT_ROOT},
            )
        self._process, self._pipe = process, Connection(ours.detach())
        answers = threading.Thread(target=self._receive, args=(process, self._pipe), name="query-host-answers")
        answers.daemon = True
        answers.start()

    def _receive(self, process: Any, pipe: Any) -> None:
        """Hand each answer to whoever waits for it; when the process ends, fail what still waits."""
        while True:
            try:
                request_id, ok, value = pipe.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                _, answer = self._waiting.pop(request_id, (None, None))
                self._worn = self._worn or (not ok and value[0] == "memory" and self._process is process)
            if answer is not None:
                if ok:
                    answer.set_result(value)
                else:
                    answer.set_exception(HostFailure(*value))
        process.wait()
        with self._lock:
            if self._process is process:
                self._process = None
            unanswered = [request_id for request_id, (asked, _) in self._waiting.items() if asked is process]
            waiting = [self._waiting.pop(request_id)[1] for request_id in unanswered]
        ended = HostFailure(
            "ended", f"The local query engine stopped before the query ended{_why(process.returncode)}."
        )
        for answer in waiting:
            answer.set_exception(ended)
        if waiting:
            # Here, not at the top: the process imports this module too, and needs no logger (Powertools, 0.1 s).
            from chalicelib.observability import logger

            logger.error("the local query engine's process ended", extra={"exit_code": process.returncode})


_PROJECT_ROOT = str(Path(__file__).resolve().parents[2])


def _limit_arguments(limits: HostLimits) -> list[str]:
    return [limits.memory, str(limits.threads), str(limits.timeout_seconds)]


# In the process --------------------------------------------------------------------------------


def serve(pipe: Any, limits: HostLimits) -> None:
    """The process's life: cap its memory, then answer requests until told to close."""
    _cap_memory(memory_bytes(limits.memory) + MEMORY_MARGIN)
    _Host(pipe, limits).serve()


def _cap_memory(allowed: int) -> None:
    """Allow the data segment `allowed` bytes more than it holds now."""
    with Path("/proc/self/status").open() as status:
        holds = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmData:"))
    resource.setrlimit(resource.RLIMIT_DATA, (holds + allowed, holds + allowed))


class _Stopped(Exception):
    """The query was told to stop between two of its statements."""


class _Host:
    def __init__(self, pipe: Any, limits: HostLimits) -> None:
        self._pipe = pipe
        self._limits = limits
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._databases: OrderedDict[str, Any] = OrderedDict()  # a tenant's folder → its database
        self._in_use: dict[str, int] = {}  # a tenant's folder → requests using its database now
        self._admitted: set[str] = set()  # queries asked for and not yet ended
        self._stopping: set[str] = set()
        self._cursors: dict[str, Any] = {}  # query id → the cursor it runs on

    def serve(self) -> None:
        while True:
            try:
                request_id, operation, arguments = self._pipe.recv()
            except (EOFError, OSError):  # the platform's process has gone
                break
            if operation == "close":
                break
            if operation == "stop":
                self._stop(*arguments)
                continue
            if operation == "run":
                with self._lock:  # before the next request is read: a stop that follows finds it
                    self._admitted.add(arguments[0])
            try:
                threading.Thread(target=self._answer, args=(request_id, operation, arguments), daemon=True).start()
            except RuntimeError:  # no memory left for a thread's stack: this request fails, the process goes on
                self._forget(arguments[0] if operation == "run" else None)
                self._send((request_id, False, ("memory", "There was no memory left to start the request.")))
        with self._lock:
            for query_id in self._cursors:
                self._stopping.add(query_id)
        for database in list(self._databases.values()):
            with contextlib.suppress(Exception):  # closing while a statement ends: that one fails
                database.close()

    def _answer(self, request_id: int, operation: str, arguments: tuple[Any, ...]) -> None:
        import duckdb

        try:
            answer: tuple[Any, ...] = (request_id, True, getattr(self, "_" + operation)(*arguments))
        except HostFailure as failure:
            answer = (request_id, False, (failure.kind, str(failure)))
        except (duckdb.OutOfMemoryException, MemoryError) as failure:
            answer = (request_id, False, ("memory", _first_line(str(failure)) or "Out of memory."))
        except (duckdb.InterruptException, _Stopped) as failure:
            answer = (request_id, False, ("stopped", _first_line(str(failure))))
        except duckdb.Error as failure:
            answer = (request_id, False, ("query", _first_line(str(failure))))
        except Exception as failure:  # a bug of ours: this request fails, the others go on
            answer = (request_id, False, ("failed", f"{type(failure).__name__}: {failure}"))
        try:
            self._send(answer)
        except MemoryError:  # the answer itself would not fit: say so instead
            self._send((request_id, False, ("memory", "The answer is larger than memory allows.")))

    def _send(self, answer: tuple[Any, ...]) -> None:
        with self._send_lock:
            self._pipe.send(answer)

    # Requests ----------------------------------------------------------------------------------

    def _run(self, query_id: str, readable: str, sql: str, result: str) -> dict[str, Any]:
        try:
            with self._cursor(readable) as cursor:
                with self._lock:
                    self._cursors[query_id] = cursor
                try:
                    return self._execute(cursor, query_id, sql, result)
                finally:
                    with self._lock:  # before the cursor closes: a closed one cannot be interrupted
                        self._cursors.pop(query_id, None)
        finally:
            self._forget(query_id)

    def _forget(self, query_id: str | None) -> None:
        """A query has ended (or never started): it can be stopped no more."""
        with self._lock:
            self._admitted.discard(query_id or "")
            self._stopping.discard(query_id or "")

    def _execute(self, cursor: Any, query_id: str, sql: str, result: str) -> dict[str, Any]:
        """The query's statements, checking before each that it has not been told to stop."""
        import duckdb

        self._checkpoint(query_id)
        statements = cursor.extract_statements(sql)
        if len(statements) != 1 or statements[0].type.name != "SELECT":
            raise HostFailure("refused", "Only one read-only query is allowed.")
        self._checkpoint(query_id)
        description = cursor.execute(f"DESCRIBE {sql}").fetchall()
        described = [(name, column_type(duckdb.sqltype(kind))) for name, kind, *_ in description]
        # Each column as ingest stores its type: Parquet has no HUGEINT (a sum of integers), and
        # DuckDB would write it as a DOUBLE, losing digits.
        stored = ", ".join(
            f"CAST(#{n} AS {kind.storage}) AS {identifier(name)}" for n, (name, kind) in enumerate(described, 1)
        )
        self._checkpoint(query_id)
        (rows,) = cursor.execute(
            f"COPY (SELECT {stored} FROM ({sql})) TO {literal(result)} (FORMAT parquet)"
        ).fetchone()
        self._checkpoint(query_id)
        head = cursor.execute(f"SELECT * FROM read_parquet({literal(result)}) LIMIT {HEAD_ROWS}").fetchall()
        return {
            "columns": [[name, kind.athena] for name, kind in described],
            "rows": int(rows),
            "head": [[json_value(value) for value in row] for row in head],
        }

    def _page(self, readable: str, result: str, offset: int, rows: int) -> list[list[Any]]:
        with self._cursor(readable) as cursor:
            fetched = cursor.execute(f"SELECT * FROM read_parquet({literal(result)}) LIMIT {rows} OFFSET {offset}")
            return [[json_value(value) for value in row] for row in fetched.fetchall()]

    def _export_csv(self, readable: str, result: str, target: str) -> None:
        with self._cursor(readable) as cursor:
            cursor.execute(f"COPY (SELECT * FROM read_parquet({literal(result)})) TO {literal(target)} (HEADER)")

    def _stop(self, query_id: str) -> None:
        """DuckDB forgets an interrupt that comes between two statements: the query also checks
        before each one, and a running one is interrupted until it has stopped."""
        with self._lock:
            if query_id not in self._admitted:
                return  # ended already
            self._stopping.add(query_id)
        try:
            threading.Thread(target=self._interrupt_until_stopped, args=(query_id,), daemon=True).start()
        except RuntimeError:  # no memory left for a thread: interrupt it once; it checks before each statement
            with self._lock:
                cursor = self._cursors.get(query_id)
                if cursor is not None:
                    cursor.interrupt()

    def _interrupt_until_stopped(self, query_id: str) -> None:
        while True:
            with self._lock:  # held while interrupting: the query cannot close its cursor meanwhile
                if query_id not in self._admitted:
                    return
                cursor = self._cursors.get(query_id)
                if cursor is not None:
                    cursor.interrupt()
            time.sleep(0.02)

    def _checkpoint(self, query_id: str) -> None:
        with self._lock:
            if query_id in self._stopping:
                raise _Stopped("The query was stopped.")

    @contextlib.contextmanager
    def _cursor(self, readable: str) -> Any:
        """A new cursor on the tenant's own database (created locked on first use); at most
        MAX_OPEN_DATABASES stay open, the least recently used idle ones closed."""
        with self._lock:
            database = self._databases.get(readable)
            if database is None:
                folder = Path(readable)
                folder.mkdir(parents=True, exist_ok=True)
                database = locked_database(folder / ".spill", folder, self._limits)
                self._databases[readable] = database
            self._databases.move_to_end(readable)
            self._in_use[readable] = self._in_use.get(readable, 0) + 1
            idle = [key for key in self._databases if not self._in_use.get(key)]
            closing = [self._databases.pop(key) for key in idle[: max(0, len(self._databases) - MAX_OPEN_DATABASES)]]
        for old in closing:
            old.close()
        try:
            with database.cursor() as cursor:
                yield cursor
        finally:
            with self._lock:
                self._in_use[readable] -= 1
                if not self._in_use[readable]:
                    del self._in_use[readable]


# Plumbing shared with the platform's side ------------------------------------------------------


def json_value(value: Any) -> Any:
    """A DuckDB value as JSON: numbers as numbers, null as null, times as Athena writes them."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _NOT_FINITE[str(value)]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent == 0 else float(value)
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return json.dumps(value, default=str)


# As Athena writes them (Java's names), where Python would write nan, inf, -inf.
_NOT_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _why(exit_code: int | None) -> str:
    """What a process's exit code tells of why it ended, for a message."""
    if exit_code == -signal.SIGABRT:  # DuckDB gives up where it cannot recover from a failed allocation
        return ": it ran out of memory where it could not recover (the queries running then needed more than it allows)"
    if exit_code is not None and exit_code < 0:
        return f": its process was stopped by signal {-exit_code}"
    return ""


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else ""


if __name__ == "__main__":  # the process QueryHost starts: the socket's descriptor, then the limits
    descriptor, memory, threads, timeout_seconds = sys.argv[1:]
    serve(Connection(int(descriptor)), HostLimits(memory, int(threads), int(timeout_seconds)))
