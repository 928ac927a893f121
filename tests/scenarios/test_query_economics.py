"""Query economics through the API: the estimate before running (dry_run), the monthly scan budget
and usage, and results reused; through chalice's test client and over HTTP."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import keys
from chalicelib.aws.dynamo import query_prefix
from tests.api import Account, Api, add_member, ingested_table, run_query, sign_up

ROWS = 400


def _wide_csv(rows: int = ROWS, start: int = 0) -> bytes:
    """A table whose columns differ in size: an id, a short code and a long free text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "code", "note"])
    for n in range(start, start + rows):
        writer.writerow([n, f"c{n % 7}", f"note {n} " + "lorem ipsum dolor sit amet " * (1 + n % 5)])
    return out.getvalue().encode()


@pytest.fixture
def admin(api: Api) -> Account:
    account = sign_up(api)
    ingested_table(api, account, "notes.csv", _wide_csv())
    return account


def _estimate(api: Api, account: Account, sql: str) -> dict[str, Any]:
    reply = api.call("POST", "/queries", json_body={"sql": sql, "dry_run": True}, token=account.id_token)
    assert reply.status == 200, reply
    return reply.body


def _usage(api: Api, account: Account) -> dict[str, Any]:
    reply = api.call("GET", "/tenant/usage", token=account.id_token)
    assert reply.status == 200, reply
    return reply.body


def _set_budget(api: Api, account: Account, budget: Any) -> Any:
    return api.call("PATCH", "/tenant", json_body={"monthly_scan_budget_bytes": budget}, token=account.id_token)


# The estimate ---------------------------------------------------------------------------------------


def test_a_dry_run_estimates_from_the_columns_read_and_runs_nothing(api: Api, admin: Account) -> None:
    everything = _estimate(api, admin, "SELECT * FROM notes")
    one = _estimate(api, admin, "SELECT code FROM notes")
    counted = _estimate(api, admin, "SELECT count(*) FROM notes")
    assert everything["columns"] == {"notes": ["code", "id", "note"]}
    assert one["columns"] == {"notes": ["code"]}
    assert one["tables"] == ["notes"]
    assert counted["columns"] == {"notes": []}
    assert counted["bytes_to_scan"] == 0
    assert 0 < one["bytes_to_scan"] < everything["bytes_to_scan"]
    # Athena's minimum: 10 MB billed for any query, at $5 per TB.
    assert one["billed_bytes"] == 10 * 1024**2
    assert one["estimated_cost_usd"] == pytest.approx(10 * 1024**2 / 1024**4 * 5)
    assert (one["within_budget"], one["remaining_scan_bytes"]) == (True, None)
    assert one["resets_at"].endswith("T00:00:00.000Z")
    listed = api.call("GET", "/queries", token=admin.id_token).body["queries"]
    assert listed == []  # nothing was stored, nothing ran
    assert _usage(api, admin)["query_count"] == 0


def test_the_estimate_is_what_the_local_engine_then_scans(api: Api, admin: Account) -> None:
    self_join = "SELECT a.note, b.code FROM notes a JOIN notes b ON a.id = b.id"
    for sql in (
        "SELECT code FROM notes",
        "SELECT id, note FROM notes WHERE code = 'c3'",
        "SELECT * FROM notes",
        self_join,
        "SELECT note FROM notes WHERE id IN (SELECT id FROM notes WHERE code = 'c1')",
    ):
        estimate = _estimate(api, admin, sql)
        ran = run_query(api, admin, sql)
        assert ran["status"] == "SUCCEEDED", ran
        assert ran["stats"]["bytes_scanned"] == estimate["bytes_to_scan"], sql
    # A table read twice is scanned twice, each time for what that reference reads.
    once = {
        column: _estimate(api, admin, f"SELECT {column} FROM notes")["bytes_to_scan"]
        for column in ("id", "note", "code")
    }
    assert _estimate(api, admin, self_join)["bytes_to_scan"] == once["note"] + once["id"] + once["code"] + once["id"]


def test_the_estimate_follows_files_added_to_and_deleted_from_a_table(api: Api, admin: Account) -> None:
    before = _estimate(api, admin, "SELECT note FROM notes")["bytes_to_scan"]
    added = ingested_table(api, admin, "more.csv", _wide_csv(ROWS, start=ROWS), table="notes")
    grown = _estimate(api, admin, "SELECT note FROM notes")["bytes_to_scan"]
    assert grown > before * 1.5
    assert api.call("DELETE", f"/files/{added['file_id']}", token=admin.id_token).status == 204
    assert _estimate(api, admin, "SELECT note FROM notes")["bytes_to_scan"] == before


BAD_DRY_RUNS = [
    ({"sql": "SELECT 1", "dry_run": "true"}, "invalid_request"),
    ({"sql": "SELECT 1", "dry_run": 1}, "invalid_request"),
    ({"sql": "SELECT 1", "dry_run": None}, "invalid_request"),
    ({"sql": "SELECT * FROM nowhere", "dry_run": True}, "forbidden_sql"),
    ({"sql": "DELETE FROM notes", "dry_run": True}, "forbidden_sql"),
    ({"sql": "SELECT FROM WHERE", "dry_run": True}, "invalid_sql"),
]


def test_a_bad_dry_run_is_refused_as_a_query_would_be(api: Api, admin: Account) -> None:
    for body, code in BAD_DRY_RUNS:
        reply = api.call("POST", "/queries", json_body=body, token=admin.id_token)
        assert (reply.status, reply.error_code) == (400, code), body
    assert api.call("GET", "/queries", token=admin.id_token).body["queries"] == []


def test_another_tenants_table_is_not_estimated(api: Api, admin: Account) -> None:
    stranger = sign_up(api, "stranger")
    reply = api.call(
        "POST", "/queries", json_body={"sql": "SELECT * FROM notes", "dry_run": True}, token=stranger.id_token
    )
    assert (reply.status, reply.error_code) == (400, "forbidden_sql")


# Budget and usage --------------------------------------------------------------------------------------


def test_only_an_admin_sets_the_budget_and_every_member_reads_usage(api: Api, admin: Account) -> None:
    analyst, viewer = add_member(api, admin, "analyst"), add_member(api, admin, "viewer")
    for member in (analyst, viewer):
        assert _set_budget(api, member, 1000).status == 403
    reply = _set_budget(api, admin, 5_000_000)
    assert reply.status == 200, reply
    assert reply.body == {
        "tenant_id": admin.tenant_id,
        "name": reply.body["name"],
        "monthly_scan_budget_bytes": 5_000_000,
    }
    for member in (admin, analyst, viewer):
        usage = _usage(api, member)
        assert usage["monthly_scan_budget_bytes"] == 5_000_000
        assert usage["remaining_scan_bytes"] == 5_000_000
        assert usage["file_count"] == 1
        assert usage["bytes_used"] > 0
        assert usage["quota_files"] > 1
        assert usage["quota_bytes"] > usage["bytes_used"]
    assert _set_budget(api, admin, 2048.0).body["monthly_scan_budget_bytes"] == 2048  # one JSON number
    cleared = _set_budget(api, admin, None)
    assert cleared.body["monthly_scan_budget_bytes"] is None
    assert _usage(api, viewer)["remaining_scan_bytes"] is None


BAD_BUDGETS = [
    {"monthly_scan_budget_bytes": -1},
    {"monthly_scan_budget_bytes": 1.5},
    {"monthly_scan_budget_bytes": 10.5},
    {"monthly_scan_budget_bytes": 2**63},
    {"monthly_scan_budget_bytes": 10**40},
    {"monthly_scan_budget_bytes": "100"},
    {"monthly_scan_budget_bytes": True},
    {"monthly_scan_budget_bytes": [1]},
    {},
    {"monthly_scan_budget_bytes": 1, "name": "renamed"},
]


def test_a_bad_budget_is_refused_and_the_budget_stays(api: Api, admin: Account) -> None:
    assert _set_budget(api, admin, 12345).status == 200
    for body in BAD_BUDGETS:
        reply = api.call("PATCH", "/tenant", json_body=body, token=admin.id_token)
        assert (reply.status, reply.error_code) == (400, "invalid_request"), body
        assert _usage(api, admin)["monthly_scan_budget_bytes"] == 12345


def test_usage_counts_queries_and_the_bytes_they_scanned(api: Api, admin: Account) -> None:
    viewer = add_member(api, admin, "viewer")
    first = run_query(api, admin, "SELECT note FROM notes")
    second = run_query(api, viewer, "SELECT id FROM notes WHERE id > 10")
    failed = run_query(api, admin, "SELECT CAST(note AS integer) FROM notes")
    assert (first["status"], second["status"], failed["status"]) == ("SUCCEEDED", "SUCCEEDED", "FAILED")
    usage = _usage(api, viewer)
    assert usage["query_count"] == 3
    # What each query scanned; a failed query is not billed, and is not counted.
    assert usage["bytes_scanned"] == first["stats"]["bytes_scanned"] + second["stats"]["bytes_scanned"]
    assert usage["month"] == datetime.now(UTC).strftime("%Y-%m")
    stranger = sign_up(api, "stranger")
    assert (_usage(api, stranger)["query_count"], _usage(api, stranger)["bytes_scanned"]) == (0, 0)


def test_a_query_over_the_budget_is_refused_before_it_runs(api: Api, admin: Account) -> None:
    note = _estimate(api, admin, "SELECT note FROM notes")["bytes_to_scan"]
    code = _estimate(api, admin, "SELECT code FROM notes")["bytes_to_scan"]
    assert code < note
    assert _set_budget(api, admin, note - 1).status == 200
    over = _estimate(api, admin, "SELECT note FROM notes")
    assert (over["within_budget"], over["remaining_scan_bytes"]) == (False, note - 1)

    refused = api.call("POST", "/queries", json_body={"sql": "SELECT note FROM notes"}, token=admin.id_token)
    assert (refused.status, refused.error_code) == (429, "budget_exceeded")
    error = refused.body["error"]
    assert error["remaining_scan_bytes"] == note - 1
    assert error["resets_at"] == over["resets_at"]
    assert f"{note - 1:,} bytes" in error["message"]
    assert over["resets_at"] in error["message"]
    assert api.call("GET", "/queries", token=admin.id_token).body["queries"] == []  # nothing stored
    assert _usage(api, admin)["query_count"] == 0

    cheaper = run_query(api, admin, "SELECT code FROM notes")  # within what is left: it runs
    assert cheaper["status"] == "SUCCEEDED"
    assert _usage(api, admin)["remaining_scan_bytes"] == note - 1 - code


@pytest.mark.parametrize("api", ["chalice"], indirect=True)  # the platform's clock is set in-process
def test_the_budget_counts_again_from_the_first_of_the_month(api: Api, platform_services: Any) -> None:
    admin = sign_up(api)
    ingested_table(api, admin, "notes.csv", _wide_csv())
    platform_services.clock = lambda: datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    scanned = run_query(api, admin, "SELECT note FROM notes")["stats"]["bytes_scanned"]
    assert _set_budget(api, admin, scanned).status == 200
    november = _usage(api, admin)
    assert (november["month"], november["remaining_scan_bytes"]) == ("2026-11", 0)
    assert november["resets_at"] == "2026-12-01T00:00:00.000Z"
    refused = api.call("POST", "/queries", json_body={"sql": "SELECT id FROM notes"}, token=admin.id_token)
    assert (refused.status, refused.error_code) == (429, "budget_exceeded")
    assert refused.body["error"]["resets_at"] == "2026-12-01T00:00:00.000Z"
    # The query already run is answered with its result, scanning nothing: no budget refuses it.
    assert run_query(api, admin, "SELECT note FROM notes")["reused"] is True

    platform_services.clock = lambda: datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    december = _usage(api, admin)
    assert (december["month"], december["bytes_scanned"], december["query_count"]) == ("2026-12", 0, 0)
    assert december["remaining_scan_bytes"] == scanned
    assert run_query(api, admin, "SELECT id FROM notes")["status"] == "SUCCEEDED"
    platform_services.clock = lambda: datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert _usage(api, admin)["resets_at"] == "2027-01-01T00:00:00.000Z"


# Results reused ----------------------------------------------------------------------------------------


def test_the_same_query_over_unchanged_tables_reuses_its_result(api: Api, admin: Account) -> None:
    sql = "SELECT code, count(*) AS n FROM notes GROUP BY code ORDER BY code"
    first = run_query(api, admin, sql)
    again = run_query(api, admin, sql)
    assert (first["reused"], again["reused"]) == (False, True)
    assert again["stats"]["bytes_scanned"] == 0 < first["stats"]["bytes_scanned"]
    assert again["rows"] == first["rows"]
    assert again["columns"] == first["columns"]
    assert run_query(api, admin, sql.replace("ORDER BY code", "ORDER BY n, code"))["reused"] is False
    # Answered as it is submitted: the 202 holds the ended query and its first page.
    at_once = api.call("POST", "/queries", json_body={"sql": sql.lower()}, token=admin.id_token)
    assert at_once.status == 202, at_once
    assert (at_once.body["status"], at_once.body["reused"]) == ("SUCCEEDED", True)
    assert at_once.body["rows"] == first["rows"]

    added = ingested_table(api, admin, "more.csv", _wide_csv(10, start=ROWS), table="notes")
    grown = run_query(api, admin, sql)
    assert grown["reused"] is False
    assert grown["rows"] != first["rows"]
    assert run_query(api, admin, sql)["reused"] is True
    assert api.call("DELETE", f"/files/{added['file_id']}", token=admin.id_token).status == 204
    shrunk = run_query(api, admin, sql)
    assert shrunk["reused"] is False
    assert shrunk["rows"] == first["rows"]


def test_a_result_is_never_reused_for_another_member_or_tenant(api: Api, admin: Account) -> None:
    sql = "SELECT count(*) AS n FROM notes"
    assert run_query(api, admin, sql)["reused"] is False
    colleague = add_member(api, admin, "analyst")
    theirs = run_query(api, colleague, sql)
    assert theirs["reused"] is False
    assert theirs["rows"] == [[ROWS]]
    stranger = sign_up(api, "stranger")
    ingested_table(api, stranger, "notes.csv", _wide_csv(3))
    assert run_query(api, stranger, sql)["rows"] == [[3]]  # their own table, never the other's result
    assert run_query(api, stranger, sql)["reused"] is True


# What the estimate reads -------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["chalice"], indirect=True)
def test_a_tables_bytes_per_column_go_when_its_last_file_does(api: Api, platform_services: Any) -> None:
    admin = sign_up(api)
    record = ingested_table(api, admin, "notes.csv", _wide_csv())
    dynamodb, table = platform_services.clients.dynamodb, platform_services.settings.table_name
    partition = keys.tenant_partition(admin.tenant_id)
    held = query_prefix(dynamodb, table, partition, keys.TABLE_BYTES_PREFIX)
    assert {name for item in held for name in item} - {"PK", "SK"} == {"id", "code", "note"}
    assert api.call("DELETE", f"/files/{record['file_id']}", token=admin.id_token).status == 204
    assert query_prefix(dynamodb, table, partition, keys.TABLE_BYTES_PREFIX) == []
