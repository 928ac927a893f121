"""Cold start of the Lambda package: `import app`, then the first request, in fresh interpreters.

Baseline: a bare interpreter start measured the same way, in the same run. Prints milliseconds
(median of N runs) and the ratio to the baseline.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "15"))

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


def measure(body: str) -> float:
    """Median wall time of `body` in fresh interpreters, measured inside each one."""
    environment = {**os.environ, **SETTINGS}
    samples = []
    for _ in range(RUNS):
        output = subprocess.run(
            [sys.executable, "-c", TIMED.format(body=body)],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        samples.append(json.loads(output.strip().splitlines()[-1])["ms"])
    return statistics.median(samples)


def interpreter_start() -> float:
    """Median wall time of a whole `python -c pass`, seen from outside."""
    import time

    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    baseline = interpreter_start()
    print(f"{'case':36} {'median ms':>10} {'x interpreter start':>20}")
    print(f"{'interpreter start (baseline)':36} {baseline:10.1f} {1:20.2f}")
    for name, body in CASES.items():
        ms = measure(body)
        print(f"{name:36} {ms:10.1f} {ms / baseline:20.2f}")


if __name__ == "__main__":
    main()
