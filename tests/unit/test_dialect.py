"""Athena functions on the local engine (DuckDB, through the guard and the transpiler): the ones
that give Athena's answer, and the differences docs/api.md lists. A change in DuckDB or sqlglot that
closes or opens a difference fails here, so the list stays true."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from chalicelib.queries.dialect import LocalLimitation, to_duckdb
from chalicelib.queries.engine import TableInfo
from chalicelib.queries.guard import guard
from chalicelib.queries.host import json_value

TABLES = {"t": TableInfo("t", "F", [{"name": "x", "type": "bigint"}], "V")}
AGGREGATES = {
    "approx_distinct(x)",
    "approx_percentile(x, 0.5)",
    "arbitrary(x) IS NOT NULL",
    "array_agg(x ORDER BY x)",
    "bool_and(x > 0)",
    "count_if(x > 1)",
    "geometric_mean(x)",
    "histogram(x)",
    "map_agg(x, x)",
    "max_by(x, x)",
    "stddev(x)",
    "listagg(CAST(x AS varchar), ',') WITHIN GROUP (ORDER BY x)",
    "variance(x)",
}

# Expression and Athena's (Trino's) answer, which the local engine gives too.
SAME: list[tuple[str, Any]] = [
    ("7 / 2", 3),
    ("-7 / 2", -3),
    ("7.0 / 2", 3.5),
    ("CAST(7 AS double) / 2", 3.5),
    ("7 % 3", 1),
    ("mod(-7, 3)", -1),
    ("round(2.5)", 3),
    ("round(-2.5)", -3),
    ("round(2.567, 2)", 2.57),
    ("'abc' || 'def'", "abcdef"),
    ("substr('hello', 2, 3)", "ell"),
    ("strpos('hello', 'l')", 3),
    ("split_part('a,b,c', ',', 2)", "b"),
    ("regexp_replace('aaa', 'a', 'b')", "bbb"),
    ("regexp_extract('abc123', '[0-9]+')", "123"),
    ("regexp_like('abc', 'b')", True),
    ("length('héllo')", 5),
    ("upper('abc')", "ABC"),
    ("trim('  a ')", "a"),
    ("lpad('7', 3, '0')", "007"),
    ("reverse('abc')", "cba"),
    ("json_extract_scalar('{\"a\": {\"b\": 1}}', '$.a.b')", "1"),
    ("json_array_length('[1, 2, 3]')", 3),
    ("date_trunc('month', DATE '2024-02-15')", "2024-02-01"),
    ("date_add('day', 1, DATE '2024-02-28')", "2024-02-29"),
    ("date_diff('day', DATE '2024-01-01', DATE '2024-03-01')", 60),
    ("day_of_week(DATE '2024-01-07')", 7),
    ("day_of_year(DATE '2024-02-01')", 32),
    ("year(DATE '2024-02-01')", 2024),
    ("month(DATE '2024-02-01')", 2),
    ("week(DATE '2024-01-08')", 2),
    ("quarter(DATE '2024-05-01')", 2),
    ("date_format(TIMESTAMP '2024-01-02 03:04:05', '%Y-%m-%d')", "2024-01-02"),
    ("date_parse('2024-01-02', '%Y-%m-%d')", "2024-01-02 00:00:00.000"),
    ("from_unixtime(0)", "1970-01-01 00:00:00.000"),
    ("to_unixtime(TIMESTAMP '1970-01-02 00:00:00')", 86400.0),
    ("from_iso8601_date('2024-01-02')", "2024-01-02"),
    ("cardinality(ARRAY[1, 2])", 2),
    ("element_at(ARRAY[1, 2, 3], 2)", 2),
    ("contains(ARRAY[1, 2], 2)", True),
    ("array_join(ARRAY['a', 'b'], ',')", "a,b"),
    ("transform(ARRAY[1, 2], x -> x * 2)", "[2, 4]"),
    ("filter(ARRAY[1, 2, 3], x -> x > 1)", "[2, 3]"),
    ("reduce(ARRAY[1, 2, 3], 0, (s, x) -> s + x, s -> s)", 6),
    ("reduce(ARRAY[1, 2, 3], 0, (s, x) -> s + x, s -> s * 10)", 60),
    ("array_max(ARRAY[1, 5, 2])", 5),
    ("sequence(1, 3)", "[1, 2, 3]"),
    ("sequence(3, 1)", "[3, 2, 1]"),
    ("sequence(1, 10, 4)", "[1, 5, 9]"),
    ("cardinality(sequence(DATE '2024-01-01', DATE '2024-03-01'))", 61),
    ("element_at(sequence(DATE '2024-01-03', DATE '2024-01-01'), 3)", "2024-01-01"),
    ("cardinality(sequence(TIMESTAMP '2024-01-01 00:00:00', TIMESTAMP '2024-01-01 06:00:00', INTERVAL '2' HOUR))", 4),
    ("cardinality(sequence(1, 10000))", 10000),
    ("repeat(7, 3)", "[7, 7, 7]"),
    ("cardinality(repeat('ab', 2))", 2),
    ("codepoint('A')", 65),
    ("is_nan(nan())", True),
    ("is_infinite(infinity())", True),
    ("is_finite(1.5)", True),
    ("e()", 2.718281828459045),
    ("nan()", "NaN"),
    ("-infinity()", "-Infinity"),
    ("CAST('Infinity' AS double)", "Infinity"),
    ("format('%s-%03d', 'a', 7)", "a-007"),
    ("json_value('{\"a\": {\"b\": 1}}', 'lax $.a.b')", "1"),
    ("json_query('{\"a\": [1, 2]}', 'strict $.a')", "[1,2]"),
    ("TRY_CAST('x' AS integer)", None),
    ("CAST('12' AS integer)", 12),
    ("if(1 > 0, 'y', 'n')", "y"),
    ("nullif(1, 1)", None),
    ("greatest(1, 5, 3)", 5),
    ("coalesce(NULL, 2)", 2),
    ("to_hex(CAST('ab' AS varbinary))", "6162"),
    ("md5(to_utf8('a'))", "0cc175b9c0f1b6a831c399e269772661"),
    ("chr(65)", "A"),
    ("CAST(1.5 AS decimal(10, 2))", 1.5),
    ("approx_distinct(x)", 3),
    ("approx_percentile(x, 0.5)", 2),
    ("arbitrary(x) IS NOT NULL", True),
    ("max_by(x, x)", 3),
    ("count_if(x > 1)", 2),
    ("bool_and(x > 0)", True),
    ("array_agg(x ORDER BY x)", "[1, 2, 3]"),
    ("listagg(CAST(x AS varchar), ',') WITHIN GROUP (ORDER BY x)", "1,2,3"),
    ("geometric_mean(x)", 1.8171205928321397),
    ("stddev(x)", 1.0),
    ("variance(x)", 1.0),
]

# Expression, Athena's answer, and what the local engine does instead (FAILS: the query fails).
FAILS = "fails"
DIFFERENT: list[tuple[str, Any, Any]] = [
    ("regexp_replace('abc', '(b)', '$1$1')", "abbc", "a$1$1c"),
    ("json_extract_scalar('{\"a\": {\"b\": 1}}', '$.a')", None, '{"b":1}'),
    ("format_datetime(TIMESTAMP '2024-01-02 03:04:05', 'yyyy-MM-dd')", "2024-01-02", FAILS),
    ("slice(ARRAY[1, 2, 3, 4], 2, 2)", "[2, 3]", "[2]"),
    ("typeof(1)", "integer", "INTEGER"),
    ("url_extract_host('https://example.com/a?b=1')", "example.com", FAILS),
    ("histogram(x)", None, '{"1": 1, "2": 1, "3": 1}'),
    ("map_agg(x, x)", None, FAILS),
    ("array_distinct(ARRAY[3, 1, 3, 2])", "[3, 1, 2]", "unordered"),
    ("sha512(to_utf8('a'))", None, FAILS),  # sqlglot would write sha256: refused rather than wrong
    ("soundex('Robert')", "R163", FAILS),
    ("cardinality(sequence(1, 10001))", None, FAILS),  # over Athena's limit there too
    ("cardinality(repeat(1, 10001))", None, FAILS),
]


def _local(expression: str) -> Any:
    sql = f"SELECT {expression} FROM t" if expression in AGGREGATES else f"SELECT {expression}"
    guarded = guard(sql, TABLES, "db")
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (1), (2), (3)) v(x)")
        (value,) = con.execute(to_duckdb(guarded, TABLES)).fetchone()
    return json_value(value)


@pytest.mark.parametrize(("expression", "athena"), SAME, ids=[case[0] for case in SAME])
def test_the_local_engine_answers_as_athena_does(expression: str, athena: Any) -> None:
    answer = _local(expression)
    assert answer == (pytest.approx(athena) if isinstance(athena, float) else athena)


@pytest.mark.parametrize(("expression", "athena", "local"), DIFFERENT, ids=[case[0] for case in DIFFERENT])
def test_the_listed_differences_are_still_differences(expression: str, athena: Any, local: Any) -> None:
    if local == FAILS:
        with pytest.raises((duckdb.CatalogException, duckdb.InvalidInputException, LocalLimitation)):
            _local(expression)
    elif local == "unordered":
        answer = _local(expression)
        assert sorted(answer.strip("[]").split(", ")) == sorted(athena.strip("[]").split(", "))
    else:
        answer = _local(expression)
        assert answer == local
        assert answer != athena


def test_nested_functions_whose_translation_would_explode_are_refused() -> None:
    # greatest(a, b) is written as a CASE over both arguments and GREATEST(a, b): each level of
    # nesting doubles the SQL. Thirty levels would be gigabytes; refused before any is written.
    guarded = guard("SELECT " + "greatest(x, " * 30 + "1" + ")" * 30 + " FROM t", TABLES, "db")
    with pytest.raises(LocalLimitation, match="too complex for the local engine"):
        to_duckdb(guarded, TABLES)
    assert _local("greatest(1, greatest(2, greatest(3, 0)))") == 3  # a few levels are fine


def test_fetch_with_ties_is_refused_locally_rather_than_answered_without_the_ties() -> None:
    guarded = guard("SELECT x FROM t ORDER BY x FETCH FIRST 1 ROWS WITH TIES", TABLES, "db")
    with pytest.raises(LocalLimitation, match="WITH TIES"):
        to_duckdb(guarded, TABLES)


def test_unnamed_result_columns_are_named_as_athena_names_them() -> None:
    sql = "SELECT json_extract_scalar(j, '$.a'), x, x + 1, count(*) AS n, t.x FROM t GROUP BY 1, 2, 3, 5"
    tables = {"t": TableInfo("t", "F", [{"name": "x", "type": "bigint"}, {"name": "j", "type": "varchar"}], "V")}
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t AS SELECT 1::BIGINT AS x, '{\"a\": 2}' AS j")
        names = [column[0] for column in con.execute(to_duckdb(guard(sql, tables, "db"), tables)).description]
    assert names == ["_col0", "x", "_col2", "n", "x"]
