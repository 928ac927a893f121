"""Athena's SQL in DuckDB's dialect, for the local engine.

A guarded query is transpiled from Athena's dialect with the tables' column types known (so
that integer division stays integer division), each table read straight from its curated Parquet
files, and DuckDB's own statement split must find exactly one SELECT. Where DuckDB would answer
differently from Athena and the difference can be bridged, the transpiled query is adjusted (arrays
from `sequence` and `repeat`, held to Athena's 10,000 elements; padding held to MAX_PADDED_CHARS);
where it cannot, the query fails saying so rather than answer something else.
"""

from __future__ import annotations

import contextlib

from sqlglot import exp, jsonpath
from sqlglot.errors import UnsupportedError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from chalicelib.queries.engine import QueryRejected, TableInfo
from chalicelib.queries.guard import Guarded, duckdb_statement, parquet_source, put_in_place

MAX_ARRAY_ENTRIES = 10_000  # Athena's limit on the arrays sequence() and repeat() make
# lpad and rpad build their text whole, outside DuckDB's memory limit: no more than this each.
MAX_PADDED_CHARS = 1024 * 1024

# Some functions are translated by repeating their arguments (greatest(a, b) becomes a CASE over
# a and b, then GREATEST(a, b)), so nesting them grows the translation exponentially.
MAX_TRANSLATED_CHARS = 1024 * 1024


class LocalLimitation(QueryRejected):
    """A query the local engine cannot answer as Athena would: it fails and says so."""


def to_duckdb(guarded: Guarded, tables: dict[str, TableInfo], files: dict[str, str] | None = None) -> str:
    """The guarded Athena query in DuckDB's dialect, typed by the tables' columns: with types known,
        sqlglot keeps Athena's meaning where the dialects differ (integer division). Each table reads
        its partitions' curated Parquet (`files`: name → glob), only those the table's item does not
    hide, where given; else a DuckDB table of its name. The
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
            replacement = (
                tables[node.name].rows.over(parquet_source(files[node.name]))
                if files
                else exp.Table(this=exp.to_identifier(node.name, quoted=True))
            )
            put_in_place(node, replacement, node.args.get("alias"))
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
