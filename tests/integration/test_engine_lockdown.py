"""The local engine holds on its own: the hostile corpus run straight against a query's locked
DuckDB connection, the guard bypassed, never reaches another tenant's data or any other file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from chalicelib.queries.engine import TableInfo
from chalicelib.queries.local import LocalEngine, QueryLimits, query_folder
from tests.hostile_sql import CORPUS, corpus

OWN_TENANT = "01AAAAAAAAAAAAAAAAAAAAAAAA"
OTHER_TENANT = "01BBBBBBBBBBBBBBBBBBBBBBBB"
SENTINEL = "OTHER-TENANT-SENTINEL"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("warehouse")
    for tenant, file_id, rows in (
        (OWN_TENANT, "F1", "SELECT 'north' AS region, 1.5 AS amount, 1 AS id"),
        (OWN_TENANT, "F2", "SELECT 1 AS id, 'open' AS state"),
        (OTHER_TENANT, "F3", f"SELECT '{SENTINEL}' AS region, 9.5 AS amount, 1 AS id, 1 AS x"),
    ):
        folder = root / tenant / file_id
        folder.mkdir(parents=True)
        duckdb.sql(rows).write_parquet(str(folder / "part-0.parquet"))
    (root.parent / "outside.csv").write_text(f"secret\n{SENTINEL}\n")
    return root


TABLES = {
    "sales": TableInfo("sales", "F1", [{"name": "region", "type": "varchar"}]),
    "orders": TableInfo("orders", "F2", [{"name": "id", "type": "integer"}]),
}


def _run(engine: LocalEngine, warehouse: Path, sql: str, number: int) -> Any:
    folder = query_folder(warehouse, OWN_TENANT, f"Q{number}")
    folder.mkdir(parents=True, exist_ok=True)
    with engine.locked_connection(folder, readable=warehouse / OWN_TENANT) as con:
        for name, table in TABLES.items():  # the tenant's tables by name, as a hostile query expects
            files = warehouse / OWN_TENANT / table.file_id / "*.parquet"
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{files}')")
        try:
            return con.execute(sql).fetchall()
        except (duckdb.Error, RuntimeError) as refused:
            return refused


def test_the_connection_reads_the_tenants_own_tables(warehouse: Path) -> None:
    engine = LocalEngine(warehouse, results=None, results_bucket="unused", limits=QueryLimits())  # type: ignore[arg-type]
    assert _run(engine, warehouse, "SELECT region, amount FROM sales", 0) == [("north", 1.5)]


@pytest.mark.parametrize("number", range(len(CORPUS)))
def test_every_hostile_statement_is_held_by_the_engine(warehouse: Path, number: int) -> None:
    limits = QueryLimits(timeout_seconds=5)
    engine = LocalEngine(warehouse, results=None, results_bucket="unused", limits=limits)  # type: ignore[arg-type]
    sql = corpus(f"sdp_local_{OWN_TENANT.lower()}", f"sdp_local_{OTHER_TENANT.lower()}")[number]
    outcome = _run(engine, warehouse, sql, number)

    assert SENTINEL not in str(outcome)
    for written in (Path("/tmp/x.csv"), Path("/tmp/x.db"), Path("/tmp/x")):
        assert not written.exists(), f"{sql!r} wrote {written}"
    locked = "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', 'lock_configuration')"
    with engine.locked_connection(query_folder(warehouse, OWN_TENANT, "check"), readable=warehouse / OWN_TENANT) as con:
        settings = dict(con.execute(locked).fetchall())
    assert settings == {"enable_external_access": "false", "lock_configuration": "true"}


def test_a_query_cannot_change_its_limits(warehouse: Path) -> None:
    engine = LocalEngine(warehouse, results=None, results_bucket="unused", limits=QueryLimits())  # type: ignore[arg-type]
    for statement in ("SET memory_limit = '100GB'", "SET enable_external_access = true", "RESET allowed_directories"):
        assert isinstance(_run(engine, warehouse, statement, 999), duckdb.Error)
