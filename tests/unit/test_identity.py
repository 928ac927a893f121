"""The app's own checks on a verified token's claims (what API Gateway's authorizer cannot pin)."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.app import Request

from chalicelib.auth.identity import Identity, identity_of
from chalicelib.errors import Unauthenticated
from chalicelib.settings import load_settings


def _request(claims: dict[str, Any] | None) -> Request:
    context: dict[str, Any] = {"resourcePath": "/me", "httpMethod": "GET"}
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return Request(
        {
            "multiValueQueryStringParameters": None,
            "headers": {},
            "pathParameters": None,
            "requestContext": context,
            "stageVariables": None,
            "body": None,
            "isBase64Encoded": False,
        }
    )


@pytest.fixture
def valid() -> dict[str, str]:
    settings = load_settings()
    return {
        "sub": "7d3e5c1a-0000-4000-8000-000000000001",
        "email": "ann@example.com",
        "token_use": "id",
        "aud": settings.user_pool_client_id,
        "iss": settings.issuer,
    }


def test_a_verified_id_token_of_this_app_client_names_the_caller(valid: dict[str, str]) -> None:
    assert identity_of(_request(valid), load_settings()) == Identity(valid["sub"])


@pytest.mark.parametrize(
    "change",
    [
        {"token_use": "access"},
        {"token_use": None},
        {"aud": "another-client"},
        {"aud": None},
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"},
        {"sub": ""},
        {"sub": None},
    ],
)
def test_any_other_token_is_refused(valid: dict[str, str], change: dict[str, Any]) -> None:
    claims = {name: value for name, value in (valid | change).items() if value is not None}
    with pytest.raises(Unauthenticated):
        identity_of(_request(claims), load_settings())


@pytest.mark.parametrize("claims", [None, {}])
def test_no_claims_is_unauthenticated(claims: dict[str, Any] | None) -> None:
    with pytest.raises(Unauthenticated):
        identity_of(_request(claims), load_settings())


def test_the_issuer_is_the_pools_own() -> None:
    settings = load_settings()
    assert settings.region == "us-east-1"
    assert settings.issuer == f"https://cognito-idp.us-east-1.amazonaws.com/{settings.user_pool_id}"


def test_sign_ups_are_confirmed_at_once_only_in_the_local_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.settings import SettingsError

    monkeypatch.setenv("SDP_AUTO_CONFIRM_SIGNUP", "true")
    assert load_settings().auto_confirm_signup
    monkeypatch.setenv("SDP_STAGE", "prod")
    with pytest.raises(SettingsError, match="SDP_AUTO_CONFIRM_SIGNUP: Value error, allowed only in the local stage"):
        load_settings()
