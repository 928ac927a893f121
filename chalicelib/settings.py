"""The one settings model: read from the environment once per container."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from chalicelib import __version__

ENV_PREFIX = "SDP_"

MIB = 1024**2
GIB = 1024**3
TIB = 1024**4
MIN_INGEST_WORKERS = 4  # locally; see ingest_workers

Stage = Literal["local", "dev", "stage", "prod"]


class SettingsError(RuntimeError):
    """A setting is missing or invalid; the message names each one."""


class Settings(BaseModel):
    """Everything the platform reads from its environment: each field from `SDP_<FIELD>`.

    Resource names come from template.yaml in AWS and from the local platform on a laptop.
    Environment values are text; pydantic converts them to each field's type.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: Stage
    version: str = __version__

    table_name: str = Field(min_length=3)
    data_bucket: str = Field(min_length=3)
    ingest_queue_name: str = Field(min_length=1)
    ingest_dlq_name: str = Field(min_length=1)

    user_pool_id: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d_[0-9A-Za-z]+$")
    user_pool_client_id: str = Field(min_length=1)
    jwks_url: str = Field(pattern=r"^https?://")

    # Confirm sign-ups at once, without the e-mailed code. Only where there is no e-mail: locally.
    auto_confirm_signup: bool = False

    # The role every data-plane call for a tenant runs with, assumed with the tenant's session tags.
    tenant_role_arn: str = Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/")

    # The secret that signs pagination tokens (Secrets Manager id or ARN).
    pagination_secret_id: str = Field(min_length=1)

    # POST /files takes the body itself up to this size. In AWS the body reaches Lambda base64
    # encoded inside a 6 MB invocation, so the deployed stages set 4 MiB (see docs/api.md).
    max_direct_upload_bytes: int = Field(default=5 * MIB, gt=0)
    # POST /uploads: a presigned POST up to this size, multipart above it.
    multipart_threshold_bytes: int = Field(default=100 * MIB, gt=0)
    multipart_part_bytes: int = Field(default=16 * MIB, ge=5 * MIB)
    max_file_bytes: int = Field(default=5 * TIB, gt=0)
    # Presigned URLs are signed with a tenant's session, which lives an hour at most: see
    # tenant_session_reserve_seconds (hence at most 45 minutes).
    upload_url_seconds: int = Field(default=900, ge=60, le=2700)
    download_url_seconds: int = Field(default=300, ge=60, le=2700)
    # A multipart upload may take a day (the bucket aborts older ones); its quota is held as long.
    multipart_upload_seconds: int = Field(default=24 * 3600, ge=3600)

    # Ingest. The lease outlives the ingest function's 15-minute timeout; the receive count
    # matches the ingest queue's redrive maxReceiveCount in template.yaml.
    ingest_max_receive_count: int = Field(default=5, ge=1)
    ingest_lease_seconds: int = Field(default=960, ge=60, le=2700)  # one tenant session carries an ingest
    ingest_memory_limit: str = Field(default="1GB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")
    ingest_threads: int = Field(default=0, ge=0)  # 0: DuckDB decides (one per core)
    # What one file may take (chalicelib/ingest/limits.py); past any of them it ends FAILED at once.
    # Its time: at most this long, and never longer than the invocation has left (Lambda's context;
    # the function's own timeout is 900 s), less the margin kept to publish or record the failure.
    ingest_timeout_seconds: int = Field(default=900, ge=1)
    ingest_time_margin_seconds: int = Field(default=60, ge=0)
    # Its content after decompression, and that content as a multiple of the compressed size (of
    # 1 MiB at least): scratch (10 GiB in Lambda) holds the content, its Parquet and DuckDB's spill.
    ingest_max_content_bytes: int = Field(default=8 * GIB, gt=0)
    ingest_max_expansion: int = Field(default=100, ge=1)
    ingest_max_columns: int = Field(default=5000, ge=1)  # fields of nested records counted
    ingest_max_nesting: int = Field(default=32, ge=1)  # levels of objects and arrays in a JSON record
    # Locally: the pump's workers, each ingesting one message at a time (Lambda runs one per message).
    # At least four: a small file's ingest waits on the local AWS for most of its time, and two
    # workers on two cores left a third of the machine idle.
    ingest_workers: int = Field(default_factory=lambda: max(MIN_INGEST_WORKERS, os.cpu_count() or 1), ge=1)
    scratch_dir: str = Field(default_factory=tempfile.gettempdir)
    # Locally, the query engine's registry of tables (required in the local stage).
    warehouse_dir: str | None = Field(default=None, validate_default=True)

    # Queries. In AWS: Athena's workgroup and the KMS key its results are encrypted with.
    results_bucket: str = Field(min_length=3)
    athena_workgroup: str = Field(default="primary", min_length=1)
    data_key_arn: str | None = None
    max_running_queries: int = Field(default=10, ge=1)
    query_timeout_seconds: int = Field(default=600, ge=1)
    # Locally; in AWS the workgroup's BytesScannedCutoffPerQuery (a template parameter) holds it.
    query_scan_cutoff_bytes: int = Field(default=10 * GIB, gt=0)
    query_memory_limit: str = Field(default="1GB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$")
    # How long an ended query and its results are kept: the results bucket's lifecycle.
    query_retention_days: int = Field(default=7, ge=1)
    # What a query is estimated to cost: Athena's price per TB (2^40 bytes) scanned, and the least
    # it bills a query (each query's bytes are rounded up to a whole MB, 2^20 bytes).
    query_price_per_tb_usd: float = Field(default=5.0, ge=0)
    query_minimum_billed_bytes: int = Field(default=10 * MIB, ge=0)
    # A query's result is reused for the same query of the same member over unchanged tables, up to
    # this age (Athena's result reuse; locally a cache in each tenant's results folder, this big).
    query_reuse_minutes: int = Field(default=60, ge=0, le=10080)  # Athena reuses a week-old result at most
    query_reuse_cache_bytes: int = Field(default=1 * GIB, ge=0)

    # The release-check hook only: the function version (ARN) it checks before traffic shifts to it.
    checked_version: str | None = None

    # Each tenant's default quota; a tenant item's quota_bytes / quota_files override it.
    quota_bytes: int = Field(default=50 * GIB, gt=0)
    quota_files: int = Field(default=10_000, gt=0)

    @field_validator("auto_confirm_signup")
    @classmethod
    def _auto_confirm_only_locally(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("stage") != "local":
            raise ValueError("allowed only in the local stage")
        return value

    @field_validator("warehouse_dir")
    @classmethod
    def _warehouse_locally(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("stage") == "local":
            raise ValueError("required in the local stage")
        return value

    @property
    def sends_email(self) -> bool:
        """Whether Cognito e-mails users: everywhere but the local platform, which has no e-mail,
        confirms sign-ups at once and takes a new member's password from their admin."""
        return not self.auto_confirm_signup

    @property
    def tenant_session_reserve_seconds(self) -> int:
        """How long a tenant's session (TenantCredentials) must still have to be handed out, else
        it is renewed: the longest URL it may sign must work to its end, and a whole ingest runs
        on one session; five minutes to spare."""
        return max(self.upload_url_seconds, self.download_url_seconds, self.ingest_lease_seconds) + 300

    @property
    def glue_database_prefix(self) -> str:
        """Each tenant's Glue database is this prefix and its lower-cased tenant id."""
        return f"sdp_{self.stage}_"

    @property
    def region(self) -> str:
        """The user pool's region: its id is '<region>_<suffix>'."""
        return self.user_pool_id.split("_", 1)[0]

    @property
    def issuer(self) -> str:
        """The `iss` of the pool's tokens (moto names the real AWS host too)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


def load_settings(environment: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings (from `os.environ` as it is now, unless given), turning
    pydantic's report into one plain message.

    Read with pydantic itself rather than pydantic-settings: every setting is one plain value,
    and pydantic-settings' sources (dotenv, CLI, cloud secrets) cost the cold start 60 to 80 ms here.
    """
    if environment is None:
        environment = os.environ  # looked up now: chalice's test client swaps the object itself
    values = {
        name[len(ENV_PREFIX) :].lower(): value
        for name, value in environment.items()
        if name.upper().startswith(ENV_PREFIX)
    }
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ENV_PREFIX + "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("Invalid settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this container, read on first use and kept for its life."""
    return load_settings()
