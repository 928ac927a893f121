"""The local API Gateway: verifies Cognito ID tokens the way API Gateway's authorizer does.

`chalice local` enforces no Cognito authorizer: it decodes a token's payload without checking
anything and passes forged tokens through. Here every request to a route with the Cognito
authorizer must carry a token signed by the user pool (RS256, key from the pool's JWKS), not
expired, not used before its time, issued by the pool to the app client, and an ID token;
otherwise 401, before the app runs. The app then makes its own checks on the claims, as in AWS.
"""

from __future__ import annotations

from typing import Any

import jwt
from chalice.app import Chalice, CognitoUserPoolAuthorizer
from chalice.config import Config
from chalice.local import LambdaContext, LocalGateway, NotAuthorizedError

from chalicelib.settings import Settings

# Leeway for clock skew when checking exp, iat and nbf.
LEEWAY_SECONDS = 5


class IdTokenVerifier:
    """Verify a user pool ID token; the pool's keys are fetched once, and again for an unknown key
    id, at most once per `refetch_cooldown_seconds` (forged key ids must not flood the pool)."""

    def __init__(self, settings: Settings, refetch_cooldown_seconds: float = 30) -> None:
        self._jwks = jwt.PyJWKClient(
            settings.jwks_url, cache_keys=True, lifespan=3600, timeout=5, cooldown_duration=refetch_cooldown_seconds
        )
        self._issuer = settings.issuer
        self._audience = settings.user_pool_client_id

    def claims(self, authorization: str) -> dict[str, Any]:
        """The verified claims of `Bearer <token>` or a bare token; raises jwt.PyJWTError."""
        token = authorization.removeprefix("Bearer ").strip()
        key = self._jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=self._audience,
            issuer=self._issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]},
        )
        if claims["token_use"] != "id":  # noqa: S105 - a claim value, not a secret
            raise jwt.InvalidTokenError("not an ID token")
        return claims


class _CognitoAuthorizer:
    """Stands where chalice's LocalGatewayAuthorizer stands, for routes with the Cognito authorizer."""

    def __init__(self, app: Chalice, verifier: IdTokenVerifier) -> None:
        self._app = app
        self._verifier = verifier

    def authorize(self, raw_path: str, event: dict[str, Any], context: LambdaContext) -> tuple[dict[str, Any], Any]:
        route = self._app.routes.get(event["requestContext"]["resourcePath"], {})
        entry = route.get(event["requestContext"]["httpMethod"])
        if entry is None or not isinstance(entry.authorizer, CognitoUserPoolAuthorizer):
            return event, context
        try:
            claims = self._verifier.claims(event["headers"].get("authorization", ""))
        except jwt.PyJWTError:
            raise NotAuthorizedError({}, b'{"message":"Unauthorized"}') from None
        # API Gateway passes the verified claims here, as strings.
        event["requestContext"]["authorizer"] = {"claims": {name: str(value) for name, value in claims.items()}}
        return event, context


class VerifyingGateway(LocalGateway):
    """chalice's LocalGateway with the token-verifying authorizer in place of its own."""

    def __init__(self, app: Chalice, config: Config, verifier: IdTokenVerifier) -> None:
        super().__init__(app, config)
        self._authorizer = _CognitoAuthorizer(app, verifier)
