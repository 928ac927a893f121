"""What an engine is given is what the guard judged.

Each engine is sent SQL that sqlglot writes from the checked tree, not the user's text, and sqlglot
writes some quoted names and strings back bare. The guard's verdict on the text each engine is given
(Athena's, and the local engine's DuckDB) must be its verdict on the input: names and strings full
of quotes, parentheses, keywords and comment markers are put in every position the allow-list
accepts, and whatever the guard lets through must come out of each engine's writing as the same
query over the same tables, judged acceptable again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from chalicelib.keys import glue_table, tenant_database
from chalicelib.queries.athena import AthenaEngine, ReuseMarks
from chalicelib.queries.dialect import LocalLimitation
from chalicelib.queries.engine import TableInfo
from chalicelib.queries.guard import DUCKDB_FUNCTIONS, ForbiddenSql, Guarded, InvalidSql, duckdb_statement, guard
from chalicelib.queries.local import LocalEngine, QueryLimits
from tests.unit.test_sql_guard import CALLS

TENANT = "01AAAAAAAAAAAAAAAAAAAAAAAA"
DATABASE = tenant_database("sdp_test", TENANT)
COLUMNS = {
    "x": "bigint", "y": "double", "s": "varchar", "d": "date", "ts": "timestamp", "b": "varbinary",
    "j": "varchar", "a": "array(bigint)", "m": "map(varchar,bigint)", "g": "varchar",
}  # fmt: skip
TABLES = {
    name: TableInfo(name, f"F{n}", [{"name": c, "type": t} for c, t in COLUMNS.items()], 1, next_seq=7, hidden=(2, 5))
    for n, name in enumerate(("sales", "orders"))
}
WAREHOUSE = Path("/warehouse")

ATHENA = AthenaEngine(
    None,  # only writes statements here: nothing is sent
    workgroup="wg",
    results_bucket="results",
    database_prefix="sdp_test",
    kms_key_arn=None,
    namespace="test",
    reuse=ReuseMarks(None, "unused"),
    reuse_minutes=0,
)
LOCAL = LocalEngine(WAREHOUSE, lambda _tenant: None, "results", QueryLimits(), record_end=lambda *_: None)  # type: ignore[arg-type,return-value]

# Where a quoted name ({name}) or a string ({text}) may stand in a query the allow-list accepts.
POSITIONS = [
    "SELECT {name} FROM sales",
    "SELECT s.{name} FROM sales AS s",
    "SELECT 1 AS one FROM sales AS {name}",
    "SELECT x AS {name} FROM sales",
    "WITH {name} AS (SELECT 1 AS c) SELECT * FROM {name}",
    "SELECT * FROM (VALUES 1) AS t({name})",
    "SELECT t.{name} FROM (SELECT 1 AS {name}) AS t",
    "SELECT x FROM sales ORDER BY {name}",
    "SELECT x FROM sales GROUP BY {name}",
    "SELECT transform(a, {name} -> {name}) FROM sales",
    "SELECT sum(x) OVER {name} FROM sales WINDOW {name} AS (ORDER BY x)",
    "SELECT ROW(1, 2).{name}",
    "SELECT CAST(ROW(1) AS ROW({name} BIGINT)).{name}",
    "SELECT EXTRACT({name} FROM d) FROM sales",
    "SELECT normalize(s, {name}) FROM sales",
    "SELECT CAST(x AS DECIMAL({name}, 2)) FROM sales",
    "SELECT CAST(x AS DECIMAL(10, {name})) FROM sales",
    "SELECT CAST(x AS VARCHAR({name})) FROM sales",
    "SELECT CAST(x AS CHAR({name})) FROM sales",
    "SELECT CAST(ts AS TIMESTAMP({name})) FROM sales",
    "SELECT CAST(ts AS TIMESTAMP({name}) WITH TIME ZONE) FROM sales",
    "SELECT CAST(m AS MAP({name}, BIGINT)) FROM sales",
    "SELECT INTERVAL '1' {name}",
    "SELECT INTERVAL '1' DAY TO {name}",
    "SELECT INTERVAL '1' {name} TO SECOND",
    "SELECT x FROM sales TABLESAMPLE {name} (10)",
    "SELECT {text}",
    "SELECT {text} || s FROM sales",
    "SELECT x FROM sales WHERE s LIKE {text}",
    "SELECT x FROM sales WHERE s LIKE 'a%' ESCAPE {text}",
    "SELECT x FROM sales WHERE s IN ({text}, 'b')",
    "SELECT EXTRACT({text} FROM d) FROM sales",
    "SELECT CAST(x AS DECIMAL({text}, 2)) FROM sales",
    "SELECT CAST(x AS VARCHAR({text})) FROM sales",
    "SELECT INTERVAL {text} DAY",
    "SELECT date_add({text}, 1, d) FROM sales",
    "SELECT date_diff({text}, d, d) FROM sales",
    "SELECT date_trunc({text}, d) FROM sales",
    "SELECT date_format(ts, {text}) FROM sales",
    "SELECT format_datetime(ts, {text}) FROM sales",
    "SELECT date_parse({text}, '%Y')",
    "SELECT DATE {text}",
    "SELECT TIMESTAMP {text}",
    "SELECT ts AT TIME ZONE {text} FROM sales",
    "SELECT json_extract(j, {text}) FROM sales",
    "SELECT json_extract_scalar(j, {text}) FROM sales",
    "SELECT json_value(j, {text}) FROM sales",
    "SELECT json_query(j, {text}) FROM sales",
    "SELECT json_exists(j, {text}) FROM sales",
    "SELECT json_size(j, {text}) FROM sales",
    "SELECT json_object({text}: 1)",
    "SELECT m[{text}] FROM sales",
    "SELECT element_at(m, {text}) FROM sales",
    "SELECT format({text}, x) FROM sales",
    "SELECT regexp_replace(s, {text}, {text}) FROM sales",
    "SELECT split_part(s, {text}, 1) FROM sales",
    "SELECT trim({text} FROM s) FROM sales",
    "SELECT position({text} IN s) FROM sales",
    "SELECT url_extract_parameter(s, {text}) FROM sales",
    "SELECT listagg(s, {text}) WITHIN GROUP (ORDER BY s) FROM sales",
    "SELECT count(*) FILTER (WHERE s = {text}) FROM sales",
    "SELECT CAST({text} AS BIGINT)",
]

# What hidden SQL is made of: quotes, brackets, keywords, comment markers, and SQL that must never run.
PIECES = [
    '"', "'", "`", "(", ")", "[", "]", "{", "}", ",", ";", ":", ".", " ", "\n", "\\", "%s", "->", "$",
    "--", "/*", "*/", "SELECT ", " FROM ", " AS ", "YEAR", "DAY", "SECOND", " TO ", "1", "x", "sales",
    "current_setting('memory_limit')", "read_parquet('/warehouse/01B/F3/part-0.parquet')",
    "(SELECT * FROM secrets)", "sdp_test01bbbbbbbbbbbbbbbbbbbbbbbb.secrets", "getenv('HOME')",
    "YEAR FROM d), ", ", EXTRACT(YEAR", "10, 2)), ", ", CAST(1 AS DECIMAL(10", "$path",
]  # fmt: skip
payloads = st.lists(st.sampled_from(PIECES) | st.text(max_size=3), min_size=1, max_size=8).map("".join)

# The form of every hole the hostile corpus (tests/hostile_sql.py, EMITTED_AS_WRITTEN) goes through.
ATTACKS = [
    ("SELECT EXTRACT({name} FROM d) FROM sales", "YEAR FROM d), current_setting('memory_limit'), EXTRACT(YEAR"),
    ("SELECT CAST(x AS DECIMAL({name}, 2)) FROM sales", "10, 2)), (SELECT * FROM secrets), CAST(1 AS DECIMAL(10"),
    ("SELECT CAST(x AS VARCHAR({name})) FROM sales", "1)), getenv('HOME'), CAST(1 AS VARCHAR(1"),
    ("SELECT INTERVAL '1' DAY TO {name}", "SECOND, read_parquet('/w/x') AS y, INTERVAL '1' DAY"),
    ("SELECT date_add({text}, 1, d) FROM sales", "DAY, 1, d), current_setting('threads'), date_add(DAY"),
    ("SELECT date_trunc({text}, d) FROM sales", "MONTH, d) FROM sdp_test01bbbbbbbbbbbbbbbbbbbbbbbb.secrets --"),
    ("SELECT {name} FROM sales", "$path"),
]


def _filled(position: str, payload: str) -> str:
    name = '"' + payload.replace('"', '""') + '"'
    text = "'" + payload.replace("'", "''") + "'"
    return position.replace("{name}", name).replace("{text}", text)


def _verdict(sql: str, tables: object = TABLES) -> Guarded | None:
    """The guard's verdict: what it accepted, or None when it refused."""
    try:
        return guard(sql, tables, DATABASE)  # type: ignore[arg-type]
    except (InvalidSql, ForbiddenSql):
        return None


def _catalog_name(name: str) -> str:
    return glue_table(name, TABLES[name].table_id)


def _read(guarded: Guarded) -> dict[str, TableInfo]:
    return {name: TABLES[name] for name in guarded.tables}


def _called(tree: exp.Expression) -> set[str]:
    """The functions a DuckDB text calls by name."""
    return {node.name.lower() for node in tree.find_all(exp.Anonymous)}


_PROPERTY_SETTINGS = settings(
    max_examples=600, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _property(test):
    """Tried on the known holes always, then on what hypothesis makes of the positions."""
    test = _PROPERTY_SETTINGS(given(position=st.sampled_from(POSITIONS), payload=payloads)(test))
    for position, payload in ATTACKS:
        test = example(position=position, payload=payload)(test)
    return test


@_property
def test_the_guards_verdict_on_what_athena_is_given_is_its_verdict_on_the_input(position: str, payload: str) -> None:
    guarded = _verdict(_filled(position, payload))
    if guarded is None:
        return  # refused: no engine is given anything
    try:
        statement = ATHENA.statement(TENANT, guarded, _read(guarded))
    except (ForbiddenSql, InvalidSql) as refused:
        pytest.fail(f"accepted, yet what Athena would be given is refused: {refused.message}")
    in_catalog = {_catalog_name(name) for name in guarded.tables}
    judged_again = _verdict(statement, in_catalog)
    assert judged_again is not None, f"Athena would be given {statement!r}"
    assert judged_again.tables == in_catalog
    tables = sqlglot.parse_one(statement, read="athena").find_all(exp.Table)
    assert {(table.db, table.name) for table in tables if table.db} == {(DATABASE, name) for name in in_catalog}


@_property
def test_the_guards_verdict_on_what_duckdb_is_given_is_its_verdict_on_the_input(position: str, payload: str) -> None:
    guarded = _verdict(_filled(position, payload))
    if guarded is None:
        return
    try:
        statement = LOCAL.statement(TENANT, guarded, _read(guarded))
    except LocalLimitation:
        return  # the local engine says it cannot answer as Athena would: nothing runs
    except (ForbiddenSql, InvalidSql) as refused:
        pytest.fail(f"accepted, yet what DuckDB would be given is refused: {refused.message}")
    tree = sqlglot.parse_one(statement, read="duckdb")
    assert tree.sql(dialect="duckdb") == statement  # written back the same from its own parse
    assert _called(tree) <= DUCKDB_FUNCTIONS, statement
    sources = {
        table.this.expressions[0].name for table in tree.find_all(exp.Table) if isinstance(table.this, exp.ReadParquet)
    }
    assert sources <= {
        str(WAREHOUSE / TENANT / "tables" / TABLES[name].table_id / "*" / "*.parquet") for name in guarded.tables
    }


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_listed_function_is_written_for_each_engine_as_one_the_other_list_allows(name: str) -> None:
    guarded = guard(f"SELECT {CALLS[name]} FROM sales", TABLES, DATABASE)
    statement = ATHENA.statement(TENANT, guarded, _read(guarded))
    assert _verdict(statement, {_catalog_name(name) for name in guarded.tables}) is not None
    try:
        LOCAL.statement(TENANT, guarded, _read(guarded))
    except LocalLimitation:
        assert name in ("soundex", "sha512")  # docs/api.md lists what the local engine does not run


def test_nothing_on_duckdbs_list_reads_files_settings_or_the_catalog() -> None:
    dangerous = {
        "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto", "read_text",
        "read_blob", "glob", "query", "query_table", "getenv", "current_setting", "current_database",
        "current_schema", "current_user", "version", "json_execute_serialized_sql", "sniff_csv",
        "parquet_metadata", "parquet_schema", "duckdb_settings", "duckdb_tables", "pragma_version", "which_secret",
    }  # fmt: skip
    assert not dangerous & DUCKDB_FUNCTIONS


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ('SELECT EXTRACT("YEAR FROM d), 1, EXTRACT(YEAR" FROM d) FROM sales', "is not a unit"),
        ("SELECT date_add('days', 1, d) FROM sales", "'DAYS' is not a unit"),
        ("SELECT CAST(x AS DECIMAL('10', 2)) FROM sales", "must be a whole number"),
        ('SELECT CAST(x AS VARCHAR("5")) FROM sales', "must be a whole number"),
        ("SELECT INTERVAL '1' DAY TO \"SECOND FROM x\"", "is not a unit"),
        ('SELECT "$path" FROM sales', "Names starting with '$'"),
        ('SELECT "$file_size", "$file_modified_time" FROM sales', "Names starting with '$'"),
        ('SELECT x AS "$path" FROM sales', "Names starting with '$'"),
        ("SELECT json_extract(j, '$.a[*]') FROM sales", "keys and indexes only"),
    ],
)
def test_what_would_be_written_back_other_than_it_was_judged_is_refused_saying_why(sql: str, words: str) -> None:
    with pytest.raises(ForbiddenSql, match=words.replace("$", r"\$").replace("[", r"\[")):
        guard(sql, TABLES, DATABASE)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT EXTRACT(year FROM d), EXTRACT(DOW FROM d), date_add('day', 1, d), date_trunc('month', d) FROM sales",
        "SELECT CAST(x AS DECIMAL(10, 2)), CAST(s AS VARCHAR(5)), CAST(ts AS TIMESTAMP(3)) FROM sales",
        "SELECT INTERVAL '2' HOUR, INTERVAL '1' DAY TO SECOND, normalize(s, NFKC) "
        "FROM sales TABLESAMPLE BERNOULLI (50)",
        "SELECT \"a$b\", json_extract(j, '$.a[0].b'), json_value(j, 'lax $[\"a b\"]') "
        'FROM (SELECT 1 AS "a$b", j FROM sales)',
    ],
)
def test_units_sizes_and_names_written_as_athena_has_them_pass(sql: str) -> None:
    guarded = guard(sql, TABLES, DATABASE)
    ATHENA.statement(TENANT, guarded, _read(guarded))
    LOCAL.statement(TENANT, guarded, _read(guarded))


def test_each_engine_reads_a_table_only_from_the_partitions_its_item_shows_as_its_columns() -> None:
    guarded = guard("SELECT count(*) FROM sales AS s TABLESAMPLE BERNOULLI (50)", TABLES, DATABASE)
    for statement, dialect in (
        (ATHENA.statement(TENANT, guarded, _read(guarded)), "athena"),
        (LOCAL.statement(TENANT, guarded, _read(guarded)), "duckdb"),
    ):
        (derived,) = sqlglot.parse_one(statement, read=dialect).find_all(exp.Subquery)
        assert derived.this.args["where"].this.sql(dialect=dialect) == '"_seq" < 7 AND NOT "_seq" IN (2, 5)'
        assert [column.name for column in derived.this.expressions] == list(COLUMNS)  # never the partition column
        assert (derived.alias, derived.args["sample"] is not None) == ("s", True), statement


def test_the_local_engine_is_refused_any_other_read_of_its_files() -> None:
    glob = str(WAREHOUSE / TENANT / "tables" / "F0" / "*" / "*.parquet")
    for options in ("", ", hive_partitioning = true", ", union_by_name = true, hive_partitioning = true",
                    ", hive_partitioning = true, union_by_name = false",
                    ", hive_partitioning = true, union_by_name = true, filename = true"):  # fmt: skip
        tree = sqlglot.parse_one(f"SELECT 1 FROM read_parquet('{glob}'{options})", read="duckdb")
        with pytest.raises(ForbiddenSql):
            duckdb_statement(tree, [glob])
    accepted = sqlglot.parse_one(
        f"SELECT 1 FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true)", read="duckdb"
    )
    assert duckdb_statement(accepted, [glob])
