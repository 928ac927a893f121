"""What a query reads and costs, the month it counts in, and the local cache of reused results."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from chalicelib.column_bytes import column_bytes_by_file, parquet_column_bytes
from chalicelib.queries.cost import MB, TB, Pricing
from chalicelib.queries.engine import TableInfo, reuse_key
from chalicelib.queries.guard import guard
from chalicelib.queries.reads import columns_read
from chalicelib.queries.result_cache import Kept, ResultCache
from chalicelib.queries.usage import Allowance, BudgetExceeded, Month

COLUMNS = {"sales": ["amount", "region", "day", "info"], "people": ["id", "name", "region"]}


def _read(sql: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    guarded = guard(sql, list(COLUMNS), "db")
    return columns_read(guarded, {table: COLUMNS[table] for table in guarded.tables})


ALL_SALES = ("amount", "region", "day", "info")


@pytest.mark.parametrize(
    ("sql", "read"),
    [
        ("SELECT amount FROM sales", {"sales": (("amount",),)}),
        ("SELECT * FROM sales", {"sales": (ALL_SALES,)}),
        ("SELECT count(*) FROM sales", {"sales": ((),)}),
        ("SELECT region, sum(amount) FROM sales GROUP BY 1 ORDER BY 2", {"sales": (("amount", "region"),)}),
        ("SELECT s.amount FROM sales AS s WHERE s.day > DATE '2024-01-01'", {"sales": (("amount", "day"),)}),
        ("SELECT s.info.city FROM sales AS s", {"sales": (("info",),)}),  # a struct's field reads its column
        ("SELECT info.city FROM sales", {"sales": (("info",),)}),
        (
            "SELECT x.amount, p.name FROM sales x JOIN people p ON x.region = p.region",
            {"people": (("name", "region"),), "sales": (("amount", "region"),)},
        ),
        # Each reference of a table is a scan of its own, of what that reference reads.
        (
            "SELECT a.amount, b.region FROM sales a JOIN sales b ON a.day = b.day",
            {"sales": (("amount", "day"), ("region", "day"))},
        ),
        (
            "SELECT p.* FROM sales JOIN people AS p USING (region)",
            {"people": (("id", "name", "region"),), "sales": (("region",),)},
        ),
        ("WITH c AS (SELECT amount AS a FROM sales) SELECT * FROM c", {"sales": (("amount",),)}),
        ("SELECT * FROM (SELECT * FROM sales) AS t", {"sales": (ALL_SALES,)}),
        (
            "SELECT (SELECT max(amount) FROM sales WHERE sales.region = people.region) FROM people",
            {"people": (("region",),), "sales": (("amount", "region"),)},
        ),
        ("SELECT rank() OVER (PARTITION BY region ORDER BY day) FROM sales", {"sales": (("region", "day"),)}),
        ("SELECT amount FROM sales UNION ALL SELECT id FROM people", {"people": (("id",),), "sales": (("amount",),)}),
        # A WITH query runs again wherever it is read (Athena inlines it), and not at all if nowhere.
        (
            "WITH c AS (SELECT amount, day FROM sales) SELECT x.amount FROM c AS x JOIN c AS y ON x.day = y.day",
            {"sales": (("amount", "day"), ("amount", "day"))},
        ),
        (
            "WITH c AS (SELECT amount FROM sales), d AS (SELECT amount FROM c) SELECT * FROM d, d AS e, people",
            {"people": (("id", "name", "region"),), "sales": (("amount",), ("amount",))},
        ),
        ("WITH unused AS (SELECT amount FROM sales) SELECT name FROM people", {"people": (("name",),), "sales": ()}),
        (
            "SELECT amount FROM sales WHERE region IN (SELECT region FROM sales WHERE day IS NULL)",
            {"sales": (("amount", "region"), ("region", "day"))},
        ),
    ],
)
def test_the_columns_a_query_reads(sql: str, read: dict[str, tuple[tuple[str, ...], ...]]) -> None:
    assert _read(sql) == read


def test_what_a_table_read_twice_scans() -> None:
    columns = [{"name": name, "type": "bigint"} for name in ("a", "b", "c")]
    table = TableInfo("t", "ID", columns, 1, reads=(("a", "b"), ("b",)))
    assert table.columns_read == ("a", "b")
    assert table.scanned({"a": 10, "b": 100, "c": 1000}) == 210
    assert TableInfo("t", "ID", columns, 1).scanned({"a": 10, "b": 100, "c": 1000}) == 1110  # unknown: all, once


def test_billed_bytes_are_whole_megabytes_and_at_least_the_minimum() -> None:
    pricing = Pricing(price_per_tb_usd=5.0, minimum_billed_bytes=10 * MB)
    assert pricing.billed(0) == 10 * MB
    assert pricing.billed(10 * MB + 1) == 11 * MB
    assert pricing.billed(TB) == TB
    assert pricing.cost_usd(TB) == 5.0
    assert pricing.cost_usd(1) == pytest.approx(10 * MB / TB * 5)
    assert Pricing(price_per_tb_usd=6.25, minimum_billed_bytes=0).cost_usd(2 * TB) == 12.5


@pytest.mark.parametrize(
    ("at", "key", "resets"),
    [
        (datetime(2026, 12, 4, 18, 0, tzinfo=UTC), "2026-12", "2027-01-01T00:00:00.000Z"),
        (datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC), "2026-01", "2026-02-01T00:00:00.000Z"),
        (datetime.fromisoformat("2026-03-01T00:30:00+01:00"), "2026-02", "2026-03-01T00:00:00.000Z"),  # UTC's month
    ],
)
def test_a_month_is_the_calendar_month_in_utc(at: datetime, key: str, resets: str) -> None:
    month = Month.of(at)
    assert (month.key, month.resets_at) == (key, resets)


def test_what_a_budget_allows() -> None:
    month = Month(2026, 12)
    assert Allowance(month, None, 10**15).allows(10**15)  # no budget: anything
    left = Allowance(month, 1000, 400)
    assert left.remaining == 600
    assert left.allows(600)
    assert not left.allows(601)
    assert Allowance(month, 1000, 5000).remaining == 0  # queries running at once can pass it
    assert Allowance(month, 0, 0).allows(0)  # a query that scans nothing runs even on a zero budget


def test_column_bytes_are_the_compressed_chunks_of_each_top_level_column(tmp_path: Path) -> None:
    path = tmp_path / "part.parquet"
    duckdb.sql(
        "SELECT range AS id, repeat('x', 200) || range::VARCHAR AS note, {'a': range, 'b': [range, 1]} AS s "
        "FROM range(5000)"
    ).write_parquet(str(path))
    sizes = parquet_column_bytes([path])
    assert set(sizes) == {"id", "note", "s"}
    assert sizes["note"] > sizes["id"] > 0
    assert sum(sizes.values()) < path.stat().st_size  # the footer and headers are not a column's
    other = tmp_path / "other.parquet"
    duckdb.sql("SELECT range AS id FROM range(100)").write_parquet(str(other))
    by_file = column_bytes_by_file([path, other])
    assert by_file[str(path)] == sizes
    assert set(by_file[str(other)]) == {"id"}
    assert parquet_column_bytes([path, other]) == sizes | {"id": sizes["id"] + by_file[str(other)]["id"]}
    assert parquet_column_bytes([]) == {}


def _result(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


def test_a_result_is_reused_under_the_member_the_guarded_query_and_the_table_versions() -> None:
    tables = {"t": TableInfo("t", "ID1", [], version=3)}
    key = reuse_key("U1", "SELECT 1", tables)
    assert key == reuse_key("U1", "SELECT 1", {"t": TableInfo("t", "ID1", [], version=3, next_seq=9)})
    assert key != reuse_key("U2", "SELECT 1", tables)
    assert key != reuse_key("U1", "SELECT 2", tables)
    assert key != reuse_key("U1", "SELECT 1", {"t": TableInfo("t", "ID1", [], version=4)})
    assert key != reuse_key("U1", "SELECT 1", {"t": TableInfo("t", "ID2", [], version=3)})
    # The guarded query as sqlglot writes it back: spacing and keyword case do not make another key.
    written = [
        guard(sql, ["t"], "db").expression.sql(dialect="athena") for sql in ("select  a FROM t", "SELECT a\nfrom t")
    ]
    assert written[0] == written[1]


def test_the_cache_keeps_finds_and_ages_out_results(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "warehouse", max_bytes=10**6, max_age_seconds=60)
    result = _result(tmp_path, "result.parquet", 1000)
    kept = Kept(result, [{"name": "n", "type": "bigint"}], 1, [[1]])
    assert cache.find("T1", "k1") is None
    cache.keep("T1", "k1", kept)
    found = cache.find("T1", "k1")
    assert found is not None
    assert (found.columns, found.rows, found.head) == (kept.columns, 1, [[1]])
    assert found.result.read_bytes() == result.read_bytes()
    assert cache.find("T2", "k1") is None  # another tenant's folder holds none of it
    target = tmp_path / "query" / "result.parquet"
    target.parent.mkdir()
    cache.reuse(found, target)
    assert target.read_bytes() == result.read_bytes()

    entry = tmp_path / "warehouse" / "T1" / ".queries" / ".reuse" / "k1" / "entry.json"
    aged = json.loads(entry.read_text()) | {"kept_at": time.time() - 61}
    entry.write_text(json.dumps(aged))
    assert cache.find("T1", "k1") is None  # older than the reuse age


def test_the_cache_holds_to_its_size_dropping_the_least_recently_used(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "warehouse", max_bytes=3500, max_age_seconds=600)
    for n in range(3):
        cache.keep("T1", f"k{n}", Kept(_result(tmp_path, f"r{n}", 1000), [], 0, []))
        entry = tmp_path / "warehouse" / "T1" / ".queries" / ".reuse" / f"k{n}" / "entry.json"
        os.utime(entry, (time.time() - 100 + n, time.time() - 100 + n))  # k0 oldest
    assert cache.find("T1", "k0") is not None  # used now: k1 is the least recently used
    cache.keep("T1", "k3", Kept(_result(tmp_path, "r3", 1000), [], 0, []))
    assert [cache.find("T1", f"k{n}") is not None for n in range(4)] == [True, False, True, True]


def test_a_cache_of_no_size_keeps_nothing(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path, max_bytes=0, max_age_seconds=600)
    cache.keep("T1", "k", Kept(_result(tmp_path, "r", 10), [], 0, []))
    assert cache.find("T1", "k") is None


def test_a_budget_refusal_says_what_is_left_and_when_it_resets() -> None:
    refused = BudgetExceeded(148_093, Allowance(Month(2026, 12), 52_429 + 1000, 1000))
    assert refused.message == (
        "The query would scan about 148,093 bytes (145 KiB); 52,429 bytes (51.2 KiB) is left of this month's "
        "scan budget, which resets at 2027-01-01T00:00:00.000Z."
    )
    assert refused.details == {"remaining_scan_bytes": 52_429, "resets_at": "2027-01-01T00:00:00.000Z"}
    assert "(" not in BudgetExceeded(10, Allowance(Month(2026, 12), 0, 0)).message.split(";")[0]


def test_a_files_bytes_for_the_widest_table_fit_one_transaction() -> None:
    from chalicelib.files.tables import BYTES_BUCKETS, Tables

    widest = {f"column_{n:04d}_with_a_longer_name": n + 1 for n in range(5000)}  # ingest's column limit
    updates = Tables(None, "platform")._add_bytes("T1", "TABLE1", widest)
    assert len(updates) == BYTES_BUCKETS  # with the commit's own few items, under DynamoDB's 100
    for update in updates:
        expression = update["Update"]["UpdateExpression"]
        assert len(expression.encode()) < 4096  # DynamoDB's limit on one expression
    written = {
        update["Update"]["ExpressionAttributeNames"][name]: int(value["N"])
        for update in updates
        for name, value in zip(
            update["Update"]["ExpressionAttributeNames"],
            update["Update"]["ExpressionAttributeValues"].values(),
            strict=True,
        )
    }
    assert written == widest
    assert Tables(None, "platform")._add_bytes("T1", "TABLE1", {"a": 0}) == []  # nothing to add
