"""Cold start of the Lambda package: `import app`, then the first request, in fresh interpreters.

Two places: the development venv (Python 3.11, compiled modules cached), and, when `make package`
has built out/dev/deployment.zip and a Python 3.12 is found (as infra/package.py finds one), the
unzipped package itself on Lambda's Python as a Lambda sandbox (read-only code) starts it: with
the compiled modules the package carries, writing none.
Baseline: a bare start of the same interpreter, measured in the same run. Prints milliseconds
(median of N runs) and the ratio to the baseline.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.package import lambda_python  # noqa: E402  (the one that compiled the package)

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
PACKAGE = ROOT / "out" / "dev" / "deployment.zip"

SETTINGS = {
    "SDP_STAGE": "dev",
    "SDP_TABLE_NAME": "sdp-dev",
    "SDP_DATA_BUCKET": "sdp-dev-data",
    "SDP_INGEST_QUEUE_NAME": "sdp-dev-ingest",
    "SDP_INGEST_DLQ_NAME": "sdp-dev-ingest-dlq",
    "SDP_USER_POOL_ID": "us-east-1_example",
    "SDP_USER_POOL_CLIENT_ID": "exampleclient",
    "SDP_JWKS_URL": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example/.well-known/jwks.json",
    "SDP_RESULTS_BUCKET": "sdp-dev-results",
    "SDP_PAGINATION_SECRET_ID": "sdp-dev-pagination",
    "SDP_TENANT_ROLE_ARN": "arn:aws:iam::123456789012:role/sdp-dev-tenant-data-us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_DISABLED": "true",
}

TIMED = """
import time, json
started = time.perf_counter()
{body}
print(json.dumps({{"ms": (time.perf_counter() - started) * 1000}}))
"""

HEALTH_EVENT = {
    "resource": "/health",
    "path": "/health",
    "httpMethod": "GET",
    "headers": {},
    "multiValueHeaders": {},
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": None,
    "stageVariables": None,
    "requestContext": {"resourcePath": "/health", "httpMethod": "GET", "requestId": "bench", "path": "/dev/health"},
    "body": None,
    "isBase64Encoded": False,
}

CASES = {
    "import app": "import app",
    "import app + first GET /health": (
        f"import app\nresponse = app.app(json.loads({json.dumps(HEALTH_EVENT)!r}), None)\n"
        "assert response['statusCode'] == 200, response"
    ),
}


def measure(python: str, code: Path, body: str, environment: dict[str, str]) -> float:
    """Median wall time of `body` in fresh interpreters, measured inside each one."""
    samples = []
    for _ in range(RUNS):
        output = subprocess.run(
            [python, "-c", TIMED.format(body=body)],
            cwd=code,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        samples.append(json.loads(output.strip().splitlines()[-1])["ms"])
    return statistics.median(samples)


def interpreter_start(python: str) -> float:
    """Median wall time of a whole `python -c pass`, seen from outside."""
    import time

    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def report(title: str, python: str, code: Path, environment: dict[str, str]) -> None:
    baseline = interpreter_start(python)
    print(f"\n{title}")
    print(f"{'case':36} {'median ms':>10} {'x interpreter start':>20}")
    print(f"{'interpreter start (baseline)':36} {baseline:10.1f} {1:20.2f}")
    for name, body in CASES.items():
        ms = measure(python, code, body, environment)
        print(f"{name:36} {ms:10.1f} {ms / baseline:20.2f}")


def main() -> None:
    report("development venv", sys.executable, ROOT, {**os.environ, **SETTINGS})
    python = lambda_python()
    if not PACKAGE.exists() or python is None:
        print(f"\nFor the Lambda case: `make package` ({PACKAGE.relative_to(ROOT)}) and a Python 3.12 (LAMBDA_PYTHON)")
        return
    with tempfile.TemporaryDirectory() as folder:
        with zipfile.ZipFile(PACKAGE) as package:
            package.extractall(folder)
        # Lambda's code folder is read-only: what the package does not carry compiled, each cold start compiles.
        environment = {**os.environ, **SETTINGS, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": folder}
        report(f"{PACKAGE.relative_to(ROOT)} on {python}", python, Path(folder), environment)


if __name__ == "__main__":
    main()
