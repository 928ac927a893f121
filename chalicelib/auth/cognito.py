"""Cognito user pool: sign-up, confirmation, login, refresh and admin user management.

The app client is public (no secret): the API's /auth routes use the same flows a public client
may call directly, so a secret held by the API would protect nothing. Passwords and tokens pass
through here and are never logged or stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.errors import AppError, BadRequest, Conflict, Forbidden, TooManyRequests, Unauthenticated, UserExists


@dataclass(frozen=True)
class Account:
    """What the pool says of the account that has an address."""

    user_id: str
    status: str  # Cognito's UserStatus: UNCONFIRMED, CONFIRMED, FORCE_CHANGE_PASSWORD, RESET_REQUIRED…
    email_verified: bool


@dataclass(frozen=True)
class Tokens:
    id_token: str
    access_token: str
    refresh_token: str | None
    expires_in: int


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    message = "The e-mail address or password is wrong."


_THROTTLED = {"TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"}


def _translate(error: ClientError, **by_code: AppError) -> AppError:
    """Cognito's error as ours: the caller's mapping first, then what holds for every call;
    anything else is an internal error (the log keeps Cognito's as its cause)."""
    code = error.response["Error"]["Code"]
    detail = error.response["Error"].get("Message", "")
    if code in by_code:
        return by_code[code]
    if code in _THROTTLED:
        return TooManyRequests()
    if code == "InvalidPasswordException":
        return BadRequest("invalid_password", f"The password does not meet the policy: {detail}")
    if code == "InvalidParameterException":
        return BadRequest("invalid_request", detail or "A parameter is not valid.")
    return AppError()


class CognitoUsers:
    """The platform's user pool and its app client."""

    def __init__(self, cognito: Any, user_pool_id: str, client_id: str) -> None:
        self._cognito = cognito
        self._pool = user_pool_id
        self._client = client_id

    def sign_up(self, email: str, password: str) -> tuple[str, bool]:
        """Register a user; their id (`sub`) and whether they are confirmed already."""
        try:
            response = self._cognito.sign_up(
                ClientId=self._client,
                Username=email,
                Password=password,
                UserAttributes=[{"Name": "email", "Value": email}],
            )
        except ClientError as error:
            raise _translate(
                error, UsernameExistsException=UserExists("user_exists", "An account with this e-mail already exists.")
            ) from error
        return response["UserSub"], response["UserConfirmed"]

    def confirm_at_once(self, email: str) -> None:
        """Confirm without the e-mailed code: where there is no e-mail (locally), and the release
        check's own account (chalicelib/release_check.py), whose address receives no mail."""
        try:
            self._cognito.admin_confirm_sign_up(UserPoolId=self._pool, Username=email)
            self._mark_email_verified(email)
        except ClientError as error:
            raise _translate(error) from error

    def confirm(self, email: str, code: str) -> None:
        invalid = BadRequest("invalid_code", "The confirmation code is wrong; check the e-mail we sent.")
        try:
            self._cognito.confirm_sign_up(ClientId=self._client, Username=email, ConfirmationCode=code)
        except ClientError as error:
            raise _translate(
                error,
                CodeMismatchException=invalid,
                UserNotFoundException=invalid,
                ExpiredCodeException=BadRequest("expired_code", "The code has expired; sign up again for a new one."),
                NotAuthorizedException=Conflict("already_confirmed", "This account is confirmed already; log in."),
            ) from error

    def log_in(self, email: str, password: str, new_password: str | None = None) -> Tokens:
        """Tokens for a user; a user created by an admin sets their own password on first login."""
        refused = {
            "NotAuthorizedException": InvalidCredentials(),
            "UserNotFoundException": InvalidCredentials(),
            "UserNotConfirmedException": Forbidden(
                "user_not_confirmed", "Confirm your e-mail address first (POST /auth/confirm)."
            ),
            "PasswordResetRequiredException": Forbidden(
                "password_reset_required", "Your password must be reset before you can log in."
            ),
        }
        try:
            response = self._cognito.initiate_auth(
                ClientId=self._client,
                AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
            if response.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
                if not new_password:
                    raise Forbidden(
                        "new_password_required", "Choose your own password: log in again with 'new_password'."
                    )
                # The temporary password just accepted was Cognito's own, e-mailed to this address
                # alone: whoever knows it reads that mailbox. Cognito does not record this proof
                # itself, yet password recovery and being added to a tenant rest on a verified
                # address. Recorded before the password is replaced, so that a failure here
                # leaves the account as it was, for the user to try again.
                self._mark_email_verified(email)
                response = self._cognito.respond_to_auth_challenge(
                    ClientId=self._client,
                    ChallengeName="NEW_PASSWORD_REQUIRED",
                    Session=response["Session"],
                    ChallengeResponses={"USERNAME": email, "NEW_PASSWORD": new_password},
                )
        except ClientError as error:
            raise _translate(error, **refused) from error
        if "AuthenticationResult" not in response:
            raise Unauthenticated("unsupported_challenge", "This account needs a login step the API does not offer.")
        return _tokens(response["AuthenticationResult"])

    def refresh(self, refresh_token: str) -> Tokens:
        expired = InvalidCredentials(message="The refresh token is not valid or has expired; log in again.")
        try:
            response = self._cognito.initiate_auth(
                ClientId=self._client,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        except ClientError as error:
            raise _translate(error, NotAuthorizedException=expired, UserNotFoundException=expired) from error
        return _tokens(response["AuthenticationResult"])

    def account(self, email: str) -> Account | None:
        """The account that has this address, or None if there is none."""
        try:
            user = self._cognito.admin_get_user(UserPoolId=self._pool, Username=email)
        except ClientError as error:
            if error.response["Error"]["Code"] == "UserNotFoundException":
                return None
            raise _translate(error) from error
        attributes = _attributes(user["UserAttributes"])
        return Account(
            user_id=attributes["sub"],
            status=user["UserStatus"],
            email_verified=attributes.get("email_verified") == "true",
        )

    def invite(self, email: str) -> str:
        """Create an account for a new member and have Cognito e-mail the invitation; its id.

        The temporary password is Cognito's own and goes to this address alone; the user replaces
        it at first login. The address is not marked verified: nobody has proved anything yet.
        """
        try:
            user = self._cognito.admin_create_user(
                UserPoolId=self._pool,
                Username=email,
                UserAttributes=[{"Name": "email", "Value": email}],
                DesiredDeliveryMediums=["EMAIL"],  # Cognito's default is SMS; the pool holds no phone numbers
            )["User"]
        except ClientError as error:
            raise _translate(error, UsernameExistsException=UserExists()) from error
        return _attributes(user["Attributes"])["sub"]

    def create_with_password(self, email: str, password: str) -> str:
        """Create an account whose password the admin gives, its address marked verified; its id.

        Only where there is no e-mail (locally): nothing could reach the user otherwise. Wherever
        Cognito sends e-mail, `invite` is the only way an account is created for someone else.
        """
        attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
        try:
            user = self._cognito.admin_create_user(
                UserPoolId=self._pool,
                Username=email,
                UserAttributes=attributes,
                TemporaryPassword=password,
                MessageAction="SUPPRESS",
            )["User"]
        except ClientError as error:
            raise _translate(error, UsernameExistsException=UserExists()) from error
        try:
            self._cognito.admin_set_user_password(
                UserPoolId=self._pool, Username=email, Password=password, Permanent=True
            )
        except ClientError as error:
            self.delete_user(email)  # an account whose password nobody knows helps no one
            raise _translate(error) from error
        return _attributes(user["Attributes"])["sub"]

    def reset_password(self, email: str, password: str) -> bool:
        """Give an existing account a new password of the admin's choosing, at once and without
        e-mail; False if there is no such account."""
        try:
            self._cognito.admin_set_user_password(
                UserPoolId=self._pool, Username=email, Password=password, Permanent=True
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "UserNotFoundException":
                return False
            raise _translate(error) from error
        return True

    def delete_user(self, email: str) -> None:
        try:
            self._cognito.admin_delete_user(UserPoolId=self._pool, Username=email)
        except ClientError as error:
            raise _translate(error) from error

    def _mark_email_verified(self, email: str) -> None:
        self._cognito.admin_update_user_attributes(
            UserPoolId=self._pool, Username=email, UserAttributes=[{"Name": "email_verified", "Value": "true"}]
        )


def _tokens(result: dict[str, Any]) -> Tokens:
    return Tokens(
        id_token=result["IdToken"],
        access_token=result["AccessToken"],
        refresh_token=result.get("RefreshToken"),
        expires_in=int(result["ExpiresIn"]),
    )


def _attributes(listed: list[dict[str, str]]) -> dict[str, str]:
    return {attribute["Name"]: attribute["Value"] for attribute in listed}
