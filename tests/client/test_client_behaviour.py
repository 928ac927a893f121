"""The client library over a fake transport: errors, retries, logins, uploads that resume, results."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import sdp
from sdp.uploads import DIRECT_UPLOAD_LIMIT
from tests.client.fakes import API, FILE_ID, MIB, STORAGE, FakePlatform, FakeStorage, error, file_record

QUERY_ID = "01KQQQQQQQQQQQQQQQQQQQQQQQ"


@pytest.fixture
def fake() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(fake: FakePlatform, sleeps: list[float], **options: Any) -> sdp.Client:
    options.setdefault("token", "the-token")
    return sdp.Client(API, transport=httpx.MockTransport(fake), retry=sdp.RetryPolicy(sleep=sleeps.append), **options)


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def client(fake: FakePlatform, sleeps: list[float]) -> sdp.Client:
    return make_client(fake, sleeps)


# -- errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, "unauthenticated", sdp.AuthenticationError),
        (403, "forbidden", sdp.PermissionDenied),
        (403, "no_tenant", sdp.PermissionDenied),
        (404, "file_not_found", sdp.NotFound),
        (413, "quota_exceeded", sdp.QuotaExceeded),
        (400, "forbidden_sql", sdp.SqlRefused),
        (429, "too_many_queries", sdp.Throttled),
        (409, "last_admin", sdp.ApiError),
        (400, "invalid_request", sdp.ApiError),
    ],
)
def test_each_error_answer_is_one_exception_of_the_tree(
    fake: FakePlatform, client: sdp.Client, status: int, code: str, kind: type[sdp.ApiError]
) -> None:
    fake.route("GET", f"{API}/files/{FILE_ID}", error(status, code, "Say what to do.", "req-42"))
    with pytest.raises(kind) as raised:
        client.file(FILE_ID)
    assert type(raised.value) is kind
    assert isinstance(raised.value, sdp.ApiError)
    assert isinstance(raised.value, sdp.SdpError)
    assert (raised.value.status, raised.value.code, raised.value.message) == (status, code, "Say what to do.")
    assert raised.value.request_id == "req-42"


def test_a_syntax_error_carries_its_line_and_column(fake: FakePlatform, client: sdp.Client) -> None:
    message = "Syntax error at line 2, column 7: Invalid expression / Unexpected token."
    fake.route("POST", f"{API}/queries", error(400, "invalid_sql", message))
    with pytest.raises(sdp.SqlRefused) as raised:
        client.query("SELECT 1\nFROM t WHERE", wait=False)
    assert (raised.value.line, raised.value.column) == (2, 7)


def test_an_answer_not_in_the_error_shape_still_raises_with_its_status(fake: FakePlatform, client: sdp.Client) -> None:
    fake.route("GET", f"{API}/me", httpx.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(sdp.Unavailable) as raised:
        client.me()
    assert (raised.value.status, raised.value.code) == (502, "http_error")


# -- retries -----------------------------------------------------------------------------------------------------


def test_a_safe_request_is_sent_again_with_growing_delays(
    fake: FakePlatform, client: sdp.Client, sleeps: list[float]
) -> None:
    fake.sequence(
        "GET",
        f"{API}/files/{FILE_ID}",
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("closed"),
        error(503, "service_unavailable"),
        httpx.Response(200, json=file_record()),
    )
    assert client.file(FILE_ID).file_id == FILE_ID
    assert len(fake.sent("GET", f"{API}/files/{FILE_ID}")) == 4
    assert len(sleeps) == 3
    assert sleeps[0] < 8


def test_retries_end_and_the_last_error_is_raised(fake: FakePlatform, client: sdp.Client, sleeps: list[float]) -> None:
    fake.sequence("GET", f"{API}/me", error(503, "service_unavailable", "Try again."))
    with pytest.raises(sdp.Unavailable, match="Try again"):
        client.me()
    assert len(fake.sent("GET", f"{API}/me")) == sdp.RetryPolicy().attempts
    fake.sequence("GET", f"{API}/tables", httpx.ConnectError("refused"))
    with pytest.raises(sdp.NetworkError, match=r"Could not reach api\.test"):
        list(client.tables())


def test_a_post_that_may_have_arrived_is_not_sent_twice(fake: FakePlatform, client: sdp.Client) -> None:
    fake.sequence("POST", f"{API}/queries", httpx.ReadTimeout("no answer"))
    with pytest.raises(sdp.NetworkError):
        client.query("SELECT 1", wait=False)
    assert len(fake.sent("POST", f"{API}/queries")) == 1


def test_a_post_that_never_left_is_sent_again(fake: FakePlatform, client: sdp.Client) -> None:
    query = {"query_id": QUERY_ID, "status": "QUEUED", "sql": "SELECT 1", "submitted_at": "2026-12-03T10:00:00Z"}
    fake.sequence(
        "POST", f"{API}/queries", httpx.ConnectError("refused"), httpx.Response(202, json=query | {"stats": None})
    )
    assert client.query("SELECT 1", wait=False).query_id == QUERY_ID
    assert len(fake.sent("POST", f"{API}/queries")) == 2


def test_a_refusal_is_not_retried(fake: FakePlatform, client: sdp.Client) -> None:
    fake.sequence("DELETE", f"{API}/files/{FILE_ID}", error(403, "forbidden"))
    with pytest.raises(sdp.PermissionDenied):
        client.delete_file(FILE_ID)
    assert len(fake.sent("DELETE", f"{API}/files/{FILE_ID}")) == 1


# -- logins ------------------------------------------------------------------------------------------------------


def tokens(n: int, expires_in: int = 3600, refresh: bool = True) -> dict[str, Any]:
    body = {"id_token": f"id-{n}", "access_token": f"access-{n}", "expires_in": expires_in, "token_type": "Bearer"}
    return body | ({"refresh_token": "refresh-1"} if refresh else {})


ME = {"user_id": "u-1", "email": "ann@example.com", "tenant_id": "t-1", "tenant_name": "Acme", "role": "admin"}


def test_a_login_is_saved_for_its_url_readable_by_its_owner_only(
    fake: FakePlatform, sleeps: list[float], tmp_path: Path
) -> None:
    fake.route("POST", f"{API}/auth/login", httpx.Response(200, json=tokens(1)))
    fake.route("GET", f"{API}/me", httpx.Response(200, json=ME))
    store = sdp.CredentialStore(tmp_path / "sdp")
    client = make_client(fake, sleeps, token=None, store=store)
    assert client.login("ann@example.com", "pw").email == "ann@example.com"
    assert fake.sent("GET", f"{API}/me")[0].headers["Authorization"] == "Bearer id-1"

    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    saved = store.load(API + "/")
    assert saved is not None
    assert (saved.id_token, saved.refresh_token, saved.email) == (
        "id-1",
        "refresh-1",
        ME["email"],
    )
    other = sdp.Login("http://other.test", "bob@example.com", "id-x", "refresh-x", time.time() + 60)
    store.save(other)
    assert client.logout() is True
    assert store.load(API) is None
    assert store.load("http://other.test") == other


def test_a_login_near_expiry_is_refreshed_before_the_request_and_saved(
    fake: FakePlatform, sleeps: list[float], tmp_path: Path
) -> None:
    store = sdp.CredentialStore(tmp_path)
    store.save(sdp.Login(API, "ann@example.com", "id-old", "refresh-1", time.time() + 10))
    fake.route("POST", f"{API}/auth/refresh", httpx.Response(200, json=tokens(2, refresh=False)))
    fake.route("GET", f"{API}/me", httpx.Response(200, json=ME))
    make_client(fake, sleeps, token=None, store=store).me()
    assert json.loads(fake.sent("POST", f"{API}/auth/refresh")[0].content) == {"refresh_token": "refresh-1"}
    assert fake.sent("GET", f"{API}/me")[0].headers["Authorization"] == "Bearer id-2"
    saved = store.load(API)
    assert saved is not None
    assert (saved.id_token, saved.refresh_token) == ("id-2", "refresh-1")
    assert saved.expires_at > time.time() + 3000


def test_a_token_refused_early_is_refreshed_once_then_the_refusal_stands(
    fake: FakePlatform, sleeps: list[float], tmp_path: Path
) -> None:
    store = sdp.CredentialStore(tmp_path)
    store.save(sdp.Login(API, "ann@example.com", "id-old", "refresh-1", time.time() + 3600))
    fake.route("POST", f"{API}/auth/refresh", httpx.Response(200, json=tokens(2, refresh=False)))
    fake.sequence("GET", f"{API}/me", error(401, "unauthenticated"), httpx.Response(200, json=ME))
    client = make_client(fake, sleeps, token=None, store=store)
    assert client.me().role == "admin"
    fake.sequence("GET", f"{API}/me", error(401, "unauthenticated"))
    with pytest.raises(sdp.AuthenticationError):
        client.me()
    assert len(fake.sent("POST", f"{API}/auth/refresh")) == 2  # once per call, never in a loop


def test_a_refresh_token_that_expired_asks_for_a_new_login(
    fake: FakePlatform, sleeps: list[float], tmp_path: Path
) -> None:
    store = sdp.CredentialStore(tmp_path)
    store.save(sdp.Login(API, "ann@example.com", "id-old", "refresh-1", time.time() - 5))
    fake.route("POST", f"{API}/auth/refresh", error(401, "invalid_credentials", "Log in again."))
    with pytest.raises(sdp.LoginExpired, match="has expired: run `sdp login` again") as raised:
        make_client(fake, sleeps, token=None, store=store).me()
    assert raised.value.code == "login_expired"
    assert fake.sent("GET", f"{API}/me") == []
    assert len(fake.sent("POST", f"{API}/auth/refresh")) == 1
    with pytest.raises(sdp.NotLoggedIn, match="not logged in"):
        make_client(fake, sleeps, token=None, store=sdp.CredentialStore(tmp_path / "empty")).me()


def test_a_damaged_credentials_file_is_no_login(tmp_path: Path) -> None:
    store = sdp.CredentialStore(tmp_path)
    store.path.write_text("{not json")
    assert store.load(API) is None


# -- uploads -----------------------------------------------------------------------------------------------------


def test_a_small_file_goes_in_the_request(fake: FakePlatform, client: sdp.Client, tmp_path: Path) -> None:
    path = _written(tmp_path / "sales 2024.csv", b"a,b\n1,2\n")
    fake.route("POST", f"{API}/files", httpx.Response(201, json=file_record(name="sales 2024.csv")))
    seen: list[tuple[int, int]] = []
    record = client.upload(path, wait=False, progress=lambda sent, total: seen.append((sent, total)))
    assert record.status == "UPLOADING"
    (sent,) = fake.sent("POST", f"{API}/files")
    assert sent.url.params["name"] == "sales 2024.csv"
    assert sent.headers["Content-Type"] == "text/csv"
    assert sent.content == b"a,b\n1,2\n"
    assert seen[-1] == (8, 8)


def test_a_mid_sized_file_goes_by_presigned_post_with_the_file_last(
    fake: FakePlatform, client: sdp.Client, tmp_path: Path
) -> None:
    data = os.urandom(DIRECT_UPLOAD_LIMIT + 1000)
    path = _written(tmp_path / "mid.bin", data)
    upload = {"method": "POST", "url": f"{STORAGE}/bucket", "fields": {"key": "tenants/t/raw/x", "policy": "p"}}
    fake.route(
        "POST", f"{API}/uploads", httpx.Response(201, json={"file_id": FILE_ID, "upload": upload, "expires_in": 900})
    )
    fake.route("POST", f"{STORAGE}/bucket", httpx.Response(204))
    fake.route("GET", f"{API}/files/{FILE_ID}", httpx.Response(200, json=file_record(size=len(data))))
    seen: list[int] = []
    client.upload(path, wait=False, progress=lambda sent, _total: seen.append(sent))

    assert json.loads(fake.sent("POST", f"{API}/uploads")[0].content) == {
        "name": "mid.bin",
        "size": len(data),
        "content_type": "application/octet-stream",
    }
    (form,) = fake.sent("POST", f"{STORAGE}/bucket")
    assert "Authorization" not in form.headers  # the presigned form is its own authority
    assert int(form.headers["Content-Length"]) == len(form.content)
    body = form.content
    assert body.index(b'name="key"') < body.index(b'name="policy"') < body.index(b'name="file"')
    assert data in body
    assert seen[-1] == len(data)
    assert seen == sorted(seen)


def multipart(fake: FakePlatform, size: int, part_size: int = MIB) -> FakeStorage:
    storage = FakeStorage(fake, part_size, size)
    fake.route(
        "POST",
        f"{API}/uploads",
        lambda _request: httpx.Response(201, json={"file_id": FILE_ID, "upload": storage.upload(), "expires_in": 900}),
    )
    return storage


def test_a_large_file_goes_in_parts_and_an_interrupted_upload_sends_only_what_is_missing(
    fake: FakePlatform, sleeps: list[float], tmp_path: Path
) -> None:
    data = os.urandom(10 * MIB + 123)
    path = _written(tmp_path / "big.csv", data)
    storage = multipart(fake, len(data))
    store = sdp.CredentialStore(tmp_path / "config")
    client = make_client(fake, sleeps, store=store, upload_concurrency=3)
    storage.fail = lambda number: error(500, "InternalError") if number in (4, 9) else None

    with pytest.raises(sdp.Unavailable):
        client.upload(path, wait=False)
    held = set(storage.parts)
    assert held
    assert not {4, 9} & held
    assert list((store.directory / "uploads").iterdir()), "the upload is remembered to be resumed"
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700  # made by the upload: no login saved yet

    storage.fail = lambda _number: None
    storage.puts.clear()
    seen: list[tuple[int, int]] = []
    record = client.upload(path, wait=False, progress=lambda sent, total: seen.append((sent, total)))
    assert record.size == len(data)
    assert len(fake.sent("POST", f"{API}/uploads")) == 1, "the second run started no new upload"
    assert sorted(storage.puts) == sorted(set(range(1, storage.count + 1)) - held)
    assert storage.assembled() == data
    assert not [put for put in fake.sent("PUT", rf"{STORAGE}/part/\d+") if "Authorization" in put.headers]
    assert seen[-1] == (len(data), len(data))
    assert not list((store.directory / "uploads").iterdir()), "a completed upload is forgotten"


def test_a_part_is_sent_again_after_a_dropped_connection_and_counted_once(
    fake: FakePlatform, client: sdp.Client, tmp_path: Path
) -> None:
    data = os.urandom(5 * MIB)
    path = _written(tmp_path / "big.csv", data)
    storage = multipart(fake, len(data))
    dropped: list[int] = []

    def drop_once(number: int) -> Exception | None:
        if number == 2 and not dropped:
            dropped.append(number)
            return httpx.WriteError("connection reset")
        return None

    storage.fail = drop_once
    seen: list[int] = []
    client.upload(path, wait=False, progress=lambda sent, _total: seen.append(sent))
    assert storage.assembled() == data
    assert len(fake.sent("PUT", rf"{STORAGE}/part/2")) == 2
    assert max(seen) == seen[-1] == len(data)


def test_expired_part_urls_are_renewed_for_every_worker_at_once(
    fake: FakePlatform, sleeps: list[float], tmp_path: Path
) -> None:
    data = os.urandom(10 * MIB)
    path = _written(tmp_path / "big.csv", data)
    storage = multipart(fake, len(data))
    original = storage.put

    def expire_first_urls(request: httpx.Request) -> httpx.Response:
        if request.url.params["v"] == "0":
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message>")
        return original(request)

    fake.route("PUT", rf"{STORAGE}/part/\d+", expire_first_urls)
    make_client(fake, sleeps, upload_concurrency=3).upload(path, wait=False)
    assert storage.assembled() == data
    # The URLs expire together: a renewal fetches the parts after it too, so only the parts in flight when
    # they expired (one per worker at most) are refused and ask; every later part goes with a fresh URL.
    assert 1 <= len(fake.sent("GET", f"{API}/uploads/{FILE_ID}/parts")) <= 3
    assert len(fake.sent("PUT", rf"{STORAGE}/part/\d+")) <= storage.count + 3


def test_a_resumed_upload_that_can_no_longer_go_on_starts_again(
    fake: FakePlatform, sleeps: list[float], tmp_path: Path
) -> None:
    data = os.urandom(5 * MIB)
    path = _written(tmp_path / "big.csv", data)
    storage = multipart(fake, len(data))
    client = make_client(fake, sleeps, store=sdp.CredentialStore(tmp_path / "config"))
    storage.fail = lambda number: error(500, "InternalError") if number == 2 else None
    with pytest.raises(sdp.Unavailable):
        client.upload(path, wait=False)
    fake.route("GET", f"{API}/uploads/{FILE_ID}/parts", error(409, "upload_finished"))
    storage.fail = lambda _number: None
    client.upload(path, wait=False)
    assert len(fake.sent("POST", f"{API}/uploads")) == 2


def test_waiting_for_a_file_raises_its_ingest_error(fake: FakePlatform, client: sdp.Client, tmp_path: Path) -> None:
    path = _written(tmp_path / "bad.csv", b"a,b\n1\n")
    fake.route("POST", f"{API}/files", httpx.Response(201, json=file_record()))
    failed = file_record("FAILED", error={"code": "malformed_file", "message": "Line 2: expected 2 fields, found 1."})
    fake.sequence(
        "GET",
        f"{API}/files/{FILE_ID}",
        httpx.Response(200, json=file_record("PROCESSING")),
        httpx.Response(200, json=failed),
    )
    with pytest.raises(sdp.FileFailed) as raised:
        client.upload(path)
    assert (raised.value.code, raised.value.message) == ("malformed_file", "Line 2: expected 2 fields, found 1.")
    assert raised.value.file.status == "FAILED"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda tmp: tmp, "not_a_file"),
        (lambda tmp: tmp / "missing.csv", "file_not_found"),
        (lambda tmp: _written(tmp / "empty.csv", b""), "empty_file"),
    ],
)
def test_what_cannot_be_uploaded_is_refused_before_anything_is_sent(
    fake: FakePlatform, client: sdp.Client, tmp_path: Path, make: Any, code: str
) -> None:
    with pytest.raises(sdp.UploadRefused) as raised:
        client.upload(make(tmp_path))
    assert raised.value.code == code
    assert fake.requests == []


# -- queries -----------------------------------------------------------------------------------------------------


def query_record(status: str, **fields: Any) -> dict[str, Any]:
    return {
        "query_id": QUERY_ID,
        "status": status,
        "sql": "SELECT n, d FROM t",
        "submitted_at": "2026-12-03T10:00:00Z",
        "completed_at": None,
        "stats": None,
        "error": None,
    } | fields


COLUMNS = [{"name": "n", "type": "bigint"}, {"name": "d", "type": "decimal(10,2)"}]


def test_a_query_is_followed_to_its_end_and_its_rows_read_page_after_page(
    fake: FakePlatform, client: sdp.Client
) -> None:
    fake.route("POST", f"{API}/queries", httpx.Response(202, json=query_record("QUEUED")))
    done = query_record("SUCCEEDED", stats={"runtime_ms": 5, "bytes_scanned": 10, "rows": 3}, columns=COLUMNS)

    def page(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("next_token")
        if token is None and len(fake.sent("GET", f"{API}/queries/{QUERY_ID}")) == 1:
            return httpx.Response(200, json=query_record("RUNNING"))
        rows = {None: [[1, 1.5], [2, None]], "p2": [[3, 2.25]]}[token]
        return httpx.Response(200, json=done | {"rows": rows, "next_token": "p2" if token is None else None})

    fake.route("GET", f"{API}/queries/{QUERY_ID}", page)
    result = client.query("SELECT n, d FROM t")
    assert [c.name for c in result.columns] == ["n", "d"]
    assert list(result.rows) == [[1, 1.5], [2, None], [3, 2.25]]
    assert list(result.rows) == [[1, 1.5], [2, None], [3, 2.25]]  # each iteration reads from the start
    waits = [r.url.params.get("wait") for r in fake.sent("GET", f"{API}/queries/{QUERY_ID}")]
    assert waits[:2] == ["20", "20"]


def test_a_failed_query_raises_with_the_platforms_error(fake: FakePlatform, client: sdp.Client) -> None:
    fake.route("POST", f"{API}/queries", httpx.Response(202, json=query_record("QUEUED")))
    failure = {"code": "query_failed", "message": "Division by zero."}
    fake.route("GET", f"{API}/queries/{QUERY_ID}", httpx.Response(200, json=query_record("FAILED", error=failure)))
    with pytest.raises(sdp.QueryFailed) as raised:
        client.query("SELECT 1/0")
    assert (raised.value.code, raised.value.message) == ("query_failed", "Division by zero.")


def test_cancel_sends_delete_and_a_cancelled_query_raises_when_waited_for(
    fake: FakePlatform, client: sdp.Client
) -> None:
    fake.route("POST", f"{API}/queries", httpx.Response(202, json=query_record("RUNNING")))
    fake.route("DELETE", f"{API}/queries/{QUERY_ID}", httpx.Response(202, json=query_record("CANCELLED")))
    result = client.query("SELECT 1", wait=False)
    assert result.cancel().status == "CANCELLED"
    with pytest.raises(sdp.QueryFailed) as raised:
        result.wait()
    assert raised.value.code == "query_cancelled"


def test_csv_arrow_and_pandas_come_from_the_results_download_with_the_columns_types(
    fake: FakePlatform, client: sdp.Client, tmp_path: Path
) -> None:
    pandas = pytest.importorskip("pandas")
    columns = [
        {"name": "n", "type": "bigint"},
        {"name": "amount", "type": "decimal(10,2)"},
        {"name": "day", "type": "date"},
        {"name": "at", "type": "timestamp"},
        {"name": "ok", "type": "boolean"},
        {"name": "label", "type": "varchar"},
        {"name": "x", "type": "double"},
    ]
    csv_text = (
        '"n","amount","day","at","ok","label","x"\n'
        '"1","10.25","2024-01-02","2024-01-02 03:04:05.000","true","north","1.5"\n'
        '"2",,,,"false","",\n'
    )
    succeeded = query_record("SUCCEEDED", stats={"runtime_ms": 1, "bytes_scanned": 1, "rows": 2}, columns=columns)
    fake.route(
        "GET", f"{API}/queries/{QUERY_ID}", httpx.Response(200, json=succeeded | {"rows": [], "next_token": None})
    )
    fake.route(
        "GET",
        f"{API}/queries/{QUERY_ID}/results.csv",
        httpx.Response(200, json={"url": f"{STORAGE}/results/{QUERY_ID}.csv", "expires_in": 300}),
    )
    fake.route("GET", f"{STORAGE}/results/{QUERY_ID}.csv", httpx.Response(200, content=csv_text.encode()))
    result = client.query_result(QUERY_ID)

    target = result.to_csv(tmp_path / "out.csv")
    assert target.read_text() == csv_text
    assert "Authorization" not in fake.sent("GET", f"{STORAGE}/results/{QUERY_ID}.csv")[0].headers

    table = result.to_arrow()
    assert [str(field.type) for field in table.schema] == [
        "int64",
        "decimal128(10, 2)",
        "date32[day]",
        "timestamp[ms]",
        "bool",
        "string",
        "double",
    ]
    assert table.column("label").to_pylist() == ["north", ""]  # an empty string is not a null
    assert table.column("amount").to_pylist()[1] is None

    frame = result.to_pandas()
    assert list(frame.columns) == [c["name"] for c in columns]
    assert frame["n"].tolist() == [1, 2]
    assert str(frame["at"].iloc[0]) == "2024-01-02 03:04:05"
    assert pandas.isna(frame["x"].iloc[1])


def test_a_compressed_stream_is_sent_as_the_bytes_it_reads(
    fake: FakePlatform, client: sdp.Client, tmp_path: Path
) -> None:
    packed = tmp_path / "data.csv.gz"
    with gzip.open(packed, "wb") as target:
        target.write(b"a,b\n1,2\n" * 100)
    fake.route("POST", f"{API}/files", httpx.Response(201, json=file_record()))
    with gzip.open(packed, "rb") as stream:  # its fileno() is the compressed file's: not what it reads
        client.upload(stream, "data.csv", wait=False)
    assert fake.sent("POST", f"{API}/files")[0].content == b"a,b\n1,2\n" * 100


def test_a_delete_whose_answer_was_lost_is_done_when_the_retry_finds_nothing(
    fake: FakePlatform, client: sdp.Client
) -> None:
    fake.sequence("DELETE", f"{API}/files/{FILE_ID}", httpx.ReadTimeout("lost"), error(404, "file_not_found"))
    client.delete_file(FILE_ID)
    assert len(fake.sent("DELETE", f"{API}/files/{FILE_ID}")) == 2
    fake.sequence("DELETE", f"{API}/files/{FILE_ID}", error(404, "file_not_found"))
    with pytest.raises(sdp.NotFound):  # a first answer of 404 is what it says
        client.delete_file(FILE_ID)


def test_threads_needing_a_refresh_at_once_share_one(fake: FakePlatform, sleeps: list[float], tmp_path: Path) -> None:
    store = sdp.CredentialStore(tmp_path)
    store.save(sdp.Login(API, "ann@example.com", "id-old", "refresh-1", time.time() + 5))
    fake.route("POST", f"{API}/auth/refresh", httpx.Response(200, json=tokens(2, refresh=False)))
    fake.route("GET", f"{API}/me", httpx.Response(200, json=ME))
    client = make_client(fake, sleeps, token=None, store=store)
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(me.role == "admin" for me in pool.map(lambda _n: client.me(), range(16)))
    assert len(fake.sent("POST", f"{API}/auth/refresh")) == 1
    assert {request.headers["Authorization"] for request in fake.sent("GET", f"{API}/me")} == {"Bearer id-2"}


def test_writers_saving_at_once_never_trip_over_each_other(tmp_path: Path) -> None:
    store = sdp.CredentialStore(tmp_path)
    logins = [sdp.Login(f"http://api{n}.test", "ann@example.com", f"id-{n}", None, 0.0) for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda login: [store.save(login) for _ in range(20)], logins))
    assert [store.load(login.url) for login in logins] == logins
    assert [path.name for path in tmp_path.iterdir()] == ["credentials.json"]  # no temporary file left


def test_a_download_is_retried_until_its_first_byte_and_fails_as_a_network_error_after(
    fake: FakePlatform, client: sdp.Client, tmp_path: Path
) -> None:
    url = f"{STORAGE}/results/x.csv"
    fake.sequence("GET", url, httpx.ConnectError("refused"), httpx.Response(200, content=b"n\n1\n"))
    target = client.download_to(url, tmp_path / "x.csv")
    assert target.read_bytes() == b"n\n1\n"

    class BreaksMidway(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b"n\n1\n"
            raise httpx.ReadError("connection reset")

    fake.route("GET", url, lambda _request: httpx.Response(200, stream=BreaksMidway()))
    with pytest.raises(sdp.NetworkError):
        client.download_to(url, tmp_path / "y.csv")
    assert not (tmp_path / "y.csv").exists()  # written whole or not at all


# -- tables of many files ----------------------------------------------------------------------------------------

TABLE_FILE = "01KBBBBBBBBBBBBBBBBBBBBBBB"


@pytest.mark.parametrize(
    "size", [8, DIRECT_UPLOAD_LIMIT + 1000, 5 * MIB], ids=["direct", "presigned-post", "multipart"]
)
def test_an_upload_names_its_table_whichever_way_it_goes(
    fake: FakePlatform, client: sdp.Client, tmp_path: Path, size: int
) -> None:
    data = os.urandom(size)
    path = _written(tmp_path / "may.csv", data)
    record = file_record(size=size, target_table="sales")
    fake.route("POST", f"{API}/files", httpx.Response(201, json=record))
    storage = multipart(fake, size) if size == 5 * MIB else None
    if storage is None:
        upload = {"method": "POST", "url": f"{STORAGE}/bucket", "fields": {"key": "k"}}
        fake.route(
            "POST", f"{API}/uploads", httpx.Response(201, json={"file_id": FILE_ID, "upload": upload, "expires_in": 9})
        )
        fake.route("POST", f"{STORAGE}/bucket", httpx.Response(204))
    fake.route("GET", f"{API}/files/{FILE_ID}", httpx.Response(200, json=record))

    client.upload(path, wait=False, table="sales")
    if storage is not None:
        assert storage.assembled() == data
    if size <= DIRECT_UPLOAD_LIMIT:
        (sent,) = fake.sent("POST", f"{API}/files")
        assert dict(sent.url.params) == {"name": "may.csv", "table": "sales"}
    else:
        (started,) = fake.sent("POST", f"{API}/uploads")
        assert json.loads(started.content) == {
            "name": "may.csv",
            "size": size,
            "content_type": "text/csv",
            "table": "sales",
        }


def test_without_a_table_an_upload_sends_none(fake: FakePlatform, client: sdp.Client) -> None:
    fake.route("POST", f"{API}/files", httpx.Response(201, json=file_record()))
    fake.route(
        "POST",
        f"{API}/uploads",
        httpx.Response(
            201, json={"file_id": FILE_ID, "upload": {"method": "POST", "url": STORAGE, "fields": {}}, "expires_in": 9}
        ),
    )
    client.post_file(b"x\n1\n", "a.csv")
    client.start_upload("a.csv", 10)
    assert "table" not in fake.sent("POST", f"{API}/files")[0].url.params
    assert json.loads(fake.sent("POST", f"{API}/uploads")[0].content) == {"name": "a.csv", "size": 10}


def test_an_interrupted_upload_resumes_only_into_the_table_it_was_started_for(
    fake: FakePlatform, sleeps: list[float], tmp_path: Path
) -> None:
    data = os.urandom(5 * MIB)
    path = _written(tmp_path / "big.csv", data)
    storage = multipart(fake, len(data))
    client = make_client(fake, sleeps, store=sdp.CredentialStore(tmp_path / "config"))
    storage.fail = lambda number: error(500, "InternalError") if number == 2 else None
    with pytest.raises(sdp.Unavailable):
        client.upload(path, wait=False, table="sales")
    storage.fail = lambda _number: None
    client.upload(path, wait=False, table="other")  # another table: a new upload, not the one into sales
    assert [json.loads(r.content).get("table") for r in fake.sent("POST", f"{API}/uploads")] == ["sales", "other"]


def test_a_file_that_does_not_fit_its_table_fails_with_the_platforms_message(
    fake: FakePlatform, client: sdp.Client
) -> None:
    message = 'Line 3: column "amount" holds "n/a", which does not fit the table\'s type bigint.'
    fake.route("POST", f"{API}/files", httpx.Response(201, json=file_record(target_table="sales")))
    failed = file_record("FAILED", target_table="sales", error={"code": "schema_mismatch", "message": message})
    fake.route("GET", f"{API}/files/{FILE_ID}", httpx.Response(200, json=failed))
    with pytest.raises(sdp.FileFailed) as raised:
        client.upload(io.BytesIO(b"amount\n1\nn/a\n"), "bad.csv", table="sales")
    assert (raised.value.code, raised.value.message) == ("schema_mismatch", message)
    assert raised.value.file.target_table == "sales"
    assert raised.value.file.drift is None


def test_a_ready_record_carries_its_target_table_and_drift(fake: FakePlatform, client: sdp.Client) -> None:
    drift = {"added_columns": ["channel"], "missing_columns": ["qty"]}
    fake.route(
        "GET",
        f"{API}/files/{FILE_ID}",
        httpx.Response(200, json=file_record("READY", table="sales", target_table="sales", drift=drift)),
    )
    record = client.file(FILE_ID)
    assert (record.target_table, record.drift) == ("sales", sdp.Drift(**drift))
    fake.route("GET", f"{API}/files/{FILE_ID}", httpx.Response(200, json=file_record()))  # neither field sent
    older = client.file(FILE_ID)
    assert (older.target_table, older.drift) == (None, None)


def test_a_file_search_sends_the_terms_given_on_every_page(fake: FakePlatform, client: sdp.Client) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("next_token")
        files = {None: [file_record("READY", name="jan.csv")], "p2": [], "p3": [file_record("READY", name="feb.csv")]}
        following = {None: "p2", "p2": "p3", "p3": None}[token]
        return httpx.Response(200, json={"files": files[token], "next_token": following})

    fake.route("GET", f"{API}/files", page)
    found = client.files(page_size=50, q="sales", status="READY", format="csv", column_type="decimal(18,2)")
    assert [f.name for f in found] == ["jan.csv", "feb.csv"]  # an empty page in between is no end
    asked = [dict(r.url.params) for r in fake.sent("GET", f"{API}/files")]
    terms = {"limit": "50", "q": "sales", "status": "READY", "format": "csv", "column_type": "decimal(18,2)"}
    assert asked == [terms, terms | {"next_token": "p2"}, terms | {"next_token": "p3"}]

    fake.requests.clear()
    list(client.files(q="jan"))
    assert dict(fake.sent("GET", f"{API}/files")[0].url.params) == {"limit": "1000", "q": "jan"}


def table_entry(**fields: Any) -> dict[str, Any]:
    columns = [{"name": "region", "type": "varchar"}, {"name": "amount", "type": "bigint"}]
    return {"table": "sales", "file_id": TABLE_FILE, "columns": columns, "row_count": 5, "file_count": 2} | fields


def test_a_table_search_sends_q_and_column_type_and_reads_file_count(fake: FakePlatform, client: sdp.Client) -> None:
    fake.route("GET", f"{API}/tables", httpx.Response(200, json={"tables": [table_entry()], "next_token": None}))
    (found,) = client.tables(q="sal", column_type="bigint")
    assert (found.table, found.file_count, found.file_id) == ("sales", 2, TABLE_FILE)
    assert dict(fake.sent("GET", f"{API}/tables")[0].url.params) == {
        "limit": "1000",
        "q": "sal",
        "column_type": "bigint",
    }


def table_file(file_id: str, name: str, added: list[str], missing: list[str] | None = None) -> dict[str, Any]:
    return {
        "file_id": file_id,
        "name": name,
        "row_count": 2,
        "added_at": "2026-12-03T10:00:00Z",
        "added_columns": added,
        "missing_columns": missing or [],
    }


def test_one_table_is_asked_for_by_name_with_every_page_of_its_files(fake: FakePlatform, client: sdp.Client) -> None:
    history = [
        {"column": "region", "type": "varchar", "file_id": FILE_ID, "added_at": "2026-12-03T10:00:00Z"},
        {"column": "amount", "type": "bigint", "file_id": FILE_ID, "added_at": "2026-12-03T10:00:00Z"},
    ]

    def page(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("next_token")
        files = {
            None: [table_file(FILE_ID, "jan.csv", ["region", "amount"])],
            "p2": [table_file(TABLE_FILE, "feb.csv", [])],
        }
        return httpx.Response(
            200,
            json=table_entry(files=files[token], next_token="p2" if token is None else None, schema_history=history),
        )

    fake.route("GET", f"{API}/tables/sales", page)
    detail = client.table("sales", page_size=1)
    assert isinstance(detail, sdp.TableDetail)
    assert [f.name for f in detail.files] == ["jan.csv", "feb.csv"]
    assert detail.files[0].added_columns == ["region", "amount"]
    assert [(c.column, c.type, c.file_id) for c in detail.schema_history] == [
        ("region", "varchar", FILE_ID),
        ("amount", "bigint", FILE_ID),
    ]
    assert (detail.row_count, detail.file_count) == (5, 2)
    assert [r.url.params.get("next_token") for r in fake.sent("GET", f"{API}/tables/sales")] == [None, "p2"]
    assert fake.sent("GET", f"{API}/tables") == []  # no listing of every table to find one


def test_a_table_that_is_not_there_is_not_found_by_its_name(fake: FakePlatform, client: sdp.Client) -> None:
    fake.route("GET", f"{API}/tables/no%20such", error(404, "table_not_found", "No table of yours with that name."))
    with pytest.raises(sdp.NotFound) as raised:
        client.table("no such")
    assert raised.value.code == "table_not_found"
    assert raised.value.message == "No table named 'no such': `sdp tables` lists yours."
    assert raised.value.request_id == "req-1"
    for name in ("", ".", ".."):  # would be another path: refused without asking
        with pytest.raises(sdp.NotFound):
            client.table(name)
    assert len(fake.requests) == 1
