"""The local engine on its own: result uploads that fail or are slow, and stopping it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from chalicelib.queries.guard import guard
from chalicelib.queries.local import LocalEngine, QueryLimits
from chalicelib.queries.store import QueryRecord, QueryState


class SlowResults:
    """A results bucket that takes its time to store anything."""

    def __init__(self) -> None:
        self.uploading = threading.Event()
        self.stored: list[str] = []

    def upload(self, path: Path, key: str, content_type: str) -> None:
        self.uploading.set()
        time.sleep(0.5)
        self.stored.append(key)


class FlakyResults:
    """A results bucket whose first upload fails, as S3 sometimes does."""

    def __init__(self) -> None:
        self.attempts = 0
        self.first_failed = threading.Event()
        self.stored: dict[str, str] = {}

    def upload(self, path: Path, key: str, content_type: str) -> None:
        self.attempts += 1
        if self.attempts == 1:
            self.first_failed.set()
            raise ConnectionError("S3 is unreachable")
        self.stored[key] = path.read_text()


def test_a_failed_result_upload_is_made_when_the_csv_is_asked_for(tmp_path: Path) -> None:
    results = FlakyResults()
    engine = LocalEngine(tmp_path, results, "results-bucket", QueryLimits())  # type: ignore[arg-type]
    record = QueryRecord("T1", "U1", "Q1", "SELECT 1 AS one", QueryState.QUEUED, "2026-01-01T00:00:00.000Z")
    engine.submit(record, guard(record.sql, {}, "db"), {})
    engine.wait(record, 20)
    assert engine.status(record).state is QueryState.SUCCEEDED
    assert engine.page(record, None, 10).rows == [[1]]
    assert results.first_failed.wait(20)  # the upload made just after the query ended

    bucket, key = engine.result_object(record)
    assert (bucket, key) == ("results-bucket", "tenants/T1/queries/Q1/results.csv")
    assert results.stored == {key: "one\n1\n"}
    assert results.attempts == 2
    engine.result_object(record)
    assert results.attempts == 2  # uploaded once


def _submitted(engine: LocalEngine, sql: str) -> QueryRecord:
    record = QueryRecord("T1", "U1", "Q1", sql, QueryState.QUEUED, "2026-01-01T00:00:00.000Z")
    engine.submit(record, guard(sql, {}, "db"), {})
    return record


def test_closing_waits_for_a_result_upload_under_way(tmp_path: Path) -> None:
    results = SlowResults()
    engine = LocalEngine(tmp_path, results, "results-bucket", QueryLimits())  # type: ignore[arg-type]
    _submitted(engine, "SELECT 1 AS one")
    assert results.uploading.wait(20)
    engine.close()
    assert results.stored == ["tenants/T1/queries/Q1/results.csv"]


def test_closing_cancels_a_running_query(tmp_path: Path) -> None:
    engine = LocalEngine(tmp_path, SlowResults(), "results-bucket", QueryLimits())  # type: ignore[arg-type]
    endless = (  # ten billion pairs: runs far longer than this test
        "SELECT count(*) FROM UNNEST(sequence(1, 100000)) AS a(x) "
        "CROSS JOIN UNNEST(sequence(1, 100000)) AS b(y) WHERE (x * y) % 7 = 3"
    )
    record = _submitted(engine, endless)
    deadline = time.monotonic() + 20
    while engine.status(record).state is not QueryState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.01)
    engine.close()
    assert engine.status(record).state is QueryState.CANCELLED
