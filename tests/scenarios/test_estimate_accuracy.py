"""The estimate against what the local engine scans and against what DuckDB's own plan reads, for the
20 queries of bench/estimate.py over a small copy of its dataset (the benchmark runs them at scale)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chalice.test import Client

from bench.data import generate_events_csv
from bench.estimate import QUERIES, REGIONS, TOLERANCE, measure
from chalicelib.catalog import local_table_folder
from chalicelib.services import Services
from tests.api import run_query
from tests.ingestor import Ingestor


def test_twenty_estimates_are_within_ten_percent_of_the_engine_and_of_duckdbs_plan(
    platform_services: Services, client: Client, app: Any, tmp_path: Path
) -> None:
    ingestor = Ingestor(platform_services, client, app)
    events_csv = tmp_path / "events.csv"
    generate_events_csv(events_csv, 2)  # about 28,000 rows: the direct upload takes it whole
    tenant_id = ingestor.account.tenant_id
    warehouse = Path(platform_services.settings.warehouse_dir or "")
    curated, columns_of = {}, {}
    for name, data in (("events.csv", events_csv.read_bytes()), ("regions.csv", REGIONS.encode())):
        record = ingestor.upload(name, data)
        assert record["status"] == "READY", record
        table = ingestor.tenant.tables.get(tenant_id, record["table"])
        assert table is not None
        curated[table.name] = local_table_folder(warehouse, tenant_id, table.table_id)
        columns_of[table.name] = [column.name for column in table.columns]

    def dry_run(sql: str) -> dict[str, Any]:
        reply = ingestor.api.call(
            "POST", "/queries", json_body={"sql": sql, "dry_run": True}, token=ingestor.account.id_token
        )
        assert reply.status == 200, reply
        return reply.body

    def run(sql: str) -> dict[str, Any]:
        record = run_query(ingestor.api, ingestor.account, sql, max_rows=1)
        assert record["status"] == "SUCCEEDED", record
        return record

    results = measure(dry_run, run, curated, columns_of, {"e": "events", "r": "regions"})
    assert len(results) == len(QUERIES) == 20
    for result in results:
        assert result.off_scanned <= TOLERANCE, (result.label, result.estimate["bytes_to_scan"], result.scanned)
        assert result.off_plan <= TOLERANCE, (result.label, result.estimate["bytes_to_scan"], result.plan, result.shown)
    by_label = {result.label: result for result in results}
    assert by_label["count(*)"].estimate["bytes_to_scan"] == 0
    assert 0 < by_label["one column"].estimate["bytes_to_scan"] < by_label["star"].estimate["bytes_to_scan"]
