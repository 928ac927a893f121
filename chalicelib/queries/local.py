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

The guarded query is transpiled from Athena's dialect with the tables' column types known (so
that integer division stays integer division), each table read straight from its curated Parquet
files, and DuckDB's own statement split must find exactly one SELECT. Where DuckDB would answer
differently from Athena and the difference can be bridged, the transpiled query is adjusted (arrays
from `sequence` and `repeat`, held to Athena's 10,000 elements; padding held to MAX_PADDED_CHARS);
where it cannot, the query fails saying so rather than answer something else. Results are written
as Parquet, for pages; the first rows are also kept with the query's state, so that the first
page, all of most results, is answered without DuckDB.
A query's end is written to its job (`record_end`) by the thread that ran it, as it ends: the
tenant's slot is given back whether or not anyone asks, and a request waiting for the end answers
without writing it.
A result's CSV is written and uploaded to the tenant's result prefix in S3, where Athena writes its
own, when it is first asked for.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from sqlglot import exp, jsonpath
from sqlglot.errors import UnsupportedError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from chalicelib.files.objects import ObjectStore
from chalicelib.keys import result_prefix
from chalicelib.observability import logger
from chalicelib.queries.engine import (
    SCAN_LIMIT_EXCEEDED,
    Execution,
    Page,
    QueryRejected,
    TableInfo,
    error,
    timed_out,
)
from chalicelib.queries.guard import ForbiddenSql, Guarded, duckdb_statement
from chalicelib.queries.host import HostFailure, HostLimits, QueryHost
from chalicelib.queries.store import QueryRecord, QueryState, Stats
from chalicelib.times import epoch_of

STATE_FILE = "state.json"
RESULT_PARQUET = "result.parquet"
RESULT_CSV = "results.csv"
MAX_ARRAY_ENTRIES = 10_000  # Athena's limit on the arrays sequence() and repeat() make
# lpad and rpad build their text whole, outside DuckDB's memory limit: no more than this each.
MAX_PADDED_CHARS = 1024 * 1024

# Some functions are translated by repeating their arguments (greatest(a, b) becomes a CASE over
# a and b, then GREATEST(a, b)), so nesting them grows the translation exponentially.
MAX_TRANSLATED_CHARS = 1024 * 1024

# The job is stored (with this engine's id) just before `submit` saves the query's first state: a
# request reading the job in between must see it QUEUED, not lost.
SUBMITTING_SECONDS = 60
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


class LocalLimitation(QueryRejected):
    """A query the local engine cannot answer as Athena would: it fails and says so."""


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
    ) -> None:
        """`results`: a tenant id's results bucket, as that tenant's session reaches it.
        `record_end`: writes a query's end to its job, called as the query ends."""
        self._warehouse = warehouse
        self._results = results
        self._record_end = record_end
        self._results_bucket = results_bucket
        self._limits = limits
        self._host = QueryHost(limits.host)  # its process starts with the first query
        self._pools: dict[str, ThreadPoolExecutor] = {}  # tenant id → its own query threads
        self._lock = threading.Lock()
        self._sent: set[str] = set()  # queries the host has been asked to run, until it answers
        self._stopping: dict[str, str] = {}  # query id → why it must stop
        self._ended: dict[str, threading.Event] = {}  # query id → set when it ends; only while it has not
        self._publishing: dict[str, threading.Lock] = {}  # query id → held while its CSV is uploaded
        self._published: set[str] = set()
        self._closing = False  # set by close(): every query is cancelled from then on

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
        """Have the host run the query; its outcome and its first rows."""
        files = (self._files(record.tenant_id, table) for table in tables.values())
        scanned = sum(path.stat().st_size for glob in files for path in glob.parent.glob(glob.name))
        if scanned > self._limits.scan_cutoff_bytes:  # Athena's workgroup cutoff, before reading
            return Execution(QueryState.FAILED, Stats(bytes_scanned=scanned), SCAN_LIMIT_EXCEEDED), []
        with self._lock:  # from now on a stop reaches the host: one that came before stops it here
            if self._stop_reason_locked(record) is not None:
                raise _Stopped("The query was stopped.")
            self._sent.add(record.query_id)
        try:
            outcome = self._host.run(record.query_id, self._tenant_folder(record), sql, folder / RESULT_PARQUET)
        finally:
            with self._lock:
                self._sent.discard(record.query_id)
        columns = [{"name": name, "type": kind} for name, kind in outcome["columns"]]
        runtime = int((time.time() - started) * 1000)
        stats = Stats(runtime_ms=runtime, bytes_scanned=scanned, rows=outcome["rows"])
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
        """The glob of a table's curated Parquet files in the warehouse."""
        return self._warehouse / tenant_id / table.file_id / "*.parquet"

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
            "head": head or [],
        }
        staging = folder / f".{STATE_FILE}.{threading.get_ident()}"
        staging.write_text(json.dumps(state))
        staging.replace(folder / STATE_FILE)  # whole or not at all


def query_folder(warehouse: Path, tenant_id: str, query_id: str) -> Path:
    """Where one query's spill and results live: inside its tenant's folder, the only one it can read."""
    return warehouse / tenant_id / ".queries" / query_id


def to_duckdb(guarded: Guarded, tables: dict[str, TableInfo], files: dict[str, str] | None = None) -> str:
    """The guarded Athena query in DuckDB's dialect, typed by the tables' columns: with types known,
    sqlglot keeps Athena's meaning where the dialects differ (integer division). Each table reads
    its curated Parquet (`files`: name → glob) where given, else a DuckDB table of its name. The
    text is judged again as DuckDB reads it (ForbiddenSql if it is not what was judged). Raises
    LocalLimitation for what DuckDB cannot answer as Athena would."""
    expression = guarded.with_tables(lambda name: exp.table_(name, db=_TENANT_TABLE, quoted=True))
    unnamed = _unnamed_outputs(expression)
    columns = {name: {c["name"]: c["type"] for c in tables[name].columns} for name in guarded.tables}
    schema = {_TENANT_TABLE: columns} if columns else {}  # sqlglot takes no empty database
    # Typed where sqlglot can type it; else untyped, still correct for all but the dialects' differences.
    # Typing works on a copy: sqlglot fails on some trees half-way, with errors of many kinds.
    with contextlib.suppress(Exception):
        qualified = qualify(expression.copy(), schema=schema, dialect="athena", validate_qualify_columns=False)
        typed = annotate_types(qualified, schema=schema, dialect="athena")
        _keep_dates(typed)
        expression = typed
    _athena_output_names(expression, unnamed)
    _athena_functions(expression)
    for node in list(expression.find_all(exp.Table)):
        if node.db == _TENANT_TABLE:  # a CTE's name has no database: only the tenant's tables do
            source = exp.ReadParquet(expressions=[exp.Literal.string(files[node.name])]) if files else None
            replacement = exp.Table(this=source or exp.to_identifier(node.name, quoted=True))
            replacement.set("alias", node.args.get("alias"))
            node.replace(replacement)
    if _nesting(expression) > 2 and _translated_size(expression) > MAX_TRANSLATED_CHARS:
        raise LocalLimitation(
            "The query is too complex for the local engine: its nested functions would be translated "
            "into more than 1 MiB of SQL. Athena runs it."
        )
    try:
        # sqlglot says when it cannot keep a function's meaning in DuckDB (sha512 would be sha256)
        return duckdb_statement(expression, files.values() if files else (), () if files else guarded.tables)
    except UnsupportedError as unsupported:
        raise LocalLimitation(f"The local engine cannot run this query as Athena would: {unsupported}.") from None


_TENANT_TABLE = "sdp_tenant"  # the database name marking the tenant's tables while the query is typed
_DATE_ARITHMETIC = (exp.DateAdd, exp.DateSub, exp.Add, exp.Sub, exp.TsOrDsAdd)


def _keep_dates(expression: exp.Expression) -> None:
    """Where Athena's result is a DATE, DuckDB's is a TIMESTAMP (date_trunc of a date, a date plus
    an interval): cast it back, so the column's type and values are Athena's."""
    for node in list(expression.find_all(exp.TimestampTrunc, exp.DateTrunc, *_DATE_ARITHMETIC)):
        truncating = isinstance(node, exp.TimestampTrunc | exp.DateTrunc)
        argument = node.this
        is_date = (
            argument.type is not None and argument.type.is_type(exp.DataType.Type.DATE)
            if truncating
            else node.type is not None and node.type.is_type(exp.DataType.Type.DATE)
        )
        if is_date and not isinstance(node.parent, exp.Cast):
            node.replace(exp.cast(node.copy(), exp.DataType.Type.DATE))


# Athena functions DuckDB has under another name or not at all, as DuckDB expressions.
_RENAMED = {
    "codepoint": lambda args: exp.Anonymous(this="unicode", expressions=args),
    "e": lambda args: exp.Exp(this=exp.Literal.number(1)),
    "infinity": lambda args: exp.cast(exp.Literal.string("Infinity"), exp.DataType.Type.DOUBLE),
    "is_finite": lambda args: exp.Anonymous(this="isfinite", expressions=args),
    "is_infinite": lambda args: exp.Anonymous(this="isinf", expressions=args),
    "nan": lambda args: exp.cast(exp.Literal.string("NaN"), exp.DataType.Type.DOUBLE),
}


def _athena_functions(expression: exp.Expression) -> None:
    """Rewrite the calls whose DuckDB namesake answers differently, so the answer is Athena's.
    Innermost first, so that a rewritten call's arguments are rewritten too."""
    kinds = (
        exp.GenerateSeries,
        exp.Repeat,
        exp.Pad,
        exp.Reduce,
        exp.Anonymous,
        exp.Fetch,
        exp.Format,
        exp.JSONValue,
        exp.JSONExtract,
    )
    for node in reversed(list(expression.find_all(*kinds, bfs=False))):
        if isinstance(node, exp.Format):  # Athena's format() is Java's printf; DuckDB's is fmt's {}
            node.replace(
                exp.Anonymous(this="printf", expressions=[node.this.copy(), *(a.copy() for a in node.expressions)])
            )
        elif isinstance(node, exp.JSONValue | exp.JSONExtract):
            _without_path_mode(node)
        elif isinstance(node, exp.GenerateSeries):
            node.replace(_sequence(node))
        elif isinstance(node, exp.Repeat):
            node.replace(_repeat(node))
        elif isinstance(node, exp.Pad):
            node.replace(_pad(node))
        elif isinstance(node, exp.Reduce) and node.args.get("finish") is not None:
            node.replace(_reduce(node))
        elif isinstance(node, exp.Anonymous) and node.name.lower() in _RENAMED:
            node.replace(_RENAMED[node.name.lower()]([arg.copy() for arg in node.expressions]))
        elif isinstance(node, exp.Fetch):
            options = node.args.get("limit_options")
            if options is not None and options.args.get("with_ties"):  # DuckDB would drop the ties
                raise LocalLimitation("The local engine does not run FETCH … WITH TIES; Athena does.")


def _without_path_mode(node: exp.JSONValue | exp.JSONExtract) -> None:
    """json_value(j, 'lax $.a') and json_query: DuckDB reads no path mode, and answers NULL to one.
    DuckDB's text reads the path as a JSON path of keys and indexes: others are Athena's to run."""
    path = node.args.get("path") or node.args.get("expression")
    if isinstance(path, exp.Literal) and path.is_string:
        mode, _, rest = path.this.strip().partition(" ")
        if mode.lower() in ("lax", "strict") and rest.strip().startswith("$"):
            path.replace(exp.Literal.string(rest.strip()))
            path = node.args.get("path") or node.args.get("expression")
        if not _keys_and_indexes(path.this):
            raise LocalLimitation("The local engine reads JSON paths of keys and indexes only; Athena runs this one.")


def _keys_and_indexes(path: str) -> bool:
    try:
        parts = jsonpath.parse(path).expressions
    except Exception:  # sqlglot's JSON path parser has errors of its own
        return False
    simple = (exp.JSONPathRoot, exp.JSONPathKey, exp.JSONPathSubscript)
    return all(isinstance(part, simple) and not isinstance(part.this, exp.Expression) for part in parts)


def _applied(arguments: dict[str, exp.Expression], body: exp.Expression) -> exp.Expression:
    """`body`, which names each argument as `sdp_call.<name>`, applied to the arguments evaluated once:
    a rewrite that repeated an argument's expression would grow exponentially with nesting."""
    packed = exp.Struct(
        expressions=[exp.PropertyEQ(this=exp.to_identifier(k), expression=v) for k, v in arguments.items()]
    )
    applied = exp.Transform(this=exp.Array(expressions=[packed]), expression=_lambda(body))
    return exp.Anonymous(this="list_extract", expressions=[applied, exp.Literal.number(1)])


def _lambda(body: exp.Expression) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(_CALL)])


def _argument(name: str) -> exp.Column:
    return exp.column(name, table=_CALL)


_CALL = "sdp_call"


def _too_many(count: exp.Expression, name: str, array: exp.Expression) -> exp.Expression:
    """`array`, or an error when it would have more than Athena's limit of entries: DuckDB evaluates
    the count before it builds the array, whose memory its memory limit does not bound."""
    message = f"{name}() would return more than {MAX_ARRAY_ENTRIES} elements, over Athena's limit."
    too_many = exp.GTE(this=count, expression=exp.Literal.number(MAX_ARRAY_ENTRIES))
    error = exp.Anonymous(this="error", expressions=[exp.Literal.string(message)])
    return exp.Case(ifs=[exp.If(this=too_many, true=error)], default=array)


def _sequence(node: exp.GenerateSeries) -> exp.Expression:
    """Athena's sequence(start, stop[, step]): its step is -1 (a day back, for dates) when stop is
    before start, its dates stay dates, and it has at most 10,000 elements."""
    start, stop, step = node.args["start"], node.args["end"], node.args.get("step")
    temporal = any(_is_type(arg, *exp.DataType.TEMPORAL_TYPES) for arg in (start, stop))
    arguments = {"start": start.copy(), "stop": stop.copy()} | ({"step": step.copy()} if step is not None else {})
    first, last = _argument("start"), _argument("stop")
    if step is None:
        forward, backward = (
            (exp.Interval(this=exp.Literal.string(n), unit=exp.var("DAY")) for n in ("1", "-1"))
            if temporal
            else (exp.Literal.number(1), exp.Literal.number(-1))
        )
        by: exp.Expression = exp.If(
            this=exp.LTE(this=first.copy(), expression=last.copy()), true=forward, false=backward
        )
    else:
        by = _argument("step")
    if temporal:  # in seconds: a month counts as 30 days, near enough for a limit
        first_s, last_s, by_s = (exp.Anonymous(this="epoch", expressions=[a.copy()]) for a in (first, last, by))
        count: exp.Expression = exp.Div(this=exp.Paren(this=exp.Sub(this=last_s, expression=first_s)), expression=by_s)
    else:
        count = exp.IntDiv(
            this=exp.Paren(this=exp.Sub(this=last.copy(), expression=first.copy())), expression=by.copy()
        )
    series: exp.Expression = exp.GenerateSeries(start=first, end=last, step=by)
    if _is_type(start, exp.DataType.Type.DATE):
        series = exp.cast(series, exp.DataType.build("DATE[]", dialect="duckdb"))
    return _applied(arguments, _too_many(count, "sequence", series))


def _repeat(node: exp.Repeat) -> exp.Expression:
    """Athena's repeat(element, count) is an array of at most 10,000 elements; DuckDB's repeats text."""
    arguments = {"element": node.this.copy(), "times": node.args["times"].copy()}
    repeated = exp.Repeat(this=exp.Array(expressions=[_argument("element")]), times=_argument("times"))
    return _applied(arguments, _too_many(_argument("times"), "repeat", repeated))


def _pad(node: exp.Pad) -> exp.Expression:
    """lpad and rpad build their text whole, outside DuckDB's memory limit: at most MAX_PADDED_CHARS
    characters, refused before the query runs when the size is written in it, else as it runs."""
    name = "lpad" if node.args.get("is_left") else "rpad"
    too_long = f"{name}() would make text longer than {MAX_PADDED_CHARS} characters, the local engine's limit."
    size = node.expression
    if isinstance(size, exp.Literal) and not size.is_string:
        if float(size.this) > MAX_PADDED_CHARS:
            raise LocalLimitation(too_long)
        return node
    fill = node.args.get("fill_pattern")
    arguments = {"text": node.this.copy(), "size": size.copy()} | ({"fill": fill.copy()} if fill is not None else {})
    padded = exp.Pad(
        this=_argument("text"),
        expression=_argument("size"),
        fill_pattern=_argument("fill") if fill is not None else None,
        is_left=node.args.get("is_left"),
    )
    over = exp.GT(this=_argument("size"), expression=exp.Literal.number(MAX_PADDED_CHARS))
    refused = exp.Anonymous(this="error", expressions=[exp.Literal.string(too_long)])
    return _applied(arguments, exp.Case(ifs=[exp.If(this=over, true=refused)], default=padded))


def _reduce(node: exp.Reduce) -> exp.Expression:
    """reduce(array, initial, merge, finish): DuckDB's has no `finish`, so it is applied to the result."""
    finish = node.args["finish"]
    if not isinstance(finish, exp.Lambda) or len(finish.expressions) != 1:
        raise LocalLimitation("The local engine runs reduce() only with a one-argument finishing function.")
    reduced = node.copy()
    reduced.set("finish", None)
    applied = exp.Transform(this=exp.Array(expressions=[reduced]), expression=finish.copy())
    return exp.Anonymous(this="list_extract", expressions=[applied, exp.Literal.number(1)])


def _nesting(expression: exp.Expression) -> int:
    """How deep functions are nested in one another: below 3 levels, no translation can explode."""
    deepest = 0
    for function in expression.find_all(exp.Func):
        depth, parent = 1, function.parent
        while parent is not None:
            depth += isinstance(parent, exp.Func)
            parent = parent.parent
        deepest = max(deepest, depth)
    return deepest


def _translated_size(node: exp.Expression) -> int:
    """About how long `node` is in DuckDB's SQL, found without writing it all: each function is
    written once with its arguments replaced by placeholders, to count how often each is repeated."""
    children = list(node.iter_expressions())
    sizes = [_translated_size(child) for child in children]
    if not isinstance(node, exp.Func):
        return len(node.name) + 8 + sum(sizes)
    placeholders = {id(child): exp.column(f"sdp_{n}_") for n, child in enumerate(children)}
    arguments = {
        key: [placeholders.get(id(v), v) for v in value]
        if isinstance(value, list)
        else placeholders.get(id(value), value)
        for key, value in node.args.items()
    }
    try:
        written = type(node)(**arguments).sql(dialect="duckdb")
    except Exception:  # a function sqlglot cannot write this way: count each argument once
        return 16 + sum(sizes)
    return len(written) + sum(written.count(f"sdp_{n}_") * size for n, size in enumerate(sizes))


def _is_type(node: exp.Expression, *kinds: exp.DataType.Type) -> bool:
    return node.type is not None and node.type.is_type(*kinds)


def _output_select(expression: exp.Expression) -> exp.Select | None:
    """The SELECT that names the result's columns: the first of a set operation's."""
    while isinstance(expression, exp.SetOperation):
        expression = expression.this
    return expression if isinstance(expression, exp.Select) else None


def _unnamed_outputs(expression: exp.Expression) -> list[int]:
    """The result columns Athena calls `_col0`, `_col1`…: neither aliased nor a column reference.
    (qualify names them after their expression: `a` for json_extract_scalar(j, '$.a').)"""
    select = _output_select(expression)
    if select is None or any(isinstance(p, exp.Star) or p.is_star for p in select.expressions):
        return []  # a star's columns are named by their tables; positions after it are unknown here
    named = (exp.Alias, exp.Column, exp.Dot)
    return [n for n, projection in enumerate(select.expressions) if not isinstance(projection, named)]


def _athena_output_names(expression: exp.Expression, unnamed: list[int]) -> None:
    select = _output_select(expression)
    if select is None:
        return
    for n in unnamed:
        projection = select.expressions[n]
        if isinstance(projection, exp.Alias):
            projection.set("alias", exp.to_identifier(f"_col{n}"))
        else:
            projection.replace(exp.alias_(projection.copy(), f"_col{n}"))
