"""Tenants and memberships in the platform's DynamoDB table (layout: chalicelib/keys.py).

A member's role lives in two items, the tenant's MEMBER item (to list members) and the user's
MEMBERSHIP item (read on every request); every change writes both in one transaction, and keeps
the tenant's admin_count, so that the last admin can never be removed or demoted even when two
admins act at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib import keys
from chalicelib.auth.roles import Role
from chalicelib.aws.dynamo import TransactionCancelled, get_item, query_prefix, to_item, transact, value
from chalicelib.errors import Conflict, UserExists
from chalicelib.times import now


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    created_at: str


@dataclass(frozen=True)
class Membership:
    tenant_id: str
    user_id: str
    email: str
    role: Role


class LastAdmin(Conflict):
    code = "last_admin"
    message = "A tenant keeps at least one admin: make another member admin first."


class TenantStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def create_tenant(self, tenant_id: str, name: str, admin_user_id: str, admin_email: str) -> Tenant:
        """The tenant with its first admin, all or nothing."""
        created_at = now()
        admin = Membership(tenant_id, admin_user_id, admin_email, Role.ADMIN)
        tenant = {**keys.tenant(tenant_id), "tenant_id": tenant_id, "name": name, "created_at": created_at}
        try:
            transact(
                self._dynamodb,
                [
                    self._put(
                        tenant | {"admin_count": 1, "bytes_used": 0, "file_count": 0}, "attribute_not_exists(PK)"
                    ),
                    *self._put_membership(admin, created_at),
                ],
            )
        except TransactionCancelled as cancelled:
            # Items: the tenant, the member, the user's membership; only the last can already exist.
            if cancelled.failed(2):
                raise UserExists() from cancelled.error
            raise
        return Tenant(tenant_id, name, created_at)

    def tenant(self, tenant_id: str) -> Tenant | None:
        item = get_item(self._dynamodb, self._table, keys.tenant(tenant_id))
        return Tenant(item["tenant_id"], item["name"], item["created_at"]) if item else None

    def membership(self, user_id: str) -> Membership | None:
        """The user's membership, read consistently: a removal takes effect on the next request."""
        item = get_item(self._dynamodb, self._table, keys.membership(user_id))
        return _membership(item) if item else None

    def member(self, tenant_id: str, user_id: str) -> Membership | None:
        item = get_item(self._dynamodb, self._table, keys.member(tenant_id, user_id))
        return _membership(item) if item else None

    def members(self, tenant_id: str) -> list[Membership]:
        """Every member of the tenant, by user id."""
        items = query_prefix(self._dynamodb, self._table, keys.tenant_partition(tenant_id), keys.MEMBER_PREFIX)
        return [_membership(item) for item in items]

    def add_member(self, member: Membership) -> None:
        """Add a user to the tenant; UserExists if the user already belongs to a tenant."""
        items = [*self._put_membership(member, now()), self._tenant_exists(member.tenant_id)]
        if member.role is Role.ADMIN:
            items[-1] = self._count_admins(member.tenant_id, +1)
        try:
            transact(self._dynamodb, items)
        except TransactionCancelled as cancelled:
            if cancelled.failed(0) or cancelled.failed(1):
                raise UserExists() from cancelled.error
            raise Conflict("tenant_gone", "The tenant no longer exists.") from cancelled.error

    def change_role(self, member: Membership, new_role: Role) -> Membership:
        """Give a member another role; LastAdmin if it would leave the tenant without one."""
        items = [
            self._update_role(keys.member(member.tenant_id, member.user_id), member.role, new_role),
            self._update_role(keys.membership(member.user_id), member.role, new_role),
        ]
        if member.role is Role.ADMIN:
            items.append(self._count_admins(member.tenant_id, -1))
        if new_role is Role.ADMIN:
            items.append(self._count_admins(member.tenant_id, +1))
        self._write_member_change(items, member.role)
        return Membership(member.tenant_id, member.user_id, member.email, new_role)

    def remove_member(self, member: Membership) -> None:
        """Remove a member; LastAdmin if it is the tenant's only admin."""
        items = [
            self._delete(keys.member(member.tenant_id, member.user_id), member.role),
            self._delete(keys.membership(member.user_id), member.role),
        ]
        if member.role is Role.ADMIN:
            items.append(self._count_admins(member.tenant_id, -1))
        self._write_member_change(items, member.role)

    def _write_member_change(self, items: list[dict[str, Any]], old_role: Role) -> None:
        """Write a role change or removal: its third item, if any, is the admin count's condition."""
        try:
            transact(self._dynamodb, items)
        except TransactionCancelled as cancelled:
            if old_role is Role.ADMIN and cancelled.failed(2):
                raise LastAdmin() from cancelled.error
            raise Conflict(
                "member_changed", "The member changed meanwhile; read it again and retry."
            ) from cancelled.error

    def _put(self, item: dict[str, Any], condition: str) -> dict[str, Any]:
        return {"Put": {"TableName": self._table, "Item": to_item(item), "ConditionExpression": condition}}

    def _put_membership(self, member: Membership, created_at: str) -> list[dict[str, Any]]:
        fields = {
            "tenant_id": member.tenant_id,
            "user_id": member.user_id,
            "email": member.email,
            "role": member.role.value,
            "created_at": created_at,
        }
        return [
            self._put({**keys.member(member.tenant_id, member.user_id), **fields}, "attribute_not_exists(PK)"),
            # One membership per user: this put fails if the user belongs to any tenant already.
            self._put({**keys.membership(member.user_id), **fields}, "attribute_not_exists(PK)"),
        ]

    def _update_role(self, key: dict[str, str], old_role: Role, new_role: Role) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_item(key),
                "UpdateExpression": "SET #role = :new",
                "ConditionExpression": "#role = :old",
                "ExpressionAttributeNames": {"#role": "role"},
                "ExpressionAttributeValues": {":new": value(new_role.value), ":old": value(old_role.value)},
            }
        }

    def _delete(self, key: dict[str, str], role: Role) -> dict[str, Any]:
        return {
            "Delete": {
                "TableName": self._table,
                "Key": to_item(key),
                "ConditionExpression": "#role = :role",
                "ExpressionAttributeNames": {"#role": "role"},
                "ExpressionAttributeValues": {":role": value(role.value)},
            }
        }

    def _count_admins(self, tenant_id: str, delta: int) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_item(keys.tenant(tenant_id)),
            "UpdateExpression": "ADD admin_count :delta",
            "ConditionExpression": "attribute_exists(PK)",
            "ExpressionAttributeValues": {":delta": value(delta)},
        }
        if delta < 0:
            update["ConditionExpression"] = "admin_count > :one"
            update["ExpressionAttributeValues"][":one"] = value(1)
        return {"Update": update}

    def _tenant_exists(self, tenant_id: str) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": to_item(keys.tenant(tenant_id)),
                "ConditionExpression": "attribute_exists(PK)",
            }
        }


def _membership(item: dict[str, Any]) -> Membership:
    return Membership(item["tenant_id"], item["user_id"], item["email"], Role(item["role"]))
