"""The installed `sdp` command, run as a person runs it: a subprocess with its own configuration directory."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.api import PASSWORD

SDP = Path(sys.executable).with_name("sdp")
# What a terminal interprets rather than shows: colours, cursor moves, carriage returns.
_CONTROL = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def _plain(output: bytes) -> str:
    return _CONTROL.sub(b"", output).decode("utf-8", "replace")


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    def __post_init__(self) -> None:
        assert "Traceback" not in self.stderr, self.stderr


class Terminal:
    """One person's shell: `SDP_URL` set, logins saved under `home`, optionally through a proxy."""

    def __init__(self, url: str, home: Path, proxy: str | None = None) -> None:
        self.home = home
        self.environment = {
            key: value
            for key, value in os.environ.items()
            if not key.lower().endswith("_proxy") and not key.startswith(("SDP_", "AWS_"))
        }
        self.environment |= {"SDP_URL": url, "XDG_CONFIG_HOME": str(home / "config"), "HOME": str(home)}
        if proxy is not None:
            self.environment |= {"HTTP_PROXY": proxy, "http_proxy": proxy}

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(SDP), *args],
            cwd=self.home,
            env=self.environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, stdin: str | None = None, timeout: float = 300) -> Ran:
        done = subprocess.run(
            [str(SDP), *args],
            cwd=self.home,
            env=self.environment,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    def ok(self, *args: str, stdin: str | None = None, timeout: float = 300) -> Ran:
        ran = self.run(*args, stdin=stdin, timeout=timeout)
        assert ran.code == 0, ran
        return ran

    def in_a_terminal(self, *args: str, answers: Sequence[tuple[str, str]] = (), timeout: float = 120) -> Ran:
        """Run with standard input, output and error on a pseudo-terminal, as in a person's terminal:
        each of `answers` is (a prompt to wait for, the line to type). Colours and cursor moves are
        taken out of what is returned (in `stdout`; a terminal has one stream)."""
        controller, terminal = pty.openpty()
        child = subprocess.Popen(
            [str(SDP), *args],
            cwd=self.home,
            env=self.environment | {"COLUMNS": "120", "TERM": "xterm"},
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            close_fds=True,
        )
        os.close(terminal)
        seen, pending = b"", list(answers)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the child closed the terminal: it has ended
                    break
                if not chunk:
                    break
                seen += chunk
            if pending and pending[0][0].encode() in _plain(seen).encode():
                os.write(controller, pending.pop(0)[1].encode() + b"\r")
            if child.poll() is not None and not ready:
                break
        os.close(controller)
        code = child.wait(timeout=30)
        return Ran(code, _plain(seen), "")

    def sign_up(self, email: str) -> Ran:
        return self.ok("signup", "--email", email, "--password-stdin", stdin=PASSWORD + "\n")
