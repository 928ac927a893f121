"""Twenty queries at once from two tenants on the running local platform: every answer right,
none showing the other tenant's data."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.api import Account, HttpApi, ingested_table, run_query, sign_up
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.e2e


def test_twenty_concurrent_queries_from_two_tenants_are_right_and_apart(running_platform: RunningPlatform) -> None:
    api = HttpApi(running_platform.api_url)
    tenants: dict[str, Account] = {}
    for label, base in (("first", 1_000), ("second", 2_000)):
        account = sign_up(api, label=label)
        rows = "".join(f"{base + n},{label}-{n},{n % 7}\n" for n in range(300))
        ingested_table(api, account, "events.csv", f"id,tag,bucket\n{rows}".encode())
        tenants[label] = account

    def query(job: tuple[str, int]) -> tuple[str, int, list[list[object]]]:
        label, bucket = job
        result = run_query(
            HttpApi(running_platform.api_url),
            tenants[label],
            f"SELECT count(*) AS n, min(id) AS low, max(tag) AS top FROM events WHERE bucket = {bucket % 7}",
        )
        assert result["status"] == "SUCCEEDED", result
        return label, bucket, result["rows"]

    jobs = [(label, n) for label in tenants for n in range(10)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(query, jobs))

    for label, bucket, rows in results:
        base = 1_000 if label == "first" else 2_000
        members = [n for n in range(300) if n % 7 == bucket % 7]
        tags = sorted(f"{label}-{n}" for n in members)
        assert rows == [[len(members), base + members[0], tags[-1]]]
        other = "second" if label == "first" else "first"
        assert other not in str(rows)
