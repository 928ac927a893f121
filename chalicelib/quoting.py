"""DuckDB identifiers and literals in SQL text, quoted one way for ingest and queries alike."""

from __future__ import annotations


def identifier(name: str) -> str:
    """A name as a quoted identifier: any column name a file brings stays one name."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str | int | bool) -> str:
    """A value as a SQL literal: our own paths, names and settings, never a user's SQL."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"
