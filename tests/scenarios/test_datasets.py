"""Tables of many files: appends read with the table's types, drift, duplicates, deletes and
isolation, through chalice's test client; presigned uploads and concurrent appends over HTTP (the
local platform, its ingest pump's workers at once). Both answer queries with the local engine;
what Athena is given is pinned in tests/unit/test_sql_emitted.py and test_athena_engine.py."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.api import (
    Account,
    Api,
    ingested_table,
    run_query,
    sign_up,
    upload_direct,
    upload_presigned,
    wait_settled,
)
from tests.openapi import assert_conforms

DAYS = {
    "2024-05-01.csv": b"region,amount,qty\nnorth,10.5,1\nsouth,20,2\n",
    "2024-05-02.csv": b"region,amount,qty\nnorth,1,3\neast,2.25,4\nwest,3,5\n",
    "2024-05-03.csv": b"region,amount,qty\nsouth,100,6\n",
}


def _rows(api: Api, account: Account, sql: str) -> list[list[Any]]:
    query = run_query(api, account, sql)
    assert query["status"] == "SUCCEEDED", query
    return query["rows"]


def _refused(api: Api, account: Account, sql: str) -> str | None:
    reply = api.call("POST", "/queries", json_body={"sql": sql}, token=account.id_token)
    assert reply.status == 400, reply
    return reply.error_code


def _table(api: Api, account: Account, name: str) -> dict[str, Any]:
    reply = api.call("GET", f"/tables/{name}", token=account.id_token)
    assert reply.status == 200, reply
    assert_conforms("GET", "/tables/{table}", 200, reply.body)
    return reply.body


def _settled(api: Api, account: Account, name: str, data: bytes, table: str) -> dict[str, Any]:
    reply = upload_direct(api, account, name, data, table=table)
    assert reply.status == 201, reply
    assert reply.body["target_table"] == table
    return wait_settled(api, account, reply.body["file_id"])


THROUGH_CHALICE = pytest.mark.parametrize("api", ["chalice"], indirect=True)
OVER_HTTP = pytest.mark.parametrize("api", ["http"], indirect=True)


@THROUGH_CHALICE
def test_daily_files_add_up_to_one_table_with_drift_refusals_and_deletes(api: Api) -> None:
    account = sign_up(api)
    records = [ingested_table(api, account, name, data, table="sales") for name, data in DAYS.items()]
    assert {record["table"] for record in records} == {"sales"}
    assert _rows(api, account, "SELECT count(*), sum(amount), sum(qty) FROM sales") == [[6, 136.75, 21]]
    assert _rows(api, account, "SELECT region, sum(amount) FROM sales GROUP BY region ORDER BY region") == [
        ["east", 2.25],
        ["north", 11.5],
        ["south", 120.0],
        ["west", 3.0],
    ]
    listed = api.call("GET", "/tables", token=account.id_token).body["tables"]
    assert [(t["table"], t["file_count"], t["row_count"]) for t in listed] == [("sales", 3, 6)]

    # A fourth file with a column more: the column is added, older rows read NULL in it.
    fourth = ingested_table(api, account, "2024-05-04.csv", b"region,amount,qty,channel\nnorth,5,1,web\n", "sales")
    assert fourth["drift"] == {"added_columns": ["channel"], "missing_columns": []}
    assert _rows(api, account, "SELECT count(*), count(channel) FROM sales") == [[7, 1]]
    assert _rows(api, account, "SELECT channel FROM sales WHERE qty = 6") == [[None]]
    # A file lacking a column reads NULL in it.
    lacking = ingested_table(api, account, "2024-05-05.csv", b"region,qty\nwest,9\n", "sales")
    assert lacking["drift"] == {"added_columns": [], "missing_columns": ["amount", "channel"]}
    assert _rows(api, account, "SELECT amount, channel FROM sales WHERE qty = 9") == [[None, None]]

    # Text in a numeric column: refused, naming the column, the line and the value; nothing changes.
    before = _table(api, account, "sales")
    bad = _settled(api, account, "2024-05-06.csv", b"region,amount,qty\nnorth,7,1\nsouth,n/a,2\n", "sales")
    assert (bad["status"], bad["error"]["code"]) == ("FAILED", "schema_mismatch"), bad
    assert all(part in bad["error"]["message"] for part in ("amount", "3", "n/a")), bad["error"]
    after = _table(api, account, "sales")
    assert (after["row_count"], after["columns"], len(after["files"])) == (8, before["columns"], 5)

    # The same content again: refused, naming the file it repeats; the rows are not doubled.
    again = _settled(api, account, "copy of day 2.csv", DAYS["2024-05-02.csv"], "sales")
    assert (again["status"], again["error"]["code"]) == ("FAILED", "duplicate_file"), again
    assert records[1]["file_id"] in again["error"]["message"]
    assert _rows(api, account, "SELECT count(*) FROM sales") == [[8]]

    # The table tells its files, their drift and which file added which column.
    described = _table(api, account, "sales")
    assert (described["row_count"], described["file_count"]) == (8, 5)
    assert [c["name"] for c in described["columns"]] == ["region", "amount", "qty", "channel"]
    assert [(f["name"], f["row_count"]) for f in described["files"]] == [
        ("2024-05-01.csv", 2),
        ("2024-05-02.csv", 3),
        ("2024-05-03.csv", 1),
        ("2024-05-04.csv", 1),
        ("2024-05-05.csv", 1),
    ]
    history = {entry["column"]: entry["file_id"] for entry in described["schema_history"]}
    assert history == {
        "region": records[0]["file_id"],
        "amount": records[0]["file_id"],
        "qty": records[0]["file_id"],
        "channel": fourth["file_id"],
    }

    # Deleting the middle file removes exactly its rows.
    assert api.call("DELETE", f"/files/{records[1]['file_id']}", token=account.id_token).status == 204
    assert _rows(api, account, "SELECT count(*), sum(qty) FROM sales") == [[5, 19]]
    assert _rows(api, account, "SELECT count(*) FROM sales WHERE region = 'east'") == [[0]]
    assert _table(api, account, "sales")["file_count"] == 4
    # Its content is no longer the table's: it may be added again.
    back = ingested_table(api, account, "2024-05-02 again.csv", DAYS["2024-05-02.csv"], "sales")
    assert back["table"] == "sales"
    assert _rows(api, account, "SELECT count(*) FROM sales") == [[8]]


@THROUGH_CHALICE
def test_deleting_the_last_file_removes_the_table(api: Api) -> None:
    account = sign_up(api)
    first = ingested_table(api, account, "a.csv", b"x\n1\n", table="pairs")
    second = ingested_table(api, account, "b.csv", b"x\n2\n", table="pairs")
    for record in (first, second):
        assert api.call("DELETE", f"/files/{record['file_id']}", token=account.id_token).status == 204
    gone = api.call("GET", "/tables/pairs", token=account.id_token)
    assert (gone.status, gone.error_code) == (404, "table_not_found")
    assert api.call("GET", "/tables", token=account.id_token).body["tables"] == []
    assert _refused(api, account, "SELECT * FROM pairs") == "forbidden_sql"
    # The name is free again: a new table of it starts afresh, with the new file's types.
    fresh = ingested_table(api, account, "c.csv", b"x\nthree\n", table="pairs")
    assert fresh["columns"] == [{"name": "x", "type": "varchar"}]
    assert _rows(api, account, "SELECT x FROM pairs") == [["three"]]


@THROUGH_CHALICE
def test_a_tables_files_page_with_tokens_of_that_table_only(api: Api) -> None:
    account = sign_up(api)
    ids = [ingested_table(api, account, f"{n}.csv", f"n\n{n}\n".encode(), table="t")["file_id"] for n in range(3)]
    ingested_table(api, account, "other.csv", b"n\n9\n", table="u")
    first = api.call("GET", "/tables/t?limit=2", token=account.id_token).body
    assert [f["file_id"] for f in first["files"]] == ids[:2]
    rest = api.call("GET", f"/tables/t?limit=2&next_token={first['next_token']}", token=account.id_token).body
    assert ([f["file_id"] for f in rest["files"]], rest["next_token"]) == (ids[2:], None)
    for path in (
        f"/tables/u?limit=2&next_token={first['next_token']}",  # another table's files
        f"/files?next_token={first['next_token']}",
        "/tables/t?limit=0",
        "/tables/t?limit=abc",
    ):
        reply = api.call("GET", path, token=account.id_token)
        assert (reply.status, reply.error_code) in ((400, "invalid_token"), (400, "invalid_request")), path
    for name in ("T", "a" * 300, "..", "t%00"):
        reply = api.call("GET", f"/tables/{name}", token=account.id_token)
        assert (reply.status, reply.error_code) == (404, "table_not_found"), name


@THROUGH_CHALICE
@pytest.mark.parametrize("table", ["", "Sales", "2024", "a-b", "sales.csv", "x" * 121, "___", "é"])
def test_a_bad_table_name_is_400_on_every_upload_path(api: Api, table: str) -> None:
    account = sign_up(api)
    direct = upload_direct(api, account, "a.csv", b"x\n1\n", table=table)
    assert (direct.status, direct.error_code) == (400, "invalid_table_name"), direct
    started = api.call(
        "POST", "/uploads", json_body={"name": "a.csv", "size": 4, "table": table}, token=account.id_token
    )
    assert (started.status, started.error_code) == (400, "invalid_table_name"), started
    assert api.call("GET", "/files", token=account.id_token).body["files"] == []


@THROUGH_CHALICE
def test_another_tenants_table_is_not_found_and_never_joined(api: Api) -> None:
    owner, stranger = sign_up(api), sign_up(api)
    ingested_table(api, owner, "a.csv", b"secret\n42\n", table="ledger")
    hidden = api.call("GET", "/tables/ledger", token=stranger.id_token)
    assert (hidden.status, hidden.error_code) == (404, "table_not_found")
    assert _refused(api, stranger, "SELECT * FROM ledger") == "forbidden_sql"
    # The same name in the stranger's tenant is the stranger's own table.
    own = ingested_table(api, stranger, "b.csv", b"note\nhello\n", table="ledger")
    assert own["columns"] == [{"name": "note", "type": "varchar"}]
    assert _rows(api, stranger, "SELECT * FROM ledger") == [["hello"]]
    assert _rows(api, owner, "SELECT * FROM ledger") == [[42]]
    assert _table(api, owner, "ledger")["file_count"] == 1


@OVER_HTTP
def test_a_presigned_upload_names_its_table(api: Api) -> None:
    account = sign_up(api)
    ingested_table(api, account, "one.csv", b"n\n1\n", table="numbers")
    file_id = upload_presigned(api, account, "two.csv", b"n\n2\n", "numbers")
    assert wait_settled(api, account, file_id)["table"] == "numbers"
    assert _rows(api, account, "SELECT sum(n) FROM numbers") == [[3]]


@OVER_HTTP
def test_concurrent_appends_count_every_file_once_and_queries_never_see_half_a_file(api: Api) -> None:
    account = sign_up(api)
    rows_per_file = 500
    files = {
        f"part-{n}.csv": b"part,value\n" + b"".join(b"%d,%d\n" % (n, v) for v in range(rows_per_file))
        for n in range(10)
    }
    seen: list[list[Any]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            query = run_query(api, account, "SELECT part, count(*) FROM events GROUP BY part")
            if query.get("status") == "SUCCEEDED":
                seen.extend(query["rows"])

    ids = [upload_direct(api, account, name, data, table="events").body["file_id"] for name, data in files.items()]
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        records = [wait_settled(api, account, file_id) for file_id in ids]
    finally:
        done.set()
        watcher.join()
    assert [record["status"] for record in records] == ["READY"] * 10, records
    assert _rows(api, account, "SELECT count(*), count(DISTINCT part) FROM events") == [[5000, 10]]
    assert _table(api, account, "events")["file_count"] == 10
    assert seen, "no query ran while the files were ingested"
    assert {count for _, count in seen} == {rows_per_file}, "a query saw part of a file, or a file twice"
