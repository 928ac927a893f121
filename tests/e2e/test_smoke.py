"""The smoke test that runs against a deployed stage (tests/smoke.py), run against the local platform."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from typing import Any

import pytest

from tests.api import PASSWORD, HttpApi, unique_email
from tests.conftest import ROOT
from tests.local_platform import RunningPlatform
from tests.smoke import Smoke, confirm_by_admin

pytestmark = pytest.mark.e2e


def _user_pool_id(cognito: Any) -> str:
    (pool,) = [pool for pool in cognito.list_user_pools(MaxResults=60)["UserPools"] if pool["Name"] == "sdp-local"]
    return pool["Id"]


def _smoke_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.smoke", *args], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )


def test_every_step_passes_and_the_user_is_deleted(running_platform: RunningPlatform) -> None:
    cognito = running_platform.aws_client("cognito-idp")
    output = io.StringIO()
    smoke = Smoke(
        HttpApi(running_platform.api_url), cognito=cognito, user_pool_id=_user_pool_id(cognito), write=output.write
    )

    smoke.run()

    steps = [name for name, _ in smoke.timings]
    assert steps == [
        "the API answers GET /health",
        "sign up a new tenant",  # locally confirmed at once: no admin confirmation
        "log in",
        "GET /me names the new tenant's admin",
        "upload smoke.csv",
        "wait until the file is READY",
        "run a query and check its answer",
        "GET /tables lists the table",
        "delete the file",
        "GET /tables no longer lists it",
        "delete the Cognito user",
    ]
    assert "smoke test passed" in output.getvalue()
    with pytest.raises(cognito.exceptions.UserNotFoundException):
        cognito.admin_get_user(UserPoolId=smoke.user_pool_id, Username=smoke.email)


def test_the_command_line_prints_each_step_with_its_timing(running_platform: RunningPlatform) -> None:
    completed = _smoke_command("--api-url", running_platform.api_url)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert any(line.startswith("  ok wait until the file is READY (") and line.endswith(" s)") for line in lines)
    assert "stays: no Cognito admin API here" in completed.stdout
    assert lines[-1].startswith("smoke test passed in ")


def test_the_command_line_stops_at_the_first_failed_step() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens once it is closed

    completed = _smoke_command("--api-url", f"http://127.0.0.1:{port}")

    assert completed.returncode == 1
    assert completed.stdout.splitlines()[-1].startswith("FAIL the API answers GET /health (")
    assert "smoke test FAILED at step 'the API answers GET /health': ConnectionError" in completed.stderr


def test_a_sign_up_waiting_for_its_code_is_confirmed_through_the_admin_api(running_platform: RunningPlatform) -> None:
    cognito = running_platform.aws_client("cognito-idp")
    pool_id = _user_pool_id(cognito)
    (client,) = cognito.list_user_pool_clients(UserPoolId=pool_id, MaxResults=10)["UserPoolClients"]
    email = unique_email("unconfirmed")
    cognito.sign_up(ClientId=client["ClientId"], Username=email, Password=PASSWORD)
    assert cognito.admin_get_user(UserPoolId=pool_id, Username=email)["UserStatus"] == "UNCONFIRMED"

    confirm_by_admin(cognito, pool_id, email)

    assert cognito.admin_get_user(UserPoolId=pool_id, Username=email)["UserStatus"] == "CONFIRMED"
    cognito.admin_delete_user(UserPoolId=pool_id, Username=email)
