"""Every key the platform chooses, spelled here and nowhere else: the single table's PK and SK,
and the data bucket's object keys.

| PK          | SK                  | item |
|-------------|---------------------|------|
| TENANT#{t}  | TENANT              | the tenant: name, counts (admins, bytes, files, running jobs), quotas |
| TENANT#{t}  | MEMBER#{user}       | a member: e-mail, role |
| TENANT#{t}  | FILE#{file}         | a file record and the table names it holds (file ids sort by time) |
| TENANT#{t}  | UPLOADING#{file}    | a record still waiting for its bytes (gone once ingest claims it) |
| TENANT#{t}  | TABLE#{name}        | a table: its id, columns, counts and partitions (names unique per tenant) |
| TENANT#{t}  | TABLE_FILE#{id}#{file} | a READY file of table `id`: its partition, rows and drift |
| TENANT#{t}  | TABLE_SHA#{id}#{sha256} | a content table `id` holds, and the file that holds it |
| TENANT#{t}  | TABLE_BYTES#{id}#{bucket} | a share of table `id`'s compressed bytes, one attribute per column |
| TENANT#{t}  | TABLE_SUFFIX#{base} | the last suffix handed out to names of that base (`sales_7`) |
| TENANT#{t}  | SEARCH#{bucket}     | a share of its files' search entries, one attribute each (files/search.py) |
| TENANT#{t}  | TABLE_SEARCH#{bucket} | a share of its tables' search entries |
| TENANT#{t}  | USAGE#{yyyy-mm}     | the tenant's queries and bytes scanned in a calendar month (UTC) |
| TENANT#{t}  | REUSE#{user}#{sha256} | the table versions a member's query last ran over (Athena's result reuse) |
| TENANT#{t}  | QUERY#{user}#{q}    | a query job (a user reads only their own: the key says whose) |
| TENANT#{t}  | SAVED_QUERY#{id}    | a saved query, every member's to read and run (ids sort by time) |
| USER#{user} | MEMBERSHIP          | the user's one membership: tenant, role |

Every tenant item lives under `TENANT#{t}`, the partition the tenant-scoped IAM role may touch.
A tenant's Glue database and its keys in the data bucket (raw bytes, curated copies, query
results) are named here too, for the same role's policy names them.
"""

from __future__ import annotations

Key = dict[str, str]


def tenant_partition(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def tenant(tenant_id: str) -> Key:
    return {"PK": tenant_partition(tenant_id), "SK": "TENANT"}


def member(tenant_id: str, user_id: str) -> Key:
    return {"PK": tenant_partition(tenant_id), "SK": f"{MEMBER_PREFIX}{user_id}"}


def membership(user_id: str) -> Key:
    return {"PK": f"USER#{user_id}", "SK": "MEMBERSHIP"}


def file(tenant_id: str, file_id: str) -> Key:
    return {"PK": tenant_partition(tenant_id), "SK": f"{FILE_PREFIX}{file_id}"}


def uploading(tenant_id: str, file_id: str) -> Key:
    """The entry that lists a record still waiting for its bytes."""
    return {"PK": tenant_partition(tenant_id), "SK": f"{UPLOADING_PREFIX}{file_id}"}


def table(tenant_id: str, name: str) -> Key:
    return {"PK": tenant_partition(tenant_id), "SK": f"{TABLE_PREFIX}{name}"}


def table_suffix(tenant_id: str, base: str) -> Key:
    """The counter of suffixes handed out to table names of `base`: outside the `TABLE#` range."""
    return {"PK": tenant_partition(tenant_id), "SK": f"{TABLE_SUFFIX_PREFIX}{base}"}


def table_files_of(table_id: str) -> str:
    """The sort-key prefix of one table's files (a table's id: names are used again, ids never)."""
    return f"{TABLE_FILE_PREFIX}{table_id}#"


def table_file(tenant_id: str, table_id: str, file_id: str) -> Key:
    return {"PK": tenant_partition(tenant_id), "SK": f"{table_files_of(table_id)}{file_id}"}


def table_sha(tenant_id: str, table_id: str, sha256: str) -> Key:
    return {"PK": tenant_partition(tenant_id), "SK": f"{TABLE_SHA_PREFIX}{table_id}#{sha256}"}


def table_bytes(tenant_id: str, table_id: str, bucket: int) -> Key:
    """One of the items a table's bytes per column are shared among (files/tables.py)."""
    return {"PK": tenant_partition(tenant_id), "SK": f"{TABLE_BYTES_PREFIX}{table_id}#{bucket:02d}"}


def search_bucket(tenant_id: str, prefix: str, bucket: int) -> Key:
    """One of a tenant's search index items (`prefix`: SEARCH_PREFIX or TABLE_SEARCH_PREFIX)."""
    return {"PK": tenant_partition(tenant_id), "SK": f"{prefix}{bucket:02d}"}


def query(tenant_id: str, user_id: str, query_id: str) -> Key:
    return {"PK": tenant_partition(tenant_id), "SK": f"{queries_of(user_id)}{query_id}"}


def saved_query(tenant_id: str, saved_query_id: str) -> Key:
    return {"PK": tenant_partition(tenant_id), "SK": f"{SAVED_QUERY_PREFIX}{saved_query_id}"}


def usage(tenant_id: str, month: str) -> Key:
    """The tenant's query usage in one calendar month (`2026-12`)."""
    return {"PK": tenant_partition(tenant_id), "SK": f"USAGE#{month}"}


def reuse_mark(tenant_id: str, user_id: str, statement_sha256: str) -> Key:
    """What the member's query of that text last ran over."""
    return {"PK": tenant_partition(tenant_id), "SK": f"REUSE#{user_id}#{statement_sha256}"}


def queries_of(user_id: str) -> str:
    """The sort-key prefix of one user's queries."""
    return f"{QUERY_PREFIX}{user_id}#"


MEMBER_PREFIX = "MEMBER#"
FILE_PREFIX = "FILE#"
UPLOADING_PREFIX = "UPLOADING#"
TABLE_PREFIX = "TABLE#"
TABLE_SUFFIX_PREFIX = "TABLE_SUFFIX#"
TABLE_FILE_PREFIX = "TABLE_FILE#"
TABLE_SHA_PREFIX = "TABLE_SHA#"
TABLE_BYTES_PREFIX = "TABLE_BYTES#"
SEARCH_PREFIX = "SEARCH#"
TABLE_SEARCH_PREFIX = "TABLE_SEARCH#"
QUERY_PREFIX = "QUERY#"
SAVED_QUERY_PREFIX = "SAVED_QUERY#"


def tenant_database(prefix: str, tenant_id: str) -> str:
    """A tenant's Glue database (and Athena's context for its queries): Glue keeps names lower-cased."""
    return f"{prefix}{tenant_id.lower()}"


def glue_table(name: str, table_id: str) -> str:
    """A table's name in its Glue database: its name and its id (a table made again under the same
    name is another table), lower-cased as Glue keeps names."""
    return f"{name}__{table_id.lower()}"


# The data bucket's keys: every object of a tenant under `tenants/{tenant_id}/`, the prefix its IAM
# role is limited to. A curated copy has a folder per ingest attempt, so that two attempts at one
# file never write over each other.


def tenant_prefix(tenant_id: str) -> str:
    return f"tenants/{tenant_id}/"


def raw_key(tenant_id: str, file_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}raw/{file_id}"


def curated_prefix(tenant_id: str, file_id: str) -> str:
    """Every curated copy of the file, one folder per ingest attempt."""
    return f"{tenant_prefix(tenant_id)}curated/{file_id}/"


def attempt_prefix(tenant_id: str, file_id: str, token: str) -> str:
    """The curated copy one ingest attempt (its claim token) writes."""
    return f"{curated_prefix(tenant_id, file_id)}{token}/"


def result_prefix(bucket: str, tenant_id: str, query_id: str) -> str:
    """Where a query's results go: under the tenant's own prefix."""
    return f"s3://{bucket}/{tenant_prefix(tenant_id)}queries/{query_id}/"
