"""What one file's ingest may take: time, content bytes, memory, columns, nesting.

Every limit ends the file FAILED at once with a code of its own, never a retry: the same file
would only reach it again, and hold up the ingest of everyone else meanwhile.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.columns import Column
from chalicelib.ingest.problems import OverLimit

# Glue's longest column type (Column.Type); a READY file's record holds its columns' names and
# types, and a DynamoDB item at most 400 KB with everything else the record holds.
MAX_TYPE_CHARS = 131_072
MAX_DESCRIPTION_BYTES = 256 * 1024
# A compressed file may expand to its ratio times this much at least, whatever its own size: a
# small gzip of a repetitive CSV expands far more than 100 times and is no threat.
EXPANSION_FLOOR_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The ingest's limits for one file (settings.py's `ingest_*` values)."""

    memory: str  # DuckDB's memory limit; it spills to scratch beyond
    threads: int | None  # DuckDB's threads; None: one per core
    max_content_bytes: int  # the content read, after decompression
    max_expansion: int  # how many times its compressed size a file's content may be
    max_columns: int  # columns, fields of nested records counted
    max_nesting: int  # levels of objects and arrays in a JSON record, the record itself one

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(
            memory=settings.ingest_memory_limit,
            threads=settings.ingest_threads or None,
            max_content_bytes=settings.ingest_max_content_bytes,
            max_expansion=settings.ingest_max_expansion,
            max_columns=settings.ingest_max_columns,
            max_nesting=settings.ingest_max_nesting,
        )

    def content_cap(self, stored_bytes: int, compressed: bool) -> tuple[int, OverLimit]:
        """The most content bytes a file of `stored_bytes` may hold, and the problem past them."""
        if compressed:
            expanded = self.max_expansion * max(stored_bytes, EXPANSION_FLOOR_BYTES)
            if expanded < self.max_content_bytes:
                return expanded, OverLimit(
                    "file_too_large",
                    f"The file expands to more than {self.max_expansion} times its compressed size "
                    f"({stored_bytes} bytes): it is refused as a decompression bomb.",
                )
        return self.max_content_bytes, OverLimit(
            "file_too_large",
            f"The file's content is larger than {self.max_content_bytes} bytes"
            f"{' once decompressed' if compressed else ''}, the most ingest reads: split it into smaller files.",
        )

    def check_columns(self, count: int) -> None:
        if count > self.max_columns:
            raise OverLimit(
                "too_many_columns",
                f"The file has {count} columns (fields of nested records counted); at most "
                f"{self.max_columns} are read.",
            )

    def check_description(self, columns: Sequence[Column]) -> None:
        """Refuse columns the catalog and the file's record cannot describe, however few: too long
        a type for Glue, or names and types too long together for the record."""
        for column in columns:
            if len(column.type.glue) > MAX_TYPE_CHARS:
                raise OverLimit(
                    "too_many_columns",
                    f'The type of column "{column.name}" takes {len(column.type.glue)} characters to write, '
                    f"more than the catalog holds ({MAX_TYPE_CHARS}): it has too many fields, or their names "
                    "are too long.",
                )
        described = len(json.dumps([column.view() for column in columns], ensure_ascii=False).encode())
        if described > MAX_DESCRIPTION_BYTES:
            raise OverLimit(
                "too_many_columns",
                f"The file's {len(columns)} columns take {described} bytes to describe (names, original "
                f"names and types), more than a file's record holds ({MAX_DESCRIPTION_BYTES}): use fewer "
                "or shorter column names, or split the columns into several files.",
            )

    def memory_problem(self) -> OverLimit:
        return OverLimit(
            "file_too_large",
            f"Converting the file needs more memory than ingest gives one file ({self.memory}), even "
            "spilling to disk: its values or rows are too large. Split it into smaller files, or "
            "shorten its longest values.",
        )

    def check_nesting(self, depth: int, where: str) -> None:
        if depth > self.max_nesting:
            raise OverLimit(
                "too_deeply_nested",
                f"{where} nests objects and arrays {depth} levels deep; at most {self.max_nesting} are read.",
            )


class Budget:
    """How long one file's ingest may still take: what its invocation has left (read from Lambda's
    context at every look, so that the local pump can end it early when it stops), at most the
    per-file limit, less a margin kept back to publish the table or record the failure."""

    def __init__(self, remaining_ms: Callable[[], float], *, limit_seconds: float, margin_seconds: float) -> None:
        self._remaining_ms = remaining_ms
        self._margin = margin_seconds
        self._ends = time.monotonic() + limit_seconds - margin_seconds
        self.seconds = max(0.0, min(remaining_ms() / 1000, limit_seconds) - margin_seconds)

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(lambda: math.inf, limit_seconds=math.inf, margin_seconds=0)

    def remaining(self) -> float:
        """Seconds left; zero or less once spent."""
        return min(self._remaining_ms() / 1000 - self._margin, self._ends - time.monotonic())

    @property
    def spent(self) -> bool:
        return self.remaining() <= 0

    def check(self) -> None:
        if self.spent:
            raise self.problem()

    def problem(self) -> OverLimit:
        return OverLimit(
            "ingest_timeout",
            f"Reading the file took longer than the {self.seconds:.0f} seconds ingest gives one file: "
            "split it into smaller files.",
        )
