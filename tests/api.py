"""One way to call the API from tests, over chalice's test client or over HTTP.

Scenario tests take an `Api` and run through both entry points; the HTTP one also drives a
deployed stage (bench and smoke scripts use it too).
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

PASSWORD = "Correct-Horse-9!"


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error_code(self) -> str | None:
        return (self.body.get("error") or {}).get("code") if isinstance(self.body, dict) else None


class Api(Protocol):
    def ingest_pending(self) -> None: ...

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply: ...


def _request_headers(json_body: Any, token: str | None, headers: dict[str, str] | None) -> dict[str, str]:
    merged = {"Content-Type": "application/json"} if json_body is not None else {}
    if token is not None:
        merged["Authorization"] = f"Bearer {token}"
    return merged | (headers or {})


def _decode(payload: bytes) -> Any:
    try:
        return json.loads(payload) if payload else None
    except ValueError:
        return payload


class _Transport(ABC):
    """Encodes a call once; subclasses send it.

    `aws_client(service)`, where the test can reach the platform's AWS (moto), looks behind the API.
    `ingest_pending()` runs ingest for what was uploaded, where nothing else does (in-process).
    """

    aws_client: Any = None
    run_ingest: Any = None  # in-process only; the local platform's pump ingests by itself
    # Called with (method, path, status, body) for every reply: the suite checks each against
    # docs/openapi.yaml (tests/conftest.py); scripts against a deployed stage leave it unset.
    check_reply: Callable[[str, str, int, Any], None] | None = None

    def ingest_pending(self) -> None:
        if self.run_ingest is not None:
            self.run_ingest()

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        body = raw if raw is not None else (json.dumps(json_body).encode() if json_body is not None else b"")
        reply = self._send(method, path, _request_headers(json_body, token, headers), body)
        if _Transport.check_reply is not None:
            _Transport.check_reply(method, path, reply.status, reply.body)
        return reply

    @abstractmethod
    def _send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply: ...


class ChaliceApi(_Transport):
    """Through chalice.test.Client: the app in-process, as Lambda runs it behind API Gateway."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def _send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        response = self._client.http.request(method, path, headers=headers, body=body)
        return Reply(response.status_code, _decode(response.body), dict(response.headers))


class HttpApi(_Transport):
    """Over HTTP: the local platform, or any deployed stage's URL."""

    def __init__(self, base_url: str) -> None:
        import requests

        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()

    def _send(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        response = self._session.request(method, self.base_url + path, data=body or None, headers=headers, timeout=60)
        return Reply(response.status_code, _decode(response.content), dict(response.headers))


def check_every_reply(check: Callable[[str, str, int, Any], None]) -> None:
    """Have every client of this module pass each reply to `check`."""
    _Transport.check_reply = check


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    user_id: str
    tenant_id: str
    id_token: str
    access_token: str
    refresh_token: str


# A trillion combinations: runs far longer than any test, yet each array is within Athena's limit.
ENDLESS_QUERY = (
    "SELECT count(*) FROM UNNEST(sequence(1, 10000)) AS a(x) CROSS JOIN UNNEST(sequence(1, 10000)) AS b(y) "
    "CROSS JOIN UNNEST(sequence(1, 10000)) AS c(z) WHERE (x * y + z) % 7 = 3"
)


def unique_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}@example.com"


def log_in(api: Api, email: str, password: str = PASSWORD) -> dict[str, Any]:
    reply = api.call("POST", "/auth/login", json_body={"email": email, "password": password})
    assert reply.status == 200, reply
    return reply.body


def sign_up(api: Api, label: str = "admin", tenant_name: str | None = None) -> Account:
    """A new tenant whose admin is a new, logged-in user (confirmed with the e-mailed code where
    the platform sends one: moto takes any code)."""
    email = unique_email(label)
    body = {"email": email, "password": PASSWORD} | ({"tenant_name": tenant_name} if tenant_name else {})
    reply = api.call("POST", "/auth/signup", json_body=body)
    assert reply.status == 201, reply
    if reply.body["confirmation_required"]:
        confirmed = api.call("POST", "/auth/confirm", json_body={"email": email, "code": "123456"})
        assert confirmed.status == 200, confirmed
    tokens = log_in(api, email)
    return Account(
        email,
        PASSWORD,
        reply.body["user_id"],
        reply.body["tenant_id"],
        tokens["id_token"],
        tokens["access_token"],
        tokens["refresh_token"],
    )


def add_member(api: Api, admin: Account, role: str, label: str | None = None) -> Account:
    """A new user added to the admin's tenant with `role`, logged in."""
    email = unique_email(label or role)
    reply = api.call(
        "POST",
        "/tenant/members",
        json_body={"email": email, "role": role, "password": PASSWORD},
        token=admin.id_token,
    )
    assert reply.status == 201, reply
    tokens = log_in(api, email)
    return Account(
        email,
        PASSWORD,
        reply.body["user_id"],
        admin.tenant_id,
        tokens["id_token"],
        tokens["access_token"],
        tokens["refresh_token"],
    )


def upload_direct(
    api: Api, account: Account, name: str, data: bytes, content_type: str = "text/csv", table: str | None = None
) -> Reply:
    """POST /files?name=…[&table=…]; the reply, whatever it is."""
    from urllib.parse import quote

    into = f"&table={quote(table, safe='')}" if table is not None else ""
    return api.call(
        "POST",
        f"/files?name={quote(name, safe='')}{into}",
        raw=data,
        token=account.id_token,
        headers={"Content-Type": content_type},
    )


def upload_presigned(api: Api, account: Account, name: str, data: bytes, table: str | None = None) -> str:
    """POST /uploads (naming `table`, if given), then the presigned POST itself; the file id."""
    import requests

    body = {"name": name, "size": len(data)} | ({"table": table} if table is not None else {})
    started = api.call("POST", "/uploads", json_body=body, token=account.id_token)
    assert started.status == 201, started
    upload = started.body["upload"]
    assert upload["method"] == "POST"
    response = requests.post(upload["url"], data=upload["fields"], files={"file": (name, data)}, timeout=60)
    assert response.status_code in (200, 201, 204), response.text
    return started.body["file_id"]


def ingested_table(api: Api, account: Account, name: str, data: bytes, table: str | None = None) -> dict[str, Any]:
    """Upload a file (into `table`, if given) and wait until it is READY; its record."""
    reply = upload_direct(api, account, name, data, "text/csv", table)
    assert reply.status == 201, reply
    record = wait_settled(api, account, reply.body["file_id"])
    assert record["status"] == "READY", record
    return record


def run_query(api: Api, account: Account, sql: str, max_rows: int = 1000) -> dict[str, Any]:
    """Submit SQL and wait for it to end; the query with its first page of rows. A 429 saying the
    tenant runs as many queries as it may is retried after a pause, as a client should."""
    import time

    pause = 0.1
    while (submitted := api.call("POST", "/queries", json_body={"sql": sql}, token=account.id_token)).error_code == (
        "too_many_queries"
    ):
        time.sleep(pause)
        pause = min(pause * 2, 2.0)
    assert submitted.status == 202, submitted
    deadline = time.monotonic() + 60
    while True:
        path = f"/queries/{submitted.body['query_id']}?wait=5&max_rows={max_rows}"
        record = api.call("GET", path, token=account.id_token).body
        if record["status"] not in ("QUEUED", "RUNNING") or time.monotonic() > deadline:
            return record


def all_rows(api: Api, account: Account, query: dict[str, Any], max_rows: int = 1000) -> list[list[Any]]:
    """Every row of a SUCCEEDED query, page after page."""
    rows = list(query["rows"])
    token = query["next_token"]
    while token:
        page = api.call(
            "GET", f"/queries/{query['query_id']}?max_rows={max_rows}&next_token={token}", token=account.id_token
        )
        assert page.status == 200, page
        rows += page.body["rows"]
        token = page.body["next_token"]
    return rows


def download(api: Api, account: Account, file_id: str) -> bytes:
    """The file's bytes, through GET /files/{id}/content and its presigned URL."""
    import requests

    reply = api.call("GET", f"/files/{file_id}/content", token=account.id_token)
    assert reply.status == 200, reply
    response = requests.get(reply.body["url"], timeout=60)
    assert response.status_code == 200
    return response.content


def wait_settled(api: Api, account: Account, file_id: str, timeout: float = 60) -> dict[str, Any]:
    """The file's record once ingest is done with it (READY or FAILED)."""
    import time

    api.ingest_pending()
    deadline = time.monotonic() + timeout
    while True:
        record = api.call("GET", f"/files/{file_id}", token=account.id_token).body
        if record.get("status") in ("READY", "FAILED") or time.monotonic() > deadline:
            return record
        time.sleep(0.1)


# Path ids no file or query of ours can have: each answers 404 without a lookup.
NOT_IDS = [
    "nope",
    "..%2F..%2Fx",
    "A" * 2048,  # DynamoDB refuses a sort key over 1 KiB: never asked
    "01HZZZZZZZZZZZZZZZZZZZZZZ",  # 25 characters
    "01HZZZZZZZZZZZZZZZZZZZZZZZZ",  # 27
    "01hzzzzzzzzzzzzzzzzzzzzzzz",  # lower case: ids are written upper case
    "01HZZZZZZZZZZZZZZZZZZZZZZI",  # I, L, O, U are not Crockford base32
    "81HZZZZZZZZZZZZZZZZZZZZZZZ",  # past the largest ULID
    "01HZZZZZZZZZZZZZZZZZZZZZ%C3%A9",
    "01HZZZZZZZZZZZZZZZZZZZZZ%20",
    "%00",
]


@contextmanager
def dynamodb_requests(services: Any, tenant_id: str) -> Iterator[list[str]]:
    """Every DynamoDB request sent meanwhile, on the function's and the tenant's clients, as text:
    its operation, then its parameters (which name the keys)."""
    sent: list[str] = []

    def note(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append(f"{model.name} {params}")

    clients = [services.clients.dynamodb, services.for_tenant(tenant_id).clients.dynamodb]
    for dynamodb in clients:
        dynamodb.meta.events.register("before-call.dynamodb", note)
    try:
        yield sent
    finally:
        for dynamodb in clients:
            dynamodb.meta.events.unregister("before-call.dynamodb", note)
