"""API.md's role matrix: every role against every guarded route, through both entry points.

Each route is tried once per role with a request that would succeed for a role allowed to make it,
so a 403 can only come from the role check. The matrix must name every route the app has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.api import PASSWORD, Account, Api, add_member, run_query, sign_up, unique_email, upload_direct, wait_settled

MIB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # as the app declares it
    allowed: dict[str, int]  # role → the status it gets; a role not named gets 403 forbidden


EVERYONE_200 = {"viewer": 200, "analyst": 200, "admin": 200}
WRITERS = ("analyst", "admin")

MATRIX = [
    Case("GET", "/me", EVERYONE_200),
    Case("GET", "/tenant/members", EVERYONE_200),
    Case("PATCH", "/tenant", {"admin": 200}),
    Case("GET", "/tenant/usage", EVERYONE_200),
    Case("POST", "/tenant/members", {"admin": 201}),
    Case("PATCH", "/tenant/members/{user_id}", {"admin": 200}),
    Case("DELETE", "/tenant/members/{user_id}", {"admin": 204}),
    Case("GET", "/files", EVERYONE_200),
    Case("GET", "/files/{file_id}", EVERYONE_200),
    Case("GET", "/files/{file_id}/content", EVERYONE_200),
    Case("GET", "/tables", EVERYONE_200),
    Case("GET", "/tables/{table}", EVERYONE_200),  # the admin's file's table, before that file is deleted
    Case("POST", "/files", dict.fromkeys(WRITERS, 201)),
    Case("POST", "/uploads", dict.fromkeys(WRITERS, 201)),
    Case("GET", "/uploads/{file_id}/parts", dict.fromkeys(WRITERS, 200)),
    Case("POST", "/uploads/{file_id}/complete", dict.fromkeys(WRITERS, 400)),  # parts never uploaded
    # The admin's file: only an admin deletes a file that is not their own...
    Case("DELETE", "/files/{file_id}", {"admin": 204}),
    # ...and their own file, anyone who may upload (a viewer has none to delete).
    Case("DELETE", "/files/{own_file_id}", dict.fromkeys(WRITERS, 204)),
    Case("POST", "/queries", {"viewer": 202, "analyst": 202, "admin": 202}),
    Case("GET", "/queries", EVERYONE_200),
    Case("GET", "/queries/{query_id}", EVERYONE_200),
    Case("GET", "/queries/{query_id}/results.csv", EVERYONE_200),
    Case("DELETE", "/queries/{query_id}", {"viewer": 202, "analyst": 202, "admin": 202}),
    Case("POST", "/saved-queries", dict.fromkeys(WRITERS, 201)),
    Case("GET", "/saved-queries", EVERYONE_200),
    Case("GET", "/saved-queries/{saved_query_id}", EVERYONE_200),
    Case("POST", "/saved-queries/{saved_query_id}/run", {"viewer": 202, "analyst": 202, "admin": 202}),
    # The admin's saved query: only an admin changes or deletes one another member saved...
    Case("PATCH", "/saved-queries/{saved_query_id}", {"admin": 200}),
    Case("DELETE", "/saved-queries/{saved_query_id}", {"admin": 204}),
    # ...and their own, anyone who may save one (a viewer has none).
    Case("PATCH", "/saved-queries/{own_saved_query_id}", dict.fromkeys(WRITERS, 200)),
    Case("DELETE", "/saved-queries/{own_saved_query_id}", dict.fromkeys(WRITERS, 204)),
]

PUBLIC = {("GET", "/health"), *(("POST", f"/auth/{step}") for step in ("signup", "confirm", "login", "refresh"))}


def test_the_matrix_names_every_guarded_route(app: Any) -> None:
    declared = {(method, path) for path, methods in app.routes.items() for method in methods} - PUBLIC
    named = {
        (
            case.method,
            case.route.replace("{own_file_id}", "{file_id}").replace("{own_saved_query_id}", "{saved_query_id}"),
        )
        for case in MATRIX
    }
    assert named == declared


def _request(case: Case, actor: Account, ids: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The concrete path and call arguments that would succeed for an allowed role."""
    path = case.route.format(**ids)
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/tenant/members"): {"json_body": {"email": unique_email(), "role": "viewer", "password": PASSWORD}},
        ("PATCH", "/tenant/members/{user_id}"): {"json_body": {"role": "analyst"}},
        ("PATCH", "/tenant"): {"json_body": {"monthly_scan_budget_bytes": None}},
        ("POST", "/uploads"): {"json_body": {"name": "small.csv", "size": 10}},
        ("POST", "/uploads/{file_id}/complete"): {"json_body": {"parts": [{"part_number": 1, "etag": '"0"'}]}},
        ("POST", "/queries"): {"json_body": {"sql": "SELECT 1 AS one"}},
        ("POST", "/files"): {"raw": b"a,b\n1,2\n", "headers": {"Content-Type": "text/csv"}},
        ("POST", "/saved-queries"): {"json_body": {"name": "mine", "sql": "SELECT 1 AS one"}},
        ("PATCH", "/saved-queries/{saved_query_id}"): {"json_body": {"name": "renamed"}},
        ("PATCH", "/saved-queries/{own_saved_query_id}"): {"json_body": {"name": "renamed"}},
    }
    arguments = bodies.get((case.method, case.route), {})
    if case.route == "/files":
        path = "/files?name=mine.csv" if case.method == "POST" else path
    return path, arguments


@pytest.mark.parametrize("role", ["viewer", "analyst", "admin"])
def test_each_role_against_each_guarded_route(api: Api, role: str) -> None:
    admin = sign_up(api)
    actor = admin if role == "admin" else add_member(api, admin, role)
    target = add_member(api, admin, "viewer", label="target")

    admins_file = upload_direct(api, admin, "admins.csv", b"a,b\n1,2\n").body["file_id"]
    writer = actor if role in WRITERS else admin  # the viewer's "own" file and upload are refused before lookup
    own_file = upload_direct(api, writer, "own.csv", b"a,b\n1,2\n").body["file_id"]
    multipart = api.call("POST", "/uploads", json_body={"name": "big.csv", "size": 200 * MIB}, token=writer.id_token)
    assert multipart.status == 201, multipart
    wait_settled(api, admin, admins_file)
    own_query = run_query(api, actor, "SELECT 1 AS one")
    assert own_query["status"] == "SUCCEEDED", own_query
    saved = {"name": "matrix", "sql": "SELECT 1 AS one"}
    admins_saved = api.call("POST", "/saved-queries", json_body=saved, token=admin.id_token)
    own_saved = api.call("POST", "/saved-queries", json_body=saved, token=writer.id_token)  # the viewer's: the admin's
    assert (admins_saved.status, own_saved.status) == (201, 201), (admins_saved, own_saved)

    ids = {
        "user_id": target.user_id,
        "file_id": admins_file,
        "own_file_id": own_file,
        "query_id": own_query["query_id"],
        "table": "admins",
        "saved_query_id": admins_saved.body["saved_query_id"],
        "own_saved_query_id": own_saved.body["saved_query_id"],
    }
    refused = []
    for case in MATRIX:
        case_ids = ids | ({"file_id": multipart.body["file_id"]} if case.route.startswith("/uploads/") else {})
        path, arguments = _request(case, actor, case_ids)
        reply = api.call(case.method, path, token=actor.id_token, **arguments)
        expected = case.allowed.get(role, 403)
        if reply.status != expected or (expected == 403 and reply.error_code != "forbidden"):
            refused.append(f"{case.method} {case.route}: {reply.status} {reply.error_code}, expected {expected}")
    assert refused == []


def test_a_member_never_sees_another_members_queries(api: Api) -> None:
    admin = sign_up(api)
    analyst = add_member(api, admin, "analyst")
    theirs = run_query(api, admin, "SELECT 1 AS one")["query_id"]
    for method, path in [
        ("GET", f"/queries/{theirs}"),
        ("GET", f"/queries/{theirs}/results.csv"),
        ("DELETE", f"/queries/{theirs}"),
    ]:
        reply = api.call(method, path, token=analyst.id_token)
        assert (reply.status, reply.error_code) == (404, "query_not_found"), (method, path)
    listed = api.call("GET", "/queries", token=analyst.id_token).body["queries"]
    assert theirs not in {query["query_id"] for query in listed}
