"""The SQL guard: only one read-only query over the tenant's own tables reaches an engine.

An allow-list, engine-independent. The text is parsed as Athena (Trino) SQL; it must be exactly one
statement; every node of its tree must be of a kind recognised here (query structure, expressions,
and functions of the list below); every real table must be one of the tenant's, unqualified or
qualified with the tenant's own database. Only a name that a CTE in scope defines is not a real
table. Anything else is refused before an engine sees it: a statement the parser only half
understands (`INSTALL`, `SUMMARIZE` parse as aliases; `LOAD`, `CALL` as commands) has nodes of no
allowed kind, and a function the list does not name is refused by its name.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects import athena as _athena_dialect  # noqa: F401
from sqlglot.dialects import duckdb as _duckdb_dialect  # noqa: F401
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.scope import traverse_scope

from chalicelib.errors import BadRequest

MAX_SQL_BYTES = 256 * 1024

# The two dialects above are imported with this module, under the import lock: sqlglot would load
# each on first use, and it registers a dialect before its module has finished, so two first
# queries at once could parse with a half-loaded one ("_TrinoTokenizer is not defined").

# sqlglot explains what it could not parse through its logger; the guard says it to the user.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


class InvalidSql(BadRequest):
    code = "invalid_sql"
    message = "The SQL cannot be parsed."


class ForbiddenSql(BadRequest):
    code = "forbidden_sql"
    message = "Only one read-only query over your own tables is allowed."


class UnknownTable(ForbiddenSql):
    """A name that is none of the tables the guard was given as the tenant's."""


def _unknown_table(name: str, kind: type[ForbiddenSql] = ForbiddenSql) -> ForbiddenSql:
    # The same words for a table that does not exist and for one that is not yours.
    return kind(message=f"Table '{name}' does not exist: query your own tables (GET /tables).")


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


# Query structure, references and operators (functions are checked apart, by name).
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
    exp.Rollup,
    exp.Cube,
    exp.GroupingSets,
    exp.Having,
    exp.Qualify,
    exp.Order,
    exp.Ordered,
    exp.Limit,
    exp.Offset,
    exp.Fetch,
    exp.LimitOptions,
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
    exp.Between,
    exp.In,
    exp.Any,
    exp.All,
    exp.Bracket,
    exp.Lambda,
    exp.Filter,
    exp.WithinGroup,
    exp.IgnoreNulls,
    exp.RespectNulls,
    exp.AtTimeZone,
    exp.Slice,
    exp.JSONValue,  # json_value(j, 'lax $.a'), Trino's SQL/JSON function
    exp.JSONKeyValue,  # json_object('a': 1)
    exp.JSONPath,  # the '$.a.b' of json_extract and its kin, parsed
    exp.JSONPathPart,
    exp.Binary,  # comparisons, arithmetic, AND/OR, LIKE, ||, bitwise
    exp.Unary,  # NOT, negation, bitwise not
)

# Athena's (Trino's) functions the platform offers, as written in a query. Nothing else is called.
FUNCTIONS = frozenset(
    {
        # aggregate
        "any_value", "approx_distinct", "approx_most_frequent", "approx_percentile", "approx_set", "arbitrary",
        "array_agg", "avg", "bitwise_and_agg", "bitwise_or_agg", "bitwise_xor_agg", "bool_and", "bool_or",
        "checksum", "corr", "count", "count_if", "covar_pop", "covar_samp", "every", "geometric_mean",
        "histogram", "kurtosis", "listagg", "map_agg", "map_union", "max", "max_by", "merge", "min", "min_by",
        "multimap_agg", "numeric_histogram", "reduce_agg", "regr_intercept", "regr_slope", "set_agg",
        "set_union", "skewness", "stddev", "stddev_pop", "stddev_samp", "sum", "var_pop", "var_samp", "variance",
        # window
        "cume_dist", "dense_rank", "first_value", "lag", "last_value", "lead", "nth_value", "ntile",
        "percent_rank", "rank", "row_number",
        # conditional, conversion, grouping
        "coalesce", "if", "nullif", "try", "cast", "try_cast", "format", "format_number", "typeof",
        "parse_data_size", "grouping",
        # math
        "abs", "acos", "asin", "atan", "atan2", "beta_cdf", "cbrt", "ceil", "ceiling", "cos", "cosh",
        "cosine_similarity", "degrees", "e", "exp", "floor", "from_base", "greatest", "infinity",
        "inverse_beta_cdf", "inverse_normal_cdf", "is_finite", "is_infinite", "is_nan", "least", "ln", "log",
        "log10", "log2", "mod", "nan", "normal_cdf", "pi", "pow", "power", "radians", "rand", "random", "round",
        "sign", "sin", "sinh", "sqrt", "tan", "tanh", "to_base", "truncate", "width_bucket",
        "wilson_interval_lower", "wilson_interval_upper",
        # bitwise
        "bit_count", "bitwise_and", "bitwise_left_shift", "bitwise_not", "bitwise_or", "bitwise_right_shift",
        "bitwise_right_shift_arithmetic", "bitwise_xor",
        # string
        "chr", "codepoint", "concat", "concat_ws", "from_utf8", "hamming_distance", "length",
        "levenshtein_distance", "lower", "lpad", "ltrim", "luhn_check", "normalize", "position", "replace",
        "reverse", "rpad", "rtrim", "soundex", "split", "split_part", "split_to_map", "split_to_multimap",
        "starts_with", "strpos", "substr", "substring", "to_utf8", "translate", "trim", "upper", "word_stem",
        # regular expressions
        "regexp_count", "regexp_extract", "regexp_extract_all", "regexp_like", "regexp_position",
        "regexp_replace", "regexp_split",
        # binary, encodings and hashes
        "crc32", "from_base64", "from_base64url", "from_big_endian_32", "from_big_endian_64", "from_hex",
        "from_ieee754_32", "from_ieee754_64", "hmac_md5", "hmac_sha1", "hmac_sha256", "hmac_sha512", "md5",
        "murmur3", "sha1", "sha256", "sha512", "spooky_hash_v2_32", "spooky_hash_v2_64", "to_base64",
        "to_base64url", "to_big_endian_32", "to_big_endian_64", "to_hex", "to_ieee754_32", "to_ieee754_64",
        "xxhash64",
        # JSON
        "is_json_scalar", "json_array", "json_array_contains", "json_array_get", "json_array_length",
        "json_exists", "json_extract", "json_extract_scalar", "json_format", "json_object", "json_parse",
        "json_query", "json_size", "json_value",
        # date and time
        "at_timezone", "current_date", "current_time", "current_timestamp", "current_timezone", "date",
        "date_add", "date_diff", "date_format", "date_parse", "date_trunc", "day", "day_of_month", "day_of_week",
        "day_of_year", "dow", "doy", "extract", "format_datetime", "from_iso8601_date", "from_iso8601_timestamp",
        "from_iso8601_timestamp_nanos", "from_unixtime", "from_unixtime_nanos", "hour", "human_readable_seconds",
        "last_day_of_month", "localtime", "localtimestamp", "millisecond", "minute", "month", "now",
        "parse_datetime", "parse_duration", "quarter", "second", "timezone_hour", "timezone_minute",
        "to_iso8601", "to_milliseconds", "to_unixtime", "week", "week_of_year", "with_timezone", "year",
        "year_of_week", "yow",
        # array
        "all_match", "any_match", "array_distinct", "array_except", "array_histogram", "array_intersect",
        "array_join", "array_max", "array_min", "array_position", "array_remove", "array_sort", "array_union",
        "arrays_overlap", "cardinality", "combinations", "contains", "contains_sequence", "element_at",
        "filter", "flatten", "ngrams", "none_match", "reduce", "repeat", "sequence", "shuffle", "slice",
        "transform", "trim_array", "zip", "zip_with",
        # map and row
        "map", "map_concat", "map_entries", "map_filter", "map_from_entries", "map_keys", "map_values",
        "map_zip_with", "multimap_from_entries", "row", "transform_keys", "transform_values",
        # URL
        "url_decode", "url_encode", "url_extract_fragment", "url_extract_host", "url_extract_parameter",
        "url_extract_path", "url_extract_port", "url_extract_protocol", "url_extract_query",
        # geospatial
        "great_circle_distance", "st_area", "st_astext", "st_buffer", "st_contains", "st_distance",
        "st_geometryfromtext", "st_intersects", "st_length", "st_linestring", "st_point", "st_polygon",
        "st_within", "st_x", "st_y", "to_spherical_geography",
        # other
        "uuid",
    }
)  # fmt: skip

# Functions written as syntax rather than a call by name (CAST(x AS t), EXTRACT(y FROM d), CASE,
# ARRAY[…], current_date, …), and those the parser builds inside a named one: allowed by kind.
_SYNTAX_FUNCTIONS: tuple[type[exp.Func], ...] = (
    exp.Cast,
    exp.TryCast,
    exp.Case,
    exp.If,
    exp.Array,
    exp.Unnest,
    exp.Exists,
    exp.Extract,
    exp.Trim,
    exp.Substring,
    exp.StrPosition,
    exp.Ceil,
    exp.Floor,
    exp.Chr,
    exp.Normalize,
    exp.ArgMax,
    exp.ArgMin,
    exp.GroupConcat,
    exp.JSONExtract,
    exp.JSONObject,
    exp.CurrentDate,
    exp.CurrentTime,
    exp.CurrentTimestamp,
    exp.Localtime,
    exp.Localtimestamp,
)

# Operators that sqlglot also counts as functions (AND, OR): fine when written as operators.
_OPERATORS = (exp.Binary, exp.Unary)

# Operators sqlglot reads in Athena's dialect and writes back unchanged, though Athena has none of
# them: the local engine would run them, Athena would not.
_NOT_IN_ATHENA: dict[type[exp.Expression], str] = {
    exp.Glob: "GLOB is not available: use LIKE or regexp_like.",
    exp.SimilarTo: "SIMILAR TO is not available: use LIKE or regexp_like.",
}

# Trino reads these bare words as session functions, not columns: they tell about the engine.
_SESSION_WORDS = frozenset(
    {"current_user", "session_user", "current_schema", "current_catalog", "current_role", "current_path", "system_user"}
)

# Trino's unquoted identifier; anything else (`$1`, a Cyrillic look-alike) must be quoted to be a name.
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

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
            _check_node(node, sql)
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
    except TokenError as error:
        raise InvalidSql(message=_token_problem(error, sql)) from None
    except RecursionError:
        raise
    except Exception as error:  # the parser fails on some input with errors of its own (ValueError, …)
        detail = _plain(str(error)).rstrip(".") or type(error).__name__
        raise InvalidSql(message=f"The SQL cannot be parsed: {detail}.") from None
    if not statements:
        raise InvalidSql(message="The query is empty.")
    if len(statements) > 1:
        raise ForbiddenSql(message="Send exactly one statement.")
    return statements[0]


def _check_node(node: exp.Expression, sql: str) -> None:
    if isinstance(node, exp.Func):
        _check_function(node, sql)
        return
    if isinstance(node, exp.Placeholder | exp.Parameter):
        raise InvalidSql(message="Query parameters are not supported: write the values into the query.")
    if type(node) in _NOT_IN_ATHENA:
        raise ForbiddenSql(message=_NOT_IN_ATHENA[type(node)])
    if not isinstance(node, _STRUCTURE):
        raise ForbiddenSql(message=f"'{_shown(node)}' is not allowed in a query.")
    if isinstance(node, exp.Select) and not node.expressions:
        raise InvalidSql(message="SELECT needs at least one column or expression.")
    if isinstance(node, exp.Identifier) and not node.quoted and not _BARE_NAME.fullmatch(node.name):
        raise InvalidSql(message=f"'{node.name}' is not a valid name: put a name in double quotes.")
    if isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
        raise ForbiddenSql(message="Table functions are not allowed; UNNEST is.")
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
        name = _shown(node).split("(", 1)[0]
        raise ForbiddenSql(message=f"Function '{name}' is not available: call functions by their name alone.")
    if isinstance(node, exp.Column) and not node.table and not node.this.quoted and node.name.lower() in _SESSION_WORDS:
        raise ForbiddenSql(message=f"'{node.name}' is not available.")


def _check_function(node: exp.Func, sql: str) -> None:
    """A function called by name must be on the list; one written as syntax must be of a known kind."""
    if isinstance(node, exp.GroupConcat) and not isinstance(node.this, exp.Order):
        # string_agg / group_concat / listagg with no order: Athena's listagg requires one
        raise ForbiddenSql(message="Join strings with listagg(x, separator) WITHIN GROUP (ORDER BY …).")
    name = _called_name(node, sql)
    if name is not None:
        if name.lower() not in FUNCTIONS:
            raise ForbiddenSql(message=f"Function '{name}' is not available.")
    elif not isinstance(node, _SYNTAX_FUNCTIONS + _OPERATORS):
        raise ForbiddenSql(message=f"Function '{_shown(node).split('(', 1)[0].lower()}' is not available.")


def _called_name(node: exp.Func, sql: str) -> str | None:
    """The name a function was called by, as written; None for one written as syntax."""
    if isinstance(node, exp.Anonymous):
        return node.name
    start, end = node.meta.get("start"), node.meta.get("end")
    if start is None or end is None:  # the parser gives positions to functions called by name only
        return None
    written = sql[start : end + 1].strip('"')
    return written if _BARE_NAME.fullmatch(written) else None


def _real_tables(expression: exp.Expression, own: set[str], database: str) -> set[str]:
    """The tenant's tables the query reads. Each table node is resolved in its own scope: an
    unqualified name that a CTE in scope defines is that CTE; anything else, a derived table's
    alias included, must be one of the tenant's tables."""
    try:
        scopes = traverse_scope(expression)
    except RecursionError:
        raise
    except Exception as error:  # sqlglot's scope analysis has errors of its own on odd trees
        raise ForbiddenSql(message=f"The query's structure is not supported: {_plain(str(error))}") from None
    read: set[str] = set()
    resolved: set[int] = set()
    for scope in scopes:
        ctes = {name.lower() for name in scope.cte_sources}
        for table in scope.tables:
            qualified = table.args.get("db") is not None or table.args.get("catalog") is not None
            if qualified or table.name.lower() not in ctes:
                name = _own_table(table, own, database)
                table.meta[REAL_TABLE] = name
                read.add(name)
            resolved.add(id(table))
    # A table no scope accounted for (there should be none) is refused, never let through.
    for table in expression.find_all(exp.Table):
        if id(table) not in resolved:
            raise ForbiddenSql(message=f"Table '{_shown(table)}' is not allowed here.")
    return read


def _own_table(table: exp.Table, own: set[str], database: str) -> str:
    name = table.name.lower()
    shown = _shown(table)
    if table.args.get("catalog") is not None:
        raise _unknown_table(shown)
    if table.args.get("db") is not None and table.db.lower() != database:
        raise _unknown_table(shown)
    if name not in own:
        raise _unknown_table(shown, UnknownTable)
    return name


def _parse_problem(error: ParseError) -> str:
    details = error.errors[0] if error.errors else {}
    description = _plain(str(details.get("description", "syntax error")))
    line, column = details.get("line"), details.get("col")
    if line is not None and column is not None:
        return f"Syntax error at line {line}, column {column}: {description}."
    return f"Syntax error: {description}."


def _token_problem(error: TokenError, sql: str) -> str:
    """The tokenizer's complaint, with the line and column it names (as `from LINE:OFFSET`)."""
    cause: BaseException | None = error
    while cause is not None:
        found = re.search(r"^(.*?) from \d+:(\d+)$", str(cause))
        if found:
            offset = min(int(found.group(2)), len(sql))
            line = sql.count("\n", 0, offset) + 1
            column = offset - (sql.rfind("\n", 0, offset) + 1) + 1
            problem = found.group(1).replace("Missing ", "missing the closing ", 1)
            return f"Syntax error at line {line}, column {column}: {problem}."
        cause = cause.__cause__
    return "Syntax error: an unterminated string, quoted name or comment, or a character SQL does not use."


def _shown(node: exp.Expression) -> str:
    """The node as Athena SQL, short, for a message; its kind if it cannot be written back."""
    try:
        return _plain(node.sql(dialect="athena"))[:80]
    except Exception:  # a node half-built by the parser may not generate
        return node.key


def _plain(text: str) -> str:
    """Without the terminal colours sqlglot puts in its messages."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text).strip()
