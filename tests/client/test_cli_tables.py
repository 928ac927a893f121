"""What `sdp` prints for tables of many files: uploads into a table with their drift, searches of files and
tables, and `describe` with its files and schema history. The command runs in-process over the fake platform
(tests/e2e/test_cli.py runs it as a subprocess against the local one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import sdp
from sdp.cli import Session, main
from tests.client.fakes import API, FILE_ID, FakePlatform, error, file_record

OTHER_ID = "01KBBBBBBBBBBBBBBBBBBBBBBB"
COLUMNS = [{"name": "region", "type": "varchar"}, {"name": "amount", "type": "bigint"}]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePlatform:
    platform = FakePlatform()
    client = sdp.Client(
        API, "the-token", transport=httpx.MockTransport(platform), retry=sdp.RetryPolicy(sleep=lambda _seconds: None)
    )
    monkeypatch.setattr(Session, "client", property(lambda _session: client))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    return platform


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return int(exited.value.code or 0), captured.out, captured.err


def _lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


# -- sdp upload --table ------------------------------------------------------------------------------------------


def _uploads_into(fake: FakePlatform, outcomes: dict[str, dict[str, Any]]) -> None:
    """Each file POSTed gets its own id; GET answers the outcome set for its name."""
    names: dict[str, str] = {}

    def post(request: httpx.Request) -> httpx.Response:
        name = request.url.params["name"]
        names[file_id := f"01KFILE{len(names):019d}"] = name
        return httpx.Response(201, json=file_record(file_id=file_id, name=name, target_table="sales"))

    def get(request: httpx.Request) -> httpx.Response:
        file_id = request.url.path.rsplit("/", 1)[1]
        name = names[file_id]
        return httpx.Response(200, json=file_record(file_id=file_id, name=name, target_table="sales") | outcomes[name])

    fake.route("POST", f"{API}/files", post)
    fake.route("GET", rf"{API}/files/01KFILE\d+", get)


def test_upload_into_a_table_says_rows_added_and_drift_and_a_file_that_does_not_fit_fails_alone(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("jan.csv", "mar.csv", "bad.csv", "dup.csv"):
        (tmp_path / name).write_text("region,amount\nnorth,1\n")
    mismatch = 'Line 3: column "amount" holds "n/a", which does not fit the table\'s type bigint.'
    duplicate = f"The table already holds this content: jan.csv ({OTHER_ID})."
    ready = {"status": "READY", "table": "sales", "row_count": 2}
    _uploads_into(
        fake,
        {
            "jan.csv": ready
            | {"columns": COLUMNS, "drift": {"added_columns": ["region", "amount"], "missing_columns": []}},
            "mar.csv": ready
            | {
                "row_count": 1,
                "columns": [*COLUMNS[:1], {"name": "channel", "type": "varchar"}],
                "drift": {"added_columns": ["channel"], "missing_columns": ["amount"]},
            },
            "bad.csv": {"status": "FAILED", "error": {"code": "schema_mismatch", "message": mismatch}},
            "dup.csv": {"status": "FAILED", "error": {"code": "duplicate_file", "message": duplicate}},
        },
    )
    code, out, err = run(capsys, "upload", "--table", "sales", "jan.csv", "bad.csv", "mar.csv", "dup.csv")

    assert code == 1
    assert [r.url.params["table"] for r in fake.sent("POST", f"{API}/files")] == ["sales"] * 4
    assert "✓ jan.csv → table sales: +2 rows, 2 columns (region varchar, amount bigint)" in err
    assert "columns added: region, amount" in err
    assert "✓ mar.csv → table sales: +1 row, 2 columns (region varchar, channel varchar)" in err
    assert "columns added: channel" in err
    assert "columns missing (NULL in its rows): amount" in err
    assert f"error: bad.csv (01KFILE0000000000000000001): schema_mismatch: {mismatch}" in err
    assert f"error: dup.csv (01KFILE0000000000000000003): duplicate_file: {duplicate}" in err
    assert out.split() == ["01KFILE0000000000000000000", "01KFILE0000000000000000002"]  # the files READY


def test_a_table_name_refused_stops_before_the_next_file(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("a.csv", "b.csv"):
        (tmp_path / name).write_text("x\n1\n")
    refused = "A table name is 1-120 characters of a-z, 0-9 and _, not starting with a digit."
    fake.route("POST", f"{API}/files", error(400, "invalid_table_name", refused))
    code, out, err = run(capsys, "upload", "--table", "Sales", "a.csv", "b.csv")
    assert (code, out) == (1, "")
    assert f"error: a.csv: invalid_table_name: {refused} (request id req-1)" in err
    assert len(fake.sent("POST", f"{API}/files")) == 1


def test_upload_without_wait_says_which_table_the_file_goes_to(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n")
    fake.route("POST", f"{API}/files", httpx.Response(201, json=file_record(target_table="sales")))
    code, out, err = run(capsys, "upload", "--table", "sales", "--no-wait", "a.csv")
    assert (code, out.strip()) == (0, FILE_ID)
    assert f"uploaded as {FILE_ID} (UPLOADING, into table sales)" in err


# -- searches ----------------------------------------------------------------------------------------------------


def test_ls_searches_with_every_term_given(fake: FakePlatform, capsys: pytest.CaptureFixture[str]) -> None:
    found = file_record("READY", name="jan.csv", table="sales", row_count=2, format="csv")
    fake.route("GET", f"{API}/files", httpx.Response(200, json={"files": [found], "next_token": None}))
    args = ("ls", "--search", "sales", "--status", "ready", "--format", "csv", "--column-type", "bigint")
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert dict(fake.sent("GET", f"{API}/files")[0].url.params) == {
        "limit": "1000",
        "q": "sales",
        "status": "READY",
        "format": "csv",
        "column_type": "bigint",
    }
    assert _lines(out)[1][:3] == [FILE_ID, "jan.csv", "READY"]
    assert "sales" in _lines(out)[1]

    fake.route("GET", f"{API}/files", httpx.Response(200, json={"files": [], "next_token": None}))
    code, out, err = run(capsys, "ls", "--search", "nothing")
    assert (code, out, err.strip()) == (0, "", "No files match.")


def test_ls_refuses_a_status_or_format_the_platform_has_not(capsys: pytest.CaptureFixture[str]) -> None:
    for option, value in (("--status", "DONE"), ("--format", "xlsx")):
        code, _, err = run(capsys, "ls", option, value)
        assert code == 2
        assert f"'{value}' is not one of" in err


def test_tables_searches_and_shows_how_many_files_each_has(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = {"table": "sales", "file_id": OTHER_ID, "columns": COLUMNS, "row_count": 1234, "file_count": 3}
    fake.route("GET", f"{API}/tables", httpx.Response(200, json={"tables": [entry], "next_token": None}))
    code, out, _ = run(capsys, "tables", "--search", "sal", "--column-type", "bigint")
    assert code == 0
    assert dict(fake.sent("GET", f"{API}/tables")[0].url.params) == {
        "limit": "1000",
        "q": "sal",
        "column_type": "bigint",
    }
    assert _lines(out) == [
        ["TABLE", "ROWS", "COLUMNS", "FILES", "LATEST", "FILE", "ID"],
        ["sales", "1,234", "2", "3", OTHER_ID],
    ]

    fake.route("GET", f"{API}/tables", httpx.Response(200, json={"tables": [], "next_token": None}))
    assert run(capsys, "tables", "--search", "zzz")[2].strip() == "No tables match."


# -- describe ----------------------------------------------------------------------------------------------------

DETAIL = {
    "table": "sales",
    "file_id": OTHER_ID,
    "columns": [*COLUMNS, {"name": "channel", "type": "varchar"}],
    "row_count": 5,
    "file_count": 2,
    "files": [
        {
            "file_id": FILE_ID,
            "name": "jan.csv",
            "row_count": 2,
            "added_at": "2026-12-03T10:00:00Z",
            "added_columns": ["region", "amount"],
            "missing_columns": [],
        },
        {
            "file_id": OTHER_ID,
            "name": "mar.csv",
            "row_count": 3,
            "added_at": "2026-12-03T11:30:00Z",
            "added_columns": ["channel"],
            "missing_columns": ["amount"],
        },
    ],
    "next_token": None,
    "schema_history": [
        {"column": "region", "type": "varchar", "file_id": FILE_ID, "added_at": "2026-12-03T10:00:00Z"},
        {"column": "amount", "type": "bigint", "file_id": FILE_ID, "added_at": "2026-12-03T10:00:00Z"},
        {"column": "channel", "type": "varchar", "file_id": OTHER_ID, "added_at": "2026-12-03T11:30:00Z"},
    ],
}


def test_describe_shows_columns_then_files_then_schema_history(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.route("GET", f"{API}/tables/sales", httpx.Response(200, json=DETAIL))
    code, out, _ = run(capsys, "describe", "sales")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "sales: 5 rows in 2 files, 3 columns"
    assert lines[1].split() == ["COLUMN", "TYPE", "IN", "THE", "FILE"]
    assert [line.split() for line in lines[2:5]] == [
        ["region", "varchar"],
        ["amount", "bigint"],
        ["channel", "varchar"],
    ]
    files = lines.index("Files (2, oldest first):")
    assert lines[files + 1].split() == [
        "NAME",
        "FILE",
        "ID",
        "ROWS",
        "ADDED",
        "(UTC)",
        "COLUMNS",
        "ADDED",
        "COLUMNS",
        "MISSING",
    ]
    assert lines[files + 2].split() == ["jan.csv", FILE_ID, "2", "2026-12-03", "10:00:00", "region,", "amount"]
    assert lines[files + 3].split() == ["mar.csv", OTHER_ID, "3", "2026-12-03", "11:30:00", "channel", "amount"]
    history = lines.index("Schema history (columns in the order they were added):")
    assert history > files
    assert lines[history + 1].split() == ["COLUMN", "TYPE", "ADDED", "BY", "FILE", "FILE", "ID", "WHEN", "(UTC)"]
    assert [line.split() for line in lines[history + 2 :]] == [
        ["region", "varchar", "jan.csv", FILE_ID, "2026-12-03", "10:00:00"],
        ["amount", "bigint", "jan.csv", FILE_ID, "2026-12-03", "10:00:00"],
        ["channel", "varchar", "mar.csv", OTHER_ID, "2026-12-03", "11:30:00"],
    ]
    assert fake.sent("GET", f"{API}/tables") == []


def test_describe_json_is_the_whole_detail_and_a_missing_table_is_named(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    first = DETAIL | {"files": DETAIL["files"][:1], "next_token": "p2"}
    second = DETAIL | {"files": DETAIL["files"][1:], "next_token": None}
    fake.route(
        "GET",
        f"{API}/tables/sales",
        lambda request: httpx.Response(200, json=second if request.url.params.get("next_token") else first),
    )
    code, out, _ = run(capsys, "describe", "sales", "--json")
    assert code == 0
    shown = json.loads(out)
    assert set(shown) == {"table", "file_id", "columns", "row_count", "file_count", "files", "schema_history"}
    assert [f["name"] for f in shown["files"]] == ["jan.csv", "mar.csv"]  # both pages
    assert shown["schema_history"][2] == DETAIL["schema_history"][2] | {"added_at": "2026-12-03T11:30:00Z"}

    fake.route("GET", f"{API}/tables/nosuch", error(404, "table_not_found", "No table of yours with that name."))
    code, out, err = run(capsys, "describe", "nosuch")
    assert (code, out) == (1, "")
    assert "error: table_not_found: No table named 'nosuch': `sdp tables` lists yours. (request id req-1)" in err
