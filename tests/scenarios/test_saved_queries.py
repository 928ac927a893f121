"""Saved queries, through chalice's test client and over HTTP: saving, listing, reading, changing,
deleting and running them; who may do which; isolation between tenants; and the SQL guard, on save,
on change and again on each run."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.ids import new_id
from chalicelib.queries.saved import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, NAME_PATTERN
from chalicelib.routes.saved import ChangeBody, SaveBody
from tests.api import (
    NOT_IDS,
    Account,
    Api,
    ChaliceApi,
    add_member,
    dynamodb_requests,
    ingested_table,
    run_query,
    sign_up,
)
from tests.openapi import assert_conforms, document

SALES = b"region,amount\nnorth,10\nsouth,5\nnorth,7\neast,1\n"
BY_REGION = "SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY region"
BY_REGION_ROWS = [["east", 1], ["north", 17], ["south", 5]]


@pytest.fixture
def admin(api: Api) -> Account:
    """A tenant's admin, the tenant holding one table, `sales`."""
    account = sign_up(api)
    ingested_table(api, account, "sales.csv", SALES)
    return account


def _save(api: Api, account: Account, name: str = "By region", sql: str = BY_REGION, **more: Any) -> dict[str, Any]:
    reply = api.call("POST", "/saved-queries", json_body={"name": name, "sql": sql, **more}, token=account.id_token)
    assert reply.status == 201, reply
    return reply.body  # type: ignore[no-any-return]


def _listed(api: Api, account: Account) -> list[str]:
    reply = api.call("GET", "/saved-queries?limit=1000", token=account.id_token)
    assert reply.status == 200, reply
    return [saved["saved_query_id"] for saved in reply.body["saved_queries"]]


def _ended(api: Api, account: Account, query_id: str) -> dict[str, Any]:
    """The query once it has ended, with its first page of rows."""
    deadline = time.monotonic() + 60
    while True:
        record = api.call("GET", f"/queries/{query_id}?wait=5", token=account.id_token).body
        if record["status"] not in ("QUEUED", "RUNNING") or time.monotonic() > deadline:
            return record  # type: ignore[no-any-return]


# --- The happy path -----------------------------------------------------------------------------


def test_a_saved_query_is_saved_read_changed_run_and_deleted(api: Api, admin: Account) -> None:
    analyst = add_member(api, admin, "analyst")
    created = api.call(
        "POST",
        "/saved-queries",
        json_body={"name": "  Sales by region ", "sql": BY_REGION, "description": "For the monthly report."},
        token=analyst.id_token,
    )
    assert created.status == 201, created
    assert_conforms("POST", "/saved-queries", 201, created.body)
    saved = created.body
    saved_id = saved["saved_query_id"]
    assert saved | {"saved_query_id": "", "created_at": "", "updated_at": ""} == {
        "saved_query_id": "",
        "name": "Sales by region",  # kept without the spaces at either end
        "sql": BY_REGION,
        "description": "For the monthly report.",
        "author_id": analyst.user_id,
        "created_at": "",
        "updated_at": "",
    }
    assert saved["created_at"] == saved["updated_at"]

    read = api.call("GET", f"/saved-queries/{saved_id}", token=admin.id_token)
    assert (read.status, read.body) == (200, saved)
    assert_conforms("GET", "/saved-queries/{saved_query_id}", 200, read.body)
    listing = api.call("GET", "/saved-queries", token=admin.id_token)
    assert_conforms("GET", "/saved-queries", 200, listing.body)
    assert listing.body == {"saved_queries": [saved], "next_token": None}

    renamed = api.call(
        "PATCH", f"/saved-queries/{saved_id}", json_body={"name": "Totals by region"}, token=analyst.id_token
    )
    assert renamed.status == 200, renamed
    assert_conforms("PATCH", "/saved-queries/{saved_query_id}", 200, renamed.body)
    assert renamed.body["name"] == "Totals by region"
    assert renamed.body["description"] == "For the monthly report."  # left out: kept
    assert renamed.body["updated_at"] >= saved["created_at"]
    assert renamed.body["created_at"] == saved["created_at"]

    north = "SELECT sum(amount) AS total FROM sales WHERE region = 'north'"
    changed = api.call(
        "PATCH", f"/saved-queries/{saved_id}", json_body={"sql": north, "description": None}, token=analyst.id_token
    ).body
    assert (changed["sql"], changed["description"], changed["name"]) == (north, None, "Totals by region")
    assert api.call("GET", f"/saved-queries/{saved_id}", token=analyst.id_token).body == changed

    run = api.call("POST", f"/saved-queries/{saved_id}/run", token=analyst.id_token)
    assert run.status == 202, run
    assert_conforms("POST", "/saved-queries/{saved_query_id}/run", 202, run.body)
    assert run.body["sql"] == north
    ended = _ended(api, analyst, run.body["query_id"])
    assert (ended["status"], ended["rows"]) == ("SUCCEEDED", [[17]])
    # The run is the runner's own query, listed with their others.
    assert run.body["query_id"] in [
        query["query_id"] for query in api.call("GET", "/queries", token=analyst.id_token).body["queries"]
    ]

    deleted = api.call("DELETE", f"/saved-queries/{saved_id}", token=analyst.id_token)
    assert (deleted.status, deleted.body) == (204, None)
    for method, path in (
        ("GET", f"/saved-queries/{saved_id}"),
        ("DELETE", f"/saved-queries/{saved_id}"),
        ("POST", f"/saved-queries/{saved_id}/run"),
    ):
        gone = api.call(method, path, token=analyst.id_token)
        assert (gone.status, gone.error_code) == (404, "saved_query_not_found"), (method, path)
    assert _listed(api, admin) == []
    # The query it ran stays, as any query does.
    assert api.call("GET", f"/queries/{run.body['query_id']}", token=analyst.id_token).status == 200


def test_a_run_gives_the_saved_sqls_rows(api: Api, admin: Account) -> None:
    saved = _save(api, admin)
    run = api.call("POST", f"/saved-queries/{saved['saved_query_id']}/run", token=admin.id_token)
    assert run.status == 202, run
    ended = _ended(api, admin, run.body["query_id"])
    assert (ended["status"], ended["rows"]) == ("SUCCEEDED", BY_REGION_ROWS)
    assert ended["rows"] == run_query(api, admin, BY_REGION)["rows"]  # as POST /queries answers it


def test_saved_queries_are_listed_newest_first_a_page_at_a_time(api: Api, admin: Account) -> None:
    ids = [_save(api, admin, name=f"query {n}", sql=f"SELECT {n} AS n")["saved_query_id"] for n in range(3)]
    first = api.call("GET", "/saved-queries?limit=2", token=admin.id_token)
    assert first.status == 200
    assert first.body["next_token"] is not None
    rest = api.call("GET", f"/saved-queries?limit=2&next_token={first.body['next_token']}", token=admin.id_token)
    assert rest.status == 200
    assert rest.body["next_token"] is None
    shown = [saved["saved_query_id"] for saved in first.body["saved_queries"] + rest.body["saved_queries"]]
    assert shown == list(reversed(ids))


@pytest.mark.parametrize("params", ["limit=0", "limit=1001", "limit=x", "next_token=forged"])
def test_bad_paging_parameters_are_400(api: Api, admin: Account, params: str) -> None:
    reply = api.call("GET", f"/saved-queries?{params}", token=admin.id_token)
    assert (reply.status, reply.error_code) == (400, "invalid_token" if "token" in params else "invalid_request")


def test_a_page_token_of_another_list_means_nothing_here(api: Api, admin: Account) -> None:
    for n in range(2):
        run_query(api, admin, f"SELECT {n} AS n")
    token = api.call("GET", "/queries?limit=1", token=admin.id_token).body["next_token"]
    reply = api.call("GET", f"/saved-queries?next_token={token}", token=admin.id_token)
    assert (reply.status, reply.error_code) == (400, "invalid_token")


# --- Who may do what ----------------------------------------------------------------------------


def test_a_viewer_reads_and_runs_saved_queries_but_saves_changes_and_deletes_none(api: Api, admin: Account) -> None:
    viewer = add_member(api, admin, "viewer")
    saved = _save(api, admin)
    path = f"/saved-queries/{saved['saved_query_id']}"

    refused = api.call("POST", "/saved-queries", json_body={"name": "mine", "sql": BY_REGION}, token=viewer.id_token)
    assert (refused.status, refused.error_code) == (403, "forbidden")
    assert_conforms("POST", "/saved-queries", 403, refused.body)
    for method, body in (("PATCH", {"name": "mine now"}), ("DELETE", None)):
        reply = api.call(method, path, json_body=body, token=viewer.id_token)
        assert (reply.status, reply.error_code) == (403, "forbidden"), method

    assert _listed(api, viewer) == [saved["saved_query_id"]]
    assert api.call("GET", path, token=viewer.id_token).body == saved
    run = api.call("POST", f"{path}/run", token=viewer.id_token)
    assert run.status == 202, run
    assert _ended(api, viewer, run.body["query_id"])["rows"] == BY_REGION_ROWS


def test_an_analyst_changes_and_deletes_their_own_saved_queries_only(api: Api, admin: Account) -> None:
    author = add_member(api, admin, "analyst", label="author")
    colleague = add_member(api, admin, "analyst", label="colleague")
    saved = _save(api, author)
    path = f"/saved-queries/{saved['saved_query_id']}"

    for method, body in (("PATCH", {"name": "taken over"}), ("DELETE", None)):
        reply = api.call(method, path, json_body=body, token=colleague.id_token)
        assert (reply.status, reply.error_code) == (403, "forbidden"), method
        assert_conforms(method, "/saved-queries/{saved_query_id}", 403, reply.body)
    assert api.call("GET", path, token=author.id_token).body == saved  # untouched

    changed = api.call("PATCH", path, json_body={"description": "mine"}, token=author.id_token)
    assert (changed.status, changed.body["description"], changed.body["author_id"]) == (200, "mine", author.user_id)
    # A colleague may still run it, as every member may.
    assert api.call("POST", f"{path}/run", token=colleague.id_token).status == 202
    assert api.call("DELETE", path, token=author.id_token).status == 204
    assert _listed(api, admin) == []


def test_an_admin_changes_and_deletes_anyones_saved_queries(api: Api, admin: Account) -> None:
    analyst = add_member(api, admin, "analyst")
    theirs = _save(api, analyst)
    path = f"/saved-queries/{theirs['saved_query_id']}"
    changed = api.call("PATCH", path, json_body={"name": "Checked by the admin"}, token=admin.id_token)
    assert changed.status == 200, changed
    assert (changed.body["name"], changed.body["author_id"]) == ("Checked by the admin", analyst.user_id)
    assert api.call("DELETE", path, token=admin.id_token).status == 204
    assert _listed(api, analyst) == []


# --- Another tenant's, unknown and malformed ids ---------------------------------------------------


def test_another_tenants_saved_queries_are_out_of_reach(api: Api, admin: Account) -> None:
    saved = _save(api, admin)
    path = f"/saved-queries/{saved['saved_query_id']}"
    other = sign_up(api, label="other")
    ingested_table(api, other, "sales.csv", b"region,amount\nwest,99\n")  # a table of the same name
    for method, body, where in (
        ("GET", None, path),
        ("PATCH", {"name": "stolen"}, path),
        ("DELETE", None, path),
        ("POST", None, f"{path}/run"),
    ):
        reply = api.call(method, where, json_body=body, token=other.id_token)
        assert (reply.status, reply.error_code) == (404, "saved_query_not_found"), (method, where)
    assert_conforms("GET", "/saved-queries/{saved_query_id}", 404, reply.body)
    assert _listed(api, other) == []
    assert api.call("GET", "/queries", token=other.id_token).body["queries"] == []  # nothing ran
    assert api.call("GET", path, token=admin.id_token).body == saved  # untouched


def test_an_unknown_id_is_404(api: Api, admin: Account) -> None:
    path = f"/saved-queries/{new_id()}"
    for method, body, where in (
        ("GET", None, path),
        ("PATCH", {"name": "x"}, path),
        ("DELETE", None, path),
        ("POST", None, f"{path}/run"),
    ):
        reply = api.call(method, where, json_body=body, token=admin.id_token)
        assert (reply.status, reply.error_code) == (404, "saved_query_not_found"), (method, where)


def test_ids_not_shaped_like_a_saved_query_id_answer_404_without_a_lookup(platform_services: Any, client: Any) -> None:
    api = ChaliceApi(client)
    account = sign_up(api)
    with dynamodb_requests(platform_services, account.tenant_id) as sent:
        for saved_query_id in NOT_IDS:
            for method, body, path in (
                ("GET", None, f"/saved-queries/{saved_query_id}"),
                ("PATCH", {"name": "x"}, f"/saved-queries/{saved_query_id}"),
                ("DELETE", None, f"/saved-queries/{saved_query_id}"),
                ("POST", None, f"/saved-queries/{saved_query_id}/run"),
            ):
                reply = api.call(method, path, json_body=body, token=account.id_token)
                assert (reply.status, reply.error_code) == (404, "saved_query_not_found"), (method, path[:60])
    assert sent  # the caller's membership is read on every request
    assert not [request for request in sent if "SAVED_QUERY#" in request]


# --- Bad input ----------------------------------------------------------------------------------


BAD_BODIES = [
    {"sql": BY_REGION},  # no name
    {"name": "", "sql": BY_REGION},
    {"name": " \t ", "sql": BY_REGION},  # blank
    {"name": "x" * (NAME_MAX_LENGTH + 1), "sql": BY_REGION},
    {"name": "two\nlines", "sql": BY_REGION},
    {"name": None, "sql": BY_REGION},
    {"name": 7, "sql": BY_REGION},
    {"name": "By region"},  # no SQL
    {"name": "By region", "sql": 1},
    {"name": "By region", "sql": None},
    {"name": "By region", "sql": BY_REGION, "description": "x" * (DESCRIPTION_MAX_LENGTH + 1)},
    {"name": "By region", "sql": BY_REGION, "description": 5},
    {"name": "By region", "sql": BY_REGION, "author_id": "someone"},  # an unknown key
]


def test_a_bad_body_saves_nothing(api: Api, admin: Account) -> None:
    for body in BAD_BODIES:  # one tenant for them all: each refusal must leave it as it was
        reply = api.call("POST", "/saved-queries", json_body=body, token=admin.id_token)
        assert (reply.status, reply.error_code) == (400, "invalid_request"), (body, reply)
        assert_conforms("POST", "/saved-queries", 400, reply.body)
    assert _listed(api, admin) == []


BAD_CHANGES = [
    {},
    {"name": None},
    {"sql": None},
    {"name": " "},
    {"name": "x" * (NAME_MAX_LENGTH + 1)},
    {"description": "x" * (DESCRIPTION_MAX_LENGTH + 1)},
    {"sql": 1},
    {"author_id": "someone"},
    {"name": "fine", "created_at": "2020-01-01T00:00:00.000Z"},
]


def test_a_bad_change_changes_nothing(api: Api, admin: Account) -> None:
    saved = _save(api, admin)
    path = f"/saved-queries/{saved['saved_query_id']}"
    for body in BAD_CHANGES:
        reply = api.call("PATCH", path, json_body=body, token=admin.id_token)
        assert (reply.status, reply.error_code) == (400, "invalid_request"), (body, reply)
        assert_conforms("PATCH", "/saved-queries/{saved_query_id}", 400, reply.body)
        assert api.call("GET", path, token=admin.id_token).body == saved


def test_a_change_without_a_body_is_400(api: Api, admin: Account) -> None:
    path = f"/saved-queries/{_save(api, admin)['saved_query_id']}"
    reply = api.call("PATCH", path, token=admin.id_token, headers={"Content-Type": "application/json"})
    assert (reply.status, reply.error_code) == (400, "invalid_request")


def test_the_longest_name_and_description_are_kept_whole(api: Api, admin: Account) -> None:
    name, description = "n" * NAME_MAX_LENGTH, "d" * DESCRIPTION_MAX_LENGTH
    saved = _save(api, admin, name=name, description=description)
    assert (saved["name"], saved["description"]) == (name, description)
    assert api.call("GET", f"/saved-queries/{saved['saved_query_id']}", token=admin.id_token).body == saved


# --- The SQL guard ------------------------------------------------------------------------------


REFUSED_SQL = [
    ("", "invalid_sql"),
    ("SELEC 1", "invalid_sql"),
    ("SELECT * FROM nothing", "forbidden_sql"),  # a table the tenant does not have
    ("DROP TABLE sales", "forbidden_sql"),
    ("SELECT 1; SELECT 2", "forbidden_sql"),
    ("SELECT * FROM other_db.sales", "forbidden_sql"),
]


def test_sql_the_guard_refuses_is_not_saved(api: Api, admin: Account) -> None:
    for sql, code in REFUSED_SQL:
        reply = api.call("POST", "/saved-queries", json_body={"name": "bad", "sql": sql}, token=admin.id_token)
        assert (reply.status, reply.error_code) == (400, code), sql
        assert_conforms("POST", "/saved-queries", 400, reply.body)
        # The same answer as POST /queries gives.
        submitted = api.call("POST", "/queries", json_body={"sql": sql}, token=admin.id_token)
        assert (submitted.status, submitted.body["error"]["code"]) == (400, code)
        assert submitted.body["error"]["message"] == reply.body["error"]["message"]
    assert _listed(api, admin) == []


def test_another_tenants_table_cannot_be_saved(api: Api, admin: Account) -> None:
    other = sign_up(api, label="other")
    ingested_table(api, other, "secrets.csv", b"secret\nOTHER-TENANT-SENTINEL\n")
    reply = api.call(
        "POST", "/saved-queries", json_body={"name": "peek", "sql": "SELECT * FROM secrets"}, token=admin.id_token
    )
    assert (reply.status, reply.error_code) == (400, "forbidden_sql")
    assert _listed(api, admin) == []


def test_new_sql_is_guarded_and_a_refused_change_changes_nothing(api: Api, admin: Account) -> None:
    saved = _save(api, admin)
    path = f"/saved-queries/{saved['saved_query_id']}"
    for sql, code in (("SELECT * FROM nothing", "forbidden_sql"), ("DELETE FROM sales", "forbidden_sql")):
        reply = api.call("PATCH", path, json_body={"name": "renamed", "sql": sql}, token=admin.id_token)
        assert (reply.status, reply.error_code) == (400, code), sql
        assert_conforms("PATCH", "/saved-queries/{saved_query_id}", 400, reply.body)
    syntax = api.call("PATCH", path, json_body={"sql": "SELECT region\nFROM sales WHERE"}, token=admin.id_token)
    assert (syntax.status, syntax.error_code) == (400, "invalid_sql")
    assert "line 2" in syntax.body["error"]["message"]
    assert api.call("GET", path, token=admin.id_token).body == saved


def test_the_sql_is_guarded_again_on_each_run(api: Api, admin: Account) -> None:
    gone = ingested_table(api, admin, "gone.csv", b"x\n1\n2\n")
    saved = _save(api, admin, name="Count gone", sql="SELECT count(*) AS n FROM gone")
    path = f"/saved-queries/{saved['saved_query_id']}"
    assert _ended(api, admin, api.call("POST", f"{path}/run", token=admin.id_token).body["query_id"])["rows"] == [[2]]
    ran = api.call("GET", "/queries", token=admin.id_token).body["queries"]

    # The table's only file deleted: the table is gone, and the saved SQL no longer passes.
    assert api.call("DELETE", f"/files/{gone['file_id']}", token=admin.id_token).status == 204
    reply = api.call("POST", f"{path}/run", token=admin.id_token)
    assert (reply.status, reply.error_code) == (400, "forbidden_sql")
    assert "gone" in reply.body["error"]["message"]
    assert_conforms("POST", "/saved-queries/{saved_query_id}/run", 400, reply.body)
    assert api.call("GET", "/queries", token=admin.id_token).body["queries"] == ran  # no job was stored
    assert api.call("GET", path, token=admin.id_token).body == saved  # the saved query stays


# --- The document states the rules the code enforces -----------------------------------------------


def test_the_documents_rules_are_the_ones_the_code_enforces() -> None:
    schemas = document()["components"]["schemas"]
    assert schemas["SavedQueryName"]["pattern"] == NAME_PATTERN
    assert schemas["SavedQueryName"]["maxLength"] == NAME_MAX_LENGTH
    assert schemas["SavedQueryDescription"]["maxLength"] == DESCRIPTION_MAX_LENGTH
    assert schemas["SavedQuery"]["properties"]["name"]["maxLength"] == NAME_MAX_LENGTH


@settings(max_examples=400, deadline=None)
@given(
    st.text(max_size=130)
    | st.text(alphabet=st.characters(max_codepoint=0xA0), max_size=8)
    | st.text(alphabet=" \t\u00a0\u2028\u3000x", max_size=125)
)
def test_a_name_is_accepted_exactly_when_the_document_allows_it(name: str) -> None:
    rule = document()["components"]["schemas"]["SavedQueryName"]
    allowed = rule["minLength"] <= len(name) <= rule["maxLength"] and re.search(rule["pattern"], name) is not None
    for model, body in ((SaveBody, {"name": name, "sql": "SELECT 1"}), (ChangeBody, {"name": name})):
        try:
            model.model_validate(body)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == allowed, (model.__name__, name)
