"""`sdp upload` of a large file (1 GiB by default) against boto3's `upload_file` of the same file to the
same local S3, in the same run.

The local platform runs in this process (its S3 in a process of its own, as `make run` has it). Each
variant runs as a child process, so its wall time and peak memory (wait4) are its own:
  boto3 upload_file  the baseline: S3's own transfer manager (8 MiB parts, 10 threads) to a bucket of
                     the same local S3
  sdp upload         the command a user runs: POST /uploads, the parts PUT to their presigned URLs
                     (16 MiB, 4 at a time, read from the file as they go), then complete
Both variants run ROUNDS times, interleaved; the figures are medians, and each round's ratio is given
(rounds next to each other share the machine's load of the moment). Between rounds the uploaded file
is ingested and deleted, so no round pays for another's ingest.

Usage: python bench/upload.py [size in MiB, default 1024] [rounds, default 3]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.data import MIB, Run, generate_events_csv, measure
from tests.local_platform import RunningPlatform

PASSWORD = "Correct-Horse-9!"  # noqa: S105 - a throwaway local account
SDP = Path(sys.executable).with_name("sdp")
BASELINE_BUCKET = "bench-upload-baseline"

BOTO3_UPLOAD = """
import sys, boto3
s3 = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1").client(
    "s3", endpoint_url=sys.argv[1])
s3.upload_file(sys.argv[2], sys.argv[3], "events.csv")
"""

CREATE_BUCKET = """
import sys, boto3
s3 = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1").client(
    "s3", endpoint_url=sys.argv[1])
s3.create_bucket(Bucket=sys.argv[2])
"""


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    # The platform runs as `make run` runs it, in processes of its own: a child's peak memory (wait4) starts
    # at its parent's, so this process stays small and imports nothing of the client or the platform.
    platform = RunningPlatform()
    try:
        with tempfile.TemporaryDirectory(prefix="sdp-bench-") as folder:
            runs = _measure(platform, Path(folder), size_mib, rounds)
    finally:
        platform.stop()

    base = statistics.median(r.seconds for r in runs["boto3 upload_file"])
    print(f"{'variant':18} {'median s':>9} {'x boto3':>8} {'MiB/s':>7} {'peak RSS MiB':>13}   runs")
    for name, results in runs.items():
        seconds = statistics.median(r.seconds for r in results)
        each = " ".join(f"{r.seconds:.2f}" for r in results)
        rss = max(r.rss_mib for r in results)
        print(f"{name:18} {seconds:9.2f} {seconds / base:8.2f} {size_mib / seconds:7.0f} {rss:13.0f}   {each}")
    ratios = [s.seconds / b.seconds for s, b in zip(runs["sdp upload"], runs["boto3 upload_file"], strict=True)]
    print("sdp / boto3, round by round: " + " ".join(f"{ratio:.2f}" for ratio in ratios))
    print(f"median of the rounds' ratios: {statistics.median(ratios):.2f}")


def _measure(platform: RunningPlatform, folder: Path, size_mib: int, rounds: int) -> dict[str, list[Run]]:
    source = folder / "events.csv"
    generate_events_csv(source, size_mib)
    subprocess.run(["cat", str(source)], stdout=subprocess.DEVNULL, check=True)  # into the page cache
    print(f"file: {source.stat().st_size / MIB:.0f} MiB, {os.cpu_count()} cores")

    environment = {**os.environ, "XDG_CONFIG_HOME": str(folder / "config"), "SDP_URL": platform.api_url}
    sdp = [str(SDP)]
    signup = [*sdp, "signup", "--email", "bench@example.com", "--password-stdin"]
    subprocess.run(signup, input=PASSWORD, text=True, env=environment, check=True, capture_output=True)
    baseline = [sys.executable, "-c", BOTO3_UPLOAD, platform.aws_url, str(source), BASELINE_BUCKET]
    subprocess.run([sys.executable, "-c", CREATE_BUCKET, platform.aws_url, BASELINE_BUCKET], check=True)

    runs: dict[str, list[Run]] = {"boto3 upload_file": [], "sdp upload": []}
    for _ in range(rounds):
        runs["boto3 upload_file"].append(measure(baseline, environment))
        uploaded = measure([*sdp, "upload", str(source), "--no-wait"], environment)
        runs["sdp upload"].append(uploaded)
        file_id = uploaded.output.strip()
        # Ingest is not timed, and is over before the next round: it would weigh on it.
        while json.loads(measure([*sdp, "show", file_id, "--json"], environment).output)["status"] not in (
            "READY",
            "FAILED",
        ):
            time.sleep(1)
        measure([*sdp, "rm", file_id], environment)
    return runs


if __name__ == "__main__":
    main()
