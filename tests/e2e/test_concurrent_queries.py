"""Queries at once from two tenants on the running local platform: every answer right, none
showing the other tenant's data, and one tenant's slow queries never holding up the other's."""

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


def test_a_tenant_running_all_its_slow_queries_does_not_hold_up_another(running_platform: RunningPlatform) -> None:
    api = HttpApi(running_platform.api_url)
    busy, other = sign_up(api, label="busy"), sign_up(api, label="other")
    rows = "n\n" + "".join(f"{n}\n" for n in range(400))
    ingested_table(api, busy, "t.csv", rows.encode())
    ingested_table(api, other, "t.csv", rows.encode())
    slow = "SELECT count(*) FROM t a, t b, t c, t d, t e WHERE (a.n * b.n + c.n * d.n + e.n) % 7 = 3"  # minutes
    submitted = [api.call("POST", "/queries", json_body={"sql": slow}, token=busy.id_token) for _ in range(10)]
    assert [reply.status for reply in submitted] == [202] * 10
    try:
        for n in range(5):  # each answered while all ten of the other tenant's run or wait
            result = run_query(api, other, f"SELECT count(*) + {n} AS c FROM t")
            assert (result["status"], result["rows"]) == ("SUCCEEDED", [[400 + n]])
        states = {
            api.call("GET", f"/queries/{reply.body['query_id']}", token=busy.id_token).body["status"]
            for reply in submitted
        }
        assert states <= {"QUEUED", "RUNNING"}
    finally:
        for reply in submitted:
            api.call("DELETE", f"/queries/{reply.body['query_id']}", token=busy.id_token)
