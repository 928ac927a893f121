"""The SQL guard: only one read-only query over the tenant's own tables reaches an engine.

An allow-list, engine-independent. The text is parsed as Athena (Trino) SQL; it must be exactly one
statement; every node of its tree must be of a kind recognised here (queries, expressions,
functions known to the dialect or listed below); every real table (CTE names aside, resolved by
scope) must be one of the tenant's, unqualified or qualified with the tenant's own database.
Anything else is refused before an engine sees it: a statement the parser only half understands
(`INSTALL`, `SUMMARIZE` parse as aliases; `LOAD`, `CALL` as commands) has nodes of no allowed kind.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.scope import Scope, traverse_scope

from chalicelib.errors import BadRequest

MAX_SQL_BYTES = 256 * 1024

# sqlglot explains what it could not parse through its logger; the guard says it to the user.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


class InvalidSql(BadRequest):
    code = "invalid_sql"
    message = "The SQL cannot be parsed."


class ForbiddenSql(BadRequest):
    code = "forbidden_sql"
    message = "Only one read-only query over your own tables is allowed."


def _unknown_table(name: str) -> ForbiddenSql:
    # The same words for a table that does not exist and for one that is not yours.
    return ForbiddenSql(message=f"Table '{name}' does not exist: query your own tables (GET /tables).")


REAL_TABLE = "sdp_table"  # meta key: set on each table node the guard approved as the tenant's


@dataclass(frozen=True)
class Guarded:
    """A query that passed: its tree, and the tenant's tables it reads (lower-case names)."""

    expression: exp.Expression
    tables: frozenset[str]

    def with_tables(self, table_for: Callable[[str], exp.Table]) -> exp.Expression:
        """A copy of the query whose real tables (never a CTE of the same name) are replaced, each
        by `table_for(name)`: the engine's qualified name for the tenant's table."""
        copy = self.expression.copy()
        for node in list(copy.find_all(exp.Table)):
            name = node.meta.get(REAL_TABLE)
            if name is not None:
                replacement = table_for(name)
                replacement.set("alias", node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name)))
                node.replace(replacement)
        return copy


# Query structure, references and operators.
_STRUCTURE: tuple[type[exp.Expression], ...] = (
    exp.Select,
    exp.Union,
    exp.Intersect,
    exp.Except,
    exp.Subquery,
    exp.With,
    exp.CTE,
    exp.From,
    exp.Join,
    exp.Where,
    exp.Group,
    exp.Having,
    exp.Qualify,
    exp.Order,
    exp.Ordered,
    exp.Limit,
    exp.Offset,
    exp.Fetch,
    exp.Distinct,
    exp.Window,
    exp.WindowSpec,
    exp.Table,
    exp.TableAlias,
    exp.Alias,
    exp.Column,
    exp.Identifier,
    exp.Star,
    exp.Dot,
    exp.Values,
    exp.Tuple,
    exp.Unnest,
    exp.Lateral,
    exp.TableSample,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Interval,
    exp.DataType,
    exp.DataTypeParam,
    exp.ColumnDef,
    exp.Var,
    exp.Paren,
    exp.Case,
    exp.Between,
    exp.In,
    exp.Is,
    exp.Exists,
    exp.Any,
    exp.All,
    exp.Bracket,
    exp.Lambda,
    exp.Filter,
    exp.WithinGroup,
    exp.IgnoreNulls,
    exp.RespectNulls,
    exp.AtTimeZone,
    exp.Kwarg,
    exp.Slice,
    exp.PropertyEQ,
    exp.JSONPath,  # the '$.a.b' of json_extract and its kin, parsed
    exp.JSONPathPart,
    exp.Binary,  # comparisons, arithmetic, AND/OR, LIKE, ||, bitwise
    exp.Unary,  # NOT, negation, bitwise not
    exp.Func,  # functions the dialect knows; denied ones below
)

# Functions that read files, write files, produce tables or tell about the engine's session.
_DENIED_FUNCTIONS = (
    exp.ReadCSV,
    exp.ReadParquet,
    exp.ToFile,
    exp.GenerateTable,
    exp.JSONTable,
    exp.XMLTable,
    exp.SplitToTable,
    exp.StrtokSplitToTable,
    exp.CurrentUser,
    exp.SessionUser,
    exp.CurrentSchema,
    exp.CurrentSchemas,
    exp.CurrentCatalog,
    exp.CurrentDatabase,
    exp.CurrentRole,
    exp.CurrentVersion,
    exp.CurrentSession,
    exp.CurrentAccount,
    exp.CurrentIpAddress,
    exp.CurrentRegion,
)

# Athena functions sqlglot does not model (they parse as anonymous functions): these and no other.
ANONYMOUS_FUNCTIONS = frozenset(
    {
        "arrays_overlap",
        "checksum",
        "codepoint",
        "e",
        "every",
        "format_datetime",
        "geometric_mean",
        "hamming_distance",
        "histogram",
        "is_finite",
        "is_infinite",
        "json_array_get",
        "json_array_length",
        "json_size",
        "map_agg",
        "map_concat",
        "map_entries",
        "map_filter",
        "map_values",
        "multimap_agg",
        "nan",
        "regexp_position",
        "to_base",
        "to_iso8601",
        "url_decode",
        "url_encode",
        "url_extract_fragment",
        "url_extract_host",
        "url_extract_parameter",
        "url_extract_path",
        "url_extract_port",
        "url_extract_protocol",
        "url_extract_query",
        "zip",
        "zip_with",
    }
)

# Trino reads these bare words as session functions, not columns: they tell about the engine.
_SESSION_WORDS = frozenset(
    {"current_user", "session_user", "current_schema", "current_catalog", "current_role", "current_path", "system_user"}
)

_ROOTS = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Values, exp.Subquery)


def guard(sql: str, tables: Collection[str], database: str) -> Guarded:
    """Check `sql` against the allow-list; `tables` are the tenant's table names, `database` its
    own database (a qualifier it may use). Raises InvalidSql or ForbiddenSql."""
    if len(sql.encode("utf-8")) > MAX_SQL_BYTES:
        raise InvalidSql(message=f"The query is longer than {MAX_SQL_BYTES // 1024} KiB.")
    if "\x00" in sql:
        raise InvalidSql(message="The query contains a NUL character.")
    try:
        expression = _one_statement(sql)
        if not isinstance(expression, _ROOTS):
            raise ForbiddenSql(message="Only a read-only query is allowed: SELECT, WITH, VALUES or a set operation.")
        for node in expression.walk():
            _check_node(node)
        own = {name.lower() for name in tables}
        read = _real_tables(expression, own, database.lower())
    except RecursionError:
        raise InvalidSql(message="The query is nested too deeply.") from None
    return Guarded(expression, frozenset(read))


def _one_statement(sql: str) -> exp.Expression:
    try:
        statements = [statement for statement in sqlglot.parse(sql, read="athena") if statement is not None]
    except ParseError as error:
        raise InvalidSql(message=_parse_problem(error)) from None
    except (TokenError, SqlglotError) as error:
        raise InvalidSql(message=f"The SQL cannot be parsed: {_plain(str(error))}") from None
    if not statements:
        raise InvalidSql(message="The query is empty.")
    if len(statements) > 1:
        raise ForbiddenSql(message="Send exactly one statement.")
    return statements[0]


def _check_node(node: exp.Expression) -> None:
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        if name not in ANONYMOUS_FUNCTIONS:
            raise ForbiddenSql(message=f"Function '{node.name}' is not available.")
        return
    if isinstance(node, _DENIED_FUNCTIONS):
        raise ForbiddenSql(message=f"Function '{node.sql_name()}' is not available.")
    if not isinstance(node, _STRUCTURE) or isinstance(node, exp.Command):
        raise ForbiddenSql(message=f"'{_plain(node.sql(dialect='athena'))[:80]}' is not allowed in a query.")
    if isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
        raise ForbiddenSql(message="Table functions are not allowed; UNNEST is.")
    if isinstance(node, exp.Column) and not node.table and node.name.lower() in _SESSION_WORDS:
        raise ForbiddenSql(message=f"'{node.name}' is not available.")


def _real_tables(expression: exp.Expression, own: set[str], database: str) -> set[str]:
    """The tenant's tables the query reads. Each table node is resolved in its own scope: a name
    a CTE in scope defines is that CTE, anything else must be one of the tenant's tables."""
    try:
        scopes = traverse_scope(expression)
    except (SqlglotError, KeyError, ValueError) as error:
        raise ForbiddenSql(message=f"The query's structure is not supported: {_plain(str(error))}") from None
    read: set[str] = set()
    resolved: set[int] = set()
    for scope in scopes:
        for table in scope.tables:
            source = scope.sources.get(table.alias_or_name)
            qualified = table.args.get("db") is not None or table.args.get("catalog") is not None
            if source is table:
                name = _own_table(table, own, database)
                table.meta[REAL_TABLE] = name
                read.add(name)
            elif not (isinstance(source, Scope) and not qualified):
                raise _unknown_table(table.sql(dialect="athena"))
            resolved.add(id(table))
    # A table no scope accounted for (there should be none) is refused, never let through.
    for table in expression.find_all(exp.Table):
        if id(table) not in resolved:
            raise ForbiddenSql(message=f"Table '{table.sql(dialect='athena')}' is not allowed here.")
    return read


def _own_table(table: exp.Table, own: set[str], database: str) -> str:
    name = table.name.lower()
    shown = table.sql(dialect="athena")
    if table.args.get("catalog") is not None:
        raise _unknown_table(shown)
    if table.args.get("db") is not None and table.db.lower() != database:
        raise _unknown_table(shown)
    if name not in own:
        raise _unknown_table(shown)
    return name


def _parse_problem(error: ParseError) -> str:
    details = error.errors[0] if error.errors else {}
    description = _plain(str(details.get("description", "syntax error")))
    line, column = details.get("line"), details.get("col")
    if line is not None and column is not None:
        return f"Syntax error at line {line}, column {column}: {description}."
    return f"Syntax error: {description}."


def _plain(text: str) -> str:
    """Without the terminal colours sqlglot puts in its messages."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text).strip()
