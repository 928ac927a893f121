"""What `sdp` refuses before it sends anything: usage errors exit 2 with a message, never a traceback.
(tests/e2e/test_cli.py runs the installed command as a subprocess; these run its entry point in-process.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from sdp.cli import main

CLOSED = "http://127.0.0.1:9"  # nothing listens: a request would fail with a network error, not a usage error


@pytest.fixture(autouse=True)
def _own_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("SDP_URL", CLOSED)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.csv").write_text("x\n1\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["upload", "a.csv", "a.csv", "--name", "n.csv"], "--name names one file"),
        (["upload"], "Missing argument 'FILES...'"),
        (["query"], "Give the SQL as an argument or with -f FILE"),
        (["query", "SELECT 1", "-f", "a.csv"], "Give the SQL as an argument or with -f FILE"),
        (["query", "SELECT 1", "--format", "xml"], "'xml' is not one of 'table', 'csv', 'json'"),
        (["login", "--email", "x@example.com"], "pipe it in with --password-stdin"),
        (["login", "--email", "x@example.com", "--password-stdin"], "nothing came on standard input"),
        (["members", "role", "someone", "owner"], "'owner' is not one of 'viewer', 'analyst', 'admin'"),
        (["members", "add", "bob@example.com"], "Missing option '--role'"),
        (["ls", "--limit", "0"], "0 is not in the range x>=1"),
        (["login"], "no terminal to answer a prompt on: give its option instead"),
        (["confirm", "--email", "x@example.com"], "no terminal to answer a prompt on"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_a_usage_error_exits_2_with_what_to_fix(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # noqa: SIM115 - no terminal, nothing piped
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    assert exited.value.code == 2, captured
    assert message in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_a_command_without_a_login_exits_1_before_sending(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--url", CLOSED, "tables"])
    assert exited.value.code == 1
    assert f"not_logged_in: You are not logged in to {CLOSED}: run `sdp login` first." in capsys.readouterr().err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert "upload" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert "sdp, version" in capsys.readouterr().out
