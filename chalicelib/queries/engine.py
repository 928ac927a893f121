"""What a query engine does for the platform: one interface, Athena in AWS, DuckDB locally."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.queries.store import QueryRecord, QueryState, Stats

if TYPE_CHECKING:  # the guard loads sqlglot (~85 ms): only submitting a query needs it
    from chalicelib.queries.guard import Guarded, TableRows


@dataclass(frozen=True)
class TableInfo:
    """One of the tenant's tables as a query reads it: its columns, and which of its partitions
    (files/tables.py) hold its rows as the query was submitted."""

    name: str
    table_id: str
    columns: list[dict[str, str]]
    version: int  # moves with every file added, replaced or deleted
    next_seq: int | None = None  # None: a table that is not partitioned (DuckDB's own)
    hidden: tuple[int, ...] = ()
    # The columns each of the query's references of the table reads (queries/reads.py); None: all, once.
    reads: tuple[tuple[str, ...], ...] | None = None

    @property
    def columns_read(self) -> tuple[str, ...]:
        """Every column some reference reads, in the table's order."""
        names = {column for reference in self.reads or () for column in reference}
        return tuple(column["name"] for column in self.columns if column["name"] in names)

    def scanned(self, sizes: Mapping[str, int]) -> int:
        """What reading the table as the query does costs, by each column's bytes (`sizes`):
        every reference reads its own columns, as Athena scans the table once for each."""
        if self.reads is None:
            return sum(sizes.values())
        return sum(sizes.get(column, 0) for reference in self.reads for column in reference)

    @property
    def rows(self) -> TableRows:
        from chalicelib.queries.guard import TableRows

        return TableRows(tuple(column["name"] for column in self.columns), self.next_seq, self.hidden)


@dataclass(frozen=True)
class Execution:
    """Where a query stands in its engine."""

    state: QueryState
    stats: Stats | None = None
    error: dict[str, str] | None = None
    columns: list[dict[str, str]] = field(default_factory=list)
    started: float | None = None  # epoch seconds when it began to run (not when it was queued)
    ended: float | None = None  # epoch seconds when it ended, where the engine knows
    # The engine writes this end to the job itself (the local engine does, as the query ends), so
    # whoever reads it meanwhile need not.
    recorded_by_engine: bool = False
    reused: bool = False  # answered with an earlier identical result


@dataclass(frozen=True)
class Page:
    columns: list[dict[str, str]]
    rows: list[list[Any]]
    position: str | None  # where the next page starts; None after the last


class QueryRejected(Exception):
    """The engine refused to start the query for a reason of the query's own: it ends FAILED, saying why."""


def reuse_key(user_id: str, guarded_sql: str, tables: Mapping[str, TableInfo]) -> str:
    """What a result may be reused under: the member, the query as the guard passed it (written
    back by sqlglot: spacing and keyword case do not matter) and the id and version of every table
    it reads (a version moves whenever a file is added, replaced or deleted)."""
    versions = sorted((table.table_id, table.version) for table in tables.values())
    return hashlib.sha256(json.dumps([user_id, guarded_sql, versions]).encode()).hexdigest()


class Engine(Protocol):
    def known_id(self, query_id: str) -> str | None:
        """The engine's id for a query, where it is known before the query starts (the local
        engine's is the query's own); None where only starting it tells (Athena's)."""

    def statement(self, tenant_id: str, guarded: Guarded, tables: dict[str, TableInfo]) -> str:
        """The SQL this engine runs for a guarded query over `tables` (those it reads), judged again
        as the engine reads it. Raises ForbiddenSql when that text is not what was judged, and
        QueryRejected when the engine cannot run the query."""

    def reused(self, record: QueryRecord) -> Execution | None:
        """The query's end at once, where the engine holds a result kept under its `reuse_key`
        (put in place as its own); None where it must run (Athena decides as it starts it)."""

    def submit(self, record: QueryRecord, statement: str, tables: dict[str, TableInfo]) -> str:
        """Start `statement` (as `statement()` gave it) over `tables`; the engine's id for it. Returns
        at once: queries run in the background. Raises QueryRejected when the engine will not run it."""

    def status(self, record: QueryRecord) -> Execution: ...

    def wait(self, record: QueryRecord, seconds: float) -> None:
        """Return once the query has ended, or after `seconds`, whichever comes first."""

    def page(self, record: QueryRecord, position: str | None, max_rows: int) -> Page:
        """Up to `max_rows` result rows of a SUCCEEDED query, from `position` (None: the start)."""

    def cancel(self, record: QueryRecord) -> None: ...

    def result_object(self, record: QueryRecord) -> tuple[str, str]:
        """Bucket and key of the whole result as CSV."""


def error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def timed_out(seconds: int) -> dict[str, str]:
    return error("query_timeout", f"The query ran past its time limit of {seconds} s.")


SCAN_LIMIT_EXCEEDED = error("scan_limit_exceeded", "The query would scan more data than your stage allows per query.")
