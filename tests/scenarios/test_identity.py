"""Sign-up, login, refresh and /me, through chalice's test client and over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api import PASSWORD, Api, ChaliceApi, log_in, sign_up, unique_email
from tests.openapi import assert_conforms


def test_sign_up_creates_a_tenant_with_the_user_as_its_admin(api: Api) -> None:
    email = unique_email()
    reply = api.call("POST", "/auth/signup", json_body={"email": email, "password": PASSWORD, "tenant_name": "Acme"})
    assert reply.status == 201
    assert_conforms("POST", "/auth/signup", 201, reply.body)
    assert reply.body["confirmation_required"] is False  # locally there is no e-mail to confirm

    tokens = log_in(api, email)
    assert_conforms("POST", "/auth/login", 200, tokens)
    assert tokens["token_type"] == "Bearer"
    me = api.call("GET", "/me", token=tokens["id_token"])
    assert me.status == 200
    assert_conforms("GET", "/me", 200, me.body)
    assert me.body == {
        "user_id": reply.body["user_id"],
        "email": email,
        "tenant_id": reply.body["tenant_id"],
        "tenant_name": "Acme",
        "role": "admin",
    }


def test_the_tenant_is_named_after_the_email_when_no_name_is_given(api: Api) -> None:
    account = sign_up(api)
    assert api.call("GET", "/me", token=account.id_token).body["tenant_name"] == account.email


def test_an_email_signs_up_once_whatever_its_case(api: Api) -> None:
    email = unique_email()
    assert api.call("POST", "/auth/signup", json_body={"email": email, "password": PASSWORD}).status == 201
    again = api.call("POST", "/auth/signup", json_body={"email": email.upper(), "password": PASSWORD})
    assert (again.status, again.error_code) == (409, "user_exists")
    assert_conforms("POST", "/auth/signup", 409, again.body)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"password": PASSWORD}, "invalid_request"),
        ({"email": "not-an-address", "password": PASSWORD}, "invalid_request"),
        ({"email": "@", "password": PASSWORD}, "invalid_request"),
        ({"email": "x@example.com", "password": PASSWORD, "role": "admin"}, "invalid_request"),
        ({"email": "x@example.com", "password": PASSWORD, "tenant_id": "someone-elses"}, "invalid_request"),
        ({"email": "x@example.com", "password": PASSWORD, "tenant_name": "a\u0000b"}, "invalid_request"),
        ({"email": "x@example.com", "password": PASSWORD, "tenant_name": "x" * 101}, "invalid_request"),
        ({"email": "x@example.com", "password": ""}, "invalid_password"),
        ({"email": "x@example.com", "password": "Correct-Horse-9!" + "x" * 83}, "invalid_password"),  # 99
        ({"email": "x@example.com", "password": " Correct-Horse-9!"}, "invalid_password"),
        ({"email": " x@example.com", "password": PASSWORD}, "invalid_request"),
        ({"email": "x@localhost", "password": PASSWORD}, "invalid_request"),
        ({"email": "x@example.com", "password": PASSWORD, "tenant_name": " Acme"}, "invalid_request"),
        ({"email": "x@example.com", "password": PASSWORD, "tenant_name": "a\u0085b"}, "invalid_request"),
        ({"email": "x@example.com", "password": "weak", "role": "admin"}, "invalid_request"),  # not only the password
        ({"email": 7, "password": PASSWORD}, "invalid_request"),
        ({"email": "a" * 117 + "@example.com", "password": PASSWORD}, "invalid_request"),  # over Cognito's 128
        ({"email": "x@example.com", "password": "short"}, "invalid_password"),
        ({"email": "x@example.com", "password": "alllowercaseletters"}, "invalid_password"),
    ],
)
def test_sign_up_refuses_bad_input(api: Api, body: dict[str, object], code: str) -> None:
    if body.get("email") == "x@example.com":
        body = body | {"email": unique_email()}
    reply = api.call("POST", "/auth/signup", json_body=body)
    assert (reply.status, reply.error_code) == (400, code)
    assert PASSWORD not in str(reply.body)


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"[]", b'"text"', b"null", b'{"email": "a@example.com", "password": "\\ud800x"}']
)
def test_a_body_that_is_not_a_json_object_is_refused(api: Api, raw: bytes) -> None:
    reply = api.call("POST", "/auth/signup", raw=raw, headers={"Content-Type": "application/json"})
    assert (reply.status, reply.error_code) == (400, "invalid_request")


def test_login_with_a_wrong_password_or_an_unknown_email_gives_nothing_away(api: Api) -> None:
    account = sign_up(api)
    wrong_password = api.call("POST", "/auth/login", json_body={"email": account.email, "password": PASSWORD + "x"})
    unknown_email = api.call("POST", "/auth/login", json_body={"email": unique_email(), "password": PASSWORD})
    assert (wrong_password.status, wrong_password.error_code) == (401, "invalid_credentials")
    assert (unknown_email.status, unknown_email.error_code) == (401, "invalid_credentials")
    assert wrong_password.body["error"]["message"] == unknown_email.body["error"]["message"]
    assert_conforms("POST", "/auth/login", 401, wrong_password.body)


def test_login_takes_any_address_an_account_may_have_not_only_the_sign_up_rules(api: Api) -> None:
    """Sign-up's rule is narrower than what Cognito accepts: an account made under a looser one
    still logs in, and an unknown address of that shape is a wrong log-in, not a bad request."""
    reply = api.call("POST", "/auth/login", json_body={"email": "o'brien@example.com", "password": PASSWORD})
    assert (reply.status, reply.error_code) == (401, "invalid_credentials")


def test_login_accepts_the_email_in_any_case(api: Api) -> None:
    account = sign_up(api)
    assert log_in(api, account.email.upper())["id_token"]


def test_refresh_gives_new_tokens_without_a_refresh_token(api: Api) -> None:
    account = sign_up(api)
    reply = api.call("POST", "/auth/refresh", json_body={"refresh_token": account.refresh_token})
    assert reply.status == 200
    assert_conforms("POST", "/auth/refresh", 200, reply.body)
    assert "refresh_token" not in reply.body
    assert api.call("GET", "/me", token=reply.body["id_token"]).body["user_id"] == account.user_id


@pytest.mark.parametrize("token", ["garbage", "x" * 2000])
def test_refresh_with_a_bad_token_is_401(api: Api, token: str) -> None:
    reply = api.call("POST", "/auth/refresh", json_body={"refresh_token": token})
    assert (reply.status, reply.error_code) == (401, "invalid_credentials")


def test_me_needs_a_token(api: Api) -> None:
    reply = api.call("GET", "/me")
    assert (reply.status, reply.error_code) == (401, "unauthenticated")
    assert_conforms("GET", "/me", 401, reply.body)


def test_an_access_token_is_not_an_id_token(api: Api) -> None:
    account = sign_up(api)
    reply = api.call("GET", "/me", token=account.access_token)
    assert (reply.status, reply.error_code) == (401, "unauthenticated")


def test_a_bare_token_is_accepted_like_a_bearer_one(api: Api) -> None:
    account = sign_up(api)
    reply = api.call("GET", "/me", headers={"Authorization": account.id_token})
    assert reply.status == 200
    assert reply.body["user_id"] == account.user_id


def test_confirming_an_account_that_needs_no_code_is_harmless(api: Api) -> None:
    account = sign_up(api)
    reply = api.call("POST", "/auth/confirm", json_body={"email": account.email, "code": "000000"})
    # The local pool accepts any code for a confirmed account; Cognito's refusal (409
    # already_confirmed) is mapped in tests/unit/test_cognito_errors.py.
    assert reply.status == 200, reply
    assert_conforms("POST", "/auth/confirm", reply.status, reply.body)
    assert api.call("GET", "/me", token=log_in(api, account.email)["id_token"]).status == 200


@pytest.mark.parametrize(
    "body", [{}, {"email": "ann@example.com"}, {"email": "ann@example.com", "code": ""}, {"code": "1", "x": 1}]
)
def test_confirm_refuses_a_bad_body(api: Api, body: dict[str, str]) -> None:
    reply = api.call("POST", "/auth/confirm", json_body=body)
    assert (reply.status, reply.error_code) == (400, "invalid_request")


def test_a_request_is_logged_with_the_callers_tenant_and_no_secret(
    client: Any, platform_services: Any, logs: list[dict[str, Any]]
) -> None:
    api = ChaliceApi(client)
    account = sign_up(api)  # signs up and logs in: the password and tokens pass through
    assert api.call("GET", "/me", token=account.id_token).status == 200
    (request,) = [record for record in logs if record["message"] == "request" and record["route"] == "GET /me"]
    assert (request["tenant_id"], request["user_id"], request["route"]) == (
        account.tenant_id,
        account.user_id,
        "GET /me",
    )
    written = json.dumps(logs)
    for secret in (PASSWORD, account.id_token, account.refresh_token):
        assert secret not in written
