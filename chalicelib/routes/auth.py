"""POST /auth/signup, /auth/confirm, /auth/login, /auth/refresh: public, no token needed."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from chalice import Blueprint, Response
from pydantic import BaseModel, Field

from chalicelib.auth.cognito import Tokens
from chalicelib.bodies import RequestBody, parse_body
from chalicelib.fields import AccountEmail, DisplayName, Email, NewPassword, Password
from chalicelib.services import services
from chalicelib.tenancy import accounts

bp = Blueprint(__name__)


class SignUpBody(RequestBody):
    email: Email
    password: NewPassword
    tenant_name: DisplayName | None = None


class ConfirmBody(RequestBody):
    email: AccountEmail
    code: str = Field(min_length=1, max_length=64)


class LoginBody(RequestBody):
    email: AccountEmail
    password: Password
    # Only for an account an admin created: its first login sets the user's own password.
    new_password: NewPassword | None = None


class RefreshBody(RequestBody):
    refresh_token: str = Field(min_length=1, max_length=8192)


class SignUpView(BaseModel):
    user_id: str
    tenant_id: str
    confirmation_required: bool


class TokensView(BaseModel):
    id_token: str
    access_token: str
    refresh_token: str | None = None
    expires_in: int
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a token type, not a secret

    @classmethod
    def of(cls, tokens: Tokens) -> dict[str, object]:
        view = cls(
            id_token=tokens.id_token,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_in=tokens.expires_in,
        )
        return view.model_dump(exclude_none=True)


@bp.route("/auth/signup", methods=["POST"])
def signup() -> Response:
    body = parse_body(bp.current_request, SignUpBody)
    platform = services()
    result = accounts.sign_up(
        platform.users,
        platform.tenants,
        body.email,
        body.password.get_secret_value(),
        body.tenant_name,
        auto_confirm=platform.settings.auto_confirm_signup,
    )
    view = SignUpView(
        user_id=result.user_id, tenant_id=result.tenant_id, confirmation_required=result.confirmation_required
    )
    return Response(body=view.model_dump(), status_code=201)


@bp.route("/auth/confirm", methods=["POST"])
def confirm() -> dict[str, bool]:
    body = parse_body(bp.current_request, ConfirmBody)
    services().users.confirm(body.email, body.code)
    return {"confirmed": True}


@bp.route("/auth/login", methods=["POST"])
def login() -> dict[str, object]:
    body = parse_body(bp.current_request, LoginBody)
    new_password = body.new_password.get_secret_value() if body.new_password else None
    return TokensView.of(services().users.log_in(body.email, body.password.get_secret_value(), new_password))


@bp.route("/auth/refresh", methods=["POST"])
def refresh() -> dict[str, object]:
    body = parse_body(bp.current_request, RefreshBody)
    tokens = services().users.refresh(body.refresh_token)
    # API.md: a refresh answers as login does, without a refresh token (the caller keeps theirs).
    return TokensView.of(replace(tokens, refresh_token=None))
