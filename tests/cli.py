"""The installed `sdp` command, run as a person runs it: a subprocess with its own configuration directory."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SDP = Path(sys.executable).with_name("sdp")
PASSWORD = "Correct-Horse-9!x"


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

    def sign_up(self, email: str) -> Ran:
        return self.ok("signup", "--email", email, "--password-stdin", stdin=PASSWORD + "\n")
