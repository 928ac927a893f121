"""GET /me and the tenant's members: who you are, who else is here, and (admins) managing them."""

from __future__ import annotations

from typing import Annotated, Any

from chalice import Blueprint, Response
from pydantic import BaseModel, Field

from chalicelib.auth.identity import cognito_authorizer
from chalicelib.auth.roles import Action, Role
from chalicelib.bodies import RequestBody, parse_body
from chalicelib.fields import Email, JsonInt, Password
from chalicelib.queries.usage import BUDGET, Allowance
from chalicelib.routes.context import acting
from chalicelib.services import services
from chalicelib.tenancy import accounts
from chalicelib.tenancy.store import Membership

bp = Blueprint(__name__)


class MeView(BaseModel):
    user_id: str
    email: str
    tenant_id: str
    tenant_name: str
    role: Role


class MemberView(BaseModel):
    user_id: str
    email: str
    role: Role

    @classmethod
    def of(cls, member: Membership) -> dict[str, str]:
        return cls(user_id=member.user_id, email=member.email, role=member.role).model_dump(mode="json")


class AddMemberBody(RequestBody):
    email: Email
    role: Role
    # Locally (no e-mail) a new account's password. Wherever Cognito sends e-mail it is refused:
    # a new member's only password is the temporary one Cognito makes and e-mails to them.
    password: Password | None = None  # its policy is checked where one is taken (locally)


class ChangeRoleBody(RequestBody):
    role: Role


MAX_BUDGET_BYTES = 2**63 - 1  # a 64-bit count: more than anything can scan, and what clients can hold


class TenantBody(RequestBody):
    # Required, and null to remove the budget: an absent key is a mistake, not "no budget".
    monthly_scan_budget_bytes: Annotated[JsonInt, Field(ge=0, le=MAX_BUDGET_BYTES)] | None


@bp.route("/me", methods=["GET"], authorizer=cognito_authorizer)
def me() -> dict[str, str]:
    caller, _ = acting(bp.current_request)
    platform = services()
    tenant = platform.tenants.tenant(caller.tenant_id)
    view = MeView(
        user_id=caller.user_id,
        email=caller.email,
        tenant_id=caller.tenant_id,
        tenant_name=tenant.name if tenant else "",
        role=caller.role,
    )
    return view.model_dump(mode="json")


@bp.route("/tenant", methods=["PATCH"], authorizer=cognito_authorizer)
def change_tenant() -> dict[str, Any]:
    caller, tenant = acting(bp.current_request, Action.SET_BUDGET)
    body = parse_body(bp.current_request, TenantBody)
    item = tenant.usage.set_budget(caller.tenant_id, body.monthly_scan_budget_bytes)
    return {
        "tenant_id": caller.tenant_id,
        "name": item.get("name", ""),
        "monthly_scan_budget_bytes": item.get(BUDGET),
    }


@bp.route("/tenant/usage", methods=["GET"], authorizer=cognito_authorizer)
def usage() -> dict[str, Any]:
    caller, tenant = acting(bp.current_request)
    item, month = tenant.usage.read(caller.tenant_id, tenant.this_month)
    allowance, quota = Allowance.of(item, month), tenant.records.quota_of(item)
    return {
        "month": month.month.key,
        "resets_at": month.month.resets_at,
        "bytes_used": int(item.get("bytes_used", 0)),
        "quota_bytes": quota.bytes,
        "file_count": int(item.get("file_count", 0)),
        "quota_files": quota.files,
        "bytes_scanned": month.bytes_scanned,
        "monthly_scan_budget_bytes": allowance.budget,
        "remaining_scan_bytes": allowance.remaining,
        "query_count": month.query_count,
    }


@bp.route("/tenant/members", methods=["GET"], authorizer=cognito_authorizer)
def list_members() -> dict[str, list[dict[str, str]]]:
    caller, _ = acting(bp.current_request)
    platform = services()
    members = sorted(platform.tenants.members(caller.tenant_id), key=lambda member: member.email)
    return {"members": [MemberView.of(member) for member in members]}


@bp.route("/tenant/members", methods=["POST"], authorizer=cognito_authorizer)
def add_member() -> Response:
    caller, _ = acting(bp.current_request, Action.MANAGE_MEMBERS)
    platform = services()
    body = parse_body(bp.current_request, AddMemberBody)
    member = accounts.add_member(
        platform.users,
        platform.tenants,
        caller.tenant_id,
        body.email,
        body.role,
        body.password.get_secret_value() if body.password else None,
        invite_by_email=platform.settings.sends_email,
    )
    return Response(body=MemberView.of(member), status_code=201)


@bp.route("/tenant/members/{user_id}", methods=["PATCH"], authorizer=cognito_authorizer)
def change_role(user_id: str) -> dict[str, str]:
    caller, _ = acting(bp.current_request, Action.MANAGE_MEMBERS)
    platform = services()
    body = parse_body(bp.current_request, ChangeRoleBody)
    return MemberView.of(accounts.change_role(platform.tenants, caller.tenant_id, user_id, body.role))


@bp.route("/tenant/members/{user_id}", methods=["DELETE"], authorizer=cognito_authorizer)
def remove_member(user_id: str) -> Response:
    caller, _ = acting(bp.current_request, Action.MANAGE_MEMBERS)
    platform = services()
    accounts.remove_member(platform.tenants, caller.tenant_id, user_id)
    return Response(body="", status_code=204)
