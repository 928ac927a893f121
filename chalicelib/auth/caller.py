"""The caller of a protected route: identity, tenant and role, resolved on every request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalice.app import Request

from chalicelib.auth.identity import identity_of
from chalicelib.errors import Forbidden
from chalicelib.observability import logger
from chalicelib.tenancy.roles import Action, Role, allows

if TYPE_CHECKING:  # the services build on Caller; only the type is needed here
    from chalicelib.services import Services


class NoTenant(Forbidden):
    code = "no_tenant"
    message = "Your account belongs to no tenant: ask a tenant's admin to add you."


@dataclass(frozen=True)
class Caller:
    user_id: str
    email: str
    tenant_id: str
    role: Role

    def can(self, action: Action) -> bool:
        return allows(self.role, action)

    def require(self, action: Action) -> None:
        """403 `forbidden` unless the caller's role allows `action`."""
        if not self.can(action):
            raise Forbidden()


def current_caller(request: Request, services: Services, action: Action = Action.READ) -> Caller:
    """The verified caller, their tenant and role, allowed to take `action`; else 401 or 403.

    Tenant and role come only from the platform's own table, looked up by the token's `sub`, on
    every request and with a consistent read: a member removed a moment ago is refused now.
    """
    identity = identity_of(request, services.settings)
    membership = services.tenants.membership(identity.user_id)
    if membership is None:
        raise NoTenant()
    logger.thread_safe_append_keys(tenant_id=membership.tenant_id, user_id=identity.user_id)
    caller = Caller(identity.user_id, membership.email, membership.tenant_id, membership.role)
    caller.require(action)
    return caller
