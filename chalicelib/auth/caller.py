"""The caller of a protected route: identity, tenant and role (resolved on every request by
`chalicelib/routes/context.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.auth.roles import Action, Role, allows
from chalicelib.errors import Forbidden


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
