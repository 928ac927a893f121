"""Memory of a warm ingest container over thousands of messages: does it stay flat?

The real ingest handler runs in this one process, as one warm Lambda container would run it, one
message per invocation, against moto in process with the local platform's AWS (the same DynamoDB
and S3 the local platform runs, `localplatform.aws.aws_costs`). Small files of several formats,
one in twenty of them a file the ingest refuses, are uploaded through the API in rounds across
TENANTS tenants; the queue is drained through the handler after each round (each upload's own
message, and the message its curated copy's notification sends).

After a warm-up, it prints the resident memory (VmRSS) every 1,000 messages against the warm
start, and at the end the slope: memory per 1,000 messages, fitted over the checkpoints. What
stays is the stored data itself (the objects and items of the local AWS, which live in this
process) plus whatever the handler keeps; the handler should keep nothing.

With --trace, tracemalloc follows the Python objects allocated after the warm start, and the
end shows where those still alive were allocated, by file (what is stored, and by whom).

Usage: python bench/soak.py [messages, default 10000] [tenants, default 10] [--trace]
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import resident_mib, small_file

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
WARM_UP_FILES = 200
ROUND = 50  # files uploaded between two drains of the queue
CHECKPOINT = 1000  # messages


def main() -> None:
    trace = "--trace" in sys.argv
    arguments = [argument for argument in sys.argv[1:] if argument != "--trace"]
    messages = int(arguments[0]) if arguments else 10_000
    tenants = int(arguments[1]) if len(arguments) > 1 else 10
    os.environ.update(FAKE_AWS)
    os.environ.pop("AWS_ENDPOINT_URL", None)

    import boto3
    from chalice.test import Client
    from moto import mock_aws

    from localplatform.aws import aws_costs

    with mock_aws(), aws_costs(FAKE_AWS["AWS_DEFAULT_REGION"]):
        from localplatform.resources import provision

        session = boto3.session.Session()
        resources = provision(session)
        os.environ.update(resources.settings_environment("http://127.0.0.1:5000"))
        os.environ["SDP_WAREHOUSE_DIR"] = tempfile.mkdtemp(prefix="sdp-soak-warehouse-")

        from app import app
        from chalicelib.aws.clients import AwsClients
        from chalicelib.services import Services, install
        from chalicelib.settings import load_settings
        from localplatform.pump import QueuePump
        from tests.api import ChaliceApi, sign_up, upload_direct

        services = Services(load_settings(), AwsClients(session))
        install(services)
        queue = resources.ingest_queue
        pump = QueuePump(
            session.client("sqs"),
            queue.url,
            queue.arn,
            app.handler_map["ingest"],
            function_name="ingest",
            region="us-east-1",
            batch_size=1,
            wait_seconds=0,
        )
        with Client(app, stage_name="local") as client:
            api = ChaliceApi(client)
            accounts = [sign_up(api) for _ in range(tenants)]
            uploaded = 0

            def upload_and_drain() -> int:
                nonlocal uploaded
                for _ in range(ROUND):
                    name, data = small_file(uploaded, refused_every=20)
                    reply = upload_direct(api, accounts[uploaded % tenants], name, data, "application/octet-stream")
                    assert reply.status == 201, reply
                    uploaded += 1
                handled = 0
                while taken := pump.poll_once():
                    handled += taken
                return handled

            while uploaded < WARM_UP_FILES:
                upload_and_drain()
            gc.collect()
            warm = resident_mib()
            print(f"warm start: {warm:.0f} MiB resident after {uploaded} files ({tenants} tenants)", flush=True)
            print(" messages   files  resident  vs warm  ms/message")
            if trace:
                tracemalloc.start()
                before = tracemalloc.take_snapshot()
            handled, checkpoints = 0, [(0, warm)]
            started = last = time.perf_counter()
            while handled < messages:
                handled += upload_and_drain()
                if handled >= len(checkpoints) * CHECKPOINT or handled >= messages:
                    gc.collect()
                    now, rss = time.perf_counter(), resident_mib()
                    done = handled - (len(checkpoints) - 1) * CHECKPOINT
                    checkpoints.append((handled, rss))
                    print(
                        f"{handled:9d} {uploaded:7d} {rss:8.0f} MiB {rss - warm:+7.0f} MiB"
                        f" {1000 * (now - last) / max(done, 1):8.0f}",
                        flush=True,
                    )
                    last = now
            slope = statistics.linear_regression([m for m, _ in checkpoints], [r for _, r in checkpoints]).slope
            elapsed = time.perf_counter() - started
            print(
                f"slope: {slope * CHECKPOINT:+.1f} MiB per 1,000 messages; {handled} messages "
                f"({uploaded - WARM_UP_FILES} files) in {elapsed:.0f} s; growth {checkpoints[-1][1] - warm:+.0f} MiB"
            )
            if trace:
                gc.collect()
                kept = tracemalloc.take_snapshot().compare_to(before, "filename")
                print("Python objects allocated since the warm start and still alive, by file:")
                for stat in kept[:12]:
                    where = stat.traceback[0].filename
                    print(f"{stat.size_diff / 2**20:9.2f} MiB {stat.count_diff:9d} blocks  {where}")


if __name__ == "__main__":
    main()
