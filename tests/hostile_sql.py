"""SQL a tenant must never get to run: every statement here is refused by the guard, and the
locked local engine holds against each even with the guard bypassed.

The statements name real places through templates, filled in by `corpus(places)`: `{own}` is the
caller's database, `{other}` another tenant's; `{other_file}` is one of the other tenant's curated
Parquet files, `{other_folder}` its folder, `{traversal_file}` the same file reached through `..`
from the caller's folder `{own_folder}`; `{outside_file}` is a file outside every tenant's folder
and `{outside_dir}` a folder where nothing may be written. `secrets` is another tenant's table,
`sales` and `orders` the caller's own.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Places:
    own: str
    other: str
    own_folder: str
    other_folder: str
    other_file: str
    traversal_file: str
    outside_file: str
    outside_dir: str


OTHER_TENANTS_TABLES = [
    "SELECT * FROM secrets",
    'SELECT * FROM "secrets"',
    "SELECT * FROM SECRETS",
    'SELECT * FROM "SECRETS"',
    "SELECT * FROM {other}.secrets",
    'SELECT * FROM "{other}"."secrets"',
    "SELECT * FROM {other}.sales",
    'SELECT * FROM "{other}".sales AS s',
    "SELECT * FROM awsdatacatalog.{other}.sales",
    'SELECT * FROM "awsdatacatalog"."{own}"."sales"',
    "SELECT * FROM sales, {other}.sales",
    "SELECT * FROM sales JOIN {other}.sales b ON true",
    "SELECT * FROM sales WHERE region IN (SELECT region FROM secrets)",
    "SELECT (SELECT max(x) FROM secrets) FROM sales",
    "WITH s AS (SELECT * FROM secrets) SELECT * FROM s",
    "WITH sales AS (SELECT * FROM secrets) SELECT * FROM sales",
    "SELECT * FROM sales UNION ALL SELECT * FROM secrets",
    "SELECT * FROM (SELECT * FROM secrets) t",
    "SELECT * FROM sales WHERE EXISTS (SELECT 1 FROM secrets)",
    'SELECT * FROM {other}."secrets"',
    "SELECT * FROM `secrets`",
    "SELECT * FROM [secrets]",
    "SELECT * FROM secrets AS sales",
    "SELECT * FROM main.secrets",
    "SELECT * FROM memory.main.secrets",
    "SELECT * FROM sales_backup",
    "SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) a, x",
    "SELECT * FROM sales CROSS JOIN LATERAL (SELECT * FROM secrets) s",
]

# A derived table's alias is not a table: a later name that matches it is a real table, here the
# engine's own catalog views.
ALIASES_NAMED_LIKE_SYSTEM_VIEWS = [
    "SELECT * FROM (SELECT 1 x) AS duckdb_databases, duckdb_databases",
    "SELECT * FROM (SELECT 1 x) AS duckdb_settings CROSS JOIN duckdb_settings",
    "SELECT * FROM (SELECT 1 x) AS duckdb_tables JOIN duckdb_tables ON true",
    "SELECT * FROM (SELECT 1 x) AS sqlite_master, sqlite_master",
    "SELECT * FROM (SELECT 1 x) AS pg_tables, pg_tables",
    "SELECT * FROM (SELECT 1 x) AS information_schema, information_schema.tables",
    "SELECT * FROM (SELECT 1 x) AS tables, information_schema.tables",
    "SELECT * FROM sales AS duckdb_views, duckdb_views",
    "SELECT (SELECT count(*) FROM duckdb_databases) FROM (SELECT 1 x) AS duckdb_databases",
    "WITH x AS (SELECT 1 y) SELECT * FROM (SELECT 1 z) AS duckdb_settings, x, duckdb_settings",
    "SELECT * FROM sales s, LATERAL (SELECT * FROM s)",
    "SELECT * FROM (VALUES 1) AS duckdb_secrets(x), duckdb_secrets",
]

SYSTEM_TABLES_AND_CATALOGS = [
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM information_schema.columns",
    'SELECT * FROM "information_schema"."schemata"',
    "SELECT * FROM system.runtime.queries",
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM duckdb_databases",
    "SELECT * FROM pg_catalog.pg_tables",
    "SELECT * FROM sqlite_master",
    "SELECT * FROM awsdatacatalog.information_schema.tables",
    'SELECT * FROM "sales$partitions"',
    "SHOW TABLES",
    "SHOW DATABASES",
    "SHOW CATALOGS",
    "DESCRIBE sales",
    "EXPLAIN SELECT * FROM sales",
    "EXPLAIN ANALYZE SELECT * FROM sales",
]

FILE_AND_URL_READERS = [
    "SELECT * FROM read_csv('{outside_file}')",
    "SELECT * FROM read_csv_auto('{outside_file}')",
    "SELECT * FROM read_csv('{outside_file}', header = false)",
    "SELECT * FROM read_parquet('{other_file}')",
    "SELECT * FROM read_parquet('{traversal_file}')",
    "SELECT * FROM read_parquet('file://{other_file}')",
    "SELECT * FROM read_parquet(['{own_folder}/F1/part-0.parquet', '{other_file}'])",
    "SELECT * FROM read_parquet('{other_folder}/*/*.parquet')",
    "SELECT * FROM read_parquet('{own_folder}/../*/F3/*.parquet')",
    "SELECT * FROM read_json('{outside_file}')",
    "SELECT * FROM read_text('{outside_file}')",
    "SELECT * FROM read_blob('{other_file}')",
    "SELECT * FROM '{other_file}'",
    "SELECT * FROM '{outside_file}'",
    "SELECT * FROM '{traversal_file}'",
    "SELECT * FROM 's3://bucket/tenants/other/curated/x/part-0.parquet'",
    "SELECT * FROM 'https://example.com/x.csv'",
    "SELECT * FROM glob('{other_folder}/*/*')",
    "SELECT * FROM parquet_scan('{other_file}')",
    "SELECT * FROM parquet_metadata('{other_file}')",
    "SELECT * FROM parquet_schema('{other_file}')",
    "SELECT * FROM sniff_csv('{outside_file}')",
    "SELECT read_text('{outside_file}')",
    "SELECT * FROM iceberg_scan('s3://x/y')",
    "SELECT * FROM delta_scan('{other_folder}')",
    "SELECT getenv('HOME')",
    "SELECT current_setting('memory_limit')",
    "SELECT * FROM query('SELECT * FROM read_parquet(''{other_file}'')')",
    "SELECT * FROM query_table('{other_file}')",
    "SELECT * FROM sales, generate_series(1, 10)",
    "SELECT * FROM TABLE(sequence(1, 2))",
]

ENGINE_COMMANDS = [
    "COPY sales TO '{outside_dir}/x.csv'",
    "COPY (SELECT * FROM sales) TO 's3://other/x'",
    "COPY sales FROM '{outside_file}'",
    "ATTACH '{outside_dir}/x.db' AS x",
    "ATTACH ':memory:' AS m",
    "DETACH x",
    "INSTALL httpfs",
    "LOAD httpfs",
    "LOAD '{outside_dir}/evil.duckdb_extension'",
    "FORCE INSTALL httpfs",
    "PRAGMA database_list",
    "PRAGMA enable_profiling",
    "SET enable_external_access = true",
    "SET GLOBAL enable_external_access = true",
    "SET memory_limit = '100GB'",
    "RESET memory_limit",
    "SET allowed_directories = ['/']",
    "SET allowed_directories = ['{other_folder}/']",
    "SET allowed_paths = ['{other_file}']",
    "SET temp_directory = '{outside_dir}'",
    "CALL pragma_version()",
    "USE other",
    "SUMMARIZE sales",
    "EXPORT DATABASE '{outside_dir}/export'",
    "IMPORT DATABASE '{outside_dir}/export'",
    "CHECKPOINT",
    "VACUUM",
]

SEVERAL_STATEMENTS = [
    "SELECT 1; SELECT * FROM secrets",
    "SELECT 1; SELECT * FROM read_parquet('{other_file}')",
    "SELECT * FROM sales; DROP TABLE sales",
    "SELECT 1;SELECT 2",
    "SELECT * FROM sales -- a comment\n; DELETE FROM sales",
    "SELECT * FROM sales /* ; */ ; SELECT * FROM secrets",
]

COMMENTS_AND_UNICODE = [
    "SELECT * FROM /* sales */ secrets",
    "SELECT * FROM \u0455ecrets",
    'SELECT * FROM "sales\u200b"',
    "SELECT * FROM sale\u0455",
    'SELECT * FROM "{other}"\u00a0.secrets',
    "SELECT * FROM sales WHERE 1 = 1 --\nUNION SELECT * FROM secrets",
    "SELECT * FROM ｓecrets",
    "SELECT 1\x00; DROP TABLE sales",
]

DDL_AND_DML = [
    "DROP TABLE sales",
    "CREATE TABLE x AS SELECT * FROM sales",
    "CREATE VIEW v AS SELECT * FROM secrets",
    "CREATE VIEW v AS SELECT * FROM read_parquet('{other_file}')",
    "CREATE TABLE t AS SELECT * FROM '{outside_file}'",
    "INSERT INTO sales VALUES (1)",
    "UPDATE sales SET region = 'x'",
    "DELETE FROM sales",
    "MERGE INTO sales USING secrets ON true WHEN MATCHED THEN DELETE",
    "ALTER TABLE sales RENAME TO x",
    "TRUNCATE sales",
    "CREATE TEMP TABLE t AS SELECT 1",
    "CREATE MACRO m() AS 1",
    "CREATE SECRET (TYPE S3)",
    "GRANT SELECT ON sales TO someone",
    "UNLOAD (SELECT * FROM sales) TO 's3://x/' WITH (format = 'CSV')",
    "CREATE TABLE x WITH (external_location = 's3://x/') AS SELECT * FROM sales",
    'CREATE TABLE x WITH ("" = 1) AS SELECT 1',
    "CREATE TABLE x WITH (\"\" = 1, format = 'PARQUET') AS SELECT * FROM sales",
    "MSCK REPAIR TABLE sales",
    "DROP VIEW sales",
]

FUNCTIONS = [
    "SELECT current_user",
    "SELECT current_user()",
    "SELECT current_database()",
    "SELECT current_schema",
    "SELECT current_catalog",
    "SELECT current_role",
    "SELECT session_user",
    "SELECT current_statement()",
    "SELECT current_query()",
    "SELECT current_groups()",
    "SELECT host('x')",
    "SELECT version()",
    "SELECT pragma_version()",
    "SELECT duckdb_extensions()",
    "SELECT pg_catalog.upper(region) FROM sales",
    "SELECT main.read_csv('{outside_file}')",
    "SELECT \"read_text\"('{outside_file}')",
    "SELECT upper(region) /* sqlglot.anonymous */, read_blob('{outside_file}') FROM sales",
    "SELECT json_table('[]', '$' COLUMNS (a int))",
    "SELECT * FROM sales WHERE error('x') IS NULL",
]

# SQL hidden in a quoted name or a string where sqlglot writes it back bare: a unit, a type's
# parameter, an interval's end, a date function's unit. Checking the parsed tree alone passed these;
# the text an engine is given would have run what they hide.
EMITTED_AS_WRITTEN = [
    "SELECT EXTRACT(\"YEAR FROM CURRENT_DATE), current_setting('memory_limit'), EXTRACT(YEAR\" FROM current_date)",
    'SELECT EXTRACT("YEAR FROM CURRENT_DATE), (SELECT max(region) FROM read_parquet({other_file_codes})), '
    'EXTRACT(YEAR" FROM current_date)',
    'SELECT EXTRACT("YEAR FROM CURRENT_DATE) FROM {other}.secrets --" FROM current_date)',
    'SELECT EXTRACT("YEAR FROM CURRENT_DATE) AS y FROM secrets, (SELECT 1) AS t '
    'WHERE EXTRACT(YEAR" FROM current_date) > 0',
    "SELECT EXTRACT(\"DAY FROM CURRENT_DATE), getenv('HOME'), EXTRACT(DAY\" FROM current_date) FROM sales",
    'SELECT EXTRACT("YEAR FROM CURRENT_DATE), (SELECT count(*) FROM {other}.secrets), EXTRACT(YEAR" FROM current_date)',
    "SELECT CAST(1 AS DECIMAL(\"10, 2)), current_setting('memory_limit'), CAST(1 AS DECIMAL(10\", 2))",
    'SELECT CAST(1 AS DECIMAL("10, 2)), (SELECT max(region) FROM read_parquet({other_file_codes})), '
    'CAST(1 AS DECIMAL(10", 2))',
    'SELECT CAST(1 AS DECIMAL(10, "2)) FROM {other}.secrets --"))',
    "SELECT CAST('a' AS VARCHAR(\"1)), current_setting('memory_limit'), CAST('a' AS VARCHAR(1\"))",
    "SELECT CAST('a' AS VARCHAR(\"1)), (SELECT * FROM read_csv({outside_file_codes})), CAST('a' AS VARCHAR(1\"))",
    "SELECT CAST('a' AS CHAR(\"1)), current_setting('memory_limit'), CAST('a' AS CHAR(1\"))",
    "SELECT CAST('a' AS CHAR(\"1)) FROM {other}.secrets --\"))",
    "SELECT CAST(NULL AS TIMESTAMP(\"3)), current_setting('memory_limit'), CAST(NULL AS TIMESTAMP(3\"))",
    'SELECT CAST(NULL AS TIMESTAMP("3)), (SELECT content FROM read_text({outside_file_codes})), '
    'CAST(NULL AS TIMESTAMP(3"))',
    "SELECT CAST(NULL AS TIME(\"3)), current_setting('memory_limit'), CAST(NULL AS TIME(3\"))",
    "SELECT CAST(1 AS DECIMAL('10, 2)), current_setting(''threads''), CAST(1 AS DECIMAL(10', 2))",
    "SELECT CAST('a' AS VARCHAR('1)), getenv(''HOME''), CAST(''a'' AS VARCHAR(1'))",
    "SELECT INTERVAL '1' DAY TO \"SECOND, current_setting('memory_limit') AS x, INTERVAL '1' DAY\"",
    "SELECT INTERVAL '1' DAY TO \"SECOND, (SELECT max(region) FROM read_parquet('{other_file}')) AS x, 1 AS y\"",
    "SELECT INTERVAL '1' DAY TO \"SECOND FROM {other}.secrets --\"",
    "SELECT INTERVAL '1' YEAR TO \"MONTH, current_setting('threads') AS x, INTERVAL '1' YEAR TO MONTH\"",
    "SELECT INTERVAL '1' YEAR TO \"MONTH FROM {other}.secrets --\"",
    "SELECT date_add('MONTH, 1, current_date), current_setting(''threads''), date_add(MONTH', 1, current_date)",
    "SELECT date_add('DAY, 1, current_date), current_setting(''memory_limit''), date_add(DAY', 1, current_date)",
    "SELECT date_add('DAY, 1, current_date) FROM {other}.secrets --', 1, current_date)",
    "SELECT date_add('DAY AS a, (SELECT max(region) FROM read_parquet({other_file_codes})) AS b', 1, current_date)",
    "SELECT date_diff('DAY, current_date, current_date), getenv(''HOME''), date_diff(DAY', current_date, current_date)",
    "SELECT date_diff('DAY, current_date, current_date) FROM {other}.secrets --', current_date, current_date)",
    "SELECT date_trunc('MONTH, current_date), current_setting(''memory_limit''), date_trunc(MONTH', current_date)",
    "SELECT date_trunc('MONTH, current_date) FROM {other}.secrets --', current_date)",
    'SELECT CAST(NULL AS VARCHAR("5)) UNION ALL SELECT region FROM secrets UNION ALL SELECT CAST(NULL AS VARCHAR(5"))',
    'SELECT CAST(1 AS DECIMAL(38, "0)), (SELECT count(*) FROM secrets), CAST(1 AS DECIMAL(38, 0"))',
    'SELECT "$path" FROM sales',
    'SELECT "$file_size", "$file_modified_time" FROM sales',
    'SELECT s."$path" FROM sales AS s',
    'SELECT x AS "$path" FROM (SELECT 1 AS x)',
]

NOT_QUERIES = [
    "",
    "   ",
    "\n\t -- only a comment",
    "SELECT",
    "SELECT $1",
    "SELECT $x FROM sales",
    "SELECT ? FROM sales",
    "SELECT :name FROM sales",
    "SELECT @variable",
    "SELECT 'unterminated",
    'SELECT "unterminated',
    "SELECT 1 /* unterminated",
]

HUGE = [
    "SELECT " + "1 + " * 70_000 + "1",
    "SELECT * FROM sales WHERE region IN (" + ", ".join(f"'{n:08d}'" for n in range(30_000)) + ")",
    "(" * 3_000 + "SELECT 1" + ")" * 3_000,
    "SELECT " + "coalesce(" * 2_000 + "1" + ")" * 2_000,
]

CORPUS: list[str] = (
    OTHER_TENANTS_TABLES
    + ALIASES_NAMED_LIKE_SYSTEM_VIEWS
    + SYSTEM_TABLES_AND_CATALOGS
    + FILE_AND_URL_READERS
    + ENGINE_COMMANDS
    + SEVERAL_STATEMENTS
    + COMMENTS_AND_UNICODE
    + DDL_AND_DML
    + FUNCTIONS
    + EMITTED_AS_WRITTEN
    + NOT_QUERIES
    + HUGE
)

# Statements that do read the other tenant's file or the outside file on a DuckDB connection that
# nothing locks down: the engine test runs them there too, to show that it can tell a leak.
READERS = [
    "SELECT * FROM read_csv('{outside_file}')",
    "SELECT * FROM read_csv_auto('{outside_file}')",
    "SELECT * FROM read_parquet('{other_file}')",
    "SELECT * FROM read_parquet('{traversal_file}')",
    "SELECT * FROM read_parquet(['{own_folder}/F1/part-0.parquet', '{other_file}'])",
    "SELECT * FROM read_parquet('{other_folder}/*/*.parquet')",
    "SELECT * FROM read_parquet('{own_folder}/../*/F3/*.parquet')",
    "SELECT * FROM read_text('{outside_file}')",
    "SELECT * FROM '{other_file}'",
    "SELECT * FROM '{outside_file}'",
    "SELECT * FROM '{traversal_file}'",
    "SELECT * FROM glob('{other_folder}/*/*')",
    "SELECT * FROM parquet_scan('{other_file}')",
    "SELECT * FROM parquet_metadata('{other_file}')",
    "SELECT * FROM query('SELECT * FROM read_parquet(''{other_file}'')')",
    "SELECT 1; SELECT * FROM read_parquet('{other_file}')",
]
assert set(READERS) <= set(CORPUS)

# Of those hiding SQL in names, the ones that do read the other tenant's file or the outside file
# once written out as DuckDB's text, on a connection that nothing locks down.
HIDDEN_READERS = [sql for sql in EMITTED_AS_WRITTEN if "_file_codes}" in sql]


def fill(statement: str, places: Places) -> str:
    """The statement with its templates filled in (no str.format: SQL has braces of its own).
    `{<place>_codes}` is the place spelled as SQL that no upper-casing changes: concat(chr(47), …)."""
    for place in fields(places):
        value = getattr(places, place.name)
        statement = statement.replace("{" + place.name + "_codes}", _codes(value))
        statement = statement.replace("{" + place.name + "}", value)
    return statement


def _codes(text: str) -> str:
    return "concat(" + ", ".join(f"chr({ord(character)})" for character in text) + ")"


def corpus(places: Places) -> list[str]:
    """The statements, with the real places filled in."""
    return [fill(statement, places) for statement in CORPUS]
