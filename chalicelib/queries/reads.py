"""Which columns a query reads of each table, reference by reference: what Athena scans of a
Parquet table (a table the query names twice, a self-join say, is scanned twice), and so what a
query is estimated to cost and what the local engine counts as scanned.

A table read inside a `WITH` query counts once for each place the query reads that `WITH` query
(none if it reads it nowhere): Athena (Trino) runs it again at each, as it inlines it.

Read from the guarded query's scopes, generously: in each scope, a column counts for a table the
scope reads when the query names it, through the table's name or alias or unqualified (a struct's
field counts for its column; a column a subquery takes from an outer scope counts there), and `*`
selecting from the table, or `t.*`, reads every column. A name the table has but the query means
otherwise (an output alias) makes the figure larger, never smaller.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from chalicelib.queries.guard import REAL_TABLE, Guarded

# A table's columns each reference of it reads, in the order the query names the table.
Reads = tuple[tuple[str, ...], ...]


def columns_read(guarded: Guarded, columns_of: Mapping[str, Sequence[str]]) -> dict[str, Reads]:
    """For each table the query reads (`columns_of`: its columns, by table name), what each of its
    references reads, each in the table's order."""
    held = {table: {column.lower() for column in columns} for table, columns in columns_of.items()}
    references = [node for node in guarded.expression.find_all(exp.Table) if node.meta.get(REAL_TABLE) in held]
    read: dict[int, set[str]] = {id(node): set() for node in references}
    scopes = traverse_scope(guarded.expression)
    inner = {id(scope.expression): _real_sources(scope, held) for scope in scopes}
    for scope in scopes:
        sources = inner[id(scope.expression)]
        for alias, node in sources.items():
            columns = held[node.meta[REAL_TABLE]]
            read[id(node)] |= _read_in_scope(scope, alias, columns, len(sources) == 1, inner, held)
    times = _times_read(guarded.expression)
    return {
        table: tuple(
            tuple(column for column in columns if column.lower() in read[id(node)])
            for node in references
            if node.meta[REAL_TABLE] == table
            for _ in range(times(node))
        )
        for table, columns in columns_of.items()
    }


def _times_read(query: exp.Expression) -> Callable[[exp.Expression], int]:
    """How many times a part of the query is run: once, or, inside a `WITH` query, once for each
    place the query reads that `WITH` query (each such place counted as often as it is run)."""
    ctes = {cte.alias_or_name.lower(): cte for cte in query.find_all(exp.CTE)}
    readers: dict[str, list[exp.Table]] = {name: [] for name in ctes}
    for node in query.find_all(exp.Table):
        name = node.name.lower()
        if name in readers and REAL_TABLE not in node.meta and node.args.get("db") is None:
            readers[name].append(node)

    @functools.cache
    def uses(name: str) -> int:
        return sum(times(reader) for reader in readers[name])

    def times(node: exp.Expression) -> int:
        within = node.find_ancestor(exp.CTE)
        return 1 if within is None else uses(within.alias_or_name.lower())

    return times


def _real_sources(scope: Scope, held: Mapping[str, set[str]]) -> dict[str, exp.Table]:
    """The tenant's tables the scope reads from directly, by the name the scope calls each."""
    return {
        alias.lower(): source
        for alias, source in scope.sources.items()
        if isinstance(source, exp.Table) and source.meta.get(REAL_TABLE) in held
    }


def _read_in_scope(
    scope: Scope,
    alias: str,
    columns: set[str],
    only_source: bool,
    inner: Mapping[int, Mapping[str, exp.Table]],
    held: Mapping[str, set[str]],
) -> set[str]:
    """The columns of one table (called `alias` in the scope) that the scope reads. `inner`: each
    scope's own tables, by its query's id: an unqualified column of a subquery that one of the
    subquery's own tables has is that table's, not one of an outer scope's."""
    read: set[str] = set()
    for selected in scope.expression.selects:
        if isinstance(selected, exp.Star):
            return set(columns)
        if isinstance(selected, exp.Column) and isinstance(selected.this, exp.Star) and selected.table.lower() == alias:
            return set(columns)
    for column in scope.columns:
        parts = [part.name.lower() for part in column.parts]
        if len(parts) > 1 and parts[0] == alias:
            read |= {parts[1]} & columns
        elif parts[0] in columns and (len(parts) == 1 or only_source or parts[0] not in scope.sources):
            home = column.find_ancestor(exp.Select)
            if home is not None and home is not scope.expression:
                own = inner.get(id(home), {})
                if any(parts[0] in held[table.meta[REAL_TABLE]] for table in own.values()):
                    continue  # the subquery's own table's column
            read.add(parts[0])  # unqualified, or a struct's field of an unqualified column
    for join in scope.expression.args.get("joins") or ():
        read |= {using.name.lower() for using in join.args.get("using") or ()} & columns
    return read
