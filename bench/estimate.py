"""What a dry run estimates a query will scan, against what the local engine counts as scanned when
it runs the query, over the benchmark dataset.

The local platform runs in this process (moto, the app, the ingest pump). The events CSV of the
other benchmarks (bench/data.py) and a four-row table of regions are uploaded through the API with
the `sdp` client and ingested as a user's would be. Then, for each of 20 queries (single columns,
several, `*`, `count(*)`, filters, GROUP BY, ORDER BY, joins, a self-join, CTEs, subqueries,
window functions):
  estimate  POST /queries {"sql", "dry_run": true}: bytes_to_scan, from the column sizes summed
            at ingest
  scanned   POST /queries, then GET /queries/{id}?wait=20 until it has SUCCEEDED: stats.bytes_scanned,
            from the footers of the partitions the engine reads
  plan      what DuckDB's own plan reads, independently of the column list both figures above come
            from (chalicelib/queries/reads.py): the same query, written in DuckDB's dialect by sqlglot,
            each table read as the engine reads it (`(SELECT <every column> FROM read_parquet('<table
            folder>/*/*.parquet', hive_partitioning = true, union_by_name = true) WHERE "_seq" < N)`,
            as chalicelib/queries/guard.py's TableRows.over and parquet_source build it), is given to
            a DuckDB of this process as `EXPLAIN (FORMAT JSON)`. Each READ_PARQUET node of the plan is
            one scan: it reads the columns of its "Projections" and those its pushed-down "Filters"
            name. The figure is, over the scans, the compressed bytes of those columns' chunks in the
            table's files (chalicelib.column_bytes.parquet_column_bytes). A plan with no READ_PARQUET
            (DuckDB answering from the files' metadata), or a scan with no column, reads 0 bytes.

Which table a scan reads: the plan does not name the files, so it is told by the columns. The two
tables share only `region`. A scan is of the one table whose columns hold all of the scan's; where
more than one does (the scan reads only `region`, or nothing), it is of a table of which the query
names more references than the plan has scans already placed, in the order the query names them
(a scan of only `region` in `events JOIN regions USING (region)` is of whichever table is left over;
both such scans read `region` alone, so the order changes no figure); with no reference left, of the
first table that fits (marked `?`). A scan that fits no table fails the run.

Each text is run once and differs from every other, so no result is reused (the record must say
`reused: false`). It prints a table of the three figures, each also as a share of the compressed
size of all the tables' curated Parquet files (the sum of the files' sizes, measured here), the
columns each side reads, why the plan reads other columns than the estimate counts where it does,
and the worst deviations; it exits non-zero if any scanned figure, or any plan figure, is more than
10% away from its estimate.

Usage: python bench/estimate.py [size in MiB, default 256]
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb
import requests
import sqlglot
from sqlglot import exp

import sdp
from bench.data import MIB, generate_events_csv, signed_in, table_ids
from chalicelib.catalog import SEQ_COLUMN, local_table_folder
from chalicelib.column_bytes import parquet_column_bytes
from localplatform.runner import LocalPlatform

TOLERANCE = 0.10
REGIONS = "region,manager,target\nnorth,Ann,120\nsouth,Bo,80\neast,Cy,150\nwest,Di,95\n"

# {e}: the events table, {r}: the regions table. Athena's SQL (Trino), as a user writes it.
QUERIES = [
    ("one column", "SELECT amount FROM {e} LIMIT 10"),
    ("one timestamp column, min/max", "SELECT min(event_time), max(event_time) FROM {e}"),
    ("several columns, filter", "SELECT id, region, amount FROM {e} WHERE quantity > 95 LIMIT 100"),
    ("star", "SELECT * FROM {e} LIMIT 5"),
    ("count(*)", "SELECT count(*) FROM {e}"),
    ("count(*), filter", "SELECT count(*) FROM {e} WHERE flag"),
    ("group by", "SELECT region, sum(amount) AS total FROM {e} GROUP BY region ORDER BY region"),
    ("group by, order by count", "SELECT day, count(*) AS n FROM {e} GROUP BY day ORDER BY n DESC, day LIMIT 10"),
    ("order by, top 20", "SELECT id, amount FROM {e} ORDER BY amount DESC, id LIMIT 20"),
    ("LIKE filter, group by", "SELECT note, count(*) AS n FROM {e} WHERE note LIKE 'with%' GROUP BY note"),
    (
        "join on",
        "SELECT e.region, r.manager, sum(e.amount) AS total FROM {e} e JOIN {r} r ON e.region = r.region "
        "GROUP BY e.region, r.manager ORDER BY e.region",
    ),
    ("join using", "SELECT region, count(*) AS n FROM {e} JOIN {r} USING (region) GROUP BY region ORDER BY region"),
    (
        "star of one side of a join",
        "SELECT e.*, r.manager FROM {e} e JOIN {r} r ON e.region = r.region WHERE e.id < 10 ORDER BY e.id",
    ),
    (
        "self-join",
        "SELECT a.region, count(*) AS n FROM {e} a JOIN {e} b ON a.id = b.id + 1 "
        "WHERE a.quantity = 0 AND b.quantity = 96 GROUP BY a.region ORDER BY a.region",
    ),
    (
        "CTE",
        "WITH daily AS (SELECT day, sum(amount) AS total FROM {e} GROUP BY day) "
        "SELECT min(total) AS low, max(total) AS high FROM daily",
    ),
    ("IN subquery", "SELECT count(*) AS n FROM {e} WHERE region IN (SELECT region FROM {r} WHERE target > 100)"),
    (
        "scalar subquery",
        "SELECT id, amount FROM {e} WHERE amount > (SELECT avg(amount) FROM {e}) * 1.99 ORDER BY id LIMIT 10",
    ),
    (
        "window over a subquery",
        "SELECT region, day, total, rank() OVER (PARTITION BY region ORDER BY total DESC) AS place "
        "FROM (SELECT region, day, sum(amount) AS total FROM {e} GROUP BY region, day) t "
        "ORDER BY place, region LIMIT 12",
    ),
    (
        "window lag, filter",
        "SELECT id, amount - lag(amount) OVER (ORDER BY id) AS delta FROM {e} WHERE id < 1000 ORDER BY id LIMIT 5",
    ),
    ("small table, star", "SELECT * FROM {r} ORDER BY region"),
]


def run_query(session: requests.Session, api: str, sql: str) -> dict[str, object]:
    """The query's record once it has SUCCEEDED."""
    submitted = session.post(f"{api}/queries", json={"sql": sql}, timeout=60)
    submitted.raise_for_status()
    query_id = submitted.json()["query_id"]
    while True:
        record = session.get(f"{api}/queries/{query_id}?wait=20&max_rows=1", timeout=60).json()
        if record["status"] == "SUCCEEDED":
            return record
        if record["status"] not in ("RUNNING", "QUEUED"):
            raise SystemExit(f"query ended {record['status']}: {record['error']}\n{sql}")


def dry_run(session: requests.Session, api: str, sql: str) -> dict[str, object]:
    answer = session.post(f"{api}/queries", json={"sql": sql, "dry_run": True}, timeout=60)
    if answer.status_code != 200:
        raise SystemExit(f"dry run answered {answer.status_code}: {answer.text}\n{sql}")
    return answer.json()


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def partitions(folder: Path) -> dict[int, list[Path]]:
    """A table's curated Parquet files, by the partition (`_seq=N`) each is in."""
    found: dict[int, list[Path]] = {}
    for path in sorted(folder.glob(f"{SEQ_COLUMN}=*/*.parquet")):
        found.setdefault(int(path.parent.name.partition("=")[2]), []).append(path)
    return found


def table_source(folder: Path, columns: Sequence[str], next_seq: int) -> str:
    """The local engine's read of a table's rows (guard.py: TableRows.over of parquet_source), as text."""
    glob = str(folder / "*" / "*.parquet").replace("'", "''")
    return (
        f"SELECT {', '.join(map(quoted, columns))} FROM read_parquet('{glob}', hive_partitioning = true, "  # noqa: S608 - our own names, quoted
        f"union_by_name = true) WHERE {quoted(SEQ_COLUMN)} < {next_seq}"
    )


def in_duckdb(sql: str, sources: Mapping[str, str]) -> tuple[str, list[str]]:
    """The query in DuckDB's dialect with each table (`sources`: its name → its read) in its place,
    named as the query names it; and the table of each reference, in the order the query names them."""
    tree = sqlglot.parse_one(sql, read="athena")
    references = []
    for node in list(tree.find_all(exp.Table, bfs=False)):
        name = node.name.lower()
        if node.db or name not in sources:  # a CTE's name
            continue
        references.append(name)
        derived = sqlglot.parse_one(sources[name], read="duckdb").subquery(node.alias or node.name)
        for part in ("joins", "laterals", "pivots", "sample"):
            if node.args.get(part):
                derived.set(part, node.args[part])
        node.replace(derived)
    return tree.sql(dialect="duckdb"), references


def _listed(value: object) -> list[str]:
    """A plan's entry, a string (lines) or a list of them, as its lines."""
    items = value if isinstance(value, list) else [value] if value else []
    return [line.strip() for item in items for line in str(item).splitlines() if line.strip()]


_STRING = re.compile(r"'(?:[^']|'')*'")
_NAME = re.compile(r'"((?:[^"]|"")+)"|\b([A-Za-z_][A-Za-z0-9_]*)\b')


def named_in(expression: str, columns: set[str]) -> set[str]:
    """The columns (of `columns`) a filter of the plan names; what is inside a string literal is no name."""
    names = set()
    for match in _NAME.finditer(_STRING.sub("''", expression)):
        names.add(match.group(1).replace('""', '"') if match.group(1) is not None else match.group(2))
    return names & columns


def plan_scans(
    con: duckdb.DuckDBPyConnection, text: str, columns: set[str]
) -> list[tuple[frozenset[str], frozenset[str]]]:
    """The columns each READ_PARQUET of DuckDB's plan of `text` reads: its projections, and the
    columns (of `columns`) its pushed-down filters name that it does not project."""
    scans: list[tuple[frozenset[str], frozenset[str]]] = []

    def walk(node: dict[str, object]) -> None:
        info = node.get("extra_info") or {}
        assert isinstance(info, dict)
        if "READ_PARQUET" in str(node.get("name", "")) or info.get("Function") == "READ_PARQUET":
            projected = set(_listed(info.get("Projections")))
            filtered = {name for line in _listed(info.get("Filters")) for name in named_in(line, columns)}
            scans.append((frozenset(projected), frozenset(filtered - projected)))
        for child in node.get("children") or ():  # type: ignore[union-attr]
            walk(child)

    for _, plan in con.execute(f"EXPLAIN (FORMAT JSON) {text}").fetchall():
        for root in json.loads(plan):
            walk(root)
    return scans


def placed(
    scans: Sequence[frozenset[str]], references: Sequence[str], columns_of: Mapping[str, set[str]]
) -> list[tuple[str, frozenset[str], bool]]:
    """Each scan's table (and whether it was a guess): the one table whose columns hold all the
    scan's; where several do, a table of which the query names a reference not yet placed, in the
    order the query names them; with none left, the first that fits (a guess)."""
    left = Counter(references)
    fits = []
    for columns in scans:
        tables = [name for name, held in columns_of.items() if columns <= held]
        if not tables:
            raise SystemExit(f"a scan of DuckDB's plan reads columns no table has all of: {sorted(columns)}")
        fits.append(tables)
        if len(tables) == 1:
            left[tables[0]] -= 1
    found = []
    for columns, tables in zip(scans, fits, strict=True):
        if len(tables) == 1:
            found.append((tables[0], columns, False))
            continue
        open_ = [name for name in dict.fromkeys(references) if name in tables and left[name] > 0]
        table = open_[0] if open_ else tables[0]
        left[table] -= 1
        found.append((table, columns, not open_))
    return found


FIGURES_DIFFER = (
    "each table's columns the same in all, not reference by reference (the dry run lists a table's "
    "columns in all; the estimate counts each reference's own)"
)


def plan_differs(
    estimate: Mapping[str, object],
    scans: Sequence[tuple[str, frozenset[str], bool]],
    references: Sequence[str],
    held: Mapping[str, set[str]],
) -> list[str]:
    """How DuckDB's plan reads a query's tables otherwise than its estimate counts, each with why it can."""
    said = []
    counted_of: Mapping[str, Sequence[str]] = estimate["columns"]  # type: ignore[assignment]
    for table in held:
        counted = set(counted_of.get(table, ()))
        read = set().union(*(columns for name, columns, _ in scans if name == table))
        if counted - read:
            said.append(
                f"{table}: counted, not read by DuckDB: {','.join(sorted(counted - read))} (the estimate counts "
                "every column the query names, an output alias of a column's name or a column selected and "
                "never used included; DuckDB drops what its plan proves unneeded)"
            )
        if read - counted:
            said.append(
                f"{table}: read by DuckDB, not counted: {','.join(sorted(read - counted))} (the column list "
                "misses a column the query reads: the estimate is short)"
            )
        scanned = sum(1 for name, _, _ in scans if name == table)
        named = references.count(table)
        if scanned != named:
            said.append(
                f"{table}: named {named} time(s), scanned {scanned} time(s) (DuckDB can read one "
                "reference in another number of scans: a CTE read once for two uses, a reference it removes, "
                "a count answered from the metadata)"
            )
    return said


def ratio(figure: int, estimate: int) -> str:
    return f"{figure / estimate:.3f}" if estimate else ("=" if figure == 0 else "inf")


def deviation(estimate: int, scanned: int) -> float:
    """How far what was scanned is from the estimate, as a share of the estimate (0 when both are 0)."""
    if estimate == scanned:
        return 0.0
    return abs(scanned - estimate) / estimate if estimate else float("inf")


class Measured(NamedTuple):
    label: str
    estimate: dict[str, Any]  # the dry run's answer
    scanned: int  # the local engine's stats.bytes_scanned
    plan: int  # what DuckDB's plan reads
    scans: list[tuple[str, frozenset[str], bool]]  # each scan of the plan: its table, its columns, a guess
    references: list[str]  # the table of each reference the query names
    off_scanned: float  # scanned's deviation from the estimate
    off_plan: float  # the plan's
    shown: list[str]  # the plan's scans, as printed


def measure(
    dry_run: Callable[[str], dict[str, Any]],
    run: Callable[[str], dict[str, Any]],
    curated: Mapping[str, Path],
    columns_of: Mapping[str, Sequence[str]],
    names: Mapping[str, str],
) -> list[Measured]:
    """The three figures of each of QUERIES (`names`: its placeholders' tables), through `dry_run`
    and `run` (the API's), and DuckDB's plan over the tables' curated folders (`curated`), each
    read as the engine reads it (every partition READY: N the one after the last), its columns as
    the API lists them (`columns_of`), its bytes per column from its files' footers."""
    sources, column_bytes = {}, {}
    for name, path in curated.items():
        found = partitions(path)
        sources[name] = table_source(path, columns_of[name], max(found) + 1)
        column_bytes[name] = parquet_column_bytes([part for parts in found.values() for part in parts])
    held = {name: set(columns) for name, columns in columns_of.items()}
    every_column = set().union(*held.values())
    texts = [sql.format(**names) for _, sql in QUERIES]
    assert len(set(texts)) == len(texts), "each text once: a repeated one would be reused"
    results = []
    with duckdb.connect() as con:
        for (label, _), sql in zip(QUERIES, texts, strict=True):
            estimate = dry_run(sql)
            record = run(sql)
            assert record["reused"] is False, record
            scanned = record["stats"]["bytes_scanned"]
            text, references = in_duckdb(sql, sources)
            each = plan_scans(con, text, every_column)
            scans = placed([projected | filtered for projected, filtered in each], references, held)
            plan = sum(column_bytes[table].get(column, 0) for table, columns, _ in scans for column in columns)
            shown = [
                f"{table}{'?' if guess else ''}[{','.join(sorted(projected)) or ('' if filtered else '-')}"
                f"{'+' + ','.join(sorted(filtered)) if filtered else ''}]"
                for (table, _, guess), (projected, filtered) in zip(scans, each, strict=True)
            ]
            to_scan = estimate["bytes_to_scan"]
            off = (deviation(to_scan, scanned), deviation(to_scan, plan))
            results.append(Measured(label, estimate, scanned, plan, scans, references, *off, shown))
    return results


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    with tempfile.TemporaryDirectory(prefix="sdp-bench-") as folder, LocalPlatform(api_port=0, aws_port=0) as platform:
        events_csv = Path(folder) / "events.csv"
        rows = generate_events_csv(events_csv, size_mib)
        regions_csv = Path(folder) / "regions.csv"
        regions_csv.write_text(REGIONS)
        api = platform.api_url
        token, tenant_id = signed_in(api)
        warehouse = Path(os.environ["SDP_WAREHOUSE_DIR"])
        client = sdp.Client(api, token=token)

        # Each upload makes a table of its own; its id (no part of the API) is the folder it adds.
        curated: dict[str, Path] = {}
        started = time.perf_counter()
        for path in (events_csv, regions_csv):
            before = table_ids(warehouse, tenant_id)
            record = client.upload(path, path.name)  # returns READY, or raises
            [table_id] = table_ids(warehouse, tenant_id) - before
            curated[record.table] = local_table_folder(warehouse, tenant_id, table_id)
        events, regions = curated
        print(
            f"dataset: {events_csv.stat().st_size / MIB:.0f} MiB CSV, {rows:,} rows, and {regions} (4 rows), "
            f"uploaded and READY in {time.perf_counter() - started:.1f} s; {os.cpu_count()} cores"
        )
        # The baseline: every curated Parquet file of each table (every partition's), whole.
        whole = {name: sum(part.stat().st_size for part in path.glob("*/*.parquet")) for name, path in curated.items()}
        for name, path in curated.items():
            parts = sorted(str(part) for part in path.glob("*/*.parquet"))
            with duckdb.connect() as con:
                [(groups,)] = con.execute(
                    "SELECT count(*) FROM parquet_metadata(?) WHERE column_id = 0", [parts]
                ).fetchall()
            print(
                f"curated Parquet of {name}: {whole[name]:,} bytes ({whole[name] / MIB:.1f} MiB) "
                f"in {len(parts)} files, {groups} row groups"
            )
        total = sum(whole.values())

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        columns_of = {name: [c.name for c in client.table(name).columns] for name in curated}
        results = measure(
            lambda sql: dry_run(session, api, sql),
            lambda sql: run_query(session, api, sql),
            curated,
            columns_of,
            {"e": events, "r": regions},
        )
        held = {name: set(columns) for name, columns in columns_of.items()}

        print(f"\nshare: of all curated Parquet files of the tables ({total:,} bytes, {total / MIB:.1f} MiB)")
        print(
            f"{'#':>2} {'query':32} {'estimate':>13} {'scanned':>13} {'plan':>13} {'scanned/e':>9} "
            f"{'plan/e':>7} {'share':>7} {'billed MiB':>10}"
        )
        for number, (label, estimate, scanned, plan, *_) in enumerate(results, 1):
            to_scan = estimate["bytes_to_scan"]
            print(
                f"{number:2} {label:32} {to_scan:13,} {scanned:13,} {plan:13,} {ratio(scanned, to_scan):>9} "
                f"{ratio(plan, to_scan):>7} {to_scan / total:7.1%} {estimate['billed_bytes'] / MIB:10.0f}"
            )

        print("\ncolumns read: the estimate's, of each table (every reference's); DuckDB's plan's, scan by scan")
        print("(after `+`: only in a pushed-down filter; `?`: the scan's table a guess)")
        differing: list[tuple[int, str, list[str]]] = []
        for number, (label, estimate, _, plan, scans, references, _, _, shown) in enumerate(results, 1):
            counted = "; ".join(f"{table}: {','.join(cols) or '-'}" for table, cols in estimate["columns"].items())
            named = ", ".join(f"{table} x{count}" for table, count in Counter(references).items())
            print(f"{number:2} {label:32} estimate {counted} ({named})")
            print(f"   {'':32} plan     {' '.join(shown) or 'no scan'}")
            said = plan_differs(estimate, scans, references, held)
            if said or plan != estimate["bytes_to_scan"]:
                differing.append((number, label, said or [FIGURES_DIFFER]))
        if differing:
            print("\nwhere DuckDB's plan reads otherwise than the estimate counts, and why:")
        else:
            print(f"\nDuckDB's plan reads the columns the estimate counts, of each table, in all {len(results)}")
        for number, label, said in differing:
            print(f"{number:2} {label}: " + "\n   ".join(said))

        worst = max(results, key=lambda result: result[6])
        print(
            f"\nworst deviation, scanned from the estimate: {worst[6]:.2%} ({worst[0]}: estimate "
            f"{worst[1]['bytes_to_scan']:,}, scanned {worst[2]:,})"
        )
        worst = max(results, key=lambda result: result[7])
        print(
            f"worst deviation, DuckDB's plan from the estimate: {worst[7]:.2%} ({worst[0]}: estimate "
            f"{worst[1]['bytes_to_scan']:,}, plan {worst[3]:,})"
        )
        over = [result for result in results if result[6] > TOLERANCE]
        unplanned = [result for result in results if result[7] > TOLERANCE]
        if over or unplanned:
            raise SystemExit(
                f"of {len(results)} queries, {len(over)} scanned and {len(unplanned)} DuckDB's plan "
                f"deviate from the estimate by more than {TOLERANCE:.0%}"
            )
        print(f"all {len(results)} within {TOLERANCE:.0%}, both ways")


if __name__ == "__main__":
    main()
