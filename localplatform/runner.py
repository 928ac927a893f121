"""Start and stop the local platform: local AWS, resources, API server and ingest pump."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from localplatform.awsprocess import LocalAws
from localplatform.network import url_host
from localplatform.resources import LocalResources, allow_browser_uploads, provision

REGION = "us-east-1"

# How long a thread holding the GIL keeps it while another waits (Python's default: 5 ms), in the
# platform's process and the local AWS's. In AWS each request is a Lambda of its own; here they
# share an interpreter with CPU-bound work (ingest, a query's end being written; moto's answers in
# the local AWS's), and a request would wait up to 5 ms at each of its handoffs.
GIL_SWITCH_SECONDS = 0.0005

# What boto3 needs to talk to the local AWS; moto accepts any credentials.
FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


class LocalPlatform:
    """The whole platform in this process. Use as a context manager or call start() and stop()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        api_port: int = 8000,
        aws_port: int = 5000,
        *,
        pump_wait_seconds: int = 1,
        retry_delay_seconds: int = 1,
    ) -> None:
        self.host = host
        self._api_port = api_port
        self._aws_port = aws_port
        self._pump_wait_seconds = pump_wait_seconds
        self._retry_delay_seconds = retry_delay_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._aws: LocalAws | None = None
        self._warehouse: str | None = None
        self._sam_folder: str | None = None
        self._server: Any = None
        self._services: Any = None
        self._switch_interval: float | None = None
        self.resources: LocalResources | None = None

    @property
    def api_url(self) -> str:
        return f"http://{url_host(self.host)}:{self._server.server.server_address[1]}"

    @property
    def aws_url(self) -> str:
        assert self._aws is not None, "start() first"
        return self._aws.url

    @property
    def sam_environment_file(self) -> Path:
        """`sam local`'s `--env-vars` file: what points the packaged functions at this platform."""
        assert self._sam_folder is not None, "start() first"
        return Path(self._sam_folder) / "sam-env.json"

    def sam_environment(self) -> dict[str, str]:
        """What a function run by `sam local` needs to use this platform's AWS: its endpoint
        (reached from the function's container through the host's network), credentials, and
        the local stage's settings. Its own tables go to a folder of the container's."""
        assert self.resources is not None, "start() first"
        return (
            FAKE_AWS_ENVIRONMENT
            | {"AWS_ENDPOINT_URL": self.aws_url}
            | self.resources.settings_environment(self.aws_url)
            # Inside the function's own container, where /tmp is all Lambda lets it write.
            | {"SDP_WAREHOUSE_DIR": "/tmp/sdp-warehouse", "POWERTOOLS_METRICS_DISABLED": "true"}  # noqa: S108
        )

    def start(self) -> LocalPlatform:
        """Start everything; on any failure, stop what was started and raise."""
        try:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(GIL_SWITCH_SECONDS)
            self._aws = LocalAws(self.host, self._aws_port, REGION)
            self._start_platform()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_platform(self) -> None:
        import boto3

        os.environ.update(FAKE_AWS_ENVIRONMENT)
        os.environ["AWS_ENDPOINT_URL"] = self.aws_url
        # EMF lines would drown the console; set POWERTOOLS_METRICS_DISABLED=false to see them.
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        session = boto3.session.Session()
        self._aws.answer_directly(session)
        self.resources = provision(session)
        os.environ.update(self.resources.settings_environment(self.aws_url))
        # The local query engine's tables; like the local AWS, they live as long as the process.
        self._warehouse = tempfile.mkdtemp(prefix="sdp-warehouse-")
        os.environ["SDP_WAREHOUSE_DIR"] = self._warehouse
        self._sam_folder = tempfile.mkdtemp(prefix="sdp-sam-local-")
        self.sam_environment_file.write_text(json.dumps({"Parameters": self.sam_environment()}, indent=2))

        from chalicelib.aws.clients import AwsClients
        from chalicelib.services import Services, install
        from chalicelib.settings import load_settings

        settings = load_settings()  # a missing or invalid setting stops the start here, naming it
        self._services = Services(settings, AwsClients(session))
        install(self._services)

        from app import app
        from localplatform.console import CONSOLE_DIR, ConsoleFiles, console_headers
        from localplatform.gateway import IdTokenVerifier
        from localplatform.pump import function_pump
        from localplatform.server import create_server

        console = ConsoleFiles(CONSOLE_DIR, self._console_config(settings), console_headers(self.aws_url))
        self._server = create_server(app, IdTokenVerifier(settings), console, self.host, self._api_port)
        allow_browser_uploads(session.client("s3"), self.resources.data_bucket, self.api_url)
        sqs = session.client("sqs")
        # Several ingest workers, as Lambda runs several invocations: one large file holds up one
        # worker, not every other tenant's uploads. One worker settles dead letters.
        workers = {"ingest": settings.ingest_workers, "ingest_dead_letters": 1}
        queues = {"ingest": self.resources.ingest_queue, "ingest_dead_letters": self.resources.ingest_dlq}
        self._threads = [threading.Thread(target=self._server.server.serve_forever, name="api", daemon=True)]
        for function, queue in queues.items():
            pump = function_pump(
                app,
                function,
                sqs,
                queue.url,
                queue.arn,
                region=REGION,
                wait_seconds=self._pump_wait_seconds,
                retry_delay_seconds=self._retry_delay_seconds,
            )
            self._threads += [
                threading.Thread(target=pump.run, args=(self._stop,), name=f"{function}-{number}", daemon=True)
                for number in range(workers[function])
            ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _console_config(settings: Any) -> dict[str, object]:
        """What the pipeline writes to config.json in AWS; the API is on the console's own origin."""
        return {
            "stage": settings.stage,
            "local": True,
            "api_url": "",
            "region": REGION,
            "user_pool_id": settings.user_pool_id,
            "user_pool_client_id": settings.user_pool_client_id,
        }

    def stop(self) -> None:
        """Stop the pumps (an ingest under way runs out of time at once), close the API socket,
        stop the local AWS; nothing keeps listening."""
        self._stop.set()
        if self._server is not None:
            if self._threads:
                self._server.server.shutdown()  # waits for serve_forever, so only once it runs
            self._server.server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._services is not None:
            self._services.close()  # running queries are cancelled, not left writing to a stopped AWS
        if self._aws is not None:
            self._aws.stop()
        for folder in (self._warehouse, self._sam_folder):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)

    def __enter__(self) -> LocalPlatform:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
