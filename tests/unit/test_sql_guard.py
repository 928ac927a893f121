"""The SQL guard: the allow-list, scope-aware table checks, clear errors, and the hostile corpus."""

from __future__ import annotations

import pytest
from sqlglot import exp

from chalicelib.queries.guard import ForbiddenSql, InvalidSql, guard
from tests.hostile_sql import CORPUS, corpus

OWN = "sdp_local_01aaaaaaaaaaaaaaaaaaaaaaaa"
OTHER = "sdp_local_01bbbbbbbbbbbbbbbbbbbbbbbb"
TABLES = ["sales", "orders"]


def test_the_corpus_holds_over_a_hundred_statements() -> None:
    assert len(CORPUS) >= 100


@pytest.mark.parametrize("sql", corpus(OWN, OTHER), ids=range(len(CORPUS)))
def test_every_hostile_statement_is_refused(sql: str) -> None:
    with pytest.raises((InvalidSql, ForbiddenSql)):
        guard(sql, TABLES, OWN)


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT * FROM sales", {"sales"}),
        ("select region, count(*) from SALES group by 1", {"sales"}),
        ('SELECT * FROM "Sales"', {"sales"}),
        (f"SELECT * FROM {OWN}.sales", {"sales"}),
        (f'SELECT * FROM "{OWN}"."orders" o JOIN sales s ON o.id = s.id', {"sales", "orders"}),
        ("WITH t AS (SELECT * FROM sales) SELECT * FROM t JOIN orders ON true", {"sales", "orders"}),
        ("WITH secrets AS (SELECT 1 AS x) SELECT * FROM secrets", set()),
        ("WITH a AS (SELECT 1 AS x) SELECT * FROM (SELECT * FROM a) b", set()),
        ("SELECT * FROM sales UNION ALL SELECT * FROM orders", {"sales", "orders"}),
        ("SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(n, s)", set()),
        ("VALUES 1, 2, 3", set()),
        ("SELECT * FROM sales CROSS JOIN UNNEST(ARRAY[1, 2]) AS t(x)", {"sales"}),
        ("SELECT region, row_number() OVER (PARTITION BY region ORDER BY amount) FROM sales", {"sales"}),
        ("SELECT date_trunc('month', day), approx_distinct(region) FROM sales GROUP BY 1", {"sales"}),
        ("SELECT url_extract_host('https://x.org/a'), map_agg(region, amount) FROM sales", {"sales"}),
        ("SELECT transform(ARRAY[1, 2], x -> x * 2)", set()),
        ("SELECT * FROM sales WHERE region LIKE 'n%' ORDER BY amount DESC LIMIT 10", {"sales"}),
        ("SELECT 1 -- trailing comment", set()),
        ("SELECT 1;", set()),
    ],
)
def test_read_only_queries_over_own_tables_pass(sql: str, tables: set[str]) -> None:
    assert guard(sql, TABLES, OWN).tables == frozenset(tables)


def test_another_tenants_table_and_a_missing_one_get_the_same_words() -> None:
    with pytest.raises(ForbiddenSql) as theirs:
        guard("SELECT * FROM secrets", TABLES, OWN)
    with pytest.raises(ForbiddenSql) as missing:
        guard("SELECT * FROM nothing_here", TABLES, OWN)
    assert theirs.value.message.replace("secrets", "X") == missing.value.message.replace("nothing_here", "X")


def test_a_syntax_error_says_where() -> None:
    with pytest.raises(InvalidSql) as raised:
        guard("SELECT region,\nFROM sales WHERE", TABLES, OWN)
    assert "line 2, column" in raised.value.message
    assert "\x1b" not in raised.value.message


def test_too_long_a_query_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(InvalidSql, match="256 KiB"):
        guard("SELECT 1 " + " " * 300_000, TABLES, OWN)


def test_tables_are_rewritten_to_the_engines_names_and_ctes_are_left_alone() -> None:
    guarded = guard("WITH sales AS (SELECT * FROM orders) SELECT * FROM sales s JOIN orders ON true", TABLES, OWN)
    rewritten = guarded.with_tables(lambda name: exp.table_(name, db="db1", quoted=True)).sql("athena")
    assert rewritten == (
        'WITH sales AS (SELECT * FROM "db1"."orders" AS orders) '
        'SELECT * FROM sales AS s JOIN "db1"."orders" AS orders ON TRUE'
    )
    assert guarded.tables == {"orders"}
