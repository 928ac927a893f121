"""The check a new API version passes before any user meets it (CodeDeploy's PreTraffic hook).

CodeDeploy runs it after the new version is published and before the `live` alias sends it a
single request. It invokes that version directly, through the app's own handler, with API Gateway
events: GET /health, a log-in of the stage's release-check account (POST /auth/login), and
GET /me as that account: its claims, membership lookup and error mapping included. Any
answer other than the expected one (a 500, a refusal, a body without the caller's tenant) reports
the hook Failed, and CodeDeploy stops the release, the alias never moved.

The release-check account is an ordinary tenant of one admin, made through the API's own sign-up
the first time. Its password is new at every check (Cognito's admin API sets it) and kept nowhere.
The version is invoked directly, so no API Gateway authorizer stands in front of it: the hook
hands over the claims of a token it had from Cognito itself, as the authorizer would.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.auth.cognito import CognitoUsers
from chalicelib.aws.clients import AwsClients
from chalicelib.observability import logger
from chalicelib.settings import Settings, get_settings

RELEASE_CHECK_USER_AGENT = "sdp-release-check"
Invoke = Callable[[dict[str, Any]], dict[str, Any]]  # an API Gateway event in, the proxy response out


class ReleaseProblem(Exception):
    """What the new version answered where it should not have."""


def account_email(stage: str) -> str:
    """The stage's release-check account (example.com: no mail is ever sent for it)."""
    return f"release-check+{stage}@example.com"


@dataclass(frozen=True)
class ReleaseCheck:
    invoke: Invoke
    users: CognitoUsers
    email: str

    def run(self) -> None:
        """Every request in order; ReleaseProblem at the first wrong answer."""
        status, body = self._call(api_event("GET", "/health"))
        _expect(status == 200 and body.get("status") == "ok", "GET /health", status, body)
        password = _new_password()
        if not self.users.reset_password(self.email, password):
            self._sign_up(password)
        status, body = self._call(api_event("POST", "/auth/login", {"email": self.email, "password": password}))
        _expect(status == 200 and "id_token" in body, "POST /auth/login", status, body)
        # The read carries what API Gateway's authorizer would hand over: the claims of an ID
        # token straight from Cognito (over TLS, so its payload is read as it is).
        token = self.users.log_in(self.email, password).id_token
        status, me = self._call(api_event("GET", "/me", token=token, claims=token_claims(token)))
        _expect(status == 200 and me.get("email") == self.email and me.get("tenant_id"), "GET /me", status, me)

    def _sign_up(self, password: str) -> None:
        """The account's first check: signed up through the API, and confirmed by the admin API
        where the stage waits for the e-mailed code."""
        body = {"email": self.email, "password": password, "tenant_name": "release check"}
        status, answer = self._call(api_event("POST", "/auth/signup", body))
        _expect(status == 201, "POST /auth/signup", status, answer)
        if answer.get("confirmation_required"):
            self.users.confirm_at_once(self.email)

    def _call(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.invoke(event)
        try:
            answer = json.loads(response.get("body") or "{}")
        except ValueError:
            answer = {"unreadable body": str(response.get("body"))[:200]}
        return int(response.get("statusCode", 0)), answer if isinstance(answer, dict) else {"body": answer}


def api_event(
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    token: str | None = None,
    claims: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway (REST, proxy) event for one request to a route without path parameters;
    `claims` as its Cognito authorizer passes them on."""
    headers = {"User-Agent": RELEASE_CHECK_USER_AGENT, "Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    context: dict[str, Any] = {
        "resourcePath": path,
        "httpMethod": method,
        "path": path,
        "requestId": str(uuid.uuid4()),
        "identity": {"sourceIp": "127.0.0.1", "userAgent": RELEASE_CHECK_USER_AGENT},
    }
    if claims is not None:
        context["authorizer"] = {"claims": claims}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": context,
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def token_claims(token: str) -> dict[str, str]:
    """A JWT's claims as API Gateway passes them on: every value as text."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return {name: str(value) for name, value in claims.items()}


def pre_traffic(
    event: dict[str, Any], context: Any, *, settings: Settings | None = None, clients: AwsClients | None = None
) -> str:
    """CodeDeploy's hook: check the version `SDP_CHECKED_VERSION` names and report the deployment's
    lifecycle event Succeeded or Failed (also returned)."""
    settings = settings or get_settings()
    clients = clients or AwsClients()
    version = settings.checked_version
    if version is None:
        raise RuntimeError("SDP_CHECKED_VERSION is not set: the hook does not know which version to check")
    invoke = invoker(clients.client("lambda"), version)
    users = CognitoUsers(clients.cognito, settings.user_pool_id, settings.user_pool_client_id)
    check = ReleaseCheck(invoke, users, account_email(settings.stage))
    status = "Succeeded"
    try:
        check.run()
    except Exception:
        logger.exception("the new version failed its release check", extra={"version": version})
        status = "Failed"
    else:
        logger.info("the new version passed its release check", extra={"version": version})
    clients.client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return status


def invoker(lambda_client: Any, version: str) -> Invoke:
    """Requests to one function version, invoked directly (no API Gateway, no alias)."""

    def invoke(request: dict[str, Any]) -> dict[str, Any]:
        answer = lambda_client.invoke(FunctionName=version, Payload=json.dumps(request).encode())
        payload = json.loads(answer["Payload"].read() or b"{}")
        if answer.get("FunctionError"):  # the handler itself raised: no HTTP answer at all
            return {"statusCode": 0, "body": json.dumps({"function_error": payload})}
        return payload

    return invoke


def _expect(condition: Any, request: str, status: int, body: dict[str, Any]) -> None:
    if not condition:
        raise ReleaseProblem(f"{request} answered {status}: {json.dumps(body)[:300]}")


def _new_password() -> str:
    """A password the pool's policy takes (upper and lower case, a digit, a symbol), never reused."""
    return f"Rc-{secrets.token_urlsafe(24)}-9a"
