"""The composition root: settings and the AWS-backed services built on them, once per container."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.auth.cognito import CognitoUsers
from chalicelib.aws.clients import AwsClients, TenantCredentials
from chalicelib.catalog import Catalog, GlueCatalog, LocalCatalog
from chalicelib.files.objects import ObjectStore
from chalicelib.files.service import Files
from chalicelib.files.store import FileStore, Quota
from chalicelib.files.tables import Tables
from chalicelib.pagination import PageTokens
from chalicelib.queries.saved import SavedQueries, SavedQueryService
from chalicelib.queries.store import QueryRecord, QueryStore
from chalicelib.queries.usage import Month, UsageStore
from chalicelib.settings import Settings, get_settings
from chalicelib.tenancy.store import TenantStore

if TYPE_CHECKING:
    from chalicelib.ingest.convert import ConversionDatabases
    from chalicelib.ingest.pipeline import Ingest
    from chalicelib.queries.engine import Engine, Execution
    from chalicelib.queries.local import LocalEngine
    from chalicelib.queries.service import Queries


class TenantServices:
    """One tenant's files, tables, queries and ingest, on clients signed by the tenant's session."""

    def __init__(self, platform: Services, tenant_id: str, clients: AwsClients) -> None:
        self.settings = platform.settings
        self.tenant_id = tenant_id
        self.clients = clients
        self._platform = platform

    @property
    def tokens(self) -> PageTokens:
        """The platform's signer of `next_token`s (each names the tenant it was issued to)."""
        return self._platform.tokens

    @cached_property
    def records(self) -> FileStore:
        quota = Quota(bytes=self.settings.quota_bytes, files=self.settings.quota_files)
        return FileStore(self.clients.dynamodb, self.settings.table_name, quota)

    @cached_property
    def tables(self) -> Tables:
        return Tables(self.clients.dynamodb, self.settings.table_name)

    @cached_property
    def objects(self) -> ObjectStore:
        return ObjectStore(self.clients.s3, self.settings.data_bucket, self.settings.data_key_arn)

    @cached_property
    def catalog(self) -> Catalog:
        """Glue in AWS; locally the local query engine's own registry."""
        if self.settings.warehouse_dir is not None:
            return LocalCatalog(Path(self.settings.warehouse_dir))
        return GlueCatalog(self.clients.glue, self.settings.data_bucket, self.settings.glue_database_prefix)

    @cached_property
    def files(self) -> Files:
        return Files(self.records, self.tables, self.objects, self.catalog, self.settings)

    @cached_property
    def results(self) -> ObjectStore:
        """The bucket query results are written to."""
        return ObjectStore(self.clients.s3, self.settings.results_bucket, self.settings.data_key_arn)

    @cached_property
    def queries(self) -> Queries:
        # Loaded on first use: the SQL guard brings sqlglot (~85 ms), needed only for queries.
        from chalicelib.queries.cost import Pricing
        from chalicelib.queries.service import Queries

        settings = self.settings
        return Queries(
            QueryStore(self.clients.dynamodb, settings.table_name),
            self.tables,
            self.engine,
            self.usage,
            database_prefix=settings.glue_database_prefix,
            max_running=settings.max_running_queries,
            retention_seconds=settings.query_retention_days * 86_400,
            timeout_seconds=settings.query_timeout_seconds,
            pricing=Pricing(settings.query_price_per_tb_usd, settings.query_minimum_billed_bytes),
            this_month=lambda: self.this_month,
        )

    @property
    def this_month(self) -> Month:
        """The calendar month (UTC) queries count in now, by the platform's clock."""
        return Month.of(self._platform.clock())

    @cached_property
    def usage(self) -> UsageStore:
        """The tenant's queries and bytes scanned per month, and its scan budget."""
        return UsageStore(self.clients.dynamodb, self.settings.table_name)

    @cached_property
    def saved_queries(self) -> SavedQueryService:
        """The tenant's saved queries, their SQL judged by the guard against its tables."""
        return SavedQueryService(SavedQueries(self.clients.dynamodb, self.settings.table_name), self.queries.judge)

    @cached_property
    def engine(self) -> Engine:
        """Athena in AWS, with the tenant's session; locally the shared DuckDB engine."""
        settings = self.settings
        if settings.warehouse_dir is not None:
            return self._platform.local_engine
        from chalicelib.queries.athena import AthenaEngine, ReuseMarks

        return AthenaEngine(
            self.clients.athena,
            workgroup=settings.athena_workgroup,
            results_bucket=settings.results_bucket,
            database_prefix=settings.glue_database_prefix,
            kms_key_arn=settings.data_key_arn,
            namespace=f"sdp-{settings.stage}",
            reuse=ReuseMarks(self.clients.dynamodb, settings.table_name),
            reuse_minutes=settings.query_reuse_minutes,
        )

    @cached_property
    def ingest(self) -> Ingest:
        # Loaded on first use: the API function never ingests and starts faster without it.
        from chalicelib.ingest.pipeline import Ingest

        databases = self._platform.conversion_databases
        return Ingest(self.records, self.tables, self.objects, self.catalog, self.settings, databases)


class Services:
    """What routes and handlers use: the control plane with the function's own credentials, and
    `for_tenant`, through which every call for a tenant's data goes. Tests and the local platform
    build one with their own clients."""

    tenant_services = TenantServices  # what for_tenant builds; tests put a subclass in its place

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.clients = clients
        # What month a query counts in: tests put a clock of their own here.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @cached_property
    def tenants(self) -> TenantStore:
        """Tenants, members and memberships: written across partitions, by the function's own role."""
        return TenantStore(self.clients.dynamodb, self.settings.table_name)

    @cached_property
    def users(self) -> CognitoUsers:
        return CognitoUsers(self.clients.cognito, self.settings.user_pool_id, self.settings.user_pool_client_id)

    @cached_property
    def tokens(self) -> PageTokens:
        """Pagination tokens, signed with the secret read once per container."""
        secret = self.clients.secrets.get_secret_value(SecretId=self.settings.pagination_secret_id)["SecretString"]
        return PageTokens(secret.encode())

    @cached_property
    def tenant_credentials(self) -> TenantCredentials:
        return TenantCredentials(
            self.clients,
            self.settings.tenant_role_arn,
            self.settings.glue_database_prefix,
            min_remaining_seconds=self.settings.tenant_session_reserve_seconds,
        )

    def for_tenant(self, tenant_id: str) -> TenantServices:
        """The services acting for one tenant: every AWS call they make is signed by the tenant's
        own session, which IAM confines to that tenant's data."""
        return self.tenant_services(self, tenant_id, self.tenant_credentials.clients(tenant_id))

    @cached_property
    def conversion_databases(self) -> ConversionDatabases:
        """The ingest's DuckDB databases, kept from file to file by each thread that ingests."""
        from chalicelib.ingest.convert import ConversionDatabases
        from chalicelib.ingest.limits import Limits

        return ConversionDatabases(Path(self.settings.scratch_dir), Limits.from_settings(self.settings))

    @cached_property
    def local_engine(self) -> LocalEngine:
        """Locally, DuckDB over the local warehouse (moto runs no SQL): one for every tenant, for it
        keeps each tenant's database and query threads; its result uploads use the tenant's session."""
        from chalicelib.queries.local import LocalEngine, QueryLimits
        from chalicelib.queries.result_cache import ResultCache

        settings = self.settings
        limits = QueryLimits(
            memory=settings.query_memory_limit,
            timeout_seconds=settings.query_timeout_seconds,
            scan_cutoff_bytes=settings.query_scan_cutoff_bytes,
        )
        warehouse = Path(settings.warehouse_dir or "")

        def results_of(tenant_id: str) -> ObjectStore:
            return self.for_tenant(tenant_id).results

        def record_end(record: QueryRecord, execution: Execution) -> QueryRecord:
            return self.for_tenant(record.tenant_id).queries.record_end(record, execution)

        cache = ResultCache(warehouse, settings.query_reuse_cache_bytes, settings.query_reuse_minutes * 60)
        return LocalEngine(warehouse, results_of, settings.results_bucket, limits, record_end=record_end, cache=cache)

    def close(self) -> None:
        """End background work started in this process (the local engine's queries), before the AWS
        behind it goes away, and close the ingest's databases."""
        engine = self.__dict__.get("local_engine")  # only if it was ever built
        if engine is not None:
            engine.close()
        databases = self.__dict__.get("conversion_databases")
        if databases is not None:
            databases.close()


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
