"""Small files through the ingest handler: one message per invocation against ten per invocation.

What batching could save is what an invocation costs besides its messages. This runs the real
ingest handler in process, against moto (as the integration tests do): FILES small CSVs are
uploaded through the API for a tenant of their own, then the ingest queue is drained by the local
pump with a batch size of 1 or 10, one worker, as one Lambda container would take them. Each
batch size runs ROUNDS times, interleaved; the figures are medians of the seconds per file.

Usage: python bench/ingest_batches.py [files, default 40] [rounds, default 3]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
CSV = b"region,amount,day\n" + b"".join(b"r%d,%d.5,2024-01-%02d\n" % (n % 7, n, 1 + n % 28) for n in range(200))


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    os.environ.update(FAKE_AWS)
    os.environ.pop("AWS_ENDPOINT_URL", None)

    import boto3
    from chalice.test import Client
    from moto import mock_aws

    with mock_aws():
        from localplatform.resources import provision

        session = boto3.session.Session()
        resources = provision(session)
        os.environ.update(resources.settings_environment("http://127.0.0.1:5000"))
        os.environ["SDP_WAREHOUSE_DIR"] = tempfile.mkdtemp(prefix="sdp-bench-warehouse-")

        from app import app
        from chalicelib.aws.clients import AwsClients
        from chalicelib.services import Services, install
        from chalicelib.settings import load_settings
        from localplatform.pump import QueuePump
        from tests.api import ChaliceApi, sign_up, upload_direct

        services = Services(load_settings(), AwsClients(session))
        install(services)
        sqs = session.client("sqs")
        queue = resources.ingest_queue

        def pump(batch_size: int) -> QueuePump:
            return QueuePump(
                sqs,
                queue.url,
                queue.arn,
                app.handler_map["ingest"],
                function_name="ingest",
                region="us-east-1",
                batch_size=batch_size,
                wait_seconds=0,
            )

        seconds: dict[int, list[float]] = {1: [], 10: []}
        with Client(app, stage_name="local") as client:
            api = ChaliceApi(client)
            while pump(10).poll_once():  # the s3:TestEvent
                pass
            for _ in range(rounds):
                for batch_size in seconds:
                    account = sign_up(api)
                    for number in range(files):
                        assert upload_direct(api, account, f"f{number}.csv", CSV).status == 201
                    draining = pump(batch_size)
                    started = time.perf_counter()
                    handled = 0
                    while taken := draining.poll_once():
                        handled += taken
                    seconds[batch_size].append((time.perf_counter() - started) / handled)
        for batch_size, per_file in seconds.items():
            runs = " ".join(f"{value * 1000:.0f}" for value in per_file)
            print(f"batch size {batch_size:2}: {statistics.median(per_file) * 1000:.0f} ms per file (runs: {runs})")


if __name__ == "__main__":
    main()
