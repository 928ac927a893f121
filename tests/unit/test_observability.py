from __future__ import annotations

import subprocess
import sys

import pytest

from chalicelib import observability
from tests.conftest import ROOT


def test_tracing_is_off_where_no_daemon_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_XRAY_DAEMON_ADDRESS", raising=False)
    assert not observability.tracing_enabled()


def test_tracing_is_on_in_lambda_with_active_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000")
    assert observability.tracing_enabled()
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert not observability.tracing_enabled()


def _modules_after(code: str, **environment: str) -> set[str]:
    import os

    env = {key: value for key, value in os.environ.items() if key != "AWS_XRAY_DAEMON_ADDRESS"} | environment
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    output = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return set(output.stdout.split())


def test_locally_the_xray_sdk_is_never_loaded() -> None:
    modules = _modules_after("import app\nfrom chalicelib.observability import trace_botocore\ntrace_botocore()")
    assert "aws_xray_sdk" not in modules


def test_with_a_daemon_botocore_calls_are_patched_for_xray() -> None:
    code = (
        "from chalicelib.observability import trace_botocore\ntrace_botocore()\n"
        "import botocore.client\nassert 'FunctionWrapper' in type(botocore.client.BaseClient._make_api_call).__name__"
    )
    modules = _modules_after(code, AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000")
    assert "aws_xray_sdk" in modules


def test_the_cold_start_import_loads_no_heavy_module() -> None:
    modules = _modules_after("import app")
    heavy = {"boto3", "botocore.client", "aws_xray_sdk", "duckdb", "sqlglot", "chalicelib.ingest.pipeline"}
    heavy |= {"pydantic_settings"}  # 60 to 80 ms of sources the settings do not use
    assert not heavy & modules
