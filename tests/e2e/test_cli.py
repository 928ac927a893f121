"""The `sdp` command against the local platform, as a subprocess: a first session, an upload interrupted and
resumed, tenant separation, and every bad input a person is likely to type."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest

from tests.api import ENDLESS_QUERY, PASSWORD, unique_email
from tests.cli import SDP, Terminal
from tests.forward_proxy import ForwardProxy
from tests.local_platform import RunningPlatform

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


@pytest.fixture
def terminal(running_platform: RunningPlatform, tmp_path: Path) -> Terminal:
    shell = Terminal(running_platform.api_url, tmp_path / "ann")
    shell.home.mkdir()
    shell.sign_up(unique_email("ann"))
    return shell


def test_a_first_session_signs_up_uploads_three_formats_and_queries_them(
    running_platform: RunningPlatform, tmp_path: Path
) -> None:
    shell = Terminal(running_platform.api_url, tmp_path)
    address = unique_email("first")
    signed = shell.sign_up(address)
    assert f"as {address}, admin of {address}" in signed.stderr
    config = tmp_path / "config" / "sdp"
    assert (config / "credentials.json").stat().st_mode & 0o777 == 0o600
    assert config.stat().st_mode & 0o777 == 0o700
    assert PASSWORD not in (config / "credentials.json").read_text()

    (tmp_path / "sales.csv").write_text("region,amount\nnorth,10\nsouth,3\nnorth,5\n")
    pyarrow.parquet.write_table(
        pyarrow.table({"region": ["east", "west"], "amount": [7, 1]}), tmp_path / "more_sales.parquet"
    )
    (tmp_path / "late.jsonl").write_text('{"region": "south", "amount": 4}\n{"region": "east", "amount": 2}\n')
    uploaded = shell.ok("upload", "sales.csv", "more_sales.parquet", "late.jsonl")
    assert "sales.csv → table sales: 3 rows, 2 columns (region varchar, amount bigint)" in uploaded.stderr
    assert "more_sales.parquet → table more_sales: 2 rows" in uploaded.stderr
    assert "late.jsonl → table late: 2 rows" in uploaded.stderr
    file_ids = uploaded.stdout.split()
    assert len(file_ids) == 3

    listed = json.loads(shell.ok("ls", "--json").stdout)
    assert [(f["file_id"], f["status"]) for f in listed] == [(i, "READY") for i in reversed(file_ids)]
    table_text = shell.ok("ls").stdout
    assert "sales.csv" in table_text
    assert "READY" in table_text
    assert {t["table"] for t in json.loads(shell.ok("tables", "--json").stdout)} == {"sales", "more_sales", "late"}
    assert "amount  bigint" in shell.ok("describe", "sales").stdout

    sql = (
        "SELECT region, sum(amount) AS total FROM (SELECT * FROM sales UNION ALL SELECT * FROM more_sales "
        "UNION ALL SELECT * FROM late) GROUP BY region ORDER BY region"
    )
    expected = [["region", "total"], ["east", "9"], ["north", "15"], ["south", "7"], ["west", "1"]]
    piped = shell.ok("query", sql)  # stdout is a pipe: CSV
    assert list(csv.reader(io.StringIO(piped.stdout))) == expected
    assert "4 rows" in piped.stderr
    shell.ok("query", sql, "--output", "totals.csv")
    assert list(csv.reader((tmp_path / "totals.csv").open())) == expected
    (tmp_path / "q.sql").write_text(sql)
    as_json = shell.ok("query", "-f", "q.sql", "--format", "json").stdout.splitlines()
    assert [json.loads(line) for line in as_json] == [
        {"region": "east", "total": 9},
        {"region": "north", "total": 15},
        {"region": "south", "total": 7},
        {"region": "west", "total": 1},
    ]
    table = shell.ok("query", sql, "--format", "table").stdout
    assert table.splitlines()[0].split() == ["region", "total"]
    assert table.splitlines()[2].split() == ["north", "15"]

    me = json.loads(shell.ok("whoami", "--json").stdout)
    assert (me["email"], me["role"]) == (address, "admin")
    history = json.loads(shell.ok("queries", "--json").stdout)
    assert history[0]["sql"] == sql
    assert history[0]["status"] == "SUCCEEDED"
    shell.ok("rm", file_ids[0])
    assert len(json.loads(shell.ok("ls", "--json").stdout)) == 2
    assert "Logged out" in shell.ok("logout").stderr
    assert shell.run("whoami").code == 1


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    forward = ForwardProxy()
    yield forward
    forward.close()


def _big_csv(path: Path, size: int) -> str:
    """A CSV of at least `size` bytes; its SHA-256."""
    line = b"".join(f"{n},north,{n % 97}\n".encode() for n in range(10_000))
    digest = hashlib.sha256()
    with path.open("wb") as target:
        target.write(b"id,region,amount\n")
        digest.update(b"id,region,amount\n")
        while target.tell() < size:
            target.write(line)
            digest.update(line)
    return digest.hexdigest()


def test_an_upload_stopped_with_ctrl_c_resumes_sending_only_the_missing_parts(
    running_platform: RunningPlatform, tmp_path: Path, proxy: ForwardProxy
) -> None:
    shell = Terminal(running_platform.api_url, tmp_path, proxy=proxy.url)
    shell.sign_up(unique_email("resume"))
    digest = _big_csv(tmp_path / "big.csv", 101 * MIB)  # over 100 MiB: parts of 16 MiB, 7 of them

    # Let three parts through, hold the rest, and press Ctrl-C while they wait.
    proxy.part_limit = 3
    first = shell.popen("upload", "big.csv")
    deadline = time.monotonic() + 120
    while (len(proxy.part_puts()) < 3 or not proxy.held) and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    _, stderr = first.communicate(timeout=30)
    assert first.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "Stopped sending big.csv. Run the same sdp upload again: a file over 100 MiB resumes" in stderr
    sent_first = {entry.url for entry in proxy.part_puts()}
    assert len(sent_first) == 3

    proxy.part_limit = None
    proxy.release()
    before = len(proxy.part_puts())
    resumed = shell.ok("upload", "big.csv")
    again = proxy.part_puts()[before:]
    assert len(again) == 7 - 3, [entry.url for entry in again]
    part_numbers = {entry.url.split("partNumber=")[1].split("&")[0] for entry in again}
    assert part_numbers.isdisjoint({url.split("partNumber=")[1].split("&")[0] for url in sent_first})
    assert len([e for e in proxy.forwarded if e.method == "POST" and e.url.endswith("/uploads")]) == 1
    assert "big.csv → table big" in resumed.stderr

    record = json.loads(shell.ok("show", resumed.stdout.strip(), "--json").stdout)
    assert (record["status"], record["sha256"], record["size"]) == (
        "READY",
        digest,
        (tmp_path / "big.csv").stat().st_size,
    )
    shell.ok("rm", record["file_id"])


def test_another_tenants_ids_and_tables_are_not_found(running_platform: RunningPlatform, tmp_path: Path) -> None:
    ann = Terminal(running_platform.api_url, tmp_path / "ann")
    bob = Terminal(running_platform.api_url, tmp_path / "bob")
    for shell, label in ((ann, "ann"), (bob, "bob")):
        shell.home.mkdir()
        shell.sign_up(unique_email(label))
    (ann.home / "secret.csv").write_text("code\n4242\n")
    file_id = ann.ok("upload", "secret.csv").stdout.strip()
    query_id = ann.ok("query", "SELECT code FROM secret", "--no-wait").stdout.strip()

    for args, code in [
        (("show", file_id), "file_not_found"),
        (("rm", file_id), "file_not_found"),
        (("cancel", query_id), "query_not_found"),
        (("describe", "secret"), "table_not_found"),
        (("query", "SELECT code FROM secret"), "forbidden_sql"),
    ]:
        ran = bob.run(*args)
        assert ran.code == 1, (args, ran)
        assert f"error: {code}" in ran.stderr or f": {code}:" in ran.stderr, (args, ran.stderr)
        assert "4242" not in ran.stdout + ran.stderr
    assert json.loads(bob.ok("ls", "--json").stdout) == []
    assert json.loads(bob.ok("tables", "--json").stdout) == []
    assert json.loads(bob.ok("queries", "--json").stdout) == []
    assert list(csv.reader(io.StringIO(ann.ok("query", "SELECT code FROM secret").stdout))) == [["code"], ["4242"]]


def test_bad_input_gets_a_message_and_an_exit_code_never_a_traceback(terminal: Terminal) -> None:
    home = terminal.home
    (home / "empty.csv").write_bytes(b"")
    (home / "a.csv").write_text("x\n1\n")
    (home / "bad.csv").write_text('x,y\n1,"never closed\n')
    (home / "folder").mkdir()

    # (exit code, command, what it says): usage errors are 2 (the rest of them in tests/client/test_cli_usage.py),
    # what the platform or the client refuses is 1 with the request id where the API answered.
    cases = [
        (2, ("upload", "missing.csv"), "'missing.csv' does not exist"),
        (2, ("upload", "folder"), "'folder' is a directory"),
        (1, ("upload", "empty.csv"), "empty_file: empty.csv is empty (0 bytes)"),
        (1, ("describe", "nosuch"), "table_not_found: No table named 'nosuch'"),
        (1, ("query", "SELECT * FROM nosuch"), "forbidden_sql: Table 'nosuch' does not exist"),
        (1, ("show", "01KAAAAAAAAAAAAAAAAAAAAAAA"), "file_not_found"),
        (1, ("upload", "bad.csv"), "malformed_file: Line 2"),
    ]
    for code, args, message in cases:
        ran = terminal.run(*args)
        assert ran.code == code, (args, ran)
        assert message in ran.stderr, (args, ran.stderr)
        if args[0] in ("query", "show"):
            assert "(request id " in ran.stderr, ran.stderr

    # One file's problem stops only that file: the next is still sent.
    partly = terminal.run("upload", "empty.csv", "a.csv")
    assert partly.code == 1
    assert "empty.csv: empty_file" in partly.stderr
    assert "✓ a.csv → table a: 1 row, 1 column (x bigint)" in partly.stderr

    # A reader that stops early (`| head`) is no error: exit 0 under pipefail, no traceback.
    many = (
        "SELECT a.x * 1000 + b.y AS n FROM UNNEST(sequence(1, 1000)) AS a(x) "
        "CROSS JOIN UNNEST(sequence(1, 1000)) AS b(y)"
    )
    headed = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f'"{SDP}" query "{many}" | head -n 2'],
        cwd=home,
        env=terminal.environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (headed.returncode, headed.stdout.splitlines()[0]) == (0, "n"), headed
    assert "Traceback" not in headed.stderr

    refused = terminal.run("query", "SELECT x\nFROM a WHER y")
    assert refused.code == 1
    lines = refused.stderr.splitlines()
    assert "invalid_sql: Syntax error at line 2" in lines[0]
    assert "(request id " in lines[0]
    column = int(lines[0].split("column ")[1].split(":")[0])
    assert lines[1] == "2 | FROM a WHER y"
    assert lines[2] == " " * (len("2 | ") + column - 1) + "^"


def test_an_expired_login_and_no_login_say_what_to_do(running_platform: RunningPlatform, tmp_path: Path) -> None:
    shell = Terminal(running_platform.api_url, tmp_path)
    ran = shell.run("ls")
    assert ran.code == 1
    assert f"not_logged_in: You are not logged in to {running_platform.api_url}: run `sdp login` first." in ran.stderr

    shell.sign_up(unique_email("expired"))
    saved = tmp_path / "config" / "sdp" / "credentials.json"
    document = json.loads(saved.read_text())
    for profile in document["profiles"].values():  # as months later: the ID token old, the refresh token revoked
        profile |= {"expires_at": time.time() - 60, "refresh_token": "revoked"}
    saved.write_text(json.dumps(document))
    ran = shell.run("ls")
    assert ran.code == 1
    assert "login_expired: Your login to" in ran.stderr
    assert "has expired: run `sdp login` again." in ran.stderr

    relogged = shell.ok(
        "login", "--email", document["profiles"][running_platform.api_url]["email"], "--password-stdin", stdin=PASSWORD
    )
    assert "Logged in to" in relogged.stderr
    assert shell.ok("ls", "--json").stdout.strip() == "[]"
    wrong = shell.run("login", "--email", "nobody@example.com", "--password-stdin", stdin="Wrong-Password-1!")
    assert wrong.code == 1
    assert "invalid_credentials" in wrong.stderr


def test_members_are_added_re_roled_and_removed_by_email(terminal: Terminal) -> None:
    bob = unique_email("bob")
    added = terminal.ok("members", "add", bob, "--role", "analyst", "--password-stdin", stdin=PASSWORD + "\n")
    assert f"Added {bob} as analyst" in added.stderr
    listed = json.loads(terminal.ok("members", "--json").stdout)
    assert sorted(m["role"] for m in listed) == ["admin", "analyst"]
    assert "is now viewer" in terminal.ok("members", "role", bob, "viewer").stderr
    assert {m["email"]: m["role"] for m in json.loads(terminal.ok("members", "--json").stdout)}[bob] == "viewer"
    terminal.ok("members", "rm", bob)
    assert bob not in [m["email"] for m in json.loads(terminal.ok("members", "--json").stdout)]
    gone = terminal.run("members", "rm", bob)
    assert gone.code == 1
    assert "member_not_found" in gone.stderr
    last = terminal.run("members", "rm", listed[0]["user_id"] if listed[0]["role"] == "admin" else listed[1]["user_id"])
    assert last.code == 1
    assert "last_admin" in last.stderr


def test_queries_are_listed_and_an_ended_one_is_left_as_it_was(terminal: Terminal) -> None:
    query_id = terminal.ok("query", "SELECT 1 AS one", "--no-wait").stdout.strip()
    time.sleep(0.5)
    history = json.loads(terminal.ok("queries", "--json").stdout)
    assert history[0]["query_id"] == query_id
    cancelled = terminal.ok("cancel", query_id)
    assert f"{query_id} had already ended: SUCCEEDED" in cancelled.stderr or f"Cancelled {query_id}" in cancelled.stderr
    assert "QUERY ID" in terminal.ok("queries").stdout


def test_in_a_terminal_it_prompts_draws_progress_and_prints_tables(
    running_platform: RunningPlatform, tmp_path: Path
) -> None:
    shell = Terminal(running_platform.api_url, tmp_path)
    address = unique_email("tty")
    signed = shell.in_a_terminal(
        "signup",
        answers=[("Email:", address), ("Choose a password:", PASSWORD), ("Repeat for confirmation:", PASSWORD)],
    )
    assert signed.code == 0, signed
    assert PASSWORD not in signed.stdout  # typed, never echoed
    assert f"Signed up and logged in to {running_platform.api_url} as {address}" in signed.stdout

    (tmp_path / "sales.csv").write_text("region,amount\nnorth,10\nsouth,3\nnorth,5\n")
    uploaded = shell.in_a_terminal("upload", "sales.csv")
    assert uploaded.code == 0, uploaded
    assert "sales.csv ━━━" in uploaded.stdout  # the progress bar, full
    assert "39/39 bytes" in uploaded.stdout
    assert "✓ sales.csv → table sales: 3 rows, 2 columns" in uploaded.stdout

    queried = shell.in_a_terminal("query", "SELECT region, sum(amount) AS total FROM sales GROUP BY 1 ORDER BY 1")
    assert queried.code == 0, queried
    lines = [line.split() for line in queried.stdout.splitlines()]
    assert ["region", "total"] in lines  # a table for a terminal, not CSV
    assert ["north", "15"] in lines
    assert ["south", "3"] in lines


def test_ctrl_c_while_a_query_runs_cancels_it(terminal: Terminal) -> None:
    running = terminal.popen("query", ENDLESS_QUERY)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = json.loads(terminal.ok("queries", "--json").stdout)
        if listed and listed[0]["status"] == "RUNNING":
            break
        time.sleep(0.2)
    running.send_signal(signal.SIGINT)
    _, stderr = running.communicate(timeout=60)
    assert running.returncode == 130, stderr
    query = json.loads(terminal.ok("queries", "--json").stdout)[0]
    assert f"Cancelled query {query['query_id']}." in stderr
    assert query["status"] == "CANCELLED"


def test_files_added_to_one_table_show_their_drift_history_and_searches(terminal: Terminal) -> None:
    home = terminal.home
    (home / "jan.csv").write_text("region,amount\nnorth,10\nsouth,3\n")
    (home / "feb.csv").write_text("region,amount\nnorth,5\neast,7\n")
    (home / "mar.csv").write_text("region,amount,channel\nwest,1,web\n")
    (home / "bad.csv").write_text("region,amount\nsouth,2\nnorth,n/a\n")

    first = terminal.ok("upload", "--table", "sales", "jan.csv", "feb.csv")
    assert "✓ jan.csv → table sales: +2 rows, 2 columns (region varchar, amount bigint)" in first.stderr
    assert "✓ feb.csv → table sales: +2 rows" in first.stderr
    jan, feb = first.stdout.split()

    # A third file with a column the table lacks adds it; a fourth whose value does not fit the table's
    # type fails alone, with the platform's message, and the command exits 1.
    later = terminal.run("upload", "--table", "sales", "mar.csv", "bad.csv")
    assert later.code == 1, later
    assert "✓ mar.csv → table sales: +1 row, 3 columns (region varchar, amount bigint, channel varchar)" in later.stderr
    assert "columns added: channel" in later.stderr
    failure = next(line for line in later.stderr.splitlines() if line.startswith("error: bad.csv"))
    assert "schema_mismatch" in failure
    assert '"amount"' in failure
    assert '"n/a"' in failure
    (mar,) = later.stdout.split()

    described = terminal.ok("describe", "sales").stdout.splitlines()
    assert described[0] == "sales: 5 rows in 3 files, 3 columns"
    files = described.index("Files (3, oldest first):")
    assert [line.split()[:3] for line in described[files + 2 : files + 5]] == [
        ["jan.csv", jan, "2"],
        ["feb.csv", feb, "2"],
        ["mar.csv", mar, "1"],
    ]
    assert described[files + 4].split()[-1] == "channel"  # the column mar.csv added
    history = described.index("Schema history (columns in the order they were added):")
    assert [line.split()[:4] for line in described[history + 2 :]] == [
        ["region", "varchar", "jan.csv", jan],
        ["amount", "bigint", "jan.csv", jan],
        ["channel", "varchar", "mar.csv", mar],
    ]

    found = terminal.ok("ls", "--search", "sales").stdout.splitlines()  # by their table's name
    assert sorted((line.split()[1], line.split()[2]) for line in found[1:]) == [
        ("feb.csv", "READY"),
        ("jan.csv", "READY"),
        ("mar.csv", "READY"),
    ]
    tables = terminal.ok("tables", "--search", "sal").stdout.splitlines()
    assert [line.split() for line in tables] == [
        ["TABLE", "ROWS", "COLUMNS", "FILES", "LATEST", "FILE", "ID"],
        ["sales", "5", "3", "3", mar],
    ]
