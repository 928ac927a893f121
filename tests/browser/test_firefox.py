"""The console's main path in headless Firefox (Debian's firefox-esr), against the local platform.

Python playwright's Firefox is a patched build of its own that it would download; Debian's Firefox
speaks WebDriver BiDi instead, which puppeteer-core drives: tests/firefox/first_session.mjs, run by
Node, makes an account, uploads a CSV, waits for READY, runs an aggregate with Ctrl+Enter from the
SQL editor and prints the result's rows. It fails on any console error, uncaught exception or
policy violation, and photographs the result (out/artifacts/console/firefox-query.png).
`make test` installs firefox-esr and tests/firefox/node_modules; without them this test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.local_platform import ROOT, RunningPlatform

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

FIREFOX_TESTS = ROOT / "tests" / "firefox"
SCRIPT = FIREFOX_TESTS / "first_session.mjs"
# The package's binary (/usr/bin/firefox-esr links to it); the script takes it from $FIREFOX.
FIREFOX = Path("/usr/lib/firefox-esr/firefox-esr")
SCREENSHOT = ROOT / "out" / "artifacts" / "console" / "firefox-query.png"
# Firefox's start, four waits of at most 60 s each, and its end.
SECONDS = 180


def run_first_session(url: str, csv_path: Path, sql: str) -> subprocess.CompletedProcess[str]:
    """The script, in a process group of its own: on a timeout Firefox goes with it."""
    node = shutil.which("node")
    assert node, "no `node` on PATH: make test installs Debian's nodejs"
    assert FIREFOX.exists(), f"no Firefox at {FIREFOX}: make test installs it (apt-get install firefox-esr)"
    assert (FIREFOX_TESTS / "node_modules" / "puppeteer-core").is_dir(), (
        "no tests/firefox/node_modules: make test installs it (cd tests/firefox && npm ci --ignore-scripts)"
    )
    command = [node, str(SCRIPT), url, str(csv_path), sql]
    environment = os.environ | {"FIREFOX": str(FIREFOX)}
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(f"the Firefox session took more than {SECONDS} s; it wrote:\n{stderr}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_a_new_user_uploads_a_csv_and_queries_it_in_firefox(running_platform: RunningPlatform, tmp_path: Path) -> None:
    csv_path = tmp_path / "orders.csv"
    csv_path.write_text("region,amount\nnorth,10\nsouth,3\nnorth,5\neast,7\n")
    sql = "SELECT region, sum(amount) AS total, count(*) AS orders FROM orders GROUP BY region ORDER BY region"

    SCREENSHOT.unlink(missing_ok=True)
    finished = run_first_session(running_platform.api_url + "/", csv_path, sql)

    assert finished.returncode == 0, f"exit {finished.returncode}:\n{finished.stderr}"
    assert json.loads(finished.stdout) == [["east", "7", "1"], ["north", "15", "2"], ["south", "3", "1"]]
    assert SCREENSHOT.stat().st_size > 0
