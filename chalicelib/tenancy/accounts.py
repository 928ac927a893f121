"""Sign-up and member management: the rules, over the user pool and the tenant store."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.auth.cognito import Account, CognitoUsers
from chalicelib.auth.roles import Role
from chalicelib.errors import BadRequest, Conflict, NotFound, UserExists
from chalicelib.fields import check_new_password
from chalicelib.ids import new_id
from chalicelib.observability import logger
from chalicelib.tenancy.store import Membership, TenantStore


@dataclass(frozen=True)
class SignUp:
    user_id: str
    tenant_id: str
    confirmation_required: bool


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = "No member with that id in your tenant."


class PasswordNotAllowed(BadRequest):
    code = "password_not_allowed"
    message = (
        "Leave out 'password': Cognito e-mails a new member a temporary password of its own making, "
        "which only the owner of the address may know."
    )


class UnverifiedAccount(Conflict):
    code = "unverified_account"
    message = (
        "An account with this e-mail address exists, but its owner has not proved the address yet (by "
        "confirming their sign-up, or by logging in with the temporary password e-mailed to them); it "
        "can be added once they have."
    )


def sign_up(
    users: CognitoUsers, tenants: TenantStore, email: str, password: str, tenant_name: str | None, *, auto_confirm: bool
) -> SignUp:
    """A new user and a new tenant with that user as its admin.

    If the tenant cannot be written, the user is deleted again: an account never outlives a
    failed sign-up, so the same e-mail can sign up again.
    """
    user_id, confirmed = users.sign_up(email, password)
    try:
        if auto_confirm and not confirmed:
            users.confirm_at_once(email)
            confirmed = True
        tenant = tenants.create_tenant(new_id(), tenant_name or email, user_id, email)
    except BaseException:
        try:
            users.delete_user(email)
        except Exception:
            logger.exception("sign-up left an account without a tenant", extra={"user_id": user_id})
        raise
    return SignUp(user_id=user_id, tenant_id=tenant.tenant_id, confirmation_required=not confirmed)


def add_member(
    users: CognitoUsers,
    tenants: TenantStore,
    tenant_id: str,
    email: str,
    role: Role,
    password: str | None,
    *,
    invite_by_email: bool,
) -> Membership:
    """Add a user to the tenant, creating the account if there is none.

    With `invite_by_email` (wherever Cognito sends e-mail), a new account gets Cognito's
    invitation, with a temporary password only the address's owner receives; an admin who gives a
    password is refused (400), for whoever chose it could log in as that owner. Without e-mail
    (locally) the admin gives the new account's password.

    An existing account is added only once its owner has proved the address (`_owner_proven`),
    and keeps its password. A user belongs to one tenant at a time: adding a member of another
    tenant is a 409.
    """
    if invite_by_email and password is not None:
        raise PasswordNotAllowed()
    account = users.account(email)
    if account is None:
        try:
            user_id = _create_account(users, email, password, invite_by_email=invite_by_email)
        except UserExists:
            account = users.account(email)  # created by a request running at the same time
            if account is None:
                raise
    if account is not None:
        user_id = _owner_proven(account)
    member = Membership(tenant_id=tenant_id, user_id=user_id, email=email, role=role)
    tenants.add_member(member)
    return member


def _create_account(users: CognitoUsers, email: str, password: str | None, *, invite_by_email: bool) -> str:
    """A new account for a member; its id."""
    if invite_by_email:
        return users.invite(email)
    if not password:
        raise BadRequest("password_required", "Give the new member's 'password': there is no e-mail here.")
    check_new_password(password)
    return users.create_with_password(email, password)


def _owner_proven(account: Account) -> str:
    """The account's id, if its owner has proved, themselves, that they read its address; else
    409 unverified_account.

    Proved means: Cognito confirmed the account (the sign-up code e-mailed to the address was
    entered, or an invitation's temporary password was replaced by the user's own) and the
    address is verified. An account still in FORCE_CHANGE_PASSWORD has not: nobody has used its
    invitation yet, and an invitation made while admins still chose temporary passwords may carry
    one its admin knows. Nor has an UNCONFIRMED sign-up, which anyone can make with any address.
    """
    if account.status != "CONFIRMED" or not account.email_verified:
        raise UnverifiedAccount()
    return account.user_id


def change_role(tenants: TenantStore, tenant_id: str, user_id: str, role: Role) -> Membership:
    member = _member(tenants, tenant_id, user_id)
    if member.role is role:
        return member
    return tenants.change_role(member, role)


def remove_member(tenants: TenantStore, tenant_id: str, user_id: str) -> None:
    """Remove the member from the tenant. Their account stays, without a tenant, and can be added again."""
    tenants.remove_member(_member(tenants, tenant_id, user_id))


# A Cognito `sub`. Anything else is no member, answered before it could reach DynamoDB as a key.
USER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _member(tenants: TenantStore, tenant_id: str, user_id: str) -> Membership:
    """The tenant's member; another tenant's member is as absent as an unknown id."""
    if not USER_ID.fullmatch(user_id):
        raise MemberNotFound()
    member = tenants.member(tenant_id, user_id)
    if member is None:
        raise MemberNotFound()
    return member
