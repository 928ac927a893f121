"""SQL a tenant must never get to run: every statement here is refused by the guard, and the
locked local engine holds against each even with the guard bypassed.

`{own}` is the caller's database, `{other}` another tenant's; `secrets` is another tenant's table,
`sales` and `orders` the caller's own.
"""

from __future__ import annotations

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

SYSTEM_TABLES_AND_CATALOGS = [
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM information_schema.columns",
    'SELECT * FROM "information_schema"."schemata"',
    "SELECT * FROM system.runtime.queries",
    "SELECT * FROM duckdb_tables()",
    "SELECT * FROM duckdb_settings()",
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
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM read_parquet('/tmp/x.parquet')",
    "SELECT * FROM read_json('/etc/hosts')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/passwd')",
    "SELECT * FROM 's3://bucket/tenants/other/curated/x/part-0.parquet'",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM 'https://example.com/x.csv'",
    "SELECT * FROM glob('/*')",
    "SELECT * FROM parquet_scan('/tmp/x')",
    "SELECT * FROM parquet_metadata('/tmp/x')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT read_text('/etc/passwd')",
    "SELECT * FROM iceberg_scan('s3://x/y')",
    "SELECT * FROM delta_scan('/tmp/x')",
    "SELECT getenv('HOME')",
    "SELECT current_setting('memory_limit')",
    "SELECT * FROM query('SELECT 1')",
    "SELECT * FROM query_table('secrets')",
    "SELECT * FROM sales, generate_series(1, 10)",
    "SELECT * FROM TABLE(sequence(1, 2))",
]

ENGINE_COMMANDS = [
    "COPY sales TO '/tmp/x.csv'",
    "COPY (SELECT * FROM sales) TO 's3://other/x'",
    "COPY sales FROM '/etc/passwd'",
    "ATTACH '/tmp/x.db' AS x",
    "ATTACH ':memory:' AS m",
    "DETACH x",
    "INSTALL httpfs",
    "LOAD httpfs",
    "FORCE INSTALL httpfs",
    "PRAGMA database_list",
    "PRAGMA enable_profiling",
    "SET enable_external_access = true",
    "SET memory_limit = '100GB'",
    "RESET memory_limit",
    "SET allowed_directories = ['/']",
    "CALL pragma_version()",
    "USE other",
    "SUMMARIZE sales",
    "EXPORT DATABASE '/tmp/x'",
    "IMPORT DATABASE '/tmp/x'",
    "CHECKPOINT",
    "VACUUM",
]

SEVERAL_STATEMENTS = [
    "SELECT 1; SELECT * FROM secrets",
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
    "MSCK REPAIR TABLE sales",
    "DROP VIEW sales",
]

FUNCTIONS = [
    "SELECT current_user",
    "SELECT current_database()",
    "SELECT current_schema",
    "SELECT session_user",
    "SELECT version()",
    "SELECT pragma_version()",
    "SELECT duckdb_extensions()",
]

HUGE = [
    "SELECT " + "1 + " * 70_000 + "1",
    "SELECT * FROM sales WHERE region IN (" + ", ".join(f"'{n:08d}'" for n in range(30_000)) + ")",
    "(" * 3_000 + "SELECT 1" + ")" * 3_000,
    "SELECT " + "coalesce(" * 2_000 + "1" + ")" * 2_000,
]

CORPUS: list[str] = (
    OTHER_TENANTS_TABLES
    + SYSTEM_TABLES_AND_CATALOGS
    + FILE_AND_URL_READERS
    + ENGINE_COMMANDS
    + SEVERAL_STATEMENTS
    + COMMENTS_AND_UNICODE
    + DDL_AND_DML
    + FUNCTIONS
    + HUGE
)


def corpus(own: str, other: str) -> list[str]:
    """The statements, with the two tenants' database names filled in."""
    return [statement.replace("{own}", own).replace("{other}", other) for statement in CORPUS]
