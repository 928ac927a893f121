"""The API's records as typed, read-only objects. Fields the platform adds later are ignored, not refused."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Role = Literal["viewer", "analyst", "admin"]


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Column(Record):
    name: str
    type: str
    original_name: str | None = None


class Problem(Record):
    """Why a file or a query FAILED."""

    code: str
    message: str


class Drift(Record):
    """How a file's columns differed from its table's when it was added (the file that made the table
    added all its columns)."""

    added_columns: list[str] = []
    missing_columns: list[str] = []


class File(Record):
    file_id: str
    name: str
    status: Literal["UPLOADING", "PROCESSING", "READY", "FAILED"]
    size: int
    content_type: str
    format: str | None = None
    compression: str | None = None
    sha256: str | None = None
    row_count: int | None = None
    columns: list[Column] = []
    table: str | None = None
    target_table: str | None = None
    drift: Drift | None = None
    created_at: datetime
    updated_at: datetime
    error: Problem | None = None
    notes: list[str] = []
    owner_id: str | None = None

    @property
    def finished(self) -> bool:
        """Ingest is over: READY or FAILED."""
        return self.status in ("READY", "FAILED")


class Table(Record):
    """A table as `GET /tables` lists it: `file_id` is the file most recently added, `row_count` and
    `file_count` count its READY files."""

    table: str
    file_id: str
    columns: list[Column]
    row_count: int
    file_count: int = 1


class TableFile(Record):
    """One READY file of a table: its rows, when they were added and how its columns differed."""

    file_id: str
    name: str
    row_count: int
    added_at: datetime
    added_columns: list[str] = []
    missing_columns: list[str] = []


class ColumnAdded(Record):
    """Which file first brought a column to its table, and when (the file may have been deleted since)."""

    column: str
    type: str
    file_id: str
    added_at: datetime


class TableDetail(Table):
    """`GET /tables/{table}`: the table with every one of its READY files (oldest first, all pages
    gathered) and its schema history (columns in the order they were added)."""

    files: list[TableFile] = []
    schema_history: list[ColumnAdded] = []


class QueryStats(Record):
    runtime_ms: int
    bytes_scanned: int
    rows: int


class Query(Record):
    query_id: str
    status: Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]
    sql: str
    submitted_at: datetime
    completed_at: datetime | None = None
    stats: QueryStats | None = None
    error: Problem | None = None
    # Served from an earlier identical query's result: nothing was scanned (stats.bytes_scanned 0).
    reused: bool = False

    @property
    def finished(self) -> bool:
        return self.status in ("SUCCEEDED", "FAILED", "CANCELLED")


class Estimate(Record):
    """A dry run (`POST /queries` with `dry_run`): what the query would read and cost; nothing ran.
    `billed_bytes` is `bytes_to_scan` rounded up to a whole MB, at least 10 MB (Athena's minimum);
    `remaining_scan_bytes` is None when the tenant has no monthly scan budget."""

    bytes_to_scan: int
    billed_bytes: int
    estimated_cost_usd: float
    tables: list[str] = []
    columns: dict[str, list[str]] = {}
    within_budget: bool
    remaining_scan_bytes: int | None = None
    resets_at: datetime


class Usage(Record):
    """`GET /tenant/usage`: storage against its quotas and this month's queries against the scan budget
    (`monthly_scan_budget_bytes` and `remaining_scan_bytes` None when there is no budget)."""

    month: str
    resets_at: datetime
    bytes_used: int
    quota_bytes: int
    file_count: int
    quota_files: int
    bytes_scanned: int
    monthly_scan_budget_bytes: int | None = None
    remaining_scan_bytes: int | None = None
    query_count: int


class Tenant(Record):
    """`PATCH /tenant`'s answer: the tenant and its monthly scan budget (None: no budget)."""

    tenant_id: str
    name: str
    monthly_scan_budget_bytes: int | None = None


class SavedQuery(Record):
    """A query saved under a name, visible to every member of the tenant."""

    saved_query_id: str
    name: str
    sql: str
    description: str | None = None
    author_id: str
    created_at: datetime
    updated_at: datetime


class Member(Record):
    user_id: str
    email: str
    role: Role


class Me(Record):
    user_id: str
    email: str
    tenant_id: str
    tenant_name: str
    role: Role


class SignUp(Record):
    user_id: str
    tenant_id: str
    confirmation_required: bool


class Tokens(Record):
    id_token: str
    access_token: str
    refresh_token: str | None = None
    expires_in: int


class Part(Record):
    """One part of a multipart upload: PUT exactly `size` bytes to `url`; `etag` when storage holds it already."""

    part_number: int
    size: int
    url: str
    etag: str | None = None


class MultipartUpload(Record):
    method: Literal["MULTIPART"]
    upload_id: str
    part_size: int
    part_count: int
    parts: list[Part]
    next_part: int | None = None


class PostUpload(Record):
    """A presigned POST: send `fields` and then the file as a form to `url`."""

    method: Literal["POST"]
    url: str
    fields: dict[str, str]


class StartedUpload(Record):
    file_id: str
    upload: PostUpload | MultipartUpload
    expires_in: int


class Health(Record):
    status: str
    version: str
