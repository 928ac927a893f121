"""The composition root: settings and the AWS-backed services built on them, once per container."""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.auth.cognito import CognitoUsers
from chalicelib.aws.clients import AwsClients
from chalicelib.catalog import Catalog, GlueCatalog, LocalCatalog
from chalicelib.files.objects import ObjectStore
from chalicelib.files.service import Files
from chalicelib.files.store import FileStore, Quota
from chalicelib.pagination import Tokens
from chalicelib.queries.store import QueryStore
from chalicelib.settings import Settings, get_settings
from chalicelib.tenancy.store import TenantStore

if TYPE_CHECKING:
    from chalicelib.ingest.pipeline import Ingest
    from chalicelib.queries.engine import Engine
    from chalicelib.queries.service import Queries


class Services:
    """What routes and handlers use. Tests and the local platform build one with their own clients."""

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.clients = clients

    @cached_property
    def tenants(self) -> TenantStore:
        return TenantStore(self.clients.dynamodb, self.settings.table_name)

    @cached_property
    def users(self) -> CognitoUsers:
        return CognitoUsers(self.clients.cognito, self.settings.user_pool_id, self.settings.user_pool_client_id)

    @cached_property
    def records(self) -> FileStore:
        quota = Quota(bytes=self.settings.quota_bytes, files=self.settings.quota_files)
        return FileStore(self.clients.dynamodb, self.settings.table_name, quota)

    @cached_property
    def objects(self) -> ObjectStore:
        return ObjectStore(self.clients.s3, self.settings.data_bucket)

    @cached_property
    def catalog(self) -> Catalog:
        """Glue in AWS; locally the local query engine's own registry."""
        if self.settings.warehouse_dir is not None:
            return LocalCatalog(self.objects, Path(self.settings.warehouse_dir))
        return GlueCatalog(self.clients.glue, self.settings.data_bucket, self.settings.glue_database_prefix)

    @cached_property
    def files(self) -> Files:
        return Files(self.records, self.objects, self.catalog, self.settings)

    @cached_property
    def results(self) -> ObjectStore:
        """The bucket query results are written to."""
        return ObjectStore(self.clients.s3, self.settings.results_bucket)

    @cached_property
    def queries(self) -> Queries:
        # Loaded on first use: the SQL guard brings sqlglot (~85 ms), needed only for queries.
        from chalicelib.queries.service import Queries

        return Queries(
            QueryStore(self.clients.dynamodb, self.settings.table_name),
            self.records,
            self.engine,
            database_prefix=self.settings.glue_database_prefix,
            max_running=self.settings.max_running_queries,
            retention_seconds=self.settings.query_retention_days * 86_400,
            timeout_seconds=self.settings.query_timeout_seconds,
        )

    @cached_property
    def engine(self) -> Engine:
        """Athena in AWS; locally DuckDB over the local warehouse (moto runs no SQL)."""
        settings = self.settings
        if settings.warehouse_dir is not None:
            from chalicelib.queries.local import LocalEngine, QueryLimits

            limits = QueryLimits(
                memory=settings.query_memory_limit,
                timeout_seconds=settings.query_timeout_seconds,
                scan_cutoff_bytes=settings.query_scan_cutoff_bytes,
            )
            return LocalEngine(Path(settings.warehouse_dir), self.results, settings.results_bucket, limits)
        from chalicelib.queries.athena import AthenaEngine

        return AthenaEngine(
            self.clients.athena,
            workgroup=settings.athena_workgroup,
            results_bucket=settings.results_bucket,
            database_prefix=settings.glue_database_prefix,
            kms_key_arn=settings.data_key_arn,
            namespace=f"sdp-{settings.stage}",
        )

    @cached_property
    def ingest(self) -> Ingest:
        # Loaded on first use: the API function never ingests and starts faster without it.
        from chalicelib.ingest.pipeline import Ingest

        return Ingest(self.records, self.objects, self.catalog, self.settings)

    @cached_property
    def tokens(self) -> Tokens:
        """Pagination tokens, signed with the secret read once per container."""
        secret = self.clients.secrets.get_secret_value(SecretId=self.settings.pagination_secret_id)["SecretString"]
        return Tokens(secret.encode())

    def close(self) -> None:
        """End background work started in this process (the local engine's queries), before the AWS
        behind it goes away."""
        engine = self.__dict__.get("engine")  # only if it was ever built
        close = getattr(engine, "close", None)  # Athena's queries run in Athena, not here
        if close is not None:
            close()


_installed: Services | None = None
_lock = threading.Lock()


def services() -> Services:
    """This container's services, built from the environment on first use."""
    global _installed
    if _installed is None:
        with _lock:
            if _installed is None:
                _installed = Services(get_settings(), AwsClients())
    return _installed


def install(replacement: Services | None) -> None:
    """Use `replacement` from now on (None: build from the environment again on next use)."""
    global _installed
    _installed = replacement
