"""The caller's identity, from the claims of a verified Cognito ID token."""

from __future__ import annotations

from dataclasses import dataclass

from chalice.app import CognitoUserPoolAuthorizer, Request

from chalicelib.errors import Unauthenticated
from chalicelib.settings import Settings

# Every protected route names this authorizer. template.yaml sets the real user pool ARN
# (providerARNs) when it is merged over `chalice package` output.
USER_POOL_ARN_SET_BY_TEMPLATE = "arn:aws:cognito-idp:us-east-1:000000000000:userpool/us-east-1_SetByTemplate"
cognito_authorizer = CognitoUserPoolAuthorizer(
    "CognitoUserPool", provider_arns=[USER_POOL_ARN_SET_BY_TEMPLATE], header="Authorization"
)


@dataclass(frozen=True)
class Identity:
    user_id: str  # the token's `sub`; the e-mail and tenant are read from the platform's table


def identity_of(request: Request, settings: Settings) -> Identity:
    """Who sent the request, or 401 `unauthenticated`.

    The token's signature, expiry and issuer are verified before the app runs: by API Gateway's
    Cognito authorizer in AWS, by the local platform's gateway locally. Both hand over the claims.
    The authorizer accepts any token of the pool, so the app pins what it cannot: an ID token
    (not an access token) issued to this platform's app client by this pool.
    """
    claims = (request.context.get("authorizer") or {}).get("claims") or {}
    if (
        claims.get("token_use") != "id"
        or claims.get("aud") != settings.user_pool_client_id
        or claims.get("iss") != settings.issuer
        or not claims.get("sub")
    ):
        raise Unauthenticated()
    return Identity(user_id=claims["sub"])
