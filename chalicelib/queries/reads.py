"""Which columns of each table a query reads: what Athena scans of a Parquet table, and so what a
query is estimated to cost and what the local engine counts as scanned.

Read from the guarded query, generously: a column counts when the query names it anywhere,
unqualified or through the table's name or alias (a struct's field counts for its column), and a
bare `*` selecting from the table, or `t.*`, reads every column. A name the table has but the query
means otherwise (an output alias) makes the figure larger, never smaller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from chalicelib.queries.guard import REAL_TABLE, Guarded


def columns_read(guarded: Guarded, columns_of: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """For each table the query reads (`columns_of`: its columns, by table name), the columns it
    reads, in the table's order."""
    query = guarded.expression
    held = {table: {column.lower() for column in columns} for table, columns in columns_of.items()}
    read: dict[str, set[str]] = {table: set() for table in columns_of}
    names: dict[str, set[str]] = {table: {table} for table in columns_of}  # what the query calls each
    for node in query.find_all(exp.Table):
        table = node.meta.get(REAL_TABLE)
        if table in names:
            names[table].add(node.alias_or_name.lower())
    for column in query.find_all(exp.Column):
        parts = [part.name.lower() for part in column.parts]
        for table, called in names.items():
            if parts[0] in called and len(parts) > 1:
                if isinstance(column.this, exp.Star):
                    read[table] |= held[table]
                elif parts[1] in held[table]:
                    read[table].add(parts[1])
            elif parts[0] in held[table]:
                read[table].add(parts[0])
    for join in query.find_all(exp.Join):
        for using in join.args.get("using") or ():
            for table in read:
                if using.name.lower() in held[table]:
                    read[table].add(using.name.lower())
    for scope in traverse_scope(query):
        if any(isinstance(selected, exp.Star) for selected in scope.expression.selects):
            for source in scope.sources.values():
                if isinstance(source, exp.Table) and source.meta.get(REAL_TABLE) in read:
                    read[source.meta[REAL_TABLE]] |= held[source.meta[REAL_TABLE]]
    return {
        table: tuple(column for column in columns if column.lower() in read[table])
        for table, columns in columns_of.items()
    }
