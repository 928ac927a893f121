"""schemathesis against the running local platform: every phase (examples, coverage, fuzzing,
stateful through the document's links) and every check, with two tenants' log-ins so that
`object_level_authorization` replays one tenant's reads as the other. It must find nothing.

The settings are the repository's schemathesis.toml (the same a person gets running schemathesis
by hand), with the two tenants added; the example count keeps the run under three minutes on two
cores (docs/api.md, "The contract, tested").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.api import PASSWORD, HttpApi, sign_up
from tests.conftest import ROOT

EXAMPLES_PER_OPERATION = 15
SEED = 20261203  # fixed: a failure found once is found again, and the run's length holds still


def _log_in(name: str, email: str) -> dict[str, Any]:
    """A WFC entry: log in through POST /auth/login, send its ID token as a bearer token."""
    return {
        "name": name,
        "loginEndpointAuth": {
            "verb": "POST",
            "endpoint": "/auth/login",
            "contentType": "application/json",
            "payloadRaw": json.dumps({"email": email, "password": PASSWORD}),
            "token": {
                "extractFrom": "body",
                "extractSelector": "/id_token",
                "sendIn": "header",
                "sendName": "Authorization",
                "sendTemplate": "Bearer {token}",
            },
        },
    }


def test_schemathesis_finds_nothing_against_the_document(running_platform: Any, tmp_path: Path) -> None:
    api = HttpApi(running_platform.api_url)
    tenants = {"tenant-a": sign_up(api, "contract-a"), "tenant-b": sign_up(api, "contract-b")}
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auth": [_log_in(name, account.email) for name, account in tenants.items()]}))
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        (ROOT / "schemathesis.toml").read_text()
        # Every request as tenant-a; tenant-b only replays its reads. Unpinned, schemathesis would move
        # an operation to tenant-b once tenant-a is refused (the fuzzer can take tenant-a's own admin
        # role away) and then take tenant-b's right 404 for tenant-a's objects as lost resources.
        + f'\n[auth.wfc]\npath = "{auth}"\nuser = "tenant-a"\npeers = {json.dumps(list(tenants))}\n'
    )
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(config),
            "run",
            str(ROOT / "docs" / "openapi.yaml"),
            "--url",
            running_platform.api_url,
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
