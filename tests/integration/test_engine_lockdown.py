"""The local engine holds on its own: the hostile corpus run straight against a query's locked
DuckDB connection, the guard bypassed, never reaches another tenant's data, any other file, or
writes anything outside. The statements name the other tenant's real Parquet file and a real file
outside every tenant's folder; the same corpus on a connection that nothing locks down does read
them, which shows that this test can tell a leak."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot

from chalicelib.queries.host import HostLimits, locked_database
from chalicelib.queries.local import query_folder
from tests.hostile_sql import CORPUS, EMITTED_AS_WRITTEN, HIDDEN_READERS, READERS, Places, corpus, fill

OWN_TENANT = "01AAAAAAAAAAAAAAAAAAAAAAAA"
OTHER_TENANT = "01BBBBBBBBBBBBBBBBBBBBBBBB"
SENTINEL = "OTHER-TENANT-SENTINEL"
OUTSIDE_SENTINEL = "OUTSIDE-FILE-SENTINEL"


@dataclass(frozen=True)
class Setting:
    warehouse: Path
    places: Places
    outside_dir: Path


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> Setting:
    root = tmp_path_factory.mktemp("lockdown")
    warehouse = root / "warehouse"
    for tenant, file_id, rows in (
        (OWN_TENANT, "F1", "SELECT 'north' AS region, 1.5 AS amount, 1 AS id"),
        (OWN_TENANT, "F2", "SELECT 1 AS id, 'open' AS state"),
        (OTHER_TENANT, "F3", f"SELECT '{SENTINEL}' AS region, 9.5 AS amount, 1 AS id, 1 AS x"),
    ):
        folder = warehouse / tenant / file_id
        folder.mkdir(parents=True)
        duckdb.sql(rows).write_parquet(str(folder / "part-0.parquet"))
    outside_file = root / "outside.csv"
    outside_file.write_text(f"secret\n{OUTSIDE_SENTINEL}\n")
    outside_dir = root / "outside"
    outside_dir.mkdir()
    places = Places(
        own=f"sdp_local_{OWN_TENANT.lower()}",
        other=f"sdp_local_{OTHER_TENANT.lower()}",
        own_folder=str(warehouse / OWN_TENANT),
        other_folder=str(warehouse / OTHER_TENANT),
        other_file=str(warehouse / OTHER_TENANT / "F3" / "part-0.parquet"),
        traversal_file=f"{warehouse / OWN_TENANT}/../{OTHER_TENANT}/F3/part-0.parquet",
        outside_file=str(outside_file),
        outside_dir=str(outside_dir),
    )
    return Setting(warehouse, places, outside_dir)


def _with_tables(con: Any, setting: Setting) -> None:
    """The tenant's tables by name, as a hostile statement expects them."""
    for name, file_id in (("sales", "F1"), ("orders", "F2")):
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{setting.places.own_folder}/{file_id}/*.parquet')"
        )


def _outcome(con: Any, sql: str) -> list[tuple[Any, ...]] | Exception:
    try:
        result = con.execute(sql)
        return [] if result is None else result.fetchall()  # nothing to run: no result at all
    except (duckdb.Error, RuntimeError) as refused:
        return refused


def _leaked(outcome: list[tuple[Any, ...]] | Exception) -> bool:
    """Whether rows came back with anything of the other tenant or of the outside file: its
    contents, or its name (a file listing, a metadata read). An error message may quote the path
    the statement named; rows may not."""
    if isinstance(outcome, Exception):
        return False
    shown = str(outcome)
    return any(marker in shown for marker in (SENTINEL, OUTSIDE_SENTINEL, OTHER_TENANT, "outside.csv"))


def _locked(setting: Setting, name: str) -> Any:
    """A database locked as the local engine locks each tenant's, in its query host."""
    folder = query_folder(setting.warehouse, OWN_TENANT, name)
    folder.mkdir(parents=True, exist_ok=True)
    return locked_database(folder, setting.warehouse / OWN_TENANT, HostLimits(timeout_seconds=5))


def test_the_connection_reads_the_tenants_own_tables(setting: Setting) -> None:
    with _locked(setting, "own") as con:
        _with_tables(con, setting)
        assert _outcome(con, "SELECT region, amount FROM sales") == [("north", 1.5)]


def test_the_corpus_can_tell_a_leak(setting: Setting) -> None:
    # The same statements on a DuckDB connection that nothing locks down: each reader reaches the
    # other tenant's file or the outside file, so a leak through the locked one would be seen.
    with duckdb.connect() as con:
        _with_tables(con, setting)
        leaking = [sql for sql in READERS if _leaked(_outcome(con, fill(sql, setting.places)))]
    assert leaking == READERS


@pytest.mark.parametrize("number", range(len(CORPUS)))
def test_every_hostile_statement_is_held_by_the_engine(setting: Setting, number: int) -> None:
    sql = corpus(setting.places)[number]
    with _locked(setting, f"Q{number}") as con:
        _with_tables(con, setting)
        outcome = _outcome(con, sql)

    assert not _leaked(outcome), f"{sql!r} returned {outcome!r}"
    assert list(setting.outside_dir.iterdir()) == [], f"{sql!r} wrote outside"
    locked = "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', 'lock_configuration')"
    with _locked(setting, "check") as con:
        settings = dict(con.execute(locked).fetchall())
    assert settings == {"enable_external_access": "false", "lock_configuration": "true"}


def test_a_query_cannot_change_its_limits(setting: Setting) -> None:
    with _locked(setting, "limits") as con:
        for statement in (
            "SET memory_limit = '100GB'",
            "SET enable_external_access = true",
            "RESET allowed_directories",
        ):
            assert isinstance(_outcome(con, statement), duckdb.Error)


def _as_written_for_duckdb(sql: str) -> str:
    """What sqlglot writes for DuckDB from the statement's tree: the text a guard that judged only
    the tree would have handed on."""
    return sqlglot.parse_one(sql, read="athena").sql(dialect="duckdb")


def test_sql_hidden_in_names_reads_other_tenants_files_once_written_out_without_the_lock(setting: Setting) -> None:
    # What these statements hide becomes real SQL once written out: on a DuckDB connection that
    # nothing locks down it reads the other tenant's file and the outside file.
    hiding = [fill(sql, setting.places) for sql in HIDDEN_READERS]
    with duckdb.connect() as con:
        _with_tables(con, setting)
        con.execute("CREATE VIEW secrets AS SELECT 1 AS x")  # the other tenant's table, by name
        leaking = [sql for sql in hiding if _leaked(_outcome(con, _as_written_for_duckdb(sql)))]
    assert len(hiding) >= 5
    assert leaking == hiding


@pytest.mark.parametrize("number", range(len(EMITTED_AS_WRITTEN)))
def test_sql_hidden_in_names_is_held_by_the_engine_even_once_written_out(setting: Setting, number: int) -> None:
    sql = _as_written_for_duckdb(fill(EMITTED_AS_WRITTEN[number], setting.places))
    with _locked(setting, f"W{number}") as con:
        _with_tables(con, setting)
        outcome = _outcome(con, sql)
    assert not _leaked(outcome), f"{sql!r} returned {outcome!r}"
