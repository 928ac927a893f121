"""Queries as jobs: submit, follow, page through, download, cancel; each user sees their own."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import replace

from chalicelib.auth.caller import Caller
from chalicelib.errors import Conflict, NotFound
from chalicelib.files.tables import Tables
from chalicelib.ids import is_id, new_id
from chalicelib.keys import tenant_database
from chalicelib.observability import traced
from chalicelib.queries.cost import Estimate, Pricing
from chalicelib.queries.engine import (
    Engine,
    Execution,
    Page,
    QueryRejected,
    TableInfo,
    error,
    reuse_key,
    timed_out,
)
from chalicelib.queries.guard import Guarded, Parsed, parse
from chalicelib.queries.reads import columns_read
from chalicelib.queries.store import (
    MAX_WAIT_SECONDS,
    QueryRecord,
    QueryState,
    QueryStore,
    TablesChanged,
    TooManyQueries,
)
from chalicelib.queries.usage import BudgetExceeded, Month, UsageStore
from chalicelib.times import iso_time, now


class QueryNotFound(NotFound):
    code = "query_not_found"
    message = "No query of yours with that id."


# DynamoDB's 100 items in a transaction, less the job and its slot: the tables of a query reading
# more than this are not checked again as its job is stored.
MAX_CHECKED_TABLES = 98


class Queries:
    def __init__(
        self,
        jobs: QueryStore,
        tables: Tables,
        engine: Engine,
        usage: UsageStore,
        *,
        database_prefix: str,
        max_running: int,
        retention_seconds: int,
        timeout_seconds: int,
        pricing: Pricing,
        this_month: Callable[[], Month],
    ) -> None:
        self._jobs = jobs
        self._tables = tables
        self._engine = engine
        self._usage = usage
        self._pricing = pricing
        self._month = this_month  # the month (UTC) a query counts in now
        self._database_prefix = database_prefix
        self._max_running = max_running
        self._retention_seconds = retention_seconds
        self._timeout_seconds = timeout_seconds

    def submit(self, caller: Caller, sql: str) -> QueryRecord:
        """Guard the SQL, take a slot, start it: it runs in the background.

        Only the tables the SQL names are looked up, by name, so a submission costs the same
        however many tables the tenant has. The transaction that stores the job checks that each
        is still as looked up; if one changed in between, they are looked up again and what that
        finds goes. Where the tenant has a scan budget, a query whose estimate is more than what is
        left of it is refused (BudgetExceeded) before anything is stored."""
        database = tenant_database(self._database_prefix, caller.tenant_id)
        parsed, names = self._parsed(sql, database)
        month = self._month()
        tables = self._read(caller, names)
        try:
            return self._start(caller, sql, parsed.guarded(tables, database), tables, month, checked=True)
        except TablesChanged:
            tables = self._read(caller, names)
            return self._start(caller, sql, parsed.guarded(tables, database), tables, month, checked=False)

    def estimate(self, caller: Caller, sql: str) -> Estimate:
        """What the query would scan and cost, and whether the budget allows it; nothing runs.
        SQL the guard refuses is refused as it would be for the query itself."""
        read = self.judge(caller, sql)
        allowance = self._usage.allowance(caller.tenant_id, self._month())
        columns = {name: table.columns_read for name, table in read.items()}
        return Estimate(columns, self._to_scan(caller.tenant_id, read), self._pricing, allowance)

    def judge(self, caller: Caller, sql: str) -> dict[str, TableInfo]:
        """Judge `sql` as the query submitted now would be (InvalidSql, ForbiddenSql), running
        nothing; the tables it reads, each with the columns it reads of it."""
        database = tenant_database(self._database_prefix, caller.tenant_id)
        parsed, names = self._parsed(sql, database)
        tables = self._read(caller, names)
        guarded = parsed.guarded(tables, database)
        read = self._reading(guarded, tables)
        # Judged as the engine would be given it. An engine's own refusal is no guard's: the query
        # would start, and end FAILED saying why.
        with traced("sql guard", stage="engine text"), contextlib.suppress(QueryRejected):
            self._engine.statement(caller.tenant_id, guarded, read)
        return read

    def _parsed(self, sql: str, database: str) -> tuple[Parsed, list[str]]:
        with traced("sql guard", stage="parse"):
            parsed = parse(sql)
            return parsed, parsed.table_names(database)

    def _reading(self, guarded: Guarded, tables: dict[str, TableInfo]) -> dict[str, TableInfo]:
        """The tables the query reads, each with the columns it reads of it."""
        read = {name: tables[name] for name in sorted(guarded.tables)}
        columns = columns_read(guarded, {name: [c["name"] for c in table.columns] for name, table in read.items()})
        return {name: replace(table, reads=columns[name]) for name, table in read.items()}

    def _to_scan(self, tenant_id: str, read: dict[str, TableInfo]) -> int:
        """The compressed bytes of the columns read, over the READY files of the tables read."""
        return sum(
            table.scanned(self._tables.column_bytes(tenant_id, table.table_id, table.columns_read))
            for table in read.values()
        )

    def _read(self, caller: Caller, names: list[str]) -> dict[str, TableInfo]:
        return {
            name: TableInfo(name, table.table_id, table.column_views(), table.version, table.next_seq, table.hidden)
            for name, table in self._tables.published(caller.tenant_id, names).items()
        }

    def _start(
        self,
        caller: Caller,
        sql: str,
        guarded: Guarded,
        tables: dict[str, TableInfo],
        month: Month,
        *,
        checked: bool,
    ) -> QueryRecord:
        read = self._reading(guarded, tables)
        query_id = new_id()
        record = QueryRecord(
            tenant_id=caller.tenant_id,
            user_id=caller.user_id,
            query_id=query_id,
            sql=sql,
            status=QueryState.QUEUED,
            submitted_at=now(),
            tables=sorted(guarded.tables),
            engine_id=self._engine.known_id(query_id),  # stored with the job: no second write to say it
            usage_month=month.key,
            reuse_key=reuse_key(caller.user_id, guarded.expression.sql(dialect="athena"), read),
        )
        unchanged = (
            [(table.name, table.table_id, table.version) for table in read.values()]
            if checked and len(read) <= MAX_CHECKED_TABLES
            else []
        )
        reused = self._engine.reused(record)
        if reused is not None:  # scans nothing, so no budget can refuse it; it is stored ended
            ended = self._ended(record, reused)
            self._jobs.create(ended, self._max_running, unchanged)
            return ended
        allowance = self._usage.allowance(caller.tenant_id, month)
        if allowance.budget is not None:
            to_scan = self._to_scan(caller.tenant_id, read)
            if not allowance.allows(to_scan):
                raise BudgetExceeded(to_scan, allowance)
        try:  # the engine's own text, judged again: what it is given is what was judged
            with traced("sql guard", stage="engine text"):
                statement, refusal = self._engine.statement(caller.tenant_id, guarded, read), None
        except QueryRejected as rejected:  # the query's own fault: it is recorded FAILED below
            statement, refusal = "", rejected
        try:
            self._jobs.create(record, self._max_running, unchanged)
        except TooManyQueries:
            if not self._release_finished(caller.tenant_id):
                raise
            self._jobs.create(record, self._max_running, unchanged)
        try:
            if refusal is not None:
                raise refusal
            with traced("query engine", query_id=record.query_id, engine=type(self._engine).__name__):
                engine_id = self._engine.submit(record, statement, read)
        except QueryRejected as rejected:  # the query's own fault: it is recorded FAILED, saying why
            return self._settle(record, Execution(QueryState.FAILED, error=error("query_failed", str(rejected))))
        except Exception:  # the engine's (busy, say): the slot is given back, the caller told to retry
            not_started = error("query_failed", "The query could not start.")
            self._settle(record, Execution(QueryState.FAILED, error=not_started))
            raise
        return record if engine_id == record.engine_id else self._jobs.started(record, engine_id)

    def get(self, caller: Caller, query_id: str, *, wait: float = 0) -> QueryRecord:
        """The query as it stands, waiting up to `wait` seconds for it to end (one that has ended
        already returns at once), then asking the engine once."""
        record = self._own(caller, query_id)
        if wait > 0 and not record.status.finished and record.engine_id is not None:
            self._engine.wait(record, min(wait, MAX_WAIT_SECONDS))
        return self._refresh(record)

    def page(self, record: QueryRecord, position: str | None, max_rows: int) -> Page:
        return self._engine.page(record, position, max_rows)

    def result_object(self, caller: Caller, query_id: str) -> tuple[str, str]:
        record = self.get(caller, query_id)
        if record.status is not QueryState.SUCCEEDED:
            raise Conflict(
                "query_not_succeeded", f"The query is {record.status.value}: only a SUCCEEDED one has results."
            )
        return self._engine.result_object(record)

    def list(self, caller: Caller, limit: int, after: str | None) -> tuple[list[QueryRecord], str | None]:
        records, last = self._jobs.page(caller.tenant_id, caller.user_id, limit, after)
        return [self._refresh(record) for record in records if not record.expired], last

    def cancel(self, caller: Caller, query_id: str) -> QueryRecord:
        """Stop a query that has not ended; one that has stays as it is."""
        record = self._refresh(self._own(caller, query_id))
        if record.status.finished:
            return record
        self._engine.cancel(record)
        return self._settle(record, Execution(QueryState.CANCELLED))

    def record_end(self, record: QueryRecord, execution: Execution) -> QueryRecord:
        """Write a query's end as its engine saw it end (the local engine calls this)."""
        return self._settle(record, execution)

    def _own(self, caller: Caller, query_id: str) -> QueryRecord:
        record = self._jobs.get(caller.tenant_id, caller.user_id, query_id) if is_id(query_id) else None
        if record is None or record.expired:
            raise QueryNotFound()
        return record

    def _refresh(self, record: QueryRecord, *, settle: bool = False) -> QueryRecord:
        """Ask the engine about a query that has not ended; record what it says (an end the engine
        writes itself only if `settle`: it may not have been written yet)."""
        if record.status.finished or record.engine_id is None:
            return record
        execution = self._engine.status(record)
        started = execution.started
        if started is not None and not execution.state.finished and time.time() - started > self._timeout_seconds:
            # The platform's own time limit, whatever the engine's (Athena's is its account quota),
            # counted from when the query began to run: waiting in a queue is not its fault.
            self._engine.cancel(record)
            return self._settle(record, Execution(QueryState.FAILED, execution.stats, timed_out(self._timeout_seconds)))
        if execution.state is QueryState.RUNNING and record.status is QueryState.QUEUED:
            self._jobs.running(record)
            return replace(record, status=QueryState.RUNNING)
        if execution.state.finished:
            left_to_engine = execution.recorded_by_engine and not settle
            return self._ended(record, execution) if left_to_engine else self._settle(record, execution)
        return record

    def _ended(self, record: QueryRecord, execution: Execution) -> QueryRecord:
        ended_at = time.time() if execution.ended is None else execution.ended
        return replace(
            record,
            status=execution.state,
            completed_at=iso_time(ended_at),
            stats=execution.stats,
            error=execution.error,
            columns=execution.columns,
            reused=execution.reused,
            holds_slot=False,
            expires_at=int(ended_at) + self._retention_seconds,
        )

    def _settle(self, record: QueryRecord, execution: Execution) -> QueryRecord:
        ended = self._ended(record, execution)
        if self._jobs.finish(ended):
            return ended
        stored = self._jobs.get(record.tenant_id, record.user_id, record.query_id)
        return stored or ended  # settled meanwhile by another request

    def _release_finished(self, tenant_id: str) -> int:
        """Give back the slots of the tenant's queries that ended unseen; how many."""
        return sum(self._refresh(record, settle=True).status.finished for record in self._jobs.holding_slots(tenant_id))
