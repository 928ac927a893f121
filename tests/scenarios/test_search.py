"""Finding files and tables by a piece of a name and by status, format or column type: pages like
the listings, never a Scan, never another tenant's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api import Account, Api, dynamodb_requests, ingested_table, sign_up, upload_direct, wait_settled
from tests.openapi import assert_conforms

# What a search finds is the API's alone: through chalice's test client only.
pytestmark = pytest.mark.parametrize("api", ["chalice"], indirect=True)


@pytest.fixture
def library(api: Api) -> Account:
    """A tenant with files of several names, formats and column types, one of them FAILED."""
    account = sign_up(api)
    ingested_table(api, account, "Sales 2024-01.csv", b"region,amount\nnorth,1.5\n", table="sales")
    ingested_table(api, account, "Sales 2024-02.csv", b"region,amount\nsouth,2\n", table="sales")
    ingested_table(api, account, "people.jsonl", b'{"name": "ann", "born": "1990-01-02"}\n')
    ingested_table(api, account, "Stock.tsv", b"sku\tcount\nA1\t3\n")
    broken = upload_direct(api, account, "broken sales.csv", b"\x00\x01\x02binary")
    wait_settled(api, account, broken.body["file_id"])
    return account


def _names(api: Api, account: Account, path: str) -> list[str]:
    reply = api.call("GET", path, token=account.id_token)
    assert reply.status == 200, reply
    collection = "files" if path.startswith("/files") else "tables"
    assert_conforms("GET", f"/{collection}", 200, reply.body)
    return [entry["name" if collection == "files" else "table"] for entry in reply.body[collection]]


SEARCHES = [
    ("/files?q=SALES", ["broken sales.csv", "Sales 2024-02.csv", "Sales 2024-01.csv"]),  # any case
    ("/files?q=born", ["people.jsonl"]),  # a column's name
    ("/files?q=stock", ["Stock.tsv"]),  # its table's name
    ("/files?q=sales&status=READY", ["Sales 2024-02.csv", "Sales 2024-01.csv"]),
    ("/files?status=FAILED", ["broken sales.csv"]),
    ("/files?format=tsv", ["Stock.tsv"]),
    ("/files?column_type=date", ["people.jsonl"]),
    ("/files?format=csv&column_type=double", ["Sales 2024-02.csv", "Sales 2024-01.csv"]),
    ("/files?q=nothing of the kind", []),
    ("/tables?q=SAL", ["sales"]),
    ("/tables?q=count", ["stock"]),  # a column's name
    ("/tables?column_type=bigint", ["stock"]),
    ("/tables?q=people&column_type=date", ["people"]),
    ("/tables?q=broken", []),  # a FAILED file makes no table
]


def test_a_search_finds_by_a_piece_of_a_name_and_by_status_format_and_column_type(api: Api, library: Account) -> None:
    assert {path: _names(api, library, path) for path, _ in SEARCHES} == dict(SEARCHES)


def test_a_search_pages_like_the_listing_and_its_token_serves_that_search_only(api: Api) -> None:
    account = sign_up(api)
    for n in range(7):
        ingested_table(api, account, f"part {n}.csv", f"n\n{n}\n".encode(), table="parts")
    ingested_table(api, account, "other.csv", b"x\n1\n")
    pages, token = [], None
    while True:
        reply = api.call(
            "GET", "/files?q=part&limit=3" + (f"&next_token={token}" if token else ""), token=account.id_token
        )
        assert reply.status == 200, reply
        pages.append([record["name"] for record in reply.body["files"]])
        token = reply.body["next_token"]
        if token is None:
            break
    assert pages == [
        ["part 6.csv", "part 5.csv", "part 4.csv"],
        ["part 3.csv", "part 2.csv", "part 1.csv"],
        ["part 0.csv"],
    ]
    first = api.call("GET", "/files?q=part&limit=3", token=account.id_token).body["next_token"]
    for elsewhere in ("/files?limit=3", "/files?q=par&limit=3", "/tables?q=part&limit=3"):
        reply = api.call("GET", f"{elsewhere}&next_token={first}", token=account.id_token)
        assert (reply.status, reply.error_code) == (400, "invalid_token"), elsewhere


@pytest.mark.parametrize(
    "path",
    [
        "/files?status=DONE",
        "/files?format=xlsx",
        "/files?q=",
        "/files?q=a%0Ab",
        "/files?column_type=" + "x" * 256,
        "/tables?status=READY",
        "/tables?format=csv",
        "/tables?q=%7F",
    ],
)
def test_a_bad_search_is_400(api: Api, path: str) -> None:
    account = sign_up(api)
    reply = api.call("GET", path, token=account.id_token)
    assert (reply.status, reply.error_code) == (400, "invalid_request"), reply


def test_a_search_reads_only_the_tenants_own_items_and_never_scans(
    api: Api, library: Account, platform_services: Any
) -> None:
    stranger = sign_up(api)
    ingested_table(api, stranger, "sales secret.csv", b"region,amount\nwest,9\n", table="sales")
    with dynamodb_requests(platform_services, library.tenant_id) as sent:
        assert "sales secret.csv" not in _names(api, library, "/files?q=secret")
        assert _names(api, library, "/tables?q=sales&column_type=double") == ["sales"]
    searches = [request for request in sent if request.startswith("Query") and "SEARCH#" in request]
    assert len(searches) == 2  # the tenant's file index, then its table index
    assert all(f"TENANT#{library.tenant_id}" in request for request in searches)
    assert not [request for request in sent if request.startswith("Scan")]
    assert _names(api, stranger, "/files?q=sales") == ["sales secret.csv"]
