"""The local engine: DuckDB, since moto does not execute Athena SQL.

Each tenant has a DuckDB database of its own that can read only that tenant's warehouse folder
(`allowed_directories`, `enable_external_access=false`), loads no extension, spills to the
tenant's folder, stops a query at its time limit, holds the tenant's queries to its memory limit,
and cannot change any of that (`lock_configuration`). Those settings belong to a database, not to
a connection, which is why tenants never share one. Each query runs in a background thread on a
connection of its own to its tenant's database.

The guarded query is transpiled from Athena's dialect with the tables' column types known (so
that integer division stays integer division), each table read straight from its curated Parquet
files, and DuckDB's own statement split must find exactly one SELECT. Results are written as
Parquet (for pages) and CSV, and the CSV goes to the tenant's result prefix in S3, as Athena's
does. The first rows are kept with the query's state, so that the first page, all of most
results, is answered without DuckDB.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from chalicelib.files.objects import ObjectStore
from chalicelib.ingest.types import column_type
from chalicelib.observability import logger
from chalicelib.queries.athena import result_prefix
from chalicelib.queries.engine import SCAN_LIMIT_EXCEEDED, Execution, Page, TableInfo, error, timed_out
from chalicelib.queries.guard import Guarded
from chalicelib.queries.store import QueryRecord, QueryState, Stats

STATE_FILE = "state.json"
RESULT_PARQUET = "result.parquet"
RESULT_CSV = "results.csv"
HEAD_ROWS = 1000  # the API's largest page


@dataclass(frozen=True)
class QueryLimits:
    memory: str = "1GB"
    threads: int = 2
    timeout_seconds: int = 600
    scan_cutoff_bytes: int = 10 * 1024**3


class LocalEngine:
    def __init__(self, warehouse: Path, results: ObjectStore, results_bucket: str, limits: QueryLimits) -> None:
        self._warehouse = warehouse
        self._results = results
        self._results_bucket = results_bucket
        self._limits = limits
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="query")
        self._lock = threading.Lock()
        self._connections: dict[str, Any] = {}
        self._cancelled: set[str] = set()
        self._ended: dict[str, threading.Event] = {}
        self._databases: dict[str, Any] = {}  # tenant id → its locked DuckDB database
        self._publishing: dict[str, threading.Lock] = {}  # query id → held while its CSV is uploaded
        self._published: set[str] = set()
        self._closing = False  # set by close(): every query is cancelled from then on

    def submit(self, record: QueryRecord, guarded: Guarded, tables: dict[str, TableInfo]) -> str:
        folder = self._folder(record)
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._ended[record.query_id] = threading.Event()
        self._save(folder, Execution(QueryState.QUEUED))
        self._pool.submit(self._run, record, guarded, tables, folder)
        return record.query_id

    def status(self, record: QueryRecord) -> Execution:
        saved = self._saved(record)
        if saved is None:
            return Execution(QueryState.FAILED, error=error("query_failed", "The query's state was lost."))
        stats = Stats(**saved["stats"]) if saved.get("stats") else None
        return Execution(QueryState(saved["state"]), stats, saved.get("error"), saved.get("columns", []))

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
            with self._cursor(record.tenant_id) as cursor:
                result = _literal(str(self._folder(record) / RESULT_PARQUET))
                fetched = cursor.execute(f"SELECT * FROM read_parquet({result}) LIMIT {max_rows} OFFSET {offset}")
                rows = [[json_value(value) for value in row] for row in fetched.fetchall()]
        return Page(saved.get("columns", []), rows, str(end) if end < total else None)

    def cancel(self, record: QueryRecord) -> None:
        with self._lock:
            self._cancelled.add(record.query_id)
            connection = self._connections.get(record.query_id)
        if connection is not None:
            connection.interrupt()

    def close(self) -> None:
        """Cancel what still runs and wait for the background work, result uploads included, to end:
        nothing of this engine may outlive the AWS it writes to."""
        with self._lock:
            self._closing = True
            running = list(self._connections.values())
        for connection in running:
            connection.interrupt()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def result_object(self, record: QueryRecord) -> tuple[str, str]:
        self._publish(record)  # normally done already, just after the query ended
        return self._results_bucket, self._result_key(record)

    def _result_key(self, record: QueryRecord) -> str:
        prefix = result_prefix(self._results_bucket, record.tenant_id, record.query_id)
        return prefix.removeprefix(f"s3://{self._results_bucket}/") + RESULT_CSV

    def _publish(self, record: QueryRecord) -> None:
        """Upload a SUCCEEDED query's CSV to its result prefix, once."""
        with self._lock:
            publishing = self._publishing.setdefault(record.query_id, threading.Lock())
        with publishing:
            if record.query_id in self._published:
                return
            self._results.upload(self._folder(record) / RESULT_CSV, self._result_key(record), "text/csv")
            with self._lock:
                self._published.add(record.query_id)
                self._publishing.pop(record.query_id, None)

    # In the background -------------------------------------------------------------------------

    def _run(self, record: QueryRecord, guarded: Guarded, tables: dict[str, TableInfo], folder: Path) -> None:
        import duckdb

        started = time.monotonic()
        if self._was_cancelled(record):
            self._save(folder, Execution(QueryState.CANCELLED))
            self._wake(record)
            return
        self._save(folder, Execution(QueryState.RUNNING))
        head: list[list[Any]] = []
        try:
            with self._cursor(record.tenant_id) as cursor:
                with self._lock:  # a cancel from now on interrupts it; one that came before stops it here
                    cancelled = self._closing or record.query_id in self._cancelled
                    self._connections[record.query_id] = cursor
                if cancelled:
                    execution = Execution(QueryState.CANCELLED)
                else:
                    execution, head = self._execute(cursor, record, guarded, tables, folder, started)
        except duckdb.InterruptException as interrupted:
            if self._was_cancelled(record):
                execution = Execution(QueryState.CANCELLED)
            elif "execution time" in str(interrupted):
                execution = Execution(QueryState.FAILED, error=timed_out(self._limits.timeout_seconds))
            else:
                raise
        except duckdb.Error as failure:
            execution = Execution(QueryState.FAILED, error=error("query_failed", _first_line(str(failure))))
        except Exception as failure:  # a bug of ours: the query fails, the platform goes on
            execution = Execution(QueryState.FAILED, error=error("query_failed", f"The query failed: {failure}."))
        finally:
            with self._lock:
                self._connections.pop(record.query_id, None)
        self._save(folder, execution, head)
        self._wake(record)
        if execution.state is QueryState.SUCCEEDED:
            # After the end is announced, so that the first page does not wait for S3; a download
            # asked for meanwhile waits for this upload (or makes it, if this one failed).
            try:
                self._publish(record)
            except Exception:
                logger.exception("query result upload failed", extra={"query_id": record.query_id})

    def _wake(self, record: QueryRecord) -> None:
        with self._lock:
            ended = self._ended.pop(record.query_id, None)
        if ended is not None:
            ended.set()

    def _execute(
        self,
        cursor: Any,
        record: QueryRecord,
        guarded: Guarded,
        tables: dict[str, TableInfo],
        folder: Path,
        started: float,
    ) -> tuple[Execution, list[list[Any]]]:
        """Run the query; its outcome and its first rows."""
        import duckdb

        files = {name: self._warehouse / record.tenant_id / tables[name].file_id for name in guarded.tables}
        scanned = sum(path.stat().st_size for folder_of in files.values() for path in folder_of.glob("*.parquet"))
        if scanned > self._limits.scan_cutoff_bytes:  # Athena's workgroup cutoff, before reading
            return Execution(QueryState.FAILED, Stats(bytes_scanned=scanned), SCAN_LIMIT_EXCEEDED), []
        sql = to_duckdb(guarded, tables, {name: str(path / "*.parquet") for name, path in files.items()})
        statements = cursor.extract_statements(sql)
        if len(statements) != 1 or statements[0].type.name != "SELECT":
            refused = error("forbidden_sql", "Only one read-only query is allowed.")
            return Execution(QueryState.FAILED, error=refused), []
        description = cursor.execute(f"DESCRIBE {sql}").fetchall()
        described = [(name, column_type(duckdb.sqltype(kind))) for name, kind, *_ in description]
        columns = [{"name": name, "type": kind.athena} for name, kind in described]
        # Each column as ingest stores its type: Parquet has no HUGEINT (a sum of integers), and
        # DuckDB would write it as a DOUBLE, losing digits.
        stored = ", ".join(
            f"CAST(#{n} AS {kind.storage}) AS {_identifier(name)}" for n, (name, kind) in enumerate(described, 1)
        )
        result = _literal(str(folder / RESULT_PARQUET))
        (rows,) = cursor.execute(f"COPY (SELECT {stored} FROM ({sql})) TO {result} (FORMAT parquet)").fetchone()
        csv = folder / RESULT_CSV
        cursor.execute(f"COPY (SELECT * FROM read_parquet({result})) TO {_literal(str(csv))} (HEADER)")
        head = cursor.execute(f"SELECT * FROM read_parquet({result}) LIMIT {HEAD_ROWS}").fetchall()
        runtime = int((time.monotonic() - started) * 1000)
        stats = Stats(runtime_ms=runtime, bytes_scanned=scanned, rows=int(rows))
        return Execution(QueryState.SUCCEEDED, stats, None, columns), [[json_value(v) for v in row] for row in head]

    # Plumbing ----------------------------------------------------------------------------------

    def _folder(self, record: QueryRecord) -> Path:
        return query_folder(self._warehouse, record.tenant_id, record.query_id)

    def _cursor(self, tenant_id: str) -> Any:
        """A new cursor (connection) on the tenant's own database, created locked on first use."""
        with self._lock:
            database = self._databases.get(tenant_id)
            if database is None:
                folder = self._warehouse / tenant_id
                folder.mkdir(parents=True, exist_ok=True)
                database = self.locked_connection(folder / ".spill", readable=folder)
                self._databases[tenant_id] = database
        return database.cursor()

    def locked_connection(self, spill: Path, readable: Path) -> Any:
        """A new DuckDB database that can touch `readable` (a tenant's folder) and nothing else,
        spills into `spill`, and cannot change any of that."""
        import duckdb

        con = duckdb.connect(
            config={
                "memory_limit": self._limits.memory,
                "threads": self._limits.threads,
                "temp_directory": str(spill),
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            }
        )
        # GLOBAL: every cursor of the database inherits these
        con.execute("SET GLOBAL TimeZone = 'UTC'")
        con.execute(f"SET GLOBAL max_execution_time = {self._limits.timeout_seconds * 1000}")
        con.execute(f"SET allowed_directories = [{_literal(str(readable) + '/')}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return con

    def _was_cancelled(self, record: QueryRecord) -> bool:
        with self._lock:
            return self._closing or record.query_id in self._cancelled

    def _saved(self, record: QueryRecord) -> dict[str, Any] | None:
        path = self._folder(record) / STATE_FILE
        return json.loads(path.read_text()) if path.exists() else None

    def _save(self, folder: Path, execution: Execution, head: list[list[Any]] | None = None) -> None:
        state = {
            "state": execution.state.value,
            "stats": asdict(execution.stats) if execution.stats else None,
            "error": execution.error,
            "columns": execution.columns,
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
    its curated Parquet (`files`: name → glob) where given, else a DuckDB table of its name."""
    expression = guarded.with_tables(lambda name: exp.table_(name, db=_TENANT_TABLE, quoted=True))
    columns = {name: {c["name"]: c["type"] for c in tables[name].columns} for name in guarded.tables}
    schema = {_TENANT_TABLE: columns} if columns else {}  # sqlglot takes no empty database
    try:
        qualified = qualify(expression, schema=schema, dialect="athena", validate_qualify_columns=False)
        expression = annotate_types(qualified, schema=schema, dialect="athena")
        _keep_dates(expression)
    except (SqlglotError, KeyError, ValueError):
        pass  # untyped: still correct for everything but the dialects' differences
    _athena_output_names(expression)
    for node in list(expression.find_all(exp.Table)):
        if node.db == _TENANT_TABLE:  # a CTE's name has no database: only the tenant's tables do
            source = exp.ReadParquet(expressions=[exp.Literal.string(files[node.name])]) if files else None
            replacement = exp.Table(this=source or exp.to_identifier(node.name, quoted=True))
            replacement.set("alias", node.args.get("alias"))
            node.replace(replacement)
    return expression.sql(dialect="duckdb")


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


def _athena_output_names(expression: exp.Expression) -> None:
    """Athena calls an unnamed result column `_col0`, `_col1`…; sqlglot's qualify names it `_col_0`."""
    selects = [expression] if isinstance(expression, exp.Select) else []
    if isinstance(expression, exp.SetOperation):
        left: exp.Expression = expression
        while isinstance(left, exp.SetOperation):
            left = left.this
        selects = [left] if isinstance(left, exp.Select) else []
    for select in selects:
        for projection in select.expressions:
            if isinstance(projection, exp.Alias) and re.fullmatch(r"_col_\d+", projection.alias):
                projection.set("alias", exp.to_identifier(projection.alias.replace("_col_", "_col")))


def json_value(value: Any) -> Any:
    """A DuckDB value as JSON: numbers as numbers, null as null, times as Athena writes them."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent == 0 else float(value)
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return json.dumps(value, default=str)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "The query failed."
