"""Sign-up and member rules against moto: confirmation, first login, compensation, and accounts
created for someone else, in the configuration the deployed stages run."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from chalice.test import Client

from chalicelib.auth.roles import Role
from chalicelib.services import Services, install
from chalicelib.settings import load_settings
from chalicelib.tenancy import accounts
from chalicelib.tenancy.store import TenantStore
from tests.api import PASSWORD, Account, ChaliceApi, Reply, log_in, sign_up, unique_email

# What an attacker would choose for an account they create for someone else's address.
ATTACKER_PASSWORD = "Attacker-Chose-1!"
ALICE_PASSWORD = "Alice-Own-Password-2!"


@pytest.fixture
def deployed(platform_services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    """The platform as the deployed stages configure it (stage `dev`: Cognito sends e-mail,
    Athena and Glue instead of the local engine), on the same moto resources: none of the local
    stage's shortcuts."""
    monkeypatch.setenv("SDP_STAGE", "dev")
    monkeypatch.delenv("SDP_AUTO_CONFIRM_SIGNUP")
    monkeypatch.delenv("SDP_WAREHOUSE_DIR")
    services = Services(load_settings(), platform_services.clients)
    assert services.settings.sends_email
    install(services)
    return services


def _pool(services: Services) -> dict[str, str]:
    return {"UserPoolId": services.settings.user_pool_id}


def _user(services: Services, email: str) -> tuple[str, dict[str, str]]:
    """The account's Cognito status and attributes."""
    user = services.clients.cognito.admin_get_user(**_pool(services), Username=email)
    return user["UserStatus"], {attribute["Name"]: attribute["Value"] for attribute in user["UserAttributes"]}


def _deliver_invitation(services: Services, email: str) -> str:
    """What Cognito's invitation e-mail gives the address's owner alone: a temporary password.

    moto makes none and sends nothing, so the test stands in for the mailbox and gives the
    account the temporary password Cognito would have made and e-mailed.
    """
    temporary = "Mailed-Temporary-9!"
    services.clients.cognito.admin_set_user_password(
        **_pool(services), Username=email, Password=temporary, Permanent=False
    )
    return temporary


def _add_member(api: ChaliceApi, admin: Account, email: str, role: str, password: str | None = None) -> Reply:
    """POST /tenant/members as `admin`, with a password only where one is given."""
    body = {"email": email, "role": role} | ({"password": password} if password is not None else {})
    return api.call("POST", "/tenant/members", json_body=body, token=admin.id_token)


def _member_ids(api: ChaliceApi, admin: Account) -> set[str]:
    reply = api.call("GET", "/tenant/members", token=admin.id_token)
    assert reply.status == 200, reply
    return {member["user_id"] for member in reply.body["members"]}


def test_where_there_is_email_a_sign_up_waits_for_its_code(deployed: Services, client: Client) -> None:
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


def test_where_there_is_email_a_new_member_gets_cognitos_invitation_and_sets_a_password_at_first_login(
    deployed: Services, client: Client
) -> None:
    api = ChaliceApi(client)
    admin = sign_up(api, "admin")
    email = unique_email("invited")
    added = _add_member(api, admin, email, "analyst")
    assert added.status == 201

    # Invited, not verified: the platform vouches for no address.
    status, attributes = _user(deployed, email)
    assert status == "FORCE_CHANGE_PASSWORD"
    assert attributes.get("email_verified") != "true"

    temporary = _deliver_invitation(deployed, email)
    first = api.call("POST", "/auth/login", json_body={"email": email, "password": temporary})
    assert (first.status, first.error_code) == (403, "new_password_required")
    chosen = api.call(
        "POST", "/auth/login", json_body={"email": email, "password": temporary, "new_password": ALICE_PASSWORD}
    )
    assert chosen.status == 200
    again = log_in(api, email, ALICE_PASSWORD)
    assert api.call("GET", "/me", token=again["id_token"]).body["role"] == "analyst"

    # Replacing the e-mailed password proved the address: it is verified from now on.
    status, attributes = _user(deployed, email)
    assert (status, attributes["email_verified"]) == ("CONFIRMED", "true")


def test_where_there_is_email_an_admin_cannot_choose_a_members_password(deployed: Services, client: Client) -> None:
    api = ChaliceApi(client)
    admin = sign_up(api, "admin")
    new_email = unique_email("new")
    existing = sign_up(api, "existing")
    for email in (new_email, existing.email):
        for password in (ATTACKER_PASSWORD, "weak"):  # any password, whether or not it meets the policy
            reply = _add_member(api, admin, email, "viewer", password)
            assert (reply.status, reply.error_code) == (400, "password_not_allowed")
    with pytest.raises(ClientError, match="UserNotFoundException"):
        _user(deployed, new_email)
    assert _member_ids(api, admin) == {admin.user_id}
    log_in(api, existing.email)  # its password is still its own


def test_an_account_another_tenants_admin_created_never_lets_them_into_its_owners_tenant(
    deployed: Services, client: Client
) -> None:
    """The attack: an admin of their own tenant creates an account for someone else's address
    with a password they chose, logs in as that person, sets a new password, removes the member,
    and waits for the address's real organisation to add it."""
    api = ChaliceApi(client)
    attacker = sign_up(api, "attacker")
    victim_admin = sign_up(api, "victim-admin")
    alice = unique_email("alice")

    # 1. The attacker adds Alice's address with a password of their choosing: refused. Without
    # one, the account gets Cognito's temporary password, which goes to Alice's mailbox only.
    chosen = _add_member(api, attacker, alice, "admin", ATTACKER_PASSWORD)
    assert (chosen.status, chosen.error_code) == (400, "password_not_allowed")
    invited = _add_member(api, attacker, alice, "admin")
    assert invited.status == 201

    # 2. The attacker cannot log in as Alice, with or without a new password of their own.
    for body in (
        {"email": alice, "password": ATTACKER_PASSWORD},
        {"email": alice, "password": ATTACKER_PASSWORD, "new_password": "Attacker-Again-3!"},
    ):
        reply = api.call("POST", "/auth/login", json_body=body)
        assert (reply.status, reply.error_code) == (401, "invalid_credentials")
    assert api.call("DELETE", f"/tenant/members/{invited.body['user_id']}", token=attacker.id_token).status == 204

    # 3. Alice's organisation adds the address. Nobody has proved it yet: the account is not
    # handed over until its owner has.
    early = _add_member(api, victim_admin, alice, "analyst")
    assert (early.status, early.error_code) == (409, "unverified_account")
    assert _member_ids(api, victim_admin) == {victim_admin.user_id}

    # Alice uses her invitation, chooses her own password; now her organisation adds her.
    temporary = _deliver_invitation(deployed, alice)
    own = api.call(
        "POST", "/auth/login", json_body={"email": alice, "password": temporary, "new_password": ALICE_PASSWORD}
    )
    assert own.status == 200
    added = _add_member(api, victim_admin, alice, "analyst")
    assert added.status == 201
    me = api.call("GET", "/me", token=log_in(api, alice, ALICE_PASSWORD)["id_token"]).body
    assert (me["tenant_id"], me["role"]) == (victim_admin.tenant_id, "analyst")

    # The attacker still holds nothing that opens Alice's account.
    for password in (ATTACKER_PASSWORD, "Attacker-Again-3!", temporary):
        reply = api.call("POST", "/auth/login", json_body={"email": alice, "password": password})
        assert (reply.status, reply.error_code) == (401, "invalid_credentials")


def test_an_account_whose_invitation_was_never_used_is_not_added_elsewhere(deployed: Services, client: Client) -> None:
    api = ChaliceApi(client)
    first = sign_up(api, "first")
    second = sign_up(api, "second")
    email = unique_email("invited")
    invited = _add_member(api, first, email, "viewer")
    assert api.call("DELETE", f"/tenant/members/{invited.body['user_id']}", token=first.id_token).status == 204

    reply = _add_member(api, second, email, "viewer")
    assert (reply.status, reply.error_code) == (409, "unverified_account")
    again = _add_member(api, first, email, "viewer")
    assert (again.status, again.error_code) == (409, "unverified_account")
    assert _member_ids(api, second) == {second.user_id}


def test_an_account_its_owner_confirmed_is_added_and_one_whose_password_was_reset_waits_for_a_new_one(
    deployed: Services, client: Client
) -> None:
    api = ChaliceApi(client)
    admin = sign_up(api, "admin")
    cognito = deployed.clients.cognito
    confirmed, reset = unique_email("confirmed"), unique_email("reset")
    for email in (confirmed, reset):
        # Signed up in the pool directly (the app client is public), so in no tenant; confirmed
        # with the e-mailed code, which in Cognito also verifies the address (moto does not).
        cognito.sign_up(ClientId=deployed.settings.user_pool_client_id, Username=email, Password=PASSWORD)
        cognito.confirm_sign_up(ClientId=deployed.settings.user_pool_client_id, Username=email, ConfirmationCode="1")
        cognito.admin_update_user_attributes(
            **_pool(deployed), Username=email, UserAttributes=[{"Name": "email_verified", "Value": "true"}]
        )
    cognito.admin_reset_user_password(**_pool(deployed), Username=reset)
    assert _user(deployed, reset)[0] == "RESET_REQUIRED"

    added = _add_member(api, admin, confirmed, "viewer")
    assert added.status == 201
    refused = _add_member(api, admin, reset, "viewer")
    assert (refused.status, refused.error_code) == (409, "unverified_account")
    assert _member_ids(api, admin) == {admin.user_id, added.body["user_id"]}
    assert api.call("GET", "/me", token=log_in(api, confirmed)["id_token"]).body["tenant_id"] == admin.tenant_id


def test_a_sign_up_whose_tenant_cannot_be_written_leaves_no_account(platform_services: Services, aws: Any) -> None:
    broken_store = TenantStore(aws.client("dynamodb"), "no-such-table")
    email = unique_email()
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        accounts.sign_up(platform_services.users, broken_store, email, PASSWORD, None, auto_confirm=True)
    assert platform_services.users.account(email) is None
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
            invite_by_email=False,
        )
    assert platform_services.users.account(email) is None
