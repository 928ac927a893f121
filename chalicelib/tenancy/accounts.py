"""Sign-up and member management: the rules, over the user pool and the tenant store."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.auth.cognito import CognitoUsers
from chalicelib.errors import BadRequest, NotFound
from chalicelib.ids import new_id
from chalicelib.observability import logger
from chalicelib.tenancy.roles import Role
from chalicelib.tenancy.store import Membership, TenantStore, UserExists


@dataclass(frozen=True)
class SignUp:
    user_id: str
    tenant_id: str
    confirmation_required: bool


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = "No member with that id in your tenant."


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
    permanent_password: bool,
) -> Membership:
    """Add a user to the tenant, creating the account if there is none.

    An existing account keeps its password: `password` only ever applies to a new one. A user
    belongs to one tenant at a time; adding a member of another tenant is a 409.
    """
    user_id = users.user_id(email)
    if user_id is None:
        if permanent_password and not password:
            raise BadRequest("password_required", "Give the new member's 'password': there is no e-mail here.")
        try:
            user_id = users.create_user(email, password, permanent=permanent_password)
        except UserExists:
            user_id = users.user_id(email)  # created by a request running at the same time
            if user_id is None:
                raise
    member = Membership(tenant_id=tenant_id, user_id=user_id, email=email, role=role)
    tenants.add_member(member)
    return member


def change_role(tenants: TenantStore, tenant_id: str, user_id: str, role: Role) -> Membership:
    member = _member(tenants, tenant_id, user_id)
    if member.role is role:
        return member
    return tenants.change_role(member, role)


def remove_member(tenants: TenantStore, tenant_id: str, user_id: str) -> None:
    """Remove the member from the tenant. Their account stays, without a tenant, and can be added again."""
    tenants.remove_member(_member(tenants, tenant_id, user_id))


# A Cognito `sub`. Anything else is no member, answered before it could reach DynamoDB as a key.
_USER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _member(tenants: TenantStore, tenant_id: str, user_id: str) -> Membership:
    """The tenant's member; another tenant's member is as absent as an unknown id."""
    if not _USER_ID.fullmatch(user_id):
        raise MemberNotFound()
    member = tenants.member(tenant_id, user_id)
    if member is None:
        raise MemberNotFound()
    return member
