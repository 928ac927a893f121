"""SQL over your own tables, through chalice's test client and over HTTP: answers checked against
ones computed here in Python, paging, downloads, limits, cancelling, and isolation."""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from tests.api import (
    NOT_IDS,
    Account,
    Api,
    ChaliceApi,
    add_member,
    all_rows,
    dynamodb_requests,
    ingested_table,
    run_query,
    sign_up,
)
from tests.openapi import assert_conforms

REGIONS = ["east", "north", "south", "west"]


def _sales() -> list[dict[str, Any]]:
    generator = random.Random(20261125)
    rows = []
    for n in range(1, 241):
        rows.append(
            {
                "id": n,
                "region": REGIONS[generator.randrange(4)],
                "amount": None if n % 11 == 0 else round(generator.uniform(1, 100), 2),
                "qty": generator.randrange(1, 10),
                "day": date(2024, 1, 1) + timedelta(days=generator.randrange(120)),
                "rep_id": generator.randrange(1, 6),
            }
        )
    return rows


SALES = _sales()
REPS = [{"rep_id": n, "name": f"rep {n}", "team": "a" if n % 2 else "b"} for n in range(1, 6)]


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return out.getvalue().encode()


@pytest.fixture
def analyst(api: Api) -> Account:
    account = sign_up(api)
    ingested_table(api, account, "sales.csv", _csv(SALES))
    ingested_table(api, account, "reps.csv", _csv(REPS))
    return account


def _succeeded(api: Api, account: Account, sql: str) -> list[list[Any]]:
    query = run_query(api, account, sql)
    assert query["status"] == "SUCCEEDED", query
    assert_conforms("GET", "/queries/{query_id}", 200, query)
    return all_rows(api, account, query)


def test_filters(api: Api, analyst: Account) -> None:
    rows = _succeeded(api, analyst, "SELECT id, amount FROM sales WHERE region = 'north' AND amount > 50 ORDER BY id")
    expected = [
        [r["id"], r["amount"]] for r in SALES if r["region"] == "north" and r["amount"] is not None and r["amount"] > 50
    ]
    assert rows == [[i, pytest.approx(a)] for i, a in expected]


def test_joins_across_two_tables(api: Api, analyst: Account) -> None:
    rows = _succeeded(
        api,
        analyst,
        "SELECT s.id, r.name FROM sales s JOIN reps r ON s.rep_id = r.rep_id WHERE r.team = 'a' ORDER BY s.id",
    )
    team_a = {rep["rep_id"]: rep["name"] for rep in REPS if rep["team"] == "a"}
    assert rows == [[r["id"], team_a[r["rep_id"]]] for r in SALES if r["rep_id"] in team_a]


def test_group_by_with_nulls_ignored_by_aggregates(api: Api, analyst: Account) -> None:
    rows = _succeeded(
        api,
        analyst,
        "SELECT region, count(*) AS n, count(amount) AS priced, sum(qty) AS units, avg(amount) AS mean, "
        "sum(qty) / count(*) AS int_ratio FROM sales GROUP BY region ORDER BY region",
    )
    expected = []
    for region in REGIONS:
        mine = [r for r in SALES if r["region"] == region]
        priced = [r["amount"] for r in mine if r["amount"] is not None]
        units = sum(r["qty"] for r in mine)
        expected.append(
            [region, len(mine), len(priced), units, pytest.approx(sum(priced) / len(priced)), units // len(mine)]
        )
    assert rows == expected


def test_window_functions(api: Api, analyst: Account) -> None:
    rows = _succeeded(
        api,
        analyst,
        "SELECT id, row_number() OVER (PARTITION BY region ORDER BY qty DESC, id) AS rank_in_region, "
        "sum(qty) OVER (PARTITION BY region ORDER BY id) AS running FROM sales ORDER BY id",
    )
    by_region: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in SALES:
        by_region[row["region"]].append(row)
    rank: dict[int, int] = {}
    running: dict[int, int] = {}
    for members in by_region.values():
        for position, row in enumerate(sorted(members, key=lambda r: (-r["qty"], r["id"])), start=1):
            rank[row["id"]] = position
        total = 0
        for row in sorted(members, key=lambda r: r["id"]):
            total += row["qty"]
            running[row["id"]] = total
    assert rows == [[r["id"], rank[r["id"]], running[r["id"]]] for r in SALES]


def test_ctes(api: Api, analyst: Account) -> None:
    rows = _succeeded(
        api,
        analyst,
        "WITH big AS (SELECT * FROM sales WHERE qty >= 5), "
        "per AS (SELECT region, count(*) AS n FROM big GROUP BY region) "
        "SELECT region, n FROM per WHERE n > 0 ORDER BY region",
    )
    counts: dict[str, int] = defaultdict(int)
    for row in SALES:
        if row["qty"] >= 5:
            counts[row["region"]] += 1
    assert rows == [[region, counts[region]] for region in sorted(counts)]


def test_dates(api: Api, analyst: Account) -> None:
    rows = _succeeded(
        api,
        analyst,
        "SELECT date_trunc('month', day) AS month, count(*) AS n, min(day) AS first, "
        "date_diff('day', min(day), max(day)) AS span FROM sales WHERE day >= DATE '2024-02-01' GROUP BY 1 ORDER BY 1",
    )
    months: dict[date, list[date]] = defaultdict(list)
    for row in SALES:
        if row["day"] >= date(2024, 2, 1):
            months[row["day"].replace(day=1)].append(row["day"])
    expected = [
        [m.isoformat(), len(days), min(days).isoformat(), (max(days) - min(days)).days]
        for m, days in sorted(months.items())
    ]
    assert rows == expected


def test_rollup_cube_and_grouping_sets(api: Api, analyst: Account) -> None:
    units: dict[tuple[str | None, int | None], int] = defaultdict(int)
    for row in SALES:
        for region in (row["region"], None):
            for rep in (row["rep_id"], None):
                units[(region, rep)] += row["qty"]

    def key(pair: tuple[str | None, int | None]) -> tuple[bool, str, bool, int]:  # NULLs last, as ordered below
        return (pair[0] is None, pair[0] or "", pair[1] is None, pair[1] or 0)

    order = "ORDER BY region NULLS LAST, rep_id NULLS LAST"
    rolled = _succeeded(
        api,
        analyst,
        f"SELECT region, rep_id, sum(qty) AS units, grouping(region, rep_id) AS level FROM sales "
        f"GROUP BY ROLLUP (region, rep_id) {order}",
    )
    rollup = sorted((pair for pair in units if pair[0] is not None or pair[1] is None), key=key)
    assert rolled == [[r, p, units[(r, p)], (r is None) * 2 + (p is None)] for r, p in rollup]

    cubed = _succeeded(
        api, analyst, f"SELECT region, rep_id, sum(qty) FROM sales GROUP BY CUBE (region, rep_id) {order}"
    )
    assert cubed == [[r, p, units[(r, p)]] for r, p in sorted(units, key=key)]

    sets = _succeeded(
        api, analyst, f"SELECT region, rep_id, sum(qty) FROM sales GROUP BY GROUPING SETS ((region), (rep_id)) {order}"
    )
    chosen = sorted((pair for pair in units if (pair[0] is None) != (pair[1] is None)), key=key)
    assert sets == [[r, p, units[(r, p)]] for r, p in chosen]


def test_fetch_first(api: Api, analyst: Account) -> None:
    rows = _succeeded(api, analyst, "SELECT id FROM sales ORDER BY qty DESC, id OFFSET 2 ROWS FETCH FIRST 5 ROWS ONLY")
    ordered = [r["id"] for r in sorted(SALES, key=lambda r: (-r["qty"], r["id"]))]
    assert rows == [[i] for i in ordered[2:7]]
    ties = run_query(api, analyst, "SELECT id FROM sales ORDER BY qty DESC FETCH FIRST 1 ROWS WITH TIES")
    assert ties["status"] == "FAILED"  # locally only: DuckDB would drop the ties, so it says so instead
    assert "WITH TIES" in ties["error"]["message"]


def test_not_a_number_and_infinity_come_back_as_athena_writes_them(api: Api, analyst: Account) -> None:
    rows = _succeeded(
        api,
        analyst,
        "SELECT nan() AS a, infinity() AS b, -infinity() AS c, CAST('NaN' AS double) AS d, 1.5 AS e",
    )
    assert rows == [["NaN", "Infinity", "-Infinity", "NaN", 1.5]]


def test_sums_of_large_integers_are_exact(api: Api, analyst: Account) -> None:
    big = 2**53 + 1  # the first integer a double cannot hold
    ingested_table(api, analyst, "big.csv", f"n\n{big}\n0\n{big}\n".encode())
    result = run_query(api, analyst, "SELECT sum(n) AS total, max(n) AS top, count(*) AS rows FROM big")
    assert result["rows"] == [[2 * big, big, 3]]
    assert [c["name"] for c in result["columns"]] == ["total", "top", "rows"]


def test_nulls(api: Api, analyst: Account) -> None:
    rows = _succeeded(
        api,
        analyst,
        "SELECT count(*) AS all_rows, count(amount) AS priced, "
        "sum(CASE WHEN amount IS NULL THEN 1 ELSE 0 END) AS missing, "
        "max(coalesce(amount, -1)) AS top, min(coalesce(amount, -1)) AS bottom FROM sales",
    )
    priced = [r["amount"] for r in SALES if r["amount"] is not None]
    assert rows == [[len(SALES), len(priced), len(SALES) - len(priced), pytest.approx(max(priced)), -1]]
    assert _succeeded(api, analyst, "SELECT amount FROM sales WHERE amount IS NULL ORDER BY id") == [[None]] * (
        len(SALES) - len(priced)
    )


def test_pages_follow_each_other_and_the_csv_holds_everything(api: Api, analyst: Account) -> None:
    query = run_query(api, analyst, "SELECT id, region FROM sales ORDER BY id", max_rows=70)
    assert (len(query["rows"]), query["stats"]["rows"]) == (70, len(SALES))
    rows = all_rows(api, analyst, query, max_rows=70)
    assert rows == [[r["id"], r["region"]] for r in SALES]

    link = api.call("GET", f"/queries/{query['query_id']}/results.csv", token=analyst.id_token)
    assert link.status == 200
    assert_conforms("GET", "/queries/{query_id}/results.csv", 200, link.body)
    lines = list(csv.reader(io.StringIO(requests.get(link.body["url"], timeout=30).text)))
    assert lines[0] == ["id", "region"]
    assert [[int(i), region] for i, region in lines[1:]] == rows


def test_queries_are_listed_newest_first_and_only_to_their_author(api: Api, analyst: Account) -> None:
    colleague = add_member(api, analyst, "viewer")
    mine = [run_query(api, analyst, f"SELECT {n} AS n")["query_id"] for n in range(3)]
    theirs = run_query(api, colleague, "SELECT 42 AS n")["query_id"]
    listing = api.call("GET", "/queries?limit=2", token=analyst.id_token)
    assert_conforms("GET", "/queries", 200, listing.body)
    following = api.call("GET", f"/queries?next_token={listing.body['next_token']}", token=analyst.id_token).body
    assert [q["query_id"] for q in listing.body["queries"] + following["queries"]] == list(reversed(mine))
    assert [q["query_id"] for q in api.call("GET", "/queries", token=colleague.id_token).body["queries"]] == [theirs]
    for method, path in (
        ("GET", f"/queries/{theirs}"),
        ("DELETE", f"/queries/{theirs}"),
        ("GET", f"/queries/{theirs}/results.csv"),
    ):
        reply = api.call(method, path, token=analyst.id_token)
        assert (reply.status, reply.error_code) == (404, "query_not_found")


def test_another_tenants_tables_and_queries_are_out_of_reach(api: Api, analyst: Account) -> None:
    other = sign_up(api, label="other")
    ingested_table(api, other, "secrets.csv", b"secret\nOTHER-TENANT-SENTINEL\n")
    refused = api.call("POST", "/queries", json_body={"sql": "SELECT * FROM secrets"}, token=analyst.id_token)
    missing = api.call("POST", "/queries", json_body={"sql": "SELECT * FROM nothing"}, token=analyst.id_token)
    assert (refused.status, refused.error_code) == (400, "forbidden_sql")
    assert refused.body["error"]["message"].replace("secrets", "X") == missing.body["error"]["message"].replace(
        "nothing", "X"
    )
    assert_conforms("POST", "/queries", 400, refused.body)

    theirs = run_query(api, other, "SELECT * FROM secrets")
    assert theirs["rows"] == [["OTHER-TENANT-SENTINEL"]]
    reply = api.call("GET", f"/queries/{theirs['query_id']}", token=analyst.id_token)
    assert (reply.status, reply.error_code) == (404, "query_not_found")
    # The other tenant has a table named like ours: each tenant's name is its own table.
    ingested_table(api, other, "sales.csv", b"id\n999\n")
    assert _succeeded(api, analyst, "SELECT max(id) FROM sales") == [[len(SALES)]]
    assert _succeeded(api, other, "SELECT max(id) FROM sales") == [[999]]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT EXTRACT(\"YEAR FROM CURRENT_DATE), current_setting('memory_limit'), EXTRACT(YEAR\" FROM current_date)",
        "SELECT date_add('DAY AS a, (SELECT max(region) FROM secrets) AS b', 1, current_date)",
        'SELECT CAST(1 AS DECIMAL("10, 2)), (SELECT count(*) FROM secrets), CAST(1 AS DECIMAL(10", 2))',
        'SELECT "$path", "$file_size" FROM sales',
    ],
)
def test_sql_hidden_where_it_would_be_written_back_bare_is_refused_before_anything_runs(
    api: Api, analyst: Account, sql: str
) -> None:
    before = api.call("GET", "/queries", token=analyst.id_token).body["queries"]
    reply = api.call("POST", "/queries", json_body={"sql": sql}, token=analyst.id_token)
    assert (reply.status, reply.error_code) == (400, "forbidden_sql")
    assert_conforms("POST", "/queries", 400, reply.body)
    assert api.call("GET", "/queries", token=analyst.id_token).body["queries"] == before  # no job was stored


def test_every_role_runs_queries(api: Api, analyst: Account) -> None:
    viewer = add_member(api, analyst, "viewer")
    assert _succeeded(api, viewer, "SELECT count(*) FROM reps") == [[len(REPS)]]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_request"),
        ({"sql": 1}, "invalid_request"),
        ({"sql": ""}, "invalid_sql"),  # refused SQL, as the contract names it
        ({"sql": " \n\t "}, "invalid_sql"),
        ({"sql": "-- nothing but a comment"}, "invalid_sql"),
        ({"sql": "SELECT 1", "engine": "x"}, "invalid_request"),
    ],
)
def test_a_bad_body_is_400(api: Api, analyst: Account, body: dict[str, Any], code: str) -> None:
    reply = api.call("POST", "/queries", json_body=body, token=analyst.id_token)
    assert (reply.status, reply.error_code) == (400, code)


def test_syntax_errors_say_where(api: Api, analyst: Account) -> None:
    reply = api.call("POST", "/queries", json_body={"sql": "SELECT region\nFROM sales WHERE"}, token=analyst.id_token)
    assert (reply.status, reply.error_code) == (400, "invalid_sql")
    assert "line 2" in reply.body["error"]["message"]


@pytest.mark.parametrize(
    "params", ["max_rows=0", "max_rows=1001", "max_rows=x", "wait=21", "wait=-1", "next_token=forged"]
)
def test_bad_paging_parameters_are_400(api: Api, analyst: Account, params: str) -> None:
    query = run_query(api, analyst, "SELECT id FROM sales")
    reply = api.call("GET", f"/queries/{query['query_id']}?{params}", token=analyst.id_token)
    assert reply.status == 400
    assert reply.error_code in ("invalid_request", "invalid_token")


def test_a_page_token_of_one_query_means_nothing_for_another(api: Api, analyst: Account) -> None:
    first = run_query(api, analyst, "SELECT id FROM sales", max_rows=10)
    second = run_query(api, analyst, "SELECT id FROM sales", max_rows=10)
    reply = api.call("GET", f"/queries/{second['query_id']}?next_token={first['next_token']}", token=analyst.id_token)
    assert (reply.status, reply.error_code) == (400, "invalid_token")


SLOW = "SELECT count(*) FROM sales a, sales b, sales c, sales d, sales e"  # 240^5 rows: seconds of work


def test_a_running_query_is_cancelled(api: Api, analyst: Account) -> None:
    submitted = api.call("POST", "/queries", json_body={"sql": SLOW}, token=analyst.id_token).body
    cancelled = api.call("DELETE", f"/queries/{submitted['query_id']}", token=analyst.id_token)
    assert (cancelled.status, cancelled.body["status"]) == (202, "CANCELLED")
    assert_conforms("DELETE", "/queries/{query_id}", 202, cancelled.body)
    later = api.call("GET", f"/queries/{submitted['query_id']}?wait=2", token=analyst.id_token).body
    assert later["status"] == "CANCELLED"
    results = api.call("GET", f"/queries/{submitted['query_id']}/results.csv", token=analyst.id_token)
    assert (results.status, results.error_code) == (409, "query_not_succeeded")


MAX_RUNNING = 10  # SDP_MAX_RUNNING_QUERIES' default


def test_a_tenant_runs_at_most_ten_queries_at_once(api: Api, analyst: Account) -> None:
    running = [
        api.call("POST", "/queries", json_body={"sql": SLOW}, token=analyst.id_token).body for _ in range(MAX_RUNNING)
    ]
    over = api.call("POST", "/queries", json_body={"sql": "SELECT 1"}, token=analyst.id_token)
    assert (over.status, over.error_code) == (429, "too_many_queries")
    assert_conforms("POST", "/queries", 429, over.body)
    for query in running:
        api.call("DELETE", f"/queries/{query['query_id']}", token=analyst.id_token)
    assert run_query(api, analyst, "SELECT 1 AS one")["rows"] == [[1]]


def test_ids_not_shaped_like_a_query_id_answer_404_without_a_lookup(platform_services: Any, client: Any) -> None:
    api = ChaliceApi(client)
    account = sign_up(api)
    with dynamodb_requests(platform_services, account.tenant_id) as sent:
        for query_id in NOT_IDS:
            for method, path in (
                ("GET", f"/queries/{query_id}"),
                ("DELETE", f"/queries/{query_id}"),
                ("GET", f"/queries/{query_id}/results.csv"),
            ):
                reply = api.call(method, path, token=account.id_token)
                assert (reply.status, reply.error_code) == (404, "query_not_found"), (method, path[:60])
    assert sent  # the caller's membership is read on every request
    assert not [request for request in sent if "QUERY#" in request]
