"""The real local platform (`python -m localplatform`), started on free ports for tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

STARTUP_SECONDS = 60


def refused_start(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m localplatform` with `args`, for a start that must end at once: what it did."""
    command = [sys.executable, "-m", "localplatform", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


class RunningPlatform:
    """A `python -m localplatform` process; its output is read continuously so it never blocks."""

    def __init__(self, *extra_args: str, settings: dict[str, str] | None = None) -> None:
        """`settings`: SDP_* variables to run it with (the rest of this process's are left out)."""
        environment = {key: value for key, value in os.environ.items() if not key.startswith(("SDP_", "AWS_"))}
        environment |= settings or {}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "localplatform", "--port", "0", "--aws-port", "0", *extra_args],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.api_url = self._wait_for_url("API")
        self.aws_url = self._wait_for_url("local AWS")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def _wait_for_url(self, label: str) -> str:
        pattern = re.compile(rf"^\s+{label}\s+(http://\S+)$")
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if match := pattern.match(line):
                    return match.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the local platform did not start:\n" + "\n".join(self.lines))

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log documents written so far."""
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def wait_for_log(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30) -> list[dict[str, Any]]:
        """Wait until a log document matches; all the matching ones."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            matching = [entry for entry in self.logs() if predicate(entry)]
            if matching:
                return matching
            time.sleep(0.05)
        raise AssertionError("no matching log line; the platform wrote:\n" + "\n".join(self.lines[-50:]))

    def aws_client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
        ).client(service, endpoint_url=self.aws_url)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        return self.process.returncode
