"""What a protected route starts from: the verified caller, allowed the action, and the services
of the caller's tenant; and the one way a route reads a page of a tenant's collection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from chalice.app import Request

from chalicelib.auth.caller import Caller, NoTenant
from chalicelib.auth.identity import identity_of
from chalicelib.auth.roles import Action
from chalicelib.observability import logger
from chalicelib.pagination import limit_of
from chalicelib.services import TenantServices, services


class Shown(Protocol):
    def view(self) -> dict[str, Any]:
        """How API.md shows it."""
        ...


class Acting(NamedTuple):
    caller: Caller
    tenant: TenantServices  # the services of the caller's tenant, signed by its own session


def acting(request: Request, action: Action = Action.READ) -> Acting:
    """The verified caller, their tenant and role, allowed to take `action`; else 401 or 403.

    Tenant and role come only from the platform's own table, looked up by the token's `sub`, on
    every request and with a consistent read: a member removed a moment ago is refused now.
    """
    platform = services()
    identity = identity_of(request, platform.settings)
    membership = platform.tenants.membership(identity.user_id)
    if membership is None:
        raise NoTenant()
    logger.thread_safe_append_keys(tenant_id=membership.tenant_id, user_id=identity.user_id)
    caller = Caller(identity.user_id, membership.email, membership.tenant_id, membership.role)
    caller.require(action)
    return Acting(caller, platform.for_tenant(caller.tenant_id))


def listed(
    request: Request,
    tenant: TenantServices,
    collection: str,
    read: Callable[[int, str | None], tuple[Sequence[Shown], str | None]],
    search: str | None = None,
) -> dict[str, Any]:
    """A page of one of the tenant's collections as a list route answers it (`{collection: [...],
    "next_token": ...}`), as `?limit=` and `?next_token=` ask for it: `read(limit, after)` reads on
    from a position; the next token is signed for this tenant, collection and `search` (a token of
    another is refused)."""
    params = request.query_params or {}
    limit = limit_of(params.get("limit"))
    scope = f"{collection}?{search}" if search else collection
    items, next_token = tenant.tokens.paged(
        tenant.tenant_id, scope, params.get("next_token"), lambda after: read(limit, after)
    )
    return {collection: [item.view() for item in items], "next_token": next_token}
