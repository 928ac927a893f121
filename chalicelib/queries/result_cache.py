"""The local engine's result reuse: what Athena's result reuse does in AWS.

A SUCCEEDED query's result is kept under its reuse key (engine.reuse_key: the member, the query as
guarded and the version of every table it read, which moves with every file added, replaced or
deleted), in the tenant's own results folder: a later identical query of the same member over
unchanged tables takes that result as it is submitted, instead of running, and scans nothing. A member never reuses
another's result, nor a tenant another's (each tenant's cache is inside its own folder). Entries
older than the reuse age are not used; the cache is held to its size in bytes, the least
recently used entries going first.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENTRY = "entry.json"
RESULT = "result.parquet"


@dataclass(frozen=True)
class Kept:
    """A result kept for reuse."""

    result: Path
    columns: list[dict[str, str]]
    rows: int
    head: list[list[Any]]


class ResultCache:
    def __init__(self, warehouse: Path, max_bytes: int, max_age_seconds: int) -> None:
        self._warehouse = warehouse
        self._max_bytes = max_bytes
        self._max_age = max_age_seconds
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._max_bytes > 0 and self._max_age > 0

    def find(self, tenant_id: str, key: str) -> Kept | None:
        """The result kept under `key`, if it is there and young enough."""
        if not self.enabled:
            return None
        folder = self._folder(tenant_id) / key
        with self._lock(tenant_id):
            try:
                entry = json.loads((folder / ENTRY).read_text())
            except (OSError, ValueError):
                return None
            if time.time() - entry["kept_at"] > self._max_age:
                return None
            os.utime(folder / ENTRY)  # used now: the last to go
            return Kept(folder / RESULT, entry["columns"], entry["rows"], entry["head"])

    def keep(self, tenant_id: str, key: str, kept: Kept) -> None:
        """Keep a result (its Parquet linked, not copied), then hold the cache to its size."""
        if not self.enabled:
            return
        cache = self._folder(tenant_id)
        with self._lock(tenant_id):
            staging = cache / f".{key}.{threading.get_ident()}"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            os.link(kept.result, staging / RESULT)
            entry = {"kept_at": time.time(), "columns": kept.columns, "rows": kept.rows, "head": kept.head}
            (staging / ENTRY).write_text(json.dumps(entry))
            shutil.rmtree(cache / key, ignore_errors=True)
            staging.rename(cache / key)
            self._hold_to_size(cache)

    def reuse(self, kept: Kept, target: Path) -> None:
        """Put a kept result at `target`, where a query's own would be."""
        target.unlink(missing_ok=True)
        os.link(kept.result, target)

    def _hold_to_size(self, cache: Path) -> None:
        entries = []
        for folder in cache.iterdir():
            if folder.name.startswith("."):
                continue
            try:
                size = sum(path.stat().st_size for path in folder.iterdir())
                entries.append(((folder / ENTRY).stat().st_mtime, size, folder))
            except OSError:
                shutil.rmtree(folder, ignore_errors=True)  # half there: of no use
        total = sum(size for _, size, _ in entries)
        for _, size, folder in sorted(entries):
            if total <= self._max_bytes:
                break
            shutil.rmtree(folder, ignore_errors=True)
            total -= size

    def _folder(self, tenant_id: str) -> Path:
        return self._warehouse / tenant_id / ".queries" / ".reuse"

    def _lock(self, tenant_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(tenant_id, threading.Lock())
