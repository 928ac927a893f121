"""The SQL guard: only one read-only query over the tenant's own tables reaches an engine.

An allow-list, engine-independent. The text is parsed as Athena (Trino) SQL; it must be exactly one
statement; every node of its tree must be of a kind recognised here (query structure, expressions,
and functions of the list below); every real table must be one of the tenant's, unqualified or
qualified with the tenant's own database. Only a name that a CTE in scope defines is not a real
table. Anything else is refused before an engine sees it: a statement the parser only half
understands (`INSTALL`, `SUMMARIZE` parse as aliases; `LOAD`, `CALL` as commands) has nodes of no
allowed kind, and a function the list does not name is refused by its name.

An engine is never sent the user's text, but SQL that sqlglot writes from the checked tree, and
sqlglot writes some parts back bare (a unit, a type parameter) that were quoted or a string in the
input. So the text an engine is given is judged again, as that engine reads it: parsed in its
dialect and checked whole, tables included, and it must be written back the same from that parse
(`athena_statement`, `duckdb_statement`). What was judged is what runs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects import athena as _athena_dialect  # noqa: F401
from sqlglot.dialects import duckdb as _duckdb_dialect  # noqa: F401
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError
from sqlglot.optimizer.scope import traverse_scope

from chalicelib.catalog import SEQ_COLUMN
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


# A table's clauses that a derived table in its place also takes.
_TABLE_CLAUSES = ("sample", "laterals", "joins", "pivots")
REAL_TABLE = "sdp_table"  # meta key: set on each table node the guard approved as the tenant's
# How the local engine reads a table's partitions: each its folder `_seq=N`, and the files'
# columns matched by name (a file may lack a column others have). Nothing else may be asked of it.
PARQUET_OPTIONS = ("hive_partitioning", "union_by_name")


@dataclass(frozen=True)
class TableRows:
    """Which rows of a table a query reads: those of the partitions below `next_seq` that are not
    `hidden` (None: the source is not partitioned), as the table's `columns`. No column of a file
    is named `_seq`, and the partition column is never among the columns read."""

    columns: tuple[str, ...]
    next_seq: int | None
    hidden: tuple[int, ...] = ()

    def over(self, source: exp.Expression) -> exp.Expression:
        """A derived table of these rows of `source` (a table, or a table function)."""
        select = exp.select(*(exp.column(name, quoted=True) for name in self.columns)).from_(source)
        if self.next_seq is not None:
            seq = exp.column(SEQ_COLUMN, quoted=True)
            condition: exp.Expression = exp.LT(this=seq, expression=exp.Literal.number(self.next_seq))
            if self.hidden:
                skipped = exp.In(this=seq.copy(), expressions=[exp.Literal.number(n) for n in self.hidden])
                condition = exp.and_(condition, exp.not_(skipped))
            select = select.where(condition)
        return select.subquery()


def put_in_place(table: exp.Table, source: exp.Expression, alias: exp.Expression | None) -> None:
    """Replace a table of the query by `source`, named `alias`, with what the query says of the
    table (a sample, joins) going along."""
    source.set("alias", alias)
    for part in _TABLE_CLAUSES:
        if table.args.get(part):
            source.set(part, table.args[part])
    table.replace(source)


def parquet_source(glob: str) -> exp.Table:
    """The local engine's read of one table's partitions (the only table function it runs)."""
    options = [exp.EQ(this=exp.column(option), expression=exp.true()) for option in PARQUET_OPTIONS]
    return exp.Table(this=exp.ReadParquet(expressions=[exp.Literal.string(glob), *options]))


@dataclass(frozen=True)
class Guarded:
    """A query that passed: its tree, and the tenant's tables it reads (lower-case names)."""

    expression: exp.Expression
    tables: frozenset[str]

    def athena_statement(self, database: str, tables: dict[str, tuple[str, TableRows]]) -> str:
        """The SQL Athena is given: the query with each of the tenant's tables (`tables`: its
        catalog name and the rows a query reads) read from its database, judged again as Athena
        reads it."""
        query = self.with_tables(
            lambda name: tables[name][1].over(exp.table_(tables[name][0], db=database, quoted=True))
        )
        try:  # what sqlglot would write with a part left out (a JSON path's wildcard) is refused
            written = _written(query, ATHENA, unsupported_level=ErrorLevel.RAISE)
        except UnsupportedError as unsupported:
            raise ForbiddenSql(message=f"The query cannot be written for Athena as it is: {unsupported}.") from None
        text, tree = _settled(written, ATHENA)
        _check_tree(tree, text, ATHENA)
        # only the tables judged before, as the catalog names them
        _real_tables(tree, {catalog_name for catalog_name, _ in tables.values()}, database.lower())
        return text

    def with_tables(self, table_for: Callable[[str], exp.Expression]) -> exp.Expression:
        """A copy of the query whose real tables (never a CTE of the same name) are replaced, each
        by `table_for(name)`: the engine's source for the tenant's table, named as the query names it."""
        copy = self.expression.copy()
        for node in list(copy.find_all(exp.Table)):
            name = node.meta.get(REAL_TABLE)
            if name is not None:
                alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
                put_in_place(node, table_for(name), alias)
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
    exp.Var,  # a keyword: only the words of UNITS (checked apart)
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
    exp.JSONPath,  # the '$.a.b' of json_extract and its kin, parsed: keys and indexes, which sqlglot
    exp.JSONPathRoot,  # writes back as they were (a wildcard, a filter or a slice it would leave out)
    exp.JSONPathKey,
    exp.JSONPathSubscript,
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

# The only words sqlglot may hold as a bare keyword (exp.Var): the units of EXTRACT, INTERVAL and the
# date functions (whose unit is a string in Athena, 'day', but a keyword once parsed), Unicode normal
# forms and sampling methods. A keyword is written back unquoted, so any other text held there
# would become SQL of its own in what an engine runs.
UNITS = frozenset(
    {
        "YEAR", "QUARTER", "MONTH", "WEEK", "DAY", "HOUR", "MINUTE", "SECOND", "MILLISECOND",
        "DOW", "DOY", "DAY_OF_WEEK", "DAY_OF_MONTH", "DAY_OF_YEAR", "YEAR_OF_WEEK", "YOW",
        "TIMEZONE_HOUR", "TIMEZONE_MINUTE",
        "ISOYEAR", "ISODOW", "DAYOFWEEK", "DAYOFYEAR",  # DuckDB's names, as the local engine writes some
        "NFC", "NFD", "NFKC", "NFKD",
        "BERNOULLI", "SYSTEM",
    }
)  # fmt: skip

# Athena's pseudo-columns ("$path", "$file_size", …) tell where and how the data is stored. No real
# column starts with "$" (ingest makes every column name SQL-safe), so no name of a query may: an
# alias of that name would be a pseudo-column again wherever a star or a rewrite names it.
_PSEUDO_COLUMN = "$"

# DuckDB's functions as the local engine writes Athena's (tests/unit/test_sql_emitted.py keeps the
# two lists in step): what its text may call, and nothing that reads files, settings or the catalog.
DUCKDB_FUNCTIONS = frozenset(
    {
        "abs", "acos", "all_match", "any_match", "approx_count_distinct", "approx_most_frequent", "approx_set",
        "array_agg", "array_contains", "array_histogram", "array_intersect", "array_length", "array_position",
        "array_slice", "array_to_string", "array_union", "arrays_overlap", "asin", "at_timezone", "atan", "atan2",
        "avg", "beta_cdf", "bit_and", "bit_count", "bit_or", "bit_xor", "bitwise_left_shift",
        "bitwise_right_shift", "bitwise_right_shift_arithmetic", "bool_and", "bool_or", "cbrt", "checksum",
        "coalesce", "combinations", "concat_ws", "contains_sequence", "corr", "cos", "cosh", "cosine_similarity",
        "count", "count_if", "covar_pop", "covar_samp", "crc32", "cume_dist", "current_timezone", "date_diff",
        "date_trunc", "day", "dayofmonth", "dayofyear", "decode", "degrees", "dense_rank", "encode", "epoch",
        "error", "every", "exp", "first_value", "flatten", "format_datetime", "format_number", "from_base",
        "from_base64", "from_base64url", "from_big_endian_32", "from_big_endian_64", "from_ieee754_32",
        "from_ieee754_64", "from_unixtime_nanos", "generate_series", "geometric_mean", "great_circle_distance",
        "greatest", "grouping", "hamming_distance", "hex", "histogram", "hmac_md5", "hmac_sha1", "hmac_sha256",
        "hmac_sha512", "hour", "human_readable_seconds", "inverse_beta_cdf", "inverse_normal_cdf",
        "is_json_scalar", "isfinite", "isinf", "isnan", "isodow", "json", "json_array", "json_array_contains",
        "json_array_get", "json_array_length", "json_exists", "json_size", "json_value", "kurtosis", "lag",
        "last_day", "last_value", "lead", "least", "length", "levenshtein", "list", "list_distinct",
        "list_extract", "list_filter", "list_max", "list_min", "list_reduce", "list_sort", "list_transform", "ln",
        "log", "lower", "lpad", "ltrim", "luhn_check", "map_agg", "map_concat", "map_entries", "map_filter",
        "map_from_entries", "map_keys", "map_union", "map_values", "map_zip_with", "md5", "merge", "millisecond",
        "minute", "month", "multimap_agg", "multimap_from_entries", "murmur3", "ngrams", "none_match",
        "normal_cdf", "nth_value", "ntile", "nullif", "numeric_histogram", "parse_data_size", "parse_duration",
        "percent_rank", "pi", "power", "printf", "quarter", "radians", "random", "rank", "reduce_agg",
        "regexp_extract", "regexp_extract_all", "regexp_matches", "regexp_position", "regexp_replace",
        "regr_intercept", "regr_slope", "repeat", "replace", "reverse", "round", "row", "row_number", "rpad", "rtrim",
        "second", "set_union", "sha1", "sha256", "shuffle", "sign", "sin", "sinh", "skewness", "split_part",
        "split_to_multimap", "spooky_hash_v2_32", "spooky_hash_v2_64", "sqrt", "st_area", "st_astext",
        "st_buffer", "st_contains", "st_distance", "st_geometryfromtext", "st_intersects", "st_length",
        "st_linestring", "st_point", "st_polygon", "st_within", "st_x", "st_y", "starts_with", "stddev",
        "stddev_pop", "stddev_samp", "str_split", "str_split_regex", "str_to_map", "strftime", "strpos",
        "strptime", "sum", "tan", "tanh", "timezone_hour", "timezone_minute", "to_base", "to_base64",
        "to_base64url", "to_big_endian_32", "to_big_endian_64", "to_ieee754_32", "to_ieee754_64", "to_iso8601",
        "to_json", "to_milliseconds", "to_spherical_geography", "to_timestamp", "transform_keys",
        "transform_values", "translate", "trim_array", "trunc", "try", "typeof", "unhex", "unicode", "upper",
        "url_decode", "url_encode", "url_extract_fragment", "url_extract_host", "url_extract_parameter",
        "url_extract_path", "url_extract_port", "url_extract_protocol", "url_extract_query", "uuid", "var_pop",
        "variance", "weekofyear", "width_bucket", "wilson_interval_lower", "wilson_interval_upper",
        "with_timezone", "word_stem", "xxhash64", "year", "yow", "zip", "zip_with",
    }
)  # fmt: skip


@dataclass(frozen=True)
class _Dialect:
    """What one dialect's text may hold."""

    name: str
    functions: frozenset[str]  # called by name, as written
    syntax: tuple[type[exp.Func], ...]  # written as syntax, allowed by kind
    structure: tuple[type[exp.Expression], ...]
    file_sources: bool = False  # a table may be read_parquet('…') of a file set the engine was given


ATHENA = _Dialect("athena", FUNCTIONS, _SYNTAX_FUNCTIONS, _STRUCTURE)
# DuckDB's text holds what the local engine's translation writes: struct literals packing a call's
# arguments, and the aggregates and JSON operators sqlglot writes as syntax there.
DUCKDB = _Dialect(
    "duckdb",
    DUCKDB_FUNCTIONS,
    (
        *_SYNTAX_FUNCTIONS,
        exp.Struct,
        exp.Map,
        exp.AnyValue,
        exp.ApproxQuantile,
        exp.JSONExtractScalar,
        exp.Max,
        exp.Min,
    ),
    (*_STRUCTURE, exp.JSONPathPart),  # json_query's path, a string in Athena's text, is parsed in DuckDB's
    file_sources=True,
)


def guard(sql: str, tables: Collection[str], database: str) -> Guarded:
    """Check `sql` against the allow-list; `tables` are the tenant's table names, `database` its
    own database (a qualifier it may use). Raises InvalidSql or ForbiddenSql."""
    return parse(sql).guarded(tables, database)


def parse(sql: str) -> Parsed:
    """Check `sql` against the allow-list but for its tables, whose names it then gives
    (`Parsed.table_names`) so that only those are looked up; raises InvalidSql or ForbiddenSql."""
    if len(sql.encode("utf-8")) > MAX_SQL_BYTES:
        raise InvalidSql(message=f"The query is longer than {MAX_SQL_BYTES // 1024} KiB.")
    if "\x00" in sql:
        raise InvalidSql(message="The query contains a NUL character.")
    try:
        expression = _one_statement(sql, "athena")
        _check_tree(expression, sql, ATHENA)
    except RecursionError:
        raise InvalidSql(message=_TOO_DEEP) from None
    return Parsed(expression)


_TOO_DEEP = "The query is nested too deeply."


@dataclass(frozen=True)
class Parsed:
    """A statement the allow-list passed, its tables not checked yet."""

    expression: exp.Expression

    def table_names(self, database: str) -> list[str]:
        """The names (lower-case, each once, in the order the tables are checked) of the tables the
        query reads that may be the tenant's: unqualified or in its own `database`, and no CTE in
        scope. Any other table is refused whatever the tenant has."""
        names: dict[str, None] = {}
        try:
            for table, ctes in _scoped_tables(self.expression):
                qualified = table.args.get("db") is not None or table.args.get("catalog") is not None
                if not qualified and table.name.lower() in ctes:
                    continue
                own_database = table.args.get("db") is None or table.db.lower() == database.lower()
                if table.args.get("catalog") is None and own_database:
                    names[table.name.lower()] = None
        except RecursionError:
            raise InvalidSql(message=_TOO_DEEP) from None
        return list(names)

    def guarded(self, tables: Collection[str], database: str) -> Guarded:
        """The query once every real table is found among `tables` (the tenant's table names, or
        those of them the query names); raises ForbiddenSql at the first that is not."""
        try:
            read = _real_tables(self.expression, {name.lower() for name in tables}, database.lower())
        except RecursionError:
            raise InvalidSql(message=_TOO_DEEP) from None
        return Guarded(self.expression, frozenset(read))


def duckdb_statement(query: exp.Expression, files: Collection[str], tables: Collection[str] = ()) -> str:
    """The SQL the local engine runs for `query` (its translation to DuckDB), judged as DuckDB reads
    it: written back from its own parse until that is stable, every table one of `files`
    (read_parquet of that exact glob) or a CTE (or, where the tables are DuckDB's own, one of
    `tables`). Raises UnsupportedError where sqlglot cannot keep a function's meaning in DuckDB."""
    settled, tree = _settled(_written(query, DUCKDB, unsupported_level=ErrorLevel.RAISE), DUCKDB)
    _check_tree(tree, settled, DUCKDB)
    _duckdb_sources(tree, set(files), {name.lower() for name in tables})
    return settled


_UNSETTLED = "The query cannot be written for the engine exactly as it was checked; rewrite it more plainly."


def _written(expression: exp.Expression, dialect: _Dialect, **options: Any) -> str:
    """`expression` as SQL of `dialect`, without comments. UnsupportedError for what sqlglot cannot
    write there (a JSON path's wildcard, or, with `unsupported_level` RAISE, a function whose meaning
    it cannot keep): the caller says what that means for its engine."""
    try:
        return expression.sql(dialect=dialect.name, comments=False, **options)
    except (RecursionError, UnsupportedError):
        raise
    except Exception as error:  # sqlglot's generator raises errors of its own (ValueError, …)
        raise UnsupportedError(_plain(str(error))) from None


def _settled(text: str, dialect: _Dialect) -> tuple[str, exp.Expression]:
    """`text` as the engine will be given it, and its parse in the engine's dialect: text written
    back from its own parse the same (a second writing may only settle how something is spelled)."""
    try:
        for _ in range(3):
            tree = _one_statement(text, dialect.name)
            again = _written(tree, dialect)
            if again == text:
                return text, tree
            text = again
    except (InvalidSql, UnsupportedError):  # what sqlglot wrote, it cannot read or write back
        raise ForbiddenSql(message=_UNSETTLED) from None
    raise ForbiddenSql(message=_UNSETTLED)


def _one_statement(sql: str, dialect: str) -> exp.Expression:
    try:
        statements = [statement for statement in sqlglot.parse(sql, read=dialect) if statement is not None]
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


def _check_tree(expression: exp.Expression, sql: str, dialect: _Dialect) -> None:
    if not isinstance(expression, _ROOTS):
        raise ForbiddenSql(message="Only a read-only query is allowed: SELECT, WITH, VALUES or a set operation.")
    for node in expression.walk():
        if dialect.file_sources and isinstance(node, exp.ReadParquet) and isinstance(node.parent, exp.Table):
            continue  # a table's source: judged with the tables (_duckdb_sources)
        _check_node(node, sql, dialect)


def _check_node(node: exp.Expression, sql: str, dialect: _Dialect) -> None:
    if isinstance(node, exp.Func):
        _check_function(node, sql, dialect)
        return
    if isinstance(node, exp.Placeholder | exp.Parameter):
        raise InvalidSql(message="Query parameters are not supported: write the values into the query.")
    if type(node) in _NOT_IN_ATHENA:
        raise ForbiddenSql(message=_NOT_IN_ATHENA[type(node)])
    if isinstance(node, exp.JSONPathPart) and not isinstance(node, dialect.structure):
        raise ForbiddenSql(message="A JSON path may hold keys and indexes only: '$.a.b', '$[0]', '$[\"a b\"]'.")
    if not isinstance(node, dialect.structure):
        raise ForbiddenSql(message=f"'{_shown(node)}' is not allowed in a query.")
    if isinstance(node, exp.Var) and node.name.upper() not in UNITS:
        raise ForbiddenSql(message=f"'{_plain(node.name)[:80]}' is not a unit: use year, month, day, hour, … .")
    if isinstance(node, exp.DataTypeParam) and not _is_integer(node.this):
        raise ForbiddenSql(message=f"A type's size must be a whole number, not '{_shown(node)}'.")
    if isinstance(node, exp.DataType) and node.this in (exp.DataType.Type.USERDEFINED, exp.DataType.Type.UNKNOWN):
        raise ForbiddenSql(message=f"'{_shown(node)}' is not a type Athena has.")
    if isinstance(node, exp.Select) and not node.expressions:
        raise InvalidSql(message="SELECT needs at least one column or expression.")
    if isinstance(node, exp.Identifier) and not node.quoted and not _BARE_NAME.fullmatch(node.name):
        raise InvalidSql(message=f"'{node.name}' is not a valid name: put a name in double quotes.")
    file_source = dialect.file_sources and isinstance(node, exp.Table) and isinstance(node.this, exp.ReadParquet)
    if isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier) and not file_source:
        raise ForbiddenSql(message="Table functions are not allowed; UNNEST is.")
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
        name = _shown(node).split("(", 1)[0]
        raise ForbiddenSql(message=f"Function '{name}' is not available: call functions by their name alone.")
    if isinstance(node, exp.Column) and not node.table and not node.this.quoted and node.name.lower() in _SESSION_WORDS:
        raise ForbiddenSql(message=f"'{node.name}' is not available.")
    if isinstance(node, exp.Identifier) and node.name.startswith(_PSEUDO_COLUMN):
        raise ForbiddenSql(message=f"Names starting with '$' are not available: '{_plain(node.name)[:80]}'.")


def _is_integer(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit()


def _check_function(node: exp.Func, sql: str, dialect: _Dialect) -> None:
    """A function called by name must be on the list; one written as syntax must be of a known kind."""
    if dialect is ATHENA and isinstance(node, exp.GroupConcat) and not isinstance(node.this, exp.Order):
        # string_agg / group_concat / listagg with no order: Athena's listagg requires one
        raise ForbiddenSql(message="Join strings with listagg(x, separator) WITHIN GROUP (ORDER BY …).")
    name = _called_name(node, sql)
    if name is not None:
        if name.lower() not in dialect.functions:
            raise ForbiddenSql(message=f"Function '{name}' is not available.")
    elif not isinstance(node, dialect.syntax + _OPERATORS):
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


def _duckdb_sources(tree: exp.Expression, files: set[str], tables: set[str]) -> None:
    """Each table of DuckDB's text reads one of the file sets the engine was given, or is a CTE in
    scope (or one of `tables`)."""
    for table, ctes in _scoped_tables(tree):
        if not (_reads_given_files(table, files) or _names_one_of(table, ctes | tables)):
            raise ForbiddenSql(message=f"Table '{_shown(table)}' is not allowed here.")


def _reads_given_files(table: exp.Table, files: set[str]) -> bool:
    """Whether the table is `parquet_source` of one of `files`, exactly."""
    source = table.this
    if not isinstance(source, exp.ReadParquet) or set(source.args) - {"expressions"}:
        return False
    (glob, *options) = source.expressions or [None]
    return (
        isinstance(glob, exp.Literal)
        and glob.is_string
        and glob.this in files
        and [_true_option(option) for option in options] == list(PARQUET_OPTIONS)
    )


def _true_option(option: exp.Expression) -> str | None:
    """The name of a `name = TRUE` option (unquoted, unqualified); None for anything else."""
    if not isinstance(option, exp.EQ) or not isinstance(option.expression, exp.Boolean) or not option.expression.this:
        return None
    name = option.this
    if not isinstance(name, exp.Column) or name.table or not isinstance(name.this, exp.Identifier) or name.this.quoted:
        return None
    return name.name


def _names_one_of(table: exp.Table, names: set[str]) -> bool:
    unqualified = table.args.get("db") is None and table.args.get("catalog") is None
    return isinstance(table.this, exp.Identifier) and unqualified and table.name.lower() in names


def _real_tables(expression: exp.Expression, own: set[str], database: str) -> set[str]:
    """The tenant's tables the query reads. Each table node is resolved in its own scope: an
    unqualified name that a CTE in scope defines is that CTE; anything else, a derived table's
    alias included, must be one of the tenant's tables."""
    read: set[str] = set()
    for table, ctes in _scoped_tables(expression):
        qualified = table.args.get("db") is not None or table.args.get("catalog") is not None
        if qualified or table.name.lower() not in ctes:
            name = _own_table(table, own, database)
            table.meta[REAL_TABLE] = name
            read.add(name)
    return read


def _scoped_tables(expression: exp.Expression) -> list[tuple[exp.Table, set[str]]]:
    """Each table of the query with the names the CTEs in its scope define. A table no scope
    accounts for (there should be none) is refused, never let through."""
    try:
        scopes = traverse_scope(expression)
    except RecursionError:
        raise
    except Exception as error:  # sqlglot's scope analysis has errors of its own on odd trees
        raise ForbiddenSql(message=f"The query's structure is not supported: {_plain(str(error))}") from None
    found = [(table, {name.lower() for name in scope.cte_sources}) for scope in scopes for table in scope.tables]
    accounted = {id(table) for table, _ in found}
    for table in expression.find_all(exp.Table):
        if id(table) not in accounted:
            raise ForbiddenSql(message=f"Table '{_shown(table)}' is not allowed here.")
    return found


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


# sqlglot's words for a construct cut short name its own classes ("Required keyword: 'this' missing for
# <class 'sqlglot.expressions.core.Paren'>"): a person is told what is missing, not how the parser is built.
_INCOMPLETE = re.compile(r"Required keyword: '\w+' missing for <class '[\w.]+'>")


def _parse_problem(error: ParseError) -> str:
    details = error.errors[0] if error.errors else {}
    description = _INCOMPLETE.sub("something is missing here", _plain(str(details.get("description", "syntax error"))))
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
