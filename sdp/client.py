"""`sdp.Client`: every API operation as a method with typed results."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from sdp.credentials import CredentialStore, Login, normalise_url
from sdp.errors import (
    ApiError,
    AuthenticationError,
    FileFailed,
    LoginExpired,
    NetworkError,
    NotFound,
    error_from_response,
)
from sdp.models import (
    Estimate,
    File,
    Health,
    Me,
    Member,
    MultipartUpload,
    Query,
    Role,
    SavedQuery,
    SignUp,
    StartedUpload,
    Table,
    TableDetail,
    Tenant,
    Tokens,
    Usage,
)
from sdp.version import VERSION

if TYPE_CHECKING:
    from sdp.results import QueryResult

DEFAULT_URL = "http://127.0.0.1:8000"
# A login is refreshed this long before its ID token expires, so a request never leaves with a dying token.
REFRESH_MARGIN_SECONDS = 60

__version__ = VERSION

RecordT = TypeVar("RecordT", bound=BaseModel)


class NotLoggedIn(AuthenticationError):
    """No token was given and no login is saved for this URL."""

    def __init__(self, url: str) -> None:
        super().__init__(401, "not_logged_in", f"You are not logged in to {url}: run `sdp login` first.", None)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is sent again after a failure that allows it."""

    attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep


# Answers that mean nothing was done: sending again is safe whatever the request.
_NOTHING_DONE = {"service_unavailable", "query_engine_busy", "too_many_requests"}


def _retryable(error: BaseException, safe: bool) -> bool:
    """Whether `error` may be followed by the same request: always if it never reached the server,
    otherwise only for a request that does the same however often it is repeated (`safe`)."""
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    if isinstance(error, httpx.TransportError):
        return safe
    if isinstance(error, ApiError):
        if error.code in _NOTHING_DONE or (error.status == 503 and error.code == "http_error"):
            return True  # the platform's "try again" answers, and storage's SlowDown
        return safe and error.status in (500, 502, 503, 504)
    return False


def _given(**values: str | None) -> dict[str, str]:
    """The parameters that were given (a search term or option left out is not sent)."""
    return {key: value for key, value in values.items() if value is not None}


def _saved_path(saved_query_id: str) -> str:
    if saved_query_id.strip(".") == "":  # no saved query has such an id, and the path would name another route
        raise NotFound(404, "saved_query_not_found", f"No saved query has the id {saved_query_id!r}.", None)
    return f"/saved-queries/{quote(saved_query_id, safe='')}"


def _unreachable(url: str, error: httpx.TransportError) -> NetworkError:
    return NetworkError(f"Could not reach {httpx.URL(url).host}: {error or type(error).__name__}.")


class Client:
    """The platform's API. Authenticated calls use `token` if given, else the login saved for `url` (refreshed
    as it nears expiry and once after a 401); `sdp.Client.from_profile()` builds one from the saved login."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        token: str | None = None,
        *,
        store: CredentialStore | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        upload_concurrency: int = 4,
    ) -> None:
        self.url = normalise_url(url)
        self.store = store
        self.retry = retry or RetryPolicy()
        self.upload_concurrency = upload_concurrency
        self._token = token
        self._login = store.load(self.url) if store is not None and token is None else None
        self._refreshing = threading.Lock()
        self._http = httpx.Client(
            transport=transport, timeout=timeout, headers={"User-Agent": f"sdp/{__version__}"}, follow_redirects=False
        )

    @classmethod
    def from_profile(cls, url: str | None = None, *, store: CredentialStore | None = None, **options: Any) -> Client:
        """A client for `url` (default `$SDP_URL`, else the local platform) with the login saved for it."""
        return cls(url or os.environ.get("SDP_URL") or DEFAULT_URL, store=store or CredentialStore(), **options)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- sending ---------------------------------------------------------------------------------------------

    def _retrying(self, may_repeat: Callable[[BaseException], bool]) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait_exponential_jitter(multiplier=self.retry.initial_delay, max=self.retry.max_delay),
            retry=retry_if_exception(may_repeat),
            sleep=self.retry.sleep,
            reraise=True,
        )

    def send(
        self,
        method: str,
        url: str,
        *,
        safe: bool,
        body: Callable[[], dict[str, Any]] | None = None,
        **request: Any,
    ) -> httpx.Response:
        """One request to any URL (API or storage), sent again with backoff while `_retryable` allows;
        `body` makes the request's content afresh for each try (a stream cannot be sent twice)."""
        tries = 0

        def attempt() -> httpx.Response:
            nonlocal tries
            tries += 1
            response = self._http.request(method, url, **request, **(body() if body else {}))
            if response.status_code == 404 and method == "DELETE" and tries > 1:
                return response  # an earlier try deleted it and its answer was lost: the deletion is done
            if response.status_code >= 400:
                raise error_from_response(response)
            return response

        try:
            return self._retrying(lambda error: _retryable(error, safe))(attempt)
        except httpx.TransportError as error:
            raise _unreachable(url, error) from error

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        authenticated: bool = True,
        safe: bool | None = None,
        **request: Any,
    ) -> httpx.Response:
        """An API request. GET, PUT and DELETE are safe to repeat; POST is sent again only if it never
        left (unless the caller knows better, as for completing an upload)."""
        is_safe = method in ("GET", "PUT", "DELETE") if safe is None else safe
        headers = request.pop("headers", {})
        send = functools.partial(self.send, method, self.url + path, safe=is_safe, json=json, params=params, **request)
        if not authenticated:
            return send(headers=headers)
        bearer = self._bearer()
        try:
            return send(headers=headers | bearer)
        except LoginExpired:
            raise
        except AuthenticationError:
            if self._login is None or self._token is not None:
                raise
            self._refresh(refused=bearer)  # the token was refused before its time: refresh once and try again
            return send(headers=headers | self._bearer())

    def _bearer(self) -> dict[str, str]:
        if self._token is not None:
            return {"Authorization": f"Bearer {self._token}"}
        login = self._login
        if login is None:
            raise NotLoggedIn(self.url)
        if login.expires_within(REFRESH_MARGIN_SECONDS):
            self._refresh(refused={"Authorization": f"Bearer {login.id_token}"})
            login = self._login
            assert login is not None
        return {"Authorization": f"Bearer {login.id_token}"}

    def _refresh(self, refused: dict[str, str]) -> None:
        """Replace the ID token `refused` carried, once however many threads (upload parts) ask at the same time."""
        with self._refreshing:
            assert self._login is not None
            if refused != {"Authorization": f"Bearer {self._login.id_token}"}:
                return  # another thread refreshed it meanwhile
            expired = LoginExpired(f"Your login to {self.url} has expired: run `sdp login` again.")
            if not self._login.refresh_token:
                raise expired
            try:
                response = self.call(
                    "POST", "/auth/refresh", json={"refresh_token": self._login.refresh_token}, authenticated=False
                )
            except AuthenticationError as error:
                raise expired from error
            tokens = Tokens.model_validate(response.json())
            self._keep(replace(self._login, id_token=tokens.id_token, expires_at=time.time() + tokens.expires_in))

    def _keep(self, login: Login) -> None:
        self._login = login
        if self.store is not None:
            self.store.save(login)

    def _record(self, model: type[RecordT], response: httpx.Response) -> RecordT:
        return model.model_validate(response.json())

    def _pages(self, path: str, key: str, model: type[RecordT], params: dict[str, Any]) -> Iterator[RecordT]:
        """Every item of a paginated listing, page by page; a page may be empty while more follow."""
        token: str | None = None
        while True:
            body = self.call("GET", path, params={**params, **({"next_token": token} if token else {})}).json()
            yield from (model.model_validate(item) for item in body[key])
            token = body.get("next_token")
            if not token:
                return

    # -- accounts --------------------------------------------------------------------------------------------

    def signup(self, email: str, password: str, tenant_name: str | None = None) -> SignUp:
        """Create an account and a tenant with its user as admin."""
        body = {"email": email, "password": password} | ({"tenant_name": tenant_name} if tenant_name else {})
        return self._record(SignUp, self.call("POST", "/auth/signup", json=body, authenticated=False))

    def confirm(self, email: str, code: str) -> None:
        """Confirm a sign-up with the code e-mailed (in AWS; locally sign-ups need none)."""
        self.call("POST", "/auth/confirm", json={"email": email, "code": code}, authenticated=False)

    def login(self, email: str, password: str, new_password: str | None = None) -> Me:
        """Log in; the login is saved for this URL when the client has a credential store."""
        body = {"email": email, "password": password} | ({"new_password": new_password} if new_password else {})
        tokens = self._record(Tokens, self.call("POST", "/auth/login", json=body, authenticated=False))
        self._token = None
        self._keep(Login(self.url, email, tokens.id_token, tokens.refresh_token, time.time() + tokens.expires_in))
        return self.me()

    def logout(self) -> bool:
        """Forget this URL's saved login; whether there was one."""
        self._login = None
        return self.store.remove(self.url) if self.store is not None else False

    def health(self) -> Health:
        return self._record(Health, self.call("GET", "/health", authenticated=False))

    def me(self) -> Me:
        return self._record(Me, self.call("GET", "/me"))

    # -- members ---------------------------------------------------------------------------------------------

    def members(self) -> list[Member]:
        return [Member.model_validate(item) for item in self.call("GET", "/tenant/members").json()["members"]]

    def add_member(self, email: str, role: Role, password: str | None = None) -> Member:
        """Add a member (admins). `password` is for the local platform only, for a new account."""
        body = {"email": email, "role": role} | ({"password": password} if password else {})
        return self._record(Member, self.call("POST", "/tenant/members", json=body))

    def change_role(self, user_id: str, role: Role) -> Member:
        return self._record(
            Member, self.call("PATCH", f"/tenant/members/{quote(user_id, safe='')}", json={"role": role}, safe=True)
        )

    def remove_member(self, user_id: str) -> None:
        self.call("DELETE", f"/tenant/members/{quote(user_id, safe='')}")

    # -- usage and the scan budget ---------------------------------------------------------------------------

    def usage(self) -> Usage:
        """The tenant's storage against its quotas, and this month's queries against its scan budget."""
        return self._record(Usage, self.call("GET", "/tenant/usage"))

    def set_budget(self, budget_bytes: int | None) -> Tenant:
        """Set the tenant's monthly scan budget in bytes, or remove it with None (admins; others get
        `PermissionDenied`). A query whose estimate exceeds what is left of it is refused (`BudgetExceeded`)."""
        if budget_bytes is not None and (isinstance(budget_bytes, bool) or not isinstance(budget_bytes, int)):
            raise TypeError(f"A scan budget is a whole number of bytes or None, not {budget_bytes!r}.")
        if budget_bytes is not None and budget_bytes < 0:
            raise ValueError(f"A scan budget cannot be negative: {budget_bytes:,} bytes.")
        body = {"monthly_scan_budget_bytes": budget_bytes}
        return self._record(Tenant, self.call("PATCH", "/tenant", json=body, safe=True))

    # -- files and tables ------------------------------------------------------------------------------------

    def files(
        self,
        page_size: int = 1000,
        *,
        q: str | None = None,
        status: str | None = None,
        format: str | None = None,
        column_type: str | None = None,
    ) -> Iterator[File]:
        """Every file of the tenant, newest first; with any of the search's terms, those that meet them
        all: `q` a piece of the file's name, of its table's or of a column's (any case), `status`
        (UPLOADING, PROCESSING, READY, FAILED), `format` (csv, tsv, jsonl, parquet), `column_type` a type
        one of its columns has, whole (`bigint`, `decimal(18,2)`)."""
        search = _given(q=q, status=status, format=format, column_type=column_type)
        return self._pages("/files", "files", File, {"limit": page_size} | search)

    def file(self, file_id: str) -> File:
        return self._record(File, self.call("GET", f"/files/{quote(file_id, safe='')}"))

    def delete_file(self, file_id: str) -> None:
        self.call("DELETE", f"/files/{quote(file_id, safe='')}")

    def file_content_url(self, file_id: str) -> str:
        """A presigned URL of the file's original bytes (READY or FAILED alike)."""
        return str(self.call("GET", f"/files/{quote(file_id, safe='')}/content").json()["url"])

    def tables(self, page_size: int = 1000, *, q: str | None = None, column_type: str | None = None) -> Iterator[Table]:
        """Every queryable table of the tenant, in name order; with `q` (a piece of the table's name or of a
        column's, any case) or `column_type` (a type one of its columns has, whole), those that meet both."""
        search = _given(q=q, column_type=column_type)
        return self._pages("/tables", "tables", Table, {"limit": page_size} | search)

    def table(self, name: str, page_size: int = 1000) -> TableDetail:
        """One table by its name, as SQL names it, with all its READY files (oldest first: every page of
        them, `page_size` a request) and its schema history. Raises `NotFound` (`table_not_found`)."""
        missing = f"No table named {name!r}: `sdp tables` lists yours."
        if name.strip(".") == "":  # no table is named so, and the path would name another route
            raise NotFound(404, "table_not_found", missing, None)
        path = f"/tables/{quote(name, safe='')}"
        params: dict[str, Any] = {"limit": page_size}
        try:
            body = self.call("GET", path, params=params).json()
            files = list(body["files"])
            while token := body.get("next_token"):
                body = self.call("GET", path, params=params | {"next_token": token}).json()
                files += body["files"]
        except NotFound as error:
            if error.code != "table_not_found":
                raise
            raise NotFound(error.status, error.code, missing, error.request_id) from error
        return TableDetail.model_validate(body | {"files": files})

    def post_file(
        self,
        data: bytes,
        name: str,
        content_type: str = "application/octet-stream",
        *,
        table: str | None = None,
    ) -> File:
        """Upload a small file (at most 4 MiB in AWS) as the request's body; `upload` picks this by itself.
        With `table`, the file is added to that table (made from it if there is none of that name)."""
        params = {"name": name} | _given(table=table)
        response = self.call("POST", "/files", params=params, content=data, headers={"Content-Type": content_type})
        return self._record(File, response)

    def start_upload(
        self, name: str, size: int, content_type: str | None = None, *, table: str | None = None
    ) -> StartedUpload:
        """Reserve `size` bytes for a file and get where to send them (`upload` does the rest by itself).
        With `table`, the file is added to that table (made from it if there is none of that name)."""
        body = {"name": name, "size": size} | _given(content_type=content_type or None, table=table)
        return self._record(StartedUpload, self.call("POST", "/uploads", json=body))

    def upload_parts(self, file_id: str, first: int = 1) -> MultipartUpload:
        """Fresh URLs for a multipart upload's parts from `first` on (1,000 at most), with the ETags of the
        parts storage already holds."""
        response = self.call("GET", f"/uploads/{quote(file_id, safe='')}/parts", params={"from": first})
        return MultipartUpload.model_validate(response.json()["upload"])

    def complete_upload(self, file_id: str, etags: dict[int, str]) -> File:
        """Assemble a multipart upload from its parts' ETags (safe to repeat: completing twice changes nothing)."""
        parts = [{"part_number": number, "etag": etag} for number, etag in sorted(etags.items())]
        response = self.call("POST", f"/uploads/{quote(file_id, safe='')}/complete", json={"parts": parts}, safe=True)
        return self._record(File, response)

    def wait_for_file(self, file_id: str) -> File:
        """The file once ingest has finished with it; raises `FileFailed` if it ended FAILED."""
        delay = 0.1
        while True:
            record = self.file(file_id)
            if record.status == "FAILED":
                raise FileFailed(record)
            if record.status == "READY":
                return record
            self.retry.sleep(delay)
            delay = min(delay * 1.5, 2.0)

    def upload(
        self,
        source: str | os.PathLike[str] | IO[bytes],
        name: str | None = None,
        *,
        wait: bool = True,
        content_type: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        table: str | None = None,
    ) -> File:
        """Upload a file (a path or a binary file object) the way its size calls for: in the request up to
        4 MiB, a presigned POST up to 100 MiB, parts in parallel beyond, resuming an interrupted upload of
        the same path. `progress(sent, total)` follows the bytes. With `table`, the file is added to that
        table: made from it if there is none of that name, else read with the table's column types
        (`record.drift` says which columns it added or lacked). With `wait`, returns once ingest is done
        and raises `FileFailed` if the file ended FAILED (`schema_mismatch`, `duplicate_file`, …)."""
        from sdp.uploads import Uploader

        record = Uploader(self, progress, table).upload(source, name, content_type)
        return self.wait_for_file(record.file_id) if wait else record

    # -- queries ---------------------------------------------------------------------------------------------

    def query(self, sql: str, *, wait: bool = True) -> QueryResult:
        """Run a query. With `wait`, returns once it has ended and raises `QueryFailed` unless it SUCCEEDED."""
        from sdp.results import QueryResult

        result = QueryResult(self, self._record(Query, self.call("POST", "/queries", json={"sql": sql})))
        return result.wait() if wait else result

    def estimate(self, sql: str) -> Estimate:
        """What `sql` would scan and cost, and whether it fits the scan budget, without running it (a dry
        run: nothing is stored). Refused SQL raises `SqlRefused` as for a real query."""
        body = {"sql": sql, "dry_run": True}
        return self._record(Estimate, self.call("POST", "/queries", json=body, safe=True))

    def query_result(self, query_id: str) -> QueryResult:
        """An earlier query of yours, by id."""
        from sdp.results import QueryResult

        return QueryResult(self, self.get_query(query_id))

    def get_query(self, query_id: str, **params: Any) -> Query:
        return self._record(Query, self.call("GET", f"/queries/{quote(query_id, safe='')}", params=params))

    def queries(self, page_size: int = 1000) -> Iterator[Query]:
        """Your queries, newest first."""
        return self._pages("/queries", "queries", Query, {"limit": page_size})

    def cancel_query(self, query_id: str) -> Query:
        """Cancel a queued or running query; an ended one is left as it is."""
        return self._record(Query, self.call("DELETE", f"/queries/{quote(query_id, safe='')}"))

    # -- saved queries ---------------------------------------------------------------------------------------

    def saved_queries(self, page_size: int = 100) -> Iterator[SavedQuery]:
        """The tenant's saved queries (every member's), newest first, page after page."""
        return self._pages("/saved-queries", "saved_queries", SavedQuery, {"limit": page_size})

    def saved_query(self, saved_query_id: str) -> SavedQuery:
        """One saved query by its id. Raises `NotFound` (`saved_query_not_found`)."""
        return self._record(SavedQuery, self.call("GET", _saved_path(saved_query_id)))

    def save_query(self, name: str, sql: str, description: str | None = None) -> SavedQuery:
        """Save `sql` under `name` for every member to see and run (analysts and admins; viewers get
        `PermissionDenied`). The SQL is checked as a query's would be (`SqlRefused`)."""
        body = {"name": name, "sql": sql} | _given(description=description)
        return self._record(SavedQuery, self.call("POST", "/saved-queries", json=body))

    def update_saved_query(
        self,
        saved_query_id: str,
        name: str | None = None,
        sql: str | None = None,
        description: str | None = None,
        *,
        clear_description: bool = False,
    ) -> SavedQuery:
        """Change a saved query's name, SQL or description (those given; None leaves one as it is;
        `clear_description` removes the description), as its author or an admin (others get
        `PermissionDenied`)."""
        if clear_description and description is not None:
            raise ValueError("Give a new description or clear it, not both.")
        body: dict[str, Any] = _given(name=name, sql=sql, description=description)
        if clear_description:
            body["description"] = None
        if not body:
            raise ValueError("Give at least one of name, sql and description to change.")
        return self._record(SavedQuery, self.call("PATCH", _saved_path(saved_query_id), json=body, safe=True))

    def delete_saved_query(self, saved_query_id: str) -> None:
        """Delete a saved query, as its author or an admin (others get `PermissionDenied`)."""
        self.call("DELETE", _saved_path(saved_query_id))

    def run_saved_query(self, saved_query_id: str, *, wait: bool = True) -> QueryResult:
        """Run a saved query's SQL as a query of yours, as `query()` runs SQL: with `wait`, returns once it
        has ended and raises `QueryFailed` unless it SUCCEEDED."""
        from sdp.results import QueryResult

        submitted = self.call("POST", f"{_saved_path(saved_query_id)}/run")
        result = QueryResult(self, self._record(Query, submitted))
        return result.wait() if wait else result

    def download(self, url: str, target: IO[bytes]) -> int:
        """Stream a presigned URL's bytes into `target`; how many there were. Failures are retried as for
        any GET until the first byte has been written (after that, `target` holds part of it)."""
        written = 0

        def attempt() -> None:
            nonlocal written
            with self._http.stream("GET", url) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                for chunk in response.iter_bytes(1024 * 1024):
                    target.write(chunk)
                    written += len(chunk)

        try:
            self._retrying(lambda error: written == 0 and _retryable(error, True))(attempt)
        except httpx.TransportError as error:
            raise _unreachable(url, error) from error
        return written

    def download_to(self, url: str, path: Path) -> Path:
        """Stream a presigned URL's bytes into a file at `path` (written whole or not at all)."""
        partial = path.with_name(f".{path.name}.part")
        try:
            with partial.open("wb") as target:
                self.download(url, target)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        return path
