"""boto3 clients, created on first use and shared by every thread of a container."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib.observability import trace_botocore


class AwsClients:
    """One client per service, created lazily from one session.

    Never at import time: moto (tests, the local platform) must be in place before a client
    exists, and boto3 costs ~140 ms to load. boto3 clients are thread-safe once created; the
    session that creates them is not, hence the lock.
    """

    def __init__(self, session: Any = None, prepared: dict[str, Any] | None = None) -> None:
        """`prepared`: clients to use as they are, by service name (a stubbed Athena client, say)."""
        self._session = session
        self._clients: dict[str, Any] = dict(prepared or {})
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        cached = self._clients.get(service)
        if cached is not None:
            return cached
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._create(service)
            return self._clients[service]

    def _create(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        trace_botocore()
        if self._session is None:
            self._session = boto3.session.Session()
        config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30)
        if service == "s3":
            # Presigned URLs and POSTs signed with SigV4 (boto3 would sign a POST with SigV2).
            config = config.merge(Config(signature_version="s3v4", s3={"addressing_style": "auto"}))
        return self._session.client(service, config=config)

    @property
    def cognito(self) -> Any:
        return self.client("cognito-idp")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def secrets(self) -> Any:
        return self.client("secretsmanager")

    @property
    def glue(self) -> Any:
        return self.client("glue")

    @property
    def athena(self) -> Any:
        return self.client("athena")
