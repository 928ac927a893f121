"""Sign-up and member rules against moto: confirmation, first login, compensation."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from chalice.test import Client

from chalicelib.services import Services, install
from chalicelib.tenancy import accounts
from chalicelib.tenancy.roles import Role
from chalicelib.tenancy.store import TenantStore
from tests.api import PASSWORD, ChaliceApi, unique_email


@pytest.fixture
def with_email(platform_services: Services) -> Services:
    """The platform as deployed stages run it: sign-ups wait for the e-mailed code."""
    deployed = Services(
        platform_services.settings.model_copy(update={"auto_confirm_signup": False}), platform_services.clients
    )
    install(deployed)
    return deployed


def test_where_there_is_email_a_sign_up_waits_for_its_code(with_email: Services, client: Client) -> None:
    api = ChaliceApi(client)
    email = unique_email()
    signed_up = api.call("POST", "/auth/signup", json_body={"email": email, "password": PASSWORD})
    assert signed_up.status == 201
    assert signed_up.body["confirmation_required"] is True

    early = api.call("POST", "/auth/login", json_body={"email": email, "password": PASSWORD})
    assert (early.status, early.error_code) == (403, "user_not_confirmed")

    confirmed = api.call("POST", "/auth/confirm", json_body={"email": email, "code": "123456"})
    assert (confirmed.status, confirmed.body) == (200, {"confirmed": True})
    assert api.call("POST", "/auth/login", json_body={"email": email, "password": PASSWORD}).status == 200


def test_where_there_is_email_a_new_member_sets_a_password_at_first_login(with_email: Services, client: Client) -> None:
    api = ChaliceApi(client)
    admin_email = unique_email("admin")
    api.call("POST", "/auth/signup", json_body={"email": admin_email, "password": PASSWORD})
    api.call("POST", "/auth/confirm", json_body={"email": admin_email, "code": "1"})
    admin_token = api.call("POST", "/auth/login", json_body={"email": admin_email, "password": PASSWORD}).body[
        "id_token"
    ]

    email = unique_email("invited")
    added = api.call(
        "POST",
        "/tenant/members",
        json_body={"email": email, "role": "analyst", "password": "Temporary-Pass-1!"},
        token=admin_token,
    )
    assert added.status == 201

    first = api.call("POST", "/auth/login", json_body={"email": email, "password": "Temporary-Pass-1!"})
    assert (first.status, first.error_code) == (403, "new_password_required")
    chosen = api.call(
        "POST",
        "/auth/login",
        json_body={"email": email, "password": "Temporary-Pass-1!", "new_password": "Chosen-Password-2!"},
    )
    assert chosen.status == 200
    again = api.call("POST", "/auth/login", json_body={"email": email, "password": "Chosen-Password-2!"})
    assert api.call("GET", "/me", token=again.body["id_token"]).body["role"] == "analyst"


def test_a_sign_up_whose_tenant_cannot_be_written_leaves_no_account(platform_services: Services, aws: Any) -> None:
    broken_store = TenantStore(aws.client("dynamodb"), "no-such-table")
    email = unique_email()
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        accounts.sign_up(platform_services.users, broken_store, email, PASSWORD, None, auto_confirm=True)
    assert platform_services.users.user_id(email) is None
    assert accounts.sign_up(
        platform_services.users, platform_services.tenants, email, PASSWORD, None, auto_confirm=True
    ).user_id


def test_a_new_member_whose_password_is_refused_leaves_no_account(platform_services: Services) -> None:
    admin = accounts.sign_up(
        platform_services.users, platform_services.tenants, unique_email(), PASSWORD, None, auto_confirm=True
    )
    email = unique_email()
    with pytest.raises(Exception, match="password"):
        accounts.add_member(
            platform_services.users,
            platform_services.tenants,
            admin.tenant_id,
            email,
            Role.VIEWER,
            "weak",
            permanent_password=True,
        )
    assert platform_services.users.user_id(email) is None
