"""Does a tenant with 10,000 files cost what a tenant with 10 costs? And the platform's memory?

The local platform runs from this process (API, ingest pump; the local AWS and the local query
engine in processes of their own, as `make run` runs them). One tenant is filled through the API
with small generated files of several formats (CSV, TSV, JSON Lines, Parquet), as a user with many
files uploads them: CLIENTS uploaders send files one after another while at most 64 are not yet
READY. At each size (default 10, 1,000 and 10,000 files) it
measures, one request at a time with nothing else running:

- ingest: one more small file, from `POST /files` to READY (what a user waits);
- `GET /files?limit=10` and `GET /tables?limit=10` (first pages), `GET /files/{id}`;
- `POST /queries` up to its 202 (a query over one of the tenant's tables, chosen at random).

A page holds at most `limit` entries: its cost grows with the tenant only until it is full, so
the listings are asked for pages of the same size (10, full at every size).

It prints the p50 and p99 of each as a ratio to the first size's (the baseline, measured in the
same run), and the p50 as a ratio to that of a tenant with few files (the warm-up's, 20 files and
its sampled ingests) measured in turns with it, in the same minutes: a long run on a shared
machine drifts in speed, which the first ratio includes and the second does not. Then the ingest
throughput while filling (files per second), and the platform's resident memory (VmRSS of this
process and its children, the local AWS's and the local query engine's) against the warm start.

Usage: python bench/scale.py [sizes, default 10,1000,10000] [samples, default 40] [clients, default 4]
"""

from __future__ import annotations

import gc
import itertools
import os
import queue
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import resident_with_children_mib, small_file
from tests.api import PASSWORD

OPERATIONS = ("ingest", "GET /files", "GET /files/{id}", "GET /tables", "POST /queries")
PAGE = 10
ROUNDS = 5
FEW = 20  # files of the tenant measured alongside
SETTLED = ("READY", "FAILED")


class Tenant:
    """One signed-up tenant of the platform, over HTTP."""

    def __init__(self, api_url: str) -> None:
        import requests

        self._api = api_url
        self._local = threading.local()
        email = f"scale-{time.time_ns()}@example.com"
        session = requests.Session()
        session.post(f"{api_url}/auth/signup", json={"email": email, "password": PASSWORD}).raise_for_status()
        reply = session.post(f"{api_url}/auth/login", json={"email": email, "password": PASSWORD})
        reply.raise_for_status()
        self._headers = {"Authorization": f"Bearer {reply.json()['id_token']}"}
        self.files: list[str] = []
        self.tables: list[str] = []
        self._lock = threading.Lock()
        self._numbers = itertools.count()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        reply = self._local.session.request(method, f"{self._api}{path}", headers=self._headers, timeout=120, **kwargs)
        if reply.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {reply.status_code} {reply.text}")
        return reply.json()

    def upload(self) -> str:
        """Upload one small file; its id."""
        name, data = small_file(next(self._numbers))
        return self.call("POST", f"/files?name={name}", data=data)["file_id"]

    def add_file(self) -> None:
        """Upload one small file and wait until it is READY, looking every 10 ms (the wait is the
        ingest's, to 10 ms)."""
        file_id = self.upload()
        while (record := self.call("GET", f"/files/{file_id}"))["status"] not in SETTLED:
            time.sleep(0.01)
        self.settled(record)

    def settled(self, record: dict[str, Any]) -> None:
        """Count a file that has ended: READY, or the run stops."""
        if record["status"] != "READY":
            raise RuntimeError(f"{record['name']} ended {record['status']}: {record.get('error')}")
        with self._lock:
            self.files.append(record["file_id"])
            self.tables.append(record["table"])

    def query(self) -> None:
        table = random.choice(self.tables)  # noqa: S311 - a sample, not a secret
        sql = f'SELECT count(*) FROM "{table}"'  # noqa: S608 - a table name the platform gave
        self.submitted = self.call("POST", "/queries", json={"sql": sql})["query_id"]

    def wait_for_query(self) -> None:
        while self.call("GET", f"/queries/{self.submitted}?wait=5")["status"] in ("QUEUED", "RUNNING"):
            pass


def fill(tenant: Tenant, size: int, clients: int, window: int = 64) -> float:
    """Add files until the tenant holds `size`, as a user uploading many files does; files per
    second, from the first upload to the last file READY.

    `clients` uploaders send files one after another while at most `window` are not yet READY;
    one watcher looks at the newest page of files every second, as a console listing them would
    (a page holds every file not yet READY: there are at most `window`), and counts those that
    have ended. Looking at each file on its own cost the platform about what a step of a small
    file's ingest does; the window keeps the uploaders busy between looks.
    """
    missing = size - len(tenant.files)
    if missing <= 0:
        return float("nan")
    room = threading.Semaphore(window)
    stopped = threading.Event()  # a file failed: the uploaders waiting for room give up
    sent: queue.Queue[str | BaseException] = queue.Queue()

    def send() -> None:
        while not room.acquire(timeout=0.1):
            if stopped.is_set():
                return
        try:
            sent.put(tenant.upload())
        except BaseException as error:
            sent.put(error)

    started = time.perf_counter()
    pool = ThreadPoolExecutor(clients)
    try:
        for _ in range(missing):
            pool.submit(send)
        waiting: set[str] = set()
        ended = 0
        while ended < missing:
            time.sleep(1)
            while not sent.empty():
                file_id = sent.get()
                if isinstance(file_id, BaseException):
                    raise file_id
                waiting.add(file_id)
            for record in tenant.call("GET", f"/files?limit={window + clients + 1}")["files"]:
                if record["file_id"] in waiting and record["status"] in SETTLED:
                    tenant.settled(record)
                    waiting.discard(record["file_id"])
                    room.release()
                    ended += 1
    finally:
        stopped.set()
        pool.shutdown(cancel_futures=True)
    return missing / (time.perf_counter() - started)


def sample(tenant: Tenant, samples: int, ingests: int) -> dict[str, list[float]]:
    """Seconds each operation took, `samples` times each (`ingests` times an ingest), one at a time."""

    def timed(action: Callable[[], Any]) -> float:
        started = time.perf_counter()
        action()
        return time.perf_counter() - started

    seconds: dict[str, list[float]] = {operation: [] for operation in OPERATIONS}
    for _ in range(samples):
        seconds["GET /files"].append(timed(lambda: tenant.call("GET", f"/files?limit={PAGE}")))
        seconds["GET /files/{id}"].append(timed(lambda: tenant.call("GET", f"/files/{random.choice(tenant.files)}")))  # noqa: S311
        seconds["GET /tables"].append(timed(lambda: tenant.call("GET", f"/tables?limit={PAGE}")))
        seconds["POST /queries"].append(timed(tenant.query))
        tenant.wait_for_query()  # not timed: one query at a time, as the others are
    for _ in range(ingests):
        seconds["ingest"].append(timed(tenant.add_file))
    return seconds


def side_by_side(tenant: Tenant, few: Tenant, samples: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Sample `tenant` and `few` (a tenant with few files) in turns, ROUNDS times: over a long run
    the machine's speed drifts, and in the same minutes it is the same for both."""
    mine: dict[str, list[float]] = {operation: [] for operation in OPERATIONS}
    theirs: dict[str, list[float]] = {operation: [] for operation in OPERATIONS}
    each = max(samples // ROUNDS, 1)
    for _ in range(ROUNDS):
        for seconds, who in ((mine, tenant), (theirs, few)):
            for operation, values in sample(who, each, max(each // 2, 1)).items():
                seconds[operation] += values
    return mine, theirs


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def main() -> None:
    sizes = [int(size) for size in (sys.argv[1] if len(sys.argv) > 1 else "10,1000,10000").split(",")]
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    # The default quota is 10,000 files: room for the largest size and the ingests sampled there.
    os.environ.setdefault("SDP_QUOTA_FILES", str(max(sizes) + (samples + ROUNDS) * len(sizes) + 100))

    from localplatform.runner import LocalPlatform

    with LocalPlatform(api_port=0, aws_port=0) as platform:
        few = Tenant(platform.api_url)  # the warm-up, then measured alongside
        fill(few, FEW, clients)
        sample(few, 5, 5)
        gc.collect()
        warm = resident_with_children_mib()
        print(f"warm start: {warm:.0f} MiB resident; {clients} uploaders, {samples} samples per operation", flush=True)

        tenant = Tenant(platform.api_url)
        baseline: dict[str, tuple[float, float]] = {}
        for size in sizes:
            rate = fill(tenant, size, clients)
            measured, alongside = side_by_side(tenant, few, samples)
            gc.collect()
            resident = resident_with_children_mib()
            print(
                f"\n{len(tenant.files)} files: filled at {rate:.1f} files/s; "
                f"resident {resident:.0f} MiB ({resident - warm:+.0f} MiB against the warm start)"
            )
            print(
                f"  {'operation':16} {'p50 ms':>8} {'p99 ms':>8} {'p50 ratio':>10} {'p99 ratio':>10}"
                f" {'p50 / ' + str(len(few.files)) + ' files':>16}"
            )
            for operation in OPERATIONS:
                p50, p99 = statistics.median(measured[operation]), percentile(measured[operation], 0.99)
                base50, base99 = baseline.setdefault(operation, (p50, p99))
                beside = statistics.median(alongside[operation])
                print(
                    f"  {operation:16} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {p50 / base50:10.2f} {p99 / base99:10.2f}"
                    f" {p50 / beside:16.2f}"
                )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
