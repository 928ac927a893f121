"""The PreTraffic hook (chalicelib/release_check.py): it calls the new version through the app's own
handler, and reports a version that answers wrongly Failed before any traffic reaches it."""

from __future__ import annotations

import io
import json
from functools import cached_property
from typing import Any

import pytest
from botocore.stub import Stubber

from chalicelib.aws.clients import AwsClients
from chalicelib.release_check import account_email, api_event, pre_traffic
from chalicelib.services import Services, install
from chalicelib.settings import Settings
from chalicelib.tenancy.store import Membership, TenantStore
from localplatform.pump import Invocation

VERSION = "arn:aws:lambda:us-east-1:123456789012:function:sdp-dev-APIHandler:7"
HOOK_EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "hook-execution-1"}


class _AppAsLambda:
    """Lambda's Invoke of one version of the API function: the app's handler, called as Lambda would."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self.invoked: list[tuple[str, str, str]] = []

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803 - boto3's names
        event = json.loads(Payload)
        self.invoked.append((FunctionName, event["httpMethod"], event["path"]))
        try:
            response = self._app(event, Invocation("api", 1024, 30_000, None))
        except Exception as error:  # Lambda answers with the error, marked as the function's
            failure = {"errorMessage": str(error), "errorType": type(error).__name__}
            return {
                "StatusCode": 200,
                "FunctionError": "Unhandled",
                "Payload": io.BytesIO(json.dumps(failure).encode()),
            }
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(response).encode())}


def _hook(platform: Services, app: Any, expected: str) -> tuple[str, _AppAsLambda]:
    """Run the hook against the app, with CodeDeploy stubbed to expect `expected`."""
    codedeploy = platform.clients.session.client("codedeploy", region_name="us-east-1")
    version = _AppAsLambda(app)
    clients = AwsClients(
        prepared={"lambda": version, "codedeploy": codedeploy, "cognito-idp": platform.clients.cognito}
    )
    settings = Settings.model_validate(platform.settings.model_dump() | {"checked_version": VERSION})
    with Stubber(codedeploy) as stub:
        stub.add_response(
            "put_lifecycle_event_hook_execution_status",
            {"lifecycleEventHookExecutionId": HOOK_EVENT["LifecycleEventHookExecutionId"]},
            {
                "deploymentId": HOOK_EVENT["DeploymentId"],
                "lifecycleEventHookExecutionId": HOOK_EVENT["LifecycleEventHookExecutionId"],
                "status": expected,
            },
        )
        status = pre_traffic(HOOK_EVENT, None, settings=settings, clients=clients)
        stub.assert_no_pending_responses()
    return status, version


def test_a_sound_version_passes_and_the_check_account_is_made_once(platform_services: Services, app: Any) -> None:
    status, version = _hook(platform_services, app, "Succeeded")
    assert status == "Succeeded"
    assert [(method, path) for _, method, path in version.invoked] == [
        ("GET", "/health"),
        ("POST", "/auth/signup"),
        ("POST", "/auth/login"),
        ("GET", "/me"),
    ]
    assert {name for name, _, _ in version.invoked} == {VERSION}  # the new version itself, never the alias

    status, version = _hook(platform_services, app, "Succeeded")  # the next release: a new password, no sign-up
    assert [(method, path) for _, method, path in version.invoked] == [
        ("GET", "/health"),
        ("POST", "/auth/login"),
        ("GET", "/me"),
    ]
    email = account_email(platform_services.settings.stage)
    assert (
        platform_services.clients.cognito.admin_get_user(
            UserPoolId=platform_services.settings.user_pool_id, Username=email
        )["UserStatus"]
        == "CONFIRMED"
    )


class _BrokenMemberships(TenantStore):
    """A release whose membership lookup is broken: every authenticated route answers 500."""

    def membership(self, user_id: str) -> Membership | None:
        raise RuntimeError("a bug in the new version")


def _broken(services: Services) -> Services:
    class Broken(Services):
        @cached_property
        def tenants(self) -> TenantStore:
            return _BrokenMemberships(self.clients.dynamodb, self.settings.table_name)

    return Broken(services.settings, services.clients)


def test_a_version_whose_authenticated_routes_answer_500_is_reported_failed(
    platform_services: Services, app: Any, logs: list[dict[str, Any]]
) -> None:
    _hook(platform_services, app, "Succeeded")  # the account exists, from an earlier release
    install(_broken(platform_services))
    status, version = _hook(platform_services, app, "Failed")
    assert status == "Failed"
    assert [(method, path) for _, method, path in version.invoked][-1] == ("GET", "/me")
    [failure] = [entry for entry in logs if entry["message"] == "the new version failed its release check"]
    assert "GET /me answered 500" in failure["exception"]


def test_a_version_whose_handler_raises_is_reported_failed(platform_services: Services, app: Any) -> None:
    def crashing(event: Any, context: Any) -> Any:
        raise RuntimeError("import error in the new version")

    status, _ = _hook(platform_services, crashing, "Failed")
    assert status == "Failed"


def test_the_hook_refuses_to_run_without_a_version_to_check(platform_services: Services) -> None:
    with pytest.raises(RuntimeError, match="SDP_CHECKED_VERSION"):
        pre_traffic(HOOK_EVENT, None, settings=platform_services.settings, clients=platform_services.clients)


def test_the_check_requests_are_api_gateway_events_with_a_user_agent() -> None:
    event = api_event("GET", "/me", token="abc", claims={"sub": "u-1"})
    assert event["requestContext"]["resourcePath"] == "/me"
    assert event["requestContext"]["authorizer"] == {"claims": {"sub": "u-1"}}
    assert event["headers"]["Authorization"] == "Bearer abc"
    assert event["headers"]["User-Agent"]  # the WAF's common rules block requests without one
