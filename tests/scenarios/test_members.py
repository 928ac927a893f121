"""Tenant members and the role matrix, through chalice's test client and over HTTP."""

from __future__ import annotations

import uuid

import pytest

from tests.api import PASSWORD, Account, Api, add_member, log_in, sign_up, unique_email
from tests.openapi import assert_conforms

ROLES = ["viewer", "analyst", "admin"]


def _members(api: Api, account: Account) -> list[dict[str, str]]:
    reply = api.call("GET", "/tenant/members", token=account.id_token)
    assert reply.status == 200, reply
    assert_conforms("GET", "/tenant/members", 200, reply.body)
    return reply.body["members"]


def test_an_admin_adds_a_member_who_logs_in_with_the_given_password(api: Api) -> None:
    admin = sign_up(api)
    email = unique_email("new")
    reply = api.call(
        "POST",
        "/tenant/members",
        json_body={"email": email, "role": "analyst", "password": PASSWORD},
        token=admin.id_token,
    )
    assert reply.status == 201
    assert_conforms("POST", "/tenant/members", 201, reply.body)
    assert reply.body["email"] == email
    assert reply.body["role"] == "analyst"

    me = api.call("GET", "/me", token=log_in(api, email)["id_token"]).body
    assert (me["tenant_id"], me["role"], me["user_id"]) == (admin.tenant_id, "analyst", reply.body["user_id"])
    assert sorted(member["email"] for member in _members(api, admin)) == sorted([admin.email, email])


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_member_list(api: Api, role: str) -> None:
    admin = sign_up(api)
    member = add_member(api, admin, role) if role != "admin" else admin
    assert {entry["user_id"] for entry in _members(api, member)} >= {admin.user_id, member.user_id}


@pytest.mark.parametrize(("role", "allowed"), [("viewer", False), ("analyst", False), ("admin", True)])
def test_only_an_admin_manages_members(api: Api, role: str, allowed: bool) -> None:
    admin = sign_up(api)
    actor = add_member(api, admin, role, label=f"actor-{role}")
    target = add_member(api, admin, "viewer", label="target")

    added = api.call(
        "POST",
        "/tenant/members",
        json_body={"email": unique_email(), "role": "viewer", "password": PASSWORD},
        token=actor.id_token,
    )
    changed = api.call(
        "PATCH", f"/tenant/members/{target.user_id}", json_body={"role": "analyst"}, token=actor.id_token
    )
    removed = api.call("DELETE", f"/tenant/members/{target.user_id}", token=actor.id_token)

    if allowed:
        assert [added.status, changed.status, removed.status] == [201, 200, 204]
        assert_conforms("PATCH", "/tenant/members/{user_id}", 200, changed.body)
    else:
        for reply in (added, changed, removed):
            assert (reply.status, reply.error_code) == (403, "forbidden")
        assert_conforms("DELETE", "/tenant/members/{user_id}", 403, removed.body)
        assert any(m["user_id"] == target.user_id and m["role"] == "viewer" for m in _members(api, admin))


def test_a_role_change_takes_effect_on_the_next_request(api: Api) -> None:
    admin = sign_up(api)
    member = add_member(api, admin, "viewer")
    forbidden = api.call("DELETE", f"/tenant/members/{admin.user_id}", token=member.id_token)
    assert forbidden.status == 403
    assert (
        api.call("PATCH", f"/tenant/members/{member.user_id}", json_body={"role": "admin"}, token=admin.id_token).status
        == 200
    )
    assert api.call("GET", "/me", token=member.id_token).body["role"] == "admin"
    promoted = api.call(
        "PATCH", f"/tenant/members/{admin.user_id}", json_body={"role": "viewer"}, token=member.id_token
    )
    assert promoted.status == 200


def test_a_removed_member_is_refused_at_once_with_a_still_valid_token(api: Api) -> None:
    admin = sign_up(api)
    member = add_member(api, admin, "analyst")
    assert api.call("GET", "/me", token=member.id_token).status == 200

    assert api.call("DELETE", f"/tenant/members/{member.user_id}", token=admin.id_token).status == 204
    reply = api.call("GET", "/me", token=member.id_token)
    assert (reply.status, reply.error_code) == (403, "no_tenant")
    assert_conforms("GET", "/me", 403, reply.body)
    assert api.call("GET", "/tenant/members", token=member.id_token).error_code == "no_tenant"
    assert member.user_id not in {m["user_id"] for m in _members(api, admin)}


def test_a_removed_member_can_be_added_again_and_keeps_their_password(api: Api) -> None:
    admin = sign_up(api)
    member = add_member(api, admin, "analyst")
    api.call("DELETE", f"/tenant/members/{member.user_id}", token=admin.id_token)
    again = api.call(
        "POST",
        "/tenant/members",
        json_body={"email": member.email, "role": "viewer", "password": "Another-Password-1!"},
        token=admin.id_token,
    )
    assert again.status == 201
    assert again.body["user_id"] == member.user_id
    me = api.call("GET", "/me", token=log_in(api, member.email, PASSWORD)["id_token"])
    assert me.body["role"] == "viewer"


def test_the_last_admin_cannot_leave_or_step_down(api: Api) -> None:
    admin = sign_up(api)
    add_member(api, admin, "analyst")
    demoted = api.call("PATCH", f"/tenant/members/{admin.user_id}", json_body={"role": "analyst"}, token=admin.id_token)
    removed = api.call("DELETE", f"/tenant/members/{admin.user_id}", token=admin.id_token)
    assert (demoted.status, demoted.error_code) == (409, "last_admin")
    assert (removed.status, removed.error_code) == (409, "last_admin")
    assert_conforms("DELETE", "/tenant/members/{user_id}", 409, removed.body)
    assert api.call("GET", "/me", token=admin.id_token).body["role"] == "admin"


def test_with_two_admins_one_may_step_down(api: Api) -> None:
    admin = sign_up(api)
    second = add_member(api, admin, "admin")
    assert (
        api.call("PATCH", f"/tenant/members/{admin.user_id}", json_body={"role": "viewer"}, token=admin.id_token).status
        == 200
    )
    last = api.call("DELETE", f"/tenant/members/{second.user_id}", token=second.id_token)
    assert (last.status, last.error_code) == (409, "last_admin")
    assert api.call("DELETE", f"/tenant/members/{admin.user_id}", token=second.id_token).status == 204


def test_a_user_of_another_tenant_cannot_be_added(api: Api) -> None:
    first = sign_up(api)
    second = sign_up(api)
    reply = api.call(
        "POST", "/tenant/members", json_body={"email": second.email, "role": "viewer"}, token=first.id_token
    )
    assert (reply.status, reply.error_code) == (409, "user_exists")
    assert second.user_id not in {m["user_id"] for m in _members(api, first)}
    assert api.call("GET", "/me", token=second.id_token).body["tenant_id"] == second.tenant_id


def test_a_member_cannot_be_added_twice(api: Api) -> None:
    admin = sign_up(api)
    member = add_member(api, admin, "viewer")
    reply = api.call(
        "POST", "/tenant/members", json_body={"email": member.email, "role": "admin"}, token=admin.id_token
    )
    assert (reply.status, reply.error_code) == (409, "user_exists")
    assert api.call("GET", "/me", token=member.id_token).body["role"] == "viewer"


def test_another_tenants_member_ids_answer_404_and_nothing_changes(api: Api) -> None:
    tenant_a = sign_up(api, label="a")
    member_a = add_member(api, tenant_a, "analyst", label="a-member")
    tenant_b = sign_up(api, label="b")

    for reply in (
        api.call("PATCH", f"/tenant/members/{member_a.user_id}", json_body={"role": "admin"}, token=tenant_b.id_token),
        api.call("DELETE", f"/tenant/members/{member_a.user_id}", token=tenant_b.id_token),
        api.call("DELETE", f"/tenant/members/{tenant_a.user_id}", token=tenant_b.id_token),
    ):
        assert (reply.status, reply.error_code) == (404, "member_not_found")
    assert_conforms("DELETE", "/tenant/members/{user_id}", 404, reply.body)

    assert {m["user_id"] for m in _members(api, tenant_b)} == {tenant_b.user_id}
    assert {m["user_id"]: m["role"] for m in _members(api, tenant_a)} == {
        tenant_a.user_id: "admin",
        member_a.user_id: "analyst",
    }


def test_unknown_member_ids_answer_404(api: Api) -> None:
    admin = sign_up(api)
    # A key longer than DynamoDB takes (2 KiB) must be answered before it reaches the table.
    for user_id in (str(uuid.uuid4()), "not-a-uuid", "%2E%2E", "a" * 3000, admin.user_id.upper()):
        for reply in (
            api.call("DELETE", f"/tenant/members/{user_id}", token=admin.id_token),
            api.call("PATCH", f"/tenant/members/{user_id}", json_body={"role": "viewer"}, token=admin.id_token),
        ):
            assert (reply.status, reply.error_code) == (404, "member_not_found")
    assert api.call("GET", "/me", token=admin.id_token).body["role"] == "admin"


def test_an_account_that_has_not_verified_its_address_cannot_be_added(api: Api) -> None:
    admin = sign_up(api)
    email = unique_email("unverified")
    # Signed up around the API and never confirmed: anyone may claim an address this way.
    cognito = api.aws_client("cognito-idp")
    pool = cognito.list_user_pools(MaxResults=1)["UserPools"][0]["Id"]
    client_id = cognito.list_user_pool_clients(UserPoolId=pool)["UserPoolClients"][0]["ClientId"]
    cognito.sign_up(ClientId=client_id, Username=email, Password=PASSWORD)

    reply = api.call("POST", "/tenant/members", json_body={"email": email, "role": "admin"}, token=admin.id_token)
    assert (reply.status, reply.error_code) == (409, "unverified_account")
    assert_conforms("POST", "/tenant/members", 409, reply.body)
    assert [m["email"] for m in _members(api, admin)] == [admin.email]


@pytest.mark.parametrize(
    "body",
    [
        {"role": "owner"},
        {"role": "admin", "tenant_id": "x"},
        {},
        {"role": None},
    ],
)
def test_a_role_change_with_a_bad_body_is_400(api: Api, body: dict[str, object]) -> None:
    admin = sign_up(api)
    member = add_member(api, admin, "viewer")
    reply = api.call("PATCH", f"/tenant/members/{member.user_id}", json_body=body, token=admin.id_token)
    assert (reply.status, reply.error_code) == (400, "invalid_request")
    assert api.call("GET", "/me", token=member.id_token).body["role"] == "viewer"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "x@example.com", "role": "superuser", "password": PASSWORD}, "invalid_request"),
        ({"email": "nope", "role": "viewer", "password": PASSWORD}, "invalid_request"),
        ({"email": "x@example.com", "role": "viewer", "password": PASSWORD, "tenant_id": "x"}, "invalid_request"),
        ({"email": "x@example.com", "role": "viewer"}, "password_required"),
        ({"email": "x@example.com", "role": "viewer", "password": "weak"}, "invalid_password"),
        ({"email": "a" * 117 + "@example.com", "role": "viewer", "password": PASSWORD}, "invalid_request"),
    ],
)
def test_adding_a_member_with_bad_input_is_400(api: Api, body: dict[str, object], code: str) -> None:
    admin = sign_up(api)
    body = body | {"email": unique_email()} if body["email"] == "x@example.com" else body
    reply = api.call("POST", "/tenant/members", json_body=body, token=admin.id_token)
    assert (reply.status, reply.error_code) == (400, code)
    assert len(_members(api, admin)) == 1
