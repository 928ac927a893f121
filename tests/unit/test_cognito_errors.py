"""Cognito's answers that moto never gives, translated into API errors (botocore's Stubber)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.auth.cognito import CognitoUsers
from chalicelib.errors import AppError

POOL = "us-east-1_Stubbed"
CLIENT = "stubbedclient"


@pytest.fixture
def stubbed() -> Iterator[tuple[CognitoUsers, Stubber]]:
    client = boto3.session.Session(region_name="us-east-1").client("cognito-idp")
    with Stubber(client) as stubber:
        yield CognitoUsers(client, POOL, CLIENT), stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("cognito_code", "status", "code"),
    [
        ("CodeMismatchException", 400, "invalid_code"),
        ("UserNotFoundException", 400, "invalid_code"),
        ("ExpiredCodeException", 400, "expired_code"),
        ("NotAuthorizedException", 409, "already_confirmed"),
        ("TooManyFailedAttemptsException", 429, "too_many_requests"),
        ("LimitExceededException", 429, "too_many_requests"),
        ("InternalErrorException", 500, "internal_error"),
    ],
)
def test_confirmation_errors(stubbed: tuple[CognitoUsers, Stubber], cognito_code: str, status: int, code: str) -> None:
    users, stubber = stubbed
    stubber.add_client_error(
        "confirm_sign_up",
        service_error_code=cognito_code,
        expected_params={"ClientId": CLIENT, "Username": "ann@example.com", "ConfirmationCode": "123456"},
    )
    with pytest.raises(AppError) as raised:
        users.confirm("ann@example.com", "123456")
    assert (raised.value.status, raised.value.code) == (status, code)


@pytest.mark.parametrize(
    ("cognito_code", "status", "code"),
    [
        ("NotAuthorizedException", 401, "invalid_credentials"),
        ("UserNotFoundException", 401, "invalid_credentials"),
        ("UserNotConfirmedException", 403, "user_not_confirmed"),
        ("PasswordResetRequiredException", 403, "password_reset_required"),
        ("TooManyRequestsException", 429, "too_many_requests"),
    ],
)
def test_login_errors(stubbed: tuple[CognitoUsers, Stubber], cognito_code: str, status: int, code: str) -> None:
    users, stubber = stubbed
    stubber.add_client_error("initiate_auth", service_error_code=cognito_code)
    with pytest.raises(AppError) as raised:
        users.log_in("ann@example.com", "Correct-Horse-9!")
    assert (raised.value.status, raised.value.code) == (status, code)


def test_a_challenge_the_api_does_not_offer_is_refused(stubbed: tuple[CognitoUsers, Stubber]) -> None:
    users, stubber = stubbed
    stubber.add_response("initiate_auth", {"ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "s" * 20})
    with pytest.raises(AppError) as raised:
        users.log_in("ann@example.com", "Correct-Horse-9!")
    assert (raised.value.status, raised.value.code) == (401, "unsupported_challenge")


def test_a_policy_message_from_cognito_reaches_the_user(stubbed: tuple[CognitoUsers, Stubber]) -> None:
    users, stubber = stubbed
    stubber.add_client_error(
        "sign_up",
        service_error_code="InvalidPasswordException",
        service_message="Password did not conform with policy: Password must have symbol characters",
    )
    with pytest.raises(AppError) as raised:
        users.sign_up("ann@example.com", "Correct-Horse-9")
    assert raised.value.code == "invalid_password"
    assert "must have symbol characters" in raised.value.message


def test_refresh_answers_without_a_new_refresh_token(stubbed: tuple[CognitoUsers, Stubber]) -> None:
    users, stubber = stubbed
    result: dict[str, Any] = {"IdToken": "id", "AccessToken": "access", "ExpiresIn": 3600, "TokenType": "Bearer"}
    stubber.add_response(
        "initiate_auth",
        {"AuthenticationResult": result},
        {"ClientId": CLIENT, "AuthFlow": "REFRESH_TOKEN_AUTH", "AuthParameters": {"REFRESH_TOKEN": "r"}},
    )
    tokens = users.refresh("r")
    assert (tokens.id_token, tokens.refresh_token, tokens.expires_in) == ("id", None, 3600)
