"""The ingest's DuckDB databases: one per thread that ingests, kept from file to file, each reaching
only its own folder and locked as the conversion of an untrusted file needs."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from chalicelib.ingest.convert import ConversionDatabase, ConversionDatabases
from chalicelib.ingest.limits import Limits
from chalicelib.settings import Settings

LIMITS = Limits.from_settings(Settings.model_construct())
# What a conversion must never do: reach files outside its root, load code, or loosen its settings.
REFUSED = [
    "COPY (SELECT 1) TO '{outside}/x.csv'",
    "ATTACH '{outside}/x.db' AS x",
    "EXPORT DATABASE '{outside}/export'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET GLOBAL enable_external_access = true",
    "SET lock_configuration = false",
    "SET allowed_directories = ['/']",
    "SET temp_directory = '{outside}'",
    "SET memory_limit = '100GB'",
    "RESET memory_limit",
    "SET GLOBAL TimeZone = 'Europe/Paris'",
]


def test_a_thread_keeps_its_database_and_another_thread_has_its_own_in_its_own_folder(tmp_path: Path) -> None:
    databases = ConversionDatabases(tmp_path, LIMITS)
    mine = databases.current()
    others: list[ConversionDatabase] = []
    worker = threading.Thread(target=lambda: others.append(databases.current()))
    worker.start()
    worker.join()
    try:
        assert databases.current() is mine
        [other] = others
        assert other is not mine
        assert mine.root.parent == other.root.parent == tmp_path
        assert mine.root != other.root
    finally:
        databases.close()
    assert list(tmp_path.iterdir()) == []  # closed, and their folders deleted


def test_a_discarded_database_is_closed_and_the_next_file_opens_another(tmp_path: Path) -> None:
    databases = ConversionDatabases(tmp_path, LIMITS)
    discarded = databases.current()
    databases.discard_current()
    with pytest.raises(duckdb.ConnectionException):
        discarded.connect()
    assert not discarded.root.exists()
    assert databases.current() is not discarded
    databases.close()


def test_a_conversion_reads_under_its_root_only_and_cannot_change_what_it_may_do(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "file").mkdir(parents=True)
    outside.mkdir()
    for folder in (root / "file", outside):
        (folder / "rows.csv").write_text("id\n1\n")
    with ConversionDatabase(root, LIMITS) as database:
        connection = database.connect()
        assert connection.execute(f"SELECT count(*) FROM read_csv('{root}/file/rows.csv')").fetchone() == (1,)
        with pytest.raises(duckdb.PermissionException):
            connection.execute(f"SELECT count(*) FROM read_csv('{outside}/rows.csv')")
        for command in REFUSED:
            with pytest.raises(duckdb.Error):
                database.connect().execute(command.format(outside=outside))
        assert sorted(path.name for path in outside.iterdir()) == ["rows.csv"]
        settings = dict(
            connection.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN "
                "('enable_external_access', 'lock_configuration', 'TimeZone', 'autoload_known_extensions')"
            ).fetchall()
        )
        assert settings == {
            "enable_external_access": "false",
            "lock_configuration": "true",
            "TimeZone": "UTC",
            "autoload_known_extensions": "false",
        }
