"""Query economics in the client: `sdp usage`, `sdp budget set`, `sdp query --dry-run`, reused results, a query
refused over budget, and `sdp saved`. The command runs in-process over the fake platform, as does the library
(tests/e2e/test_cli_economics.py runs the command as a subprocess against the local platform)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import sdp
from sdp.cli import Session, main, parse_size
from tests.client.fakes import API, FakePlatform, error

QUERY_ID = "01KQQQQQQQQQQQQQQQQQQQQQQQ"
DAILY_ID = "01KSAVEDAAAAAAAAAAAAAAAAAA"
WEEKLY_ID = "01KSAVEDBBBBBBBBBBBBBBBBBB"
TWIN_ID = "01KSAVEDCCCCCCCCCCCCCCCCCC"
ANN, BOB = "u-ann", "u-bob"
RESETS = "2027-01-01T00:00:00Z"

USAGE = {
    "month": "2026-12",
    "resets_at": RESETS,
    "bytes_used": 1_500_000,
    "quota_bytes": 10_000_000_000,
    "file_count": 3,
    "quota_files": 10_000,
    "bytes_scanned": 30_000_000,
    "monthly_scan_budget_bytes": 50_000_000_000,
    "remaining_scan_bytes": 49_970_000_000,
    "query_count": 12,
}

ESTIMATE = {
    "dry_run": True,
    "bytes_to_scan": 123_456,
    "billed_bytes": 10_485_760,
    "estimated_cost_usd": 0.0000476837,
    "tables": ["sales"],
    "columns": {"sales": ["amount", "region"]},
    "within_budget": True,
    "remaining_scan_bytes": 49_970_000_000,
    "resets_at": RESETS,
}


def saved_record(saved_id: str, name: str, author: str = ANN, **fields: Any) -> dict[str, Any]:
    return {
        "saved_query_id": saved_id,
        "name": name,
        "sql": "SELECT region, sum(amount) AS total FROM sales GROUP BY region",
        "description": None,
        "author_id": author,
        "created_at": "2026-12-04T09:00:00Z",
        "updated_at": "2026-12-04T10:30:00Z",
    } | fields


SAVED = [
    saved_record(WEEKLY_ID, "weekly", BOB, sql="SELECT count(*) AS n FROM sales", updated_at="2026-12-04T11:00:00Z"),
    saved_record(DAILY_ID, "daily totals", description="Totals by region"),
]
MEMBERS = {
    "members": [
        {"user_id": ANN, "email": "ann@example.com", "role": "admin"},
        {"user_id": BOB, "email": "bob@example.com", "role": "analyst"},
    ]
}


def query_record(status: str = "QUEUED", **fields: Any) -> dict[str, Any]:
    return {
        "query_id": QUERY_ID,
        "status": status,
        "sql": "SELECT region, sum(amount) AS total FROM sales GROUP BY region",
        "submitted_at": "2026-12-04T10:00:00Z",
        "completed_at": None,
        "stats": None,
        "error": None,
        "reused": False,
    } | fields


def succeeded(reused: bool = False) -> dict[str, Any]:
    return query_record(
        "SUCCEEDED",
        completed_at="2026-12-04T10:00:01Z",
        stats={"runtime_ms": 250, "bytes_scanned": 0 if reused else 4_096, "rows": 2},
        reused=reused,
        columns=[{"name": "region", "type": "varchar"}, {"name": "total", "type": "bigint"}],
        rows=[["north", 15], ["south", 3]],
        next_token=None,
    )


def budget_exceeded(
    message: str = "This query would scan 2.1 GB; your tenant's monthly budget has 1.0 MB left.",
) -> Any:
    return httpx.Response(
        429,
        json={
            "error": {
                "code": "budget_exceeded",
                "message": message,
                "request_id": "req-9",
                "remaining_scan_bytes": 1_048_576,
                "resets_at": RESETS,
            }
        },
    )


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakePlatform:
    platform = FakePlatform()
    client = sdp.Client(
        API, "the-token", transport=httpx.MockTransport(platform), retry=sdp.RetryPolicy(sleep=lambda _seconds: None)
    )
    monkeypatch.setattr(Session, "client", property(lambda _session: client))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    platform.route("GET", f"{API}/tenant/members", httpx.Response(200, json=MEMBERS))
    return platform


@pytest.fixture
def client(fake: FakePlatform) -> sdp.Client:
    return sdp.Client(
        API, "the-token", transport=httpx.MockTransport(fake), retry=sdp.RetryPolicy(sleep=lambda _seconds: None)
    )


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return int(exited.value.code or 0), captured.out, captured.err


def sent_json(fake: FakePlatform, method: str, pattern: str) -> list[Any]:
    return [json.loads(request.content) for request in fake.sent(method, pattern)]


def _lines(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


# -- the library -------------------------------------------------------------------------------------------------


def test_usage_and_estimate_are_typed_records(fake: FakePlatform, client: sdp.Client) -> None:
    fake.route("GET", f"{API}/tenant/usage", httpx.Response(200, json=USAGE))
    fake.route("POST", f"{API}/queries", httpx.Response(200, json=ESTIMATE))
    found = client.usage()
    assert (found.month, found.bytes_scanned, found.remaining_scan_bytes) == ("2026-12", 30_000_000, 49_970_000_000)
    assert found.resets_at == datetime(2027, 1, 1, tzinfo=UTC)

    estimate = client.estimate("SELECT region, amount FROM sales")
    assert sent_json(fake, "POST", f"{API}/queries") == [{"sql": "SELECT region, amount FROM sales", "dry_run": True}]
    assert (estimate.bytes_to_scan, estimate.billed_bytes, estimate.within_budget) == (123_456, 10_485_760, True)
    assert estimate.columns == {"sales": ["amount", "region"]}
    assert estimate.estimated_cost_usd == pytest.approx(0.0000476837)


def test_set_budget_sends_bytes_or_null_and_refuses_what_is_not_a_size(fake: FakePlatform, client: sdp.Client) -> None:
    def patch(request: httpx.Request) -> httpx.Response:
        budget = json.loads(request.content)["monthly_scan_budget_bytes"]
        return httpx.Response(200, json={"tenant_id": "t-1", "name": "Acme", "monthly_scan_budget_bytes": budget})

    fake.route("PATCH", f"{API}/tenant", patch)
    assert client.set_budget(5_000).monthly_scan_budget_bytes == 5_000
    assert client.set_budget(None).monthly_scan_budget_bytes is None
    assert sent_json(fake, "PATCH", f"{API}/tenant") == [
        {"monthly_scan_budget_bytes": 5_000},
        {"monthly_scan_budget_bytes": None},
    ]
    for bad, kind in ((-1, ValueError), (1.5, TypeError), (True, TypeError), ("50GB", TypeError)):
        with pytest.raises(kind):
            client.set_budget(bad)  # type: ignore[arg-type]
    assert len(fake.sent("PATCH", f"{API}/tenant")) == 2


def test_budget_exceeded_is_throttled_and_says_what_is_left_and_when_it_resets(
    fake: FakePlatform, client: sdp.Client
) -> None:
    fake.sequence("POST", f"{API}/queries", budget_exceeded())
    with pytest.raises(sdp.BudgetExceeded) as raised:
        client.query("SELECT * FROM sales")
    over = raised.value
    assert isinstance(over, sdp.Throttled)
    assert (over.status, over.code, over.request_id) == (429, "budget_exceeded", "req-9")
    assert over.remaining_scan_bytes == 1_048_576
    assert over.resets_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert over.message == (
        "The query would scan more than is left of this month's scan budget: 1.0 MB (1,048,576 bytes) left until "
        "the budget resets 2027-01-01 00:00 UTC."
    )
    assert over.server_message == "This query would scan 2.1 GB; your tenant's monthly budget has 1.0 MB left."
    assert len(fake.sent("POST", f"{API}/queries")) == 1  # never sent again: it would be refused again


def test_saved_queries_come_page_after_page_and_each_call_has_its_route(fake: FakePlatform, client: sdp.Client) -> None:
    fake.route(
        "GET",
        f"{API}/saved-queries",
        lambda request: httpx.Response(
            200,
            json={"saved_queries": SAVED[1:], "next_token": None}
            if request.url.params.get("next_token") == "p2"
            else {"saved_queries": SAVED[:1], "next_token": "p2"},
        ),
    )
    assert [s.name for s in client.saved_queries()] == ["weekly", "daily totals"]
    fake.route("GET", f"{API}/saved-queries/{DAILY_ID}", httpx.Response(200, json=SAVED[1]))
    assert client.saved_query(DAILY_ID).description == "Totals by region"
    fake.route("POST", f"{API}/saved-queries", httpx.Response(201, json=SAVED[1]))
    client.save_query("daily totals", "SELECT 1")
    client.save_query("daily totals", "SELECT 1", description="Totals")
    assert sent_json(fake, "POST", f"{API}/saved-queries") == [
        {"name": "daily totals", "sql": "SELECT 1"},
        {"name": "daily totals", "sql": "SELECT 1", "description": "Totals"},
    ]
    fake.route("PATCH", f"{API}/saved-queries/{DAILY_ID}", httpx.Response(200, json=SAVED[1]))
    client.update_saved_query(DAILY_ID, sql="SELECT 2")
    client.update_saved_query(DAILY_ID, name="daily", clear_description=True)
    assert sent_json(fake, "PATCH", f"{API}/saved-queries/{DAILY_ID}") == [
        {"sql": "SELECT 2"},
        {"name": "daily", "description": None},
    ]
    with pytest.raises(ValueError, match="at least one"):
        client.update_saved_query(DAILY_ID)
    with pytest.raises(ValueError, match="not both"):
        client.update_saved_query(DAILY_ID, description="new", clear_description=True)
    fake.route("DELETE", f"{API}/saved-queries/{DAILY_ID}", httpx.Response(204))
    client.delete_saved_query(DAILY_ID)
    fake.route("GET", f"{API}/saved-queries/nosuch", error(404, "saved_query_not_found", "No saved query."))
    with pytest.raises(sdp.NotFound):
        client.saved_query("nosuch")
    with pytest.raises(sdp.NotFound):
        client.saved_query("..")  # never sent: the path would name another route
    assert fake.sent("GET", f"{API}/") == []


def test_running_a_saved_query_waits_for_its_result_as_a_query_does(fake: FakePlatform, client: sdp.Client) -> None:
    fake.route("POST", f"{API}/saved-queries/{DAILY_ID}/run", httpx.Response(202, json=query_record()))
    fake.sequence(
        "GET",
        f"{API}/queries/{QUERY_ID}",
        httpx.Response(200, json=query_record("RUNNING")),
        httpx.Response(200, json=succeeded(True)),
    )
    result = client.run_saved_query(DAILY_ID)
    assert result.query.reused is True
    assert list(result.rows) == [["north", 15], ["south", 3]]
    assert len(fake.sent("GET", f"{API}/queries/{QUERY_ID}")) == 2

    fake.route(
        "GET",
        f"{API}/queries/{QUERY_ID}",
        httpx.Response(200, json=query_record("FAILED", error={"code": "query_failed", "message": "Division by zero"})),
    )
    with pytest.raises(sdp.QueryFailed, match="Division by zero"):
        client.run_saved_query(DAILY_ID)


# -- sdp usage ---------------------------------------------------------------------------------------------------


def test_usage_shows_storage_files_scans_and_queries_against_their_limits(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.route("GET", f"{API}/tenant/usage", httpx.Response(200, json=USAGE))
    code, out, _ = run(capsys, "usage")
    assert code == 0
    assert _lines(out) == [
        ["USAGE", "USED", "LIMIT", "LEFT"],
        ["storage", "1.5", "MB", "10.0", "GB", "10.0", "GB"],
        ["files", "3", "10,000", "9,997"],
        ["scanned", "in", "2026-12", "30.0", "MB", "50.0", "GB", "50.0", "GB"],
        ["queries", "in", "2026-12", "12"],
        ["The", "month's", "scans", "and", "queries", "count", "from", "zero", "again", "2027-01-01", "00:00", "UTC."],
    ]

    fake.route(
        "GET",
        f"{API}/tenant/usage",
        httpx.Response(200, json=USAGE | {"monthly_scan_budget_bytes": None, "remaining_scan_bytes": None}),
    )
    code, out, _ = run(capsys, "usage")
    assert code == 0
    assert _lines(out)[3] == ["scanned", "in", "2026-12", "30.0", "MB", "no", "budget"]
    code, out, _ = run(capsys, "usage", "--json")
    assert code == 0
    assert json.loads(out) == USAGE | {
        "monthly_scan_budget_bytes": None,
        "remaining_scan_bytes": None,
        "resets_at": "2027-01-01T00:00:00Z",
    }


# -- sdp budget set ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "sent", "said"),
    [
        ("50GB", 50_000_000_000, "The monthly scan budget of Acme is now 50.0 GB (50,000,000,000 bytes)."),
        ("1.5TiB", 1_649_267_441_664, "is now 1.6 TB (1,649,267,441,664 bytes)."),
        ("500 mib", 524_288_000, "is now 524.3 MB (524,288,000 bytes)."),
        ("1000000", 1_000_000, "is now 1.0 MB (1,000,000 bytes)."),
        ("0", 0, "is now 0 bytes."),
        ("none", None, "Removed the monthly scan budget of Acme: queries are not held to one."),
        ("NONE", None, "Removed the monthly scan budget of Acme"),
    ],
)
def test_budget_set_takes_sizes_with_units_or_none(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str], given: str, sent: int | None, said: str
) -> None:
    fake.route(
        "PATCH",
        f"{API}/tenant",
        lambda request: httpx.Response(200, json={"tenant_id": "t-1", "name": "Acme"} | json.loads(request.content)),
    )
    code, out, err = run(capsys, "budget", "set", given)
    assert (code, out) == (0, "")
    assert said in err
    assert sent_json(fake, "PATCH", f"{API}/tenant") == [{"monthly_scan_budget_bytes": sent}]


@pytest.mark.parametrize("given", ["50 GX", "fifty", "1.5.2GB", "GB", "", "12 gigabytes", "1e9"])
def test_budget_set_refuses_what_is_not_a_size_before_sending(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str], given: str
) -> None:
    code, out, err = run(capsys, "budget", "set", given)
    assert (code, out) == (2, "")
    assert f"{given!r} is not a size: give bytes (50000000000), a size with its unit (50GB, 1.5TiB, 500MiB)" in err
    assert fake.sent("PATCH", f"{API}/tenant") == []


def test_parse_size_reads_decimal_and_binary_units() -> None:
    assert parse_size("2kB") == 2_000
    assert parse_size("2KiB") == 2_048
    assert parse_size(".5 GB") == 500_000_000
    assert parse_size("1.0000001KB") == 1_000  # rounded down to a whole byte
    for bad in ("-5GB", "5 XB", "5 GBs"):
        with pytest.raises(ValueError, match=bad):
            parse_size(bad)


def test_budget_set_by_a_member_who_is_not_an_admin_says_who_can(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.route("PATCH", f"{API}/tenant", error(403, "forbidden", "Your role does not allow this.", "req-403"))
    code, out, err = run(capsys, "budget", "set", "10GB")
    assert (code, out) == (1, "")
    assert err.strip() == (
        "error: forbidden: Only an admin can set the tenant's scan budget: `sdp members` lists your tenant's admins. "
        "(request id req-403)"
    )


# -- sdp query --dry-run, reused results, the budget -------------------------------------------------------------


def test_dry_run_prints_the_estimate_and_runs_nothing(fake: FakePlatform, capsys: pytest.CaptureFixture[str]) -> None:
    fake.route("POST", f"{API}/queries", httpx.Response(200, json=ESTIMATE))
    code, out, err = run(capsys, "query", "--dry-run", "SELECT region, amount FROM sales")
    assert code == 0
    assert [line.strip() for line in out.splitlines()] == [
        "bytes to scan  123.5 kB (123,456 bytes)",
        "billed  10.5 MB (10,485,760 bytes): whole MiB, 10 MiB at least",
        "estimated cost  $0.000048",
        "tables  sales",
        "columns  sales: amount, region",
        "budget  within budget: 50.0 GB (49,970,000,000 bytes) left until 2027-01-01 00:00 UTC",
    ]
    assert "Dry run: nothing ran." in err
    assert sent_json(fake, "POST", f"{API}/queries") == [{"sql": "SELECT region, amount FROM sales", "dry_run": True}]
    assert fake.sent("GET", rf"{API}/queries/.*") == []

    code, out, _ = run(capsys, "query", "--dry-run", "--json", "SELECT region, amount FROM sales")
    assert code == 0
    assert json.loads(out) == {key: value for key, value in ESTIMATE.items() if key != "dry_run"}


def test_dry_run_over_budget_or_without_one_still_exits_0(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    over = ESTIMATE | {"within_budget": False, "remaining_scan_bytes": 0, "estimated_cost_usd": 12.5}
    fake.route("POST", f"{API}/queries", httpx.Response(200, json=over))
    (tmp_path / "q.sql").write_text("SELECT * FROM sales")
    code, out, _ = run(capsys, "query", "--dry-run", "-f", "q.sql")
    assert code == 0
    assert "estimated cost  $12.50" in out
    assert "budget  OVER BUDGET: 0 bytes left until 2027-01-01 00:00 UTC; running it would be refused" in out
    assert json.loads(fake.bodies[-1])["sql"] == "SELECT * FROM sales"

    unbudgeted = ESTIMATE | {"remaining_scan_bytes": None, "tables": [], "columns": {}}
    fake.route("POST", f"{API}/queries", httpx.Response(200, json=unbudgeted))
    code, out, _ = run(capsys, "query", "--dry-run", "SELECT 1")
    assert code == 0
    assert "budget  no monthly scan budget set" in out
    assert "tables  (none)" in out


def test_dry_run_shows_a_guard_error_as_a_query_does(fake: FakePlatform, capsys: pytest.CaptureFixture[str]) -> None:
    message = "Syntax error at line 1, column 20: Invalid expression / Unexpected token."
    fake.route("POST", f"{API}/queries", error(400, "invalid_sql", message, "req-sql"))
    code, out, err = run(capsys, "query", "--dry-run", "SELECT x FROM a WHER y")
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0] == f"error: invalid_sql: {message} (request id req-sql)"
    assert lines[1] == "1 | SELECT x FROM a WHER y"
    assert lines[2] == " " * len("1 | SELECT x FROM a ") + "^^^^"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--dry-run", "--output", "x.csv"), "--dry-run runs nothing"),
        (("--dry-run", "--no-wait"), "--dry-run runs nothing"),
        (("--dry-run", "--format", "json"), "--dry-run runs nothing"),
        (("--json",), "--json goes with --dry-run"),
    ],
)
def test_dry_run_options_that_do_not_go_together_are_usage_errors(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, _, err = run(capsys, "query", "SELECT 1", *args)
    assert code == 2
    assert message in err
    assert fake.requests == []


def test_a_reused_result_is_said_on_stderr(fake: FakePlatform, capsys: pytest.CaptureFixture[str]) -> None:
    fake.route("POST", f"{API}/queries", httpx.Response(202, json=query_record()))
    fake.route("GET", f"{API}/queries/{QUERY_ID}", httpx.Response(200, json=succeeded(reused=True)))
    code, out, err = run(
        capsys, "query", "SELECT region, sum(amount) AS total FROM sales GROUP BY region", "--format", "table"
    )
    assert code == 0
    assert _lines(out) == [["region", "total"], ["north", "15"], ["south", "3"]]
    assert "Reused the result of an earlier identical query: nothing was scanned." in err
    assert "2 rows · 0.25 s · 0 bytes scanned" in err

    code, out, err = run(capsys, "query", "SELECT 1", "--format", "json")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"region": "north", "total": 15},
        {"region": "south", "total": 3},
    ]

    fake.route("GET", f"{API}/queries/{QUERY_ID}", httpx.Response(200, json=succeeded(reused=False)))
    code, out, err = run(capsys, "query", "SELECT 1", "--format", "json")
    assert code == 0
    assert "Reused" not in err
    assert "2 rows · 0.25 s · 4.1 kB scanned" in err


def test_a_query_over_budget_says_what_is_left_and_when_it_resets(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.route("POST", f"{API}/queries", budget_exceeded())
    code, out, err = run(capsys, "query", "SELECT * FROM sales")
    assert (code, out) == (1, "")
    assert (
        "error: budget_exceeded: The query would scan more than is left of this month's scan budget: 1.0 MB "
        "(1,048,576 bytes) left until the budget resets 2027-01-01 00:00 UTC. (request id req-9)"
    ) in " ".join(err.split())
    assert "sdp query --dry-run" in err

    # An answer without the two fields still says the platform's words.
    fake.route("POST", f"{API}/queries", error(429, "budget_exceeded", "Over the budget.", "req-10"))
    code, out, err = run(capsys, "query", "SELECT * FROM sales")
    assert (code, out) == (1, "")
    assert "error: budget_exceeded: Over the budget. (request id req-10)" in err


# -- sdp saved ---------------------------------------------------------------------------------------------------


def _saved_listing(fake: FakePlatform, entries: list[dict[str, Any]]) -> None:
    fake.route("GET", f"{API}/saved-queries", httpx.Response(200, json={"saved_queries": entries, "next_token": None}))


def test_saved_ls_lists_id_name_author_and_update(fake: FakePlatform, capsys: pytest.CaptureFixture[str]) -> None:
    _saved_listing(fake, SAVED)
    code, out, _ = run(capsys, "saved", "ls")
    assert code == 0
    assert _lines(out) == [
        ["ID", "NAME", "AUTHOR", "UPDATED", "(UTC)"],
        [WEEKLY_ID, "weekly", "bob@example.com", "2026-12-04", "11:00:00"],
        [DAILY_ID, "daily", "totals", "ann@example.com", "2026-12-04", "10:30:00"],
    ]
    code, out, _ = run(capsys, "saved", "ls", "--json")
    assert code == 0
    assert [entry["saved_query_id"] for entry in json.loads(out)] == [WEEKLY_ID, DAILY_ID]
    assert json.loads(out)[1]["description"] == "Totals by region"

    _saved_listing(fake, [])
    code, out, err = run(capsys, "saved", "ls")
    assert (code, out, err.strip()) == (0, "", "No saved queries.")


def test_saved_save_takes_the_sql_as_an_argument_or_a_file_and_prints_the_id(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake.route("POST", f"{API}/saved-queries", httpx.Response(201, json=SAVED[1]))
    code, out, err = run(capsys, "saved", "save", "daily totals", "SELECT 1", "--description", "Totals by region")
    assert (code, out.strip()) == (0, DAILY_ID)
    assert f"Saved 'daily totals' as {DAILY_ID}." in err
    (tmp_path / "totals.sql").write_text("SELECT region\nFROM sales\n")
    assert run(capsys, "saved", "save", "daily totals", "--file", "totals.sql")[0] == 0
    assert sent_json(fake, "POST", f"{API}/saved-queries") == [
        {"name": "daily totals", "sql": "SELECT 1", "description": "Totals by region"},
        {"name": "daily totals", "sql": "SELECT region\nFROM sales\n"},
    ]
    for args in (("saved", "save", "x"), ("saved", "save", "x", "SELECT 1", "--file", "totals.sql")):
        code, _, err = run(capsys, *args)
        assert code == 2
        assert "Give the SQL as an argument or with -f FILE, one of the two." in err
    assert len(fake.sent("POST", f"{API}/saved-queries")) == 2


def test_saved_save_by_a_viewer_and_of_refused_sql_say_why(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.route("POST", f"{API}/saved-queries", error(403, "forbidden", "Your role does not allow this."))
    code, out, err = run(capsys, "saved", "save", "mine", "SELECT 1")
    assert (code, out) == (1, "")
    assert "error: forbidden: Only analysts and admins can save queries: a viewer can list, show and run them." in err

    fake.route(
        "POST", f"{API}/saved-queries", error(400, "forbidden_sql", "Table 'orders' does not exist: query your own.")
    )
    code, out, err = run(capsys, "saved", "save", "mine", "SELECT * FROM orders")
    assert (code, out) == (1, "")
    assert "error: forbidden_sql: Table 'orders' does not exist" in err


def test_saved_show_finds_by_id_or_by_a_name_only_one_has(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    _saved_listing(fake, SAVED)
    code, out, _ = run(capsys, "saved", "show", "daily totals")
    assert code == 0
    lines = [line.strip() for line in out.splitlines()]
    assert lines[:6] == [
        f"id  {DAILY_ID}",
        "name  daily totals",
        "description  Totals by region",
        f"author  ann@example.com ({ANN})",
        "created  2026-12-04 09:00:00",
        "updated  2026-12-04 10:30:00",
    ]
    assert lines[-1] == "SELECT region, sum(amount) AS total FROM sales GROUP BY region"
    code, out, _ = run(capsys, "saved", "show", WEEKLY_ID, "--json")
    assert code == 0
    assert json.loads(out)["sql"] == "SELECT count(*) AS n FROM sales"


def test_an_unknown_or_ambiguous_name_is_a_readable_error(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    twin = saved_record(TWIN_ID, "weekly", ANN, updated_at="2026-12-04T12:00:00Z")
    _saved_listing(fake, [twin, *SAVED])
    code, out, err = run(capsys, "saved", "show", "monthly")
    assert (code, out) == (1, "")
    assert (
        err.strip()
        == "error: saved_query_not_found: No saved query has the id or name 'monthly': `sdp saved ls` lists them."
    )

    for command in ("show", "run", "rm"):
        code, out, err = run(capsys, "saved", command, "weekly")
        assert (code, out) == (1, ""), command
        said = " ".join(err.split())
        assert "ambiguous_name: 2 saved queries are named 'weekly':" in said
        assert f"{TWIN_ID} (by ann@example.com, updated 2026-12-04 12:00:00)" in said
        assert f"{WEEKLY_ID} (by bob@example.com, updated 2026-12-04 11:00:00)" in said
        assert "Give the id of the one you mean." in said
    assert fake.sent("POST", rf"{API}/saved-queries/.*") == []
    assert fake.sent("DELETE", rf"{API}/saved-queries/.*") == []
    # By its id, either one is found.
    fake.route("DELETE", f"{API}/saved-queries/{TWIN_ID}", httpx.Response(204))
    code, _, err = run(capsys, "saved", "rm", TWIN_ID)
    assert code == 0
    assert f"Deleted 'weekly' ({TWIN_ID})." in err


def test_saved_run_prints_the_result_as_sdp_query_does(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _saved_listing(fake, SAVED)
    fake.route("POST", f"{API}/saved-queries/{DAILY_ID}/run", httpx.Response(202, json=query_record()))
    fake.route("GET", f"{API}/queries/{QUERY_ID}", httpx.Response(200, json=succeeded(reused=True)))
    code, out, err = run(capsys, "saved", "run", "daily totals", "--format", "json")
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [
        {"region": "north", "total": 15},
        {"region": "south", "total": 3},
    ]
    assert "Reused the result of an earlier identical query" in err
    assert "2 rows · 0.25 s · 0 bytes scanned" in err

    code, out, _ = run(capsys, "saved", "run", DAILY_ID, "--format", "table")
    assert code == 0
    assert _lines(out) == [["region", "total"], ["north", "15"], ["south", "3"]]

    code, out, _ = run(capsys, "saved", "run", "daily totals", "--no-wait")
    assert (code, out.strip()) == (0, QUERY_ID)

    code, _, err = run(capsys, "saved", "run", "daily totals", "--output", "totals.json", "--format", "json")
    assert code == 0
    assert (tmp_path / "totals.json").read_text().splitlines() == [
        '{"region": "north", "total": 15}',
        '{"region": "south", "total": 3}',
    ]
    assert len(fake.sent("POST", f"{API}/saved-queries/{DAILY_ID}/run")) == 4


def test_saved_run_over_budget_or_of_sql_refused_now_exits_1(
    fake: FakePlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    _saved_listing(fake, SAVED)
    fake.route("POST", f"{API}/saved-queries/{DAILY_ID}/run", budget_exceeded(""))
    code, out, err = run(capsys, "saved", "run", "daily totals")
    assert (code, out) == (1, "")
    said = " ".join(err.split())
    assert "error: budget_exceeded: The query would scan more than is left of this month's scan budget:" in said
    assert "1.0 MB (1,048,576 bytes) left until the budget resets 2027-01-01 00:00 UTC." in said

    fake.route(
        "POST",
        f"{API}/saved-queries/{DAILY_ID}/run",
        error(400, "forbidden_sql", "Table 'sales' does not exist: query your own tables (GET /tables)."),
    )
    code, out, err = run(capsys, "saved", "run", "daily totals")
    assert (code, out) == (1, "")
    assert "error: daily totals: forbidden_sql: Table 'sales' does not exist" in err


def test_saved_rm_goes_on_past_one_it_cannot_delete(fake: FakePlatform, capsys: pytest.CaptureFixture[str]) -> None:
    _saved_listing(fake, SAVED)
    fake.route("DELETE", f"{API}/saved-queries/{DAILY_ID}", httpx.Response(204))
    fake.route("DELETE", f"{API}/saved-queries/{WEEKLY_ID}", error(403, "forbidden", "Not yours.", "req-rm"))
    code, out, err = run(capsys, "saved", "rm", "weekly", "nosuch", "daily totals")
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0] == (
        "error: weekly: forbidden: Only its author or an admin can delete a saved query. (request id req-rm)"
    )
    assert lines[1].startswith("error: nosuch: saved_query_not_found: No saved query has the id or name 'nosuch'")
    assert lines[2] == f"Deleted 'daily totals' ({DAILY_ID})."
    assert len(fake.sent("GET", f"{API}/saved-queries")) == 1  # listed once for every name
    assert len(fake.sent("DELETE", rf"{API}/saved-queries/.*")) == 2
