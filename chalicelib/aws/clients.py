"""boto3 clients, created on first use and shared by every thread of a container, and the
tenant-scoped clients every data-plane call made for a tenant goes through."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import ServiceUnavailable
from chalicelib.keys import tenant_database
from chalicelib.observability import trace_botocore

# DynamoDB's answers to too many requests; botocore has retried them (with backoff) by the time
# the call gives up.
DYNAMODB_THROTTLING = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


class AwsClients:
    """One client per service, created lazily from one session.

    Never at import time: moto (tests, the local platform) must be in place before a client
    exists, and boto3 costs ~140 ms to load. boto3 clients are thread-safe once created; the
    session that creates them is not, hence the lock.
    """

    def __init__(
        self,
        session: Any = None,
        prepared: dict[str, Any] | None = None,
        *,
        credentials: dict[str, str] | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        """`prepared`: clients to use as they are, whatever the credentials, by service name (a
        stubbed Athena client, say). `credentials`: keys to sign with instead of the session's own
        (a tenant's); such clients share `session` (its loaded service models) and its `lock`."""
        self._session = session
        self._prepared = dict(prepared or {})
        self._clients: dict[str, Any] = dict(self._prepared)
        self._credentials = credentials or {}
        self._lock = lock or threading.Lock()

    def client(self, service: str) -> Any:
        cached = self._clients.get(service)
        if cached is not None:
            return cached
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._create(service)
            return self._clients[service]

    @property
    def session(self) -> Any:
        """The boto3 session clients are made from (made on first use)."""
        import boto3

        if self._session is None:
            self._session = boto3.session.Session()
        return self._session

    def signed_with(self, credentials: dict[str, str]) -> AwsClients:
        """Clients from the same session that sign with other credentials."""
        return AwsClients(self.session, self._prepared, credentials=credentials, lock=self._lock)

    def _create(self, service: str) -> Any:
        from botocore.config import Config

        trace_botocore()
        config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30)
        if service == "s3":
            # Presigned URLs and POSTs signed with SigV4 (boto3 would sign a POST with SigV2).
            config = config.merge(Config(signature_version="s3v4", s3={"addressing_style": "auto"}))
        client = self.session.client(service, config=config, **self._credentials)
        if service == "dynamodb":
            client.meta.events.register("after-call.dynamodb", _busy_when_throttled)
        return client

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

    @property
    def sts(self) -> Any:
        return self.client("sts")


def _busy_when_throttled(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
    """The platform's table still throttled after botocore's retries: the caller is told to try
    again (503 service_unavailable), not that something broke."""
    if http_response.status_code >= 400 and parsed.get("Error", {}).get("Code") in DYNAMODB_THROTTLING:
        raise ServiceUnavailable()


@dataclass(frozen=True)
class TenantSession:
    clients: AwsClients
    expires_at: float  # time.time() seconds


class TenantCredentials:
    """Clients acting for one tenant: the tenant-data role assumed with the session tags
    `tenant_id` and `tenant_database`, whose policy (template.yaml, TenantDataRole) allows that
    tenant's S3 prefix, table partition and Glue database and nothing else.

    Sessions are kept per tenant and renewed before less than `min_remaining_seconds` of them are
    left: a presigned URL stops working when the credentials that signed it expire, so a session
    must outlive the longest URL it may sign. At most `max_tenants` are kept (least recently used go).
    """

    SESSION_SECONDS = 3600  # the most STS grants a role assumed by a role

    def __init__(
        self,
        clients: AwsClients,
        role_arn: str,
        database_prefix: str,
        *,
        min_remaining_seconds: int,
        max_tenants: int = 256,
    ) -> None:
        self._clients = clients
        self._role_arn = role_arn
        self._database_prefix = database_prefix
        self._min_remaining = min_remaining_seconds
        self._max_tenants = max_tenants
        self._sessions: OrderedDict[str, TenantSession] = OrderedDict()
        self._lock = threading.Lock()

    def clients(self, tenant_id: str) -> AwsClients:
        with self._lock:
            session = self._sessions.get(tenant_id)
            if session is not None and session.expires_at - time.time() >= self._min_remaining:
                self._sessions.move_to_end(tenant_id)
                return session.clients
        session = self._assume(tenant_id)  # outside the lock: one tenant's STS call holds up no other
        with self._lock:
            self._sessions[tenant_id] = session
            self._sessions.move_to_end(tenant_id)
            while len(self._sessions) > self._max_tenants:
                self._sessions.popitem(last=False)
        return session.clients

    def _assume(self, tenant_id: str) -> TenantSession:
        assumed = self._clients.sts.assume_role(
            RoleArn=self._role_arn,
            RoleSessionName=f"tenant-{tenant_id}"[:64],
            DurationSeconds=self.SESSION_SECONDS,
            Tags=[
                {"Key": "tenant_id", "Value": tenant_id},
                {"Key": "tenant_database", "Value": tenant_database(self._database_prefix, tenant_id)},
            ],
        )["Credentials"]
        credentials = {
            "aws_access_key_id": assumed["AccessKeyId"],
            "aws_secret_access_key": assumed["SecretAccessKey"],
            "aws_session_token": assumed["SessionToken"],
        }
        return TenantSession(self._clients.signed_with(credentials), assumed["Expiration"].timestamp())
